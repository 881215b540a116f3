//! The values a caller passes to a graph and gets back: float tensors and integer tensors,
//! by name.

use crate::onnx::array::{Array, Val};
use crate::Tensor;

/// A row-major integer tensor (ONNX's integer and bool types, held as `i64`).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct IntTensor {
    shape: Vec<usize>,
    data: Vec<i64>,
}

impl IntTensor {
    /// Wraps row-major `data` of the given `shape`.
    ///
    /// # Errors
    /// [`crate::Error::DataLength`] when `data.len()` is not the product of `shape`.
    pub fn new(shape: impl Into<Vec<usize>>, data: Vec<i64>) -> crate::Result<Self> {
        let shape = shape.into();
        let expected = crate::shape::element_count("tensor", &shape)?;
        if expected != data.len() {
            return Err(crate::Error::DataLength {
                arg: "tensor",
                shape,
                expected,
                got: data.len(),
            });
        }
        Ok(IntTensor { shape, data })
    }

    /// The shape, outermost dimension first.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The row-major values.
    pub fn data(&self) -> &[i64] {
        &self.data
    }
}

/// A graph input or output.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Value {
    /// Floating-point data (float, double, float16 or bfloat16 in the graph), computed in `f32`.
    Float(Tensor),
    /// Integer or bool data (`sequence_lens`, shapes, indices), held as `i64`.
    Int(IntTensor),
}

impl Value {
    /// The shape.
    pub fn shape(&self) -> &[usize] {
        match self {
            Value::Float(t) => t.shape(),
            Value::Int(t) => t.shape(),
        }
    }

    /// The float tensor, if this is one.
    pub fn as_float(&self) -> Option<&Tensor> {
        match self {
            Value::Float(t) => Some(t),
            Value::Int(_) => None,
        }
    }

    /// The integer tensor, if this is one.
    pub fn as_int(&self) -> Option<&IntTensor> {
        match self {
            Value::Int(t) => Some(t),
            Value::Float(_) => None,
        }
    }

    pub(crate) fn to_val(&self) -> Val {
        match self {
            Value::Float(t) => Val::F(Array::new(t.shape().to_vec(), t.data().to_vec())),
            Value::Int(t) => Val::I(Array::new(t.shape.clone(), t.data.clone())),
        }
    }

    pub(crate) fn from_val(v: Val) -> Value {
        match v {
            Val::F(a) => Value::Float(
                Tensor::new(a.shape, a.data).expect("an array's shape matches its data"),
            ),
            Val::I(a) => Value::Int(IntTensor {
                shape: a.shape,
                data: a.data,
            }),
        }
    }
}

impl From<Tensor> for Value {
    fn from(t: Tensor) -> Self {
        Value::Float(t)
    }
}

impl From<IntTensor> for Value {
    fn from(t: IntTensor) -> Self {
        Value::Int(t)
    }
}

/// Values by name, in insertion order: a graph's inputs, or its outputs in the graph's order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Values {
    entries: Vec<(String, Value)>,
}

impl Values {
    /// No values.
    pub fn new() -> Self {
        Values::default()
    }

    /// Adds (or replaces) the value under `name`; chainable.
    pub fn with(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.insert(name, value);
        self
    }

    /// Adds (or replaces) the value under `name`.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<Value>) {
        let (name, value) = (name.into(), value.into());
        match self.entries.iter_mut().find(|(n, _)| *n == name) {
            Some(entry) => entry.1 = value,
            None => self.entries.push((name, value)),
        }
    }

    /// The value under `name`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.entries.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// Every `(name, value)`.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.entries.iter().map(|(n, v)| (n.as_str(), v))
    }

    /// How many values there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
