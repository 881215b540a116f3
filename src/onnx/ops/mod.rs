//! The operators a graph may use: parsed once at load, then run on values (`run`) or on
//! shapes alone for the dry run (`infer`), sharing one shape rule per operator.

mod activation;
mod attrs;
mod inputs;
mod layout;
mod math;
mod movement;
pub(crate) mod recurrent;
mod recurrent_run;

use crate::onnx::array::{Elem, Val};
use crate::onnx::decode::elem_of;
use crate::onnx::proto::NodeProto;
use crate::onnx::OnnxError;
pub(crate) use activation::Activation;
use attrs::Attrs;
pub(crate) use inputs::{floats, input, ints, known_ints, meta, node_error};
pub(crate) use recurrent::{Cell, Direction, Recurrent};

/// Every op type a graph may contain, for the error that names an unsupported one.
pub(crate) const SUPPORTED: &[&str] = &[
    "LSTM",
    "GRU",
    "RNN",
    "Transpose",
    "Squeeze",
    "Unsqueeze",
    "Reshape",
    "Concat",
    "Slice",
    "Gather",
    "Shape",
    "Expand",
    "ConstantOfShape",
    "Cast",
    "Identity",
    "Constant",
    "Gemm",
    "MatMul",
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Relu",
    "Tanh",
    "Sigmoid",
    "Softmax",
];

/// A node's operator with its attributes checked.
#[derive(Clone, Debug)]
pub(crate) enum Op {
    Recurrent(Box<Recurrent>),
    Transpose {
        perm: Option<Vec<i64>>,
    },
    /// `axes` from the attribute (before opset 13) or, when `None`, from input 1.
    Squeeze {
        axes: Option<Vec<i64>>,
    },
    Unsqueeze {
        axes: Option<Vec<i64>>,
    },
    Reshape {
        allowzero: bool,
    },
    Concat {
        axis: i64,
    },
    /// Before opset 10 the bounds are attributes.
    Slice {
        attrs: Option<SliceAttrs>,
    },
    Gather {
        axis: i64,
    },
    Shape {
        start: i64,
        end: Option<i64>,
    },
    Expand,
    ConstantOfShape {
        value: Val,
    },
    Cast {
        to: Elem,
    },
    Identity,
    Constant {
        value: Val,
    },
    Gemm {
        alpha: f32,
        beta: f32,
        trans_a: bool,
        trans_b: bool,
    },
    MatMul,
    Binary(Binary),
    Unary(Unary),
    /// `coerce`: before opset 13 the input is flattened to 2-D at `axis`.
    Softmax {
        axis: i64,
        coerce: bool,
    },
}

/// `Slice`'s bounds as attributes (before opset 10).
#[derive(Clone, Debug)]
pub(crate) struct SliceAttrs {
    pub starts: Vec<i64>,
    pub ends: Vec<i64>,
    pub axes: Option<Vec<i64>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Binary {
    Add,
    Sub,
    Mul,
    Div,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unary {
    Relu,
    Tanh,
    Sigmoid,
}

/// What the dry run knows about a value: its type and shape, and its data when it can be
/// computed from constants and input shapes alone (the `Shape -> Gather -> Concat` chains
/// exporters build shapes with).
#[derive(Clone, Debug)]
pub(crate) struct Meta {
    pub elem: Elem,
    pub shape: Vec<usize>,
    pub value: Option<Val>,
}

impl Meta {
    pub fn known(value: Val) -> Self {
        Meta {
            elem: value.elem(),
            shape: value.shape().to_vec(),
            value: Some(value),
        }
    }

    pub fn unknown(elem: Elem, shape: Vec<usize>) -> Self {
        Meta {
            elem,
            shape,
            value: None,
        }
    }
}

impl Op {
    /// Parses a node's operator and checks its attributes.
    pub fn parse(node: &NodeProto, opset: i64, label: &str) -> Result<Op, OnnxError> {
        let a = Attrs::new(node, label);
        if !matches!(node.domain(), "" | "ai.onnx") {
            return Err(OnnxError::UnsupportedOp {
                node: label.to_string(),
                op_type: node.op_type().to_string(),
                domain: node.domain().to_string(),
            });
        }
        Ok(match node.op_type() {
            "LSTM" => Op::Recurrent(Box::new(Recurrent::parse(Cell::Lstm, &a)?)),
            "GRU" => Op::Recurrent(Box::new(Recurrent::parse(Cell::Gru, &a)?)),
            "RNN" => Op::Recurrent(Box::new(Recurrent::parse(Cell::Rnn, &a)?)),
            "Transpose" => Op::Transpose {
                perm: a.ints("perm")?,
            },
            "Squeeze" => Op::Squeeze {
                axes: if opset < 13 {
                    Some(a.ints("axes")?.unwrap_or_default())
                } else {
                    None
                },
            },
            "Unsqueeze" => Op::Unsqueeze {
                axes: if opset < 13 {
                    Some(
                        a.ints("axes")?
                            .ok_or_else(|| a.error("attribute `axes` is required"))?,
                    )
                } else {
                    None
                },
            },
            "Reshape" => Op::Reshape {
                allowzero: a.int_or("allowzero", 0)? != 0,
            },
            "Concat" => Op::Concat {
                axis: a
                    .int("axis")?
                    .ok_or_else(|| a.error("attribute `axis` is required"))?,
            },
            "Slice" => Op::Slice {
                attrs: if opset < 10 {
                    let starts = a
                        .ints("starts")?
                        .ok_or_else(|| a.error("attribute `starts` is required"))?;
                    let ends = a
                        .ints("ends")?
                        .ok_or_else(|| a.error("attribute `ends` is required"))?;
                    Some(SliceAttrs {
                        starts,
                        ends,
                        axes: a.ints("axes")?,
                    })
                } else {
                    None
                },
            },
            "Gather" => Op::Gather {
                axis: a.int_or("axis", 0)?,
            },
            "Shape" => Op::Shape {
                start: a.int_or("start", 0)?,
                end: a.int("end")?,
            },
            "Expand" => Op::Expand,
            "ConstantOfShape" => {
                let value = match a.tensor("value")? {
                    Some(v) if v.shape().iter().product::<usize>() == 1 => v,
                    Some(v) => {
                        return Err(a.error(format!(
                            "attribute `value` must hold one element, not shape {:?}",
                            v.shape()
                        )))
                    }
                    None => Val::F(crate::onnx::array::Array::scalar(0.0)),
                };
                Op::ConstantOfShape { value }
            }
            "Cast" => {
                let to = a
                    .int("to")?
                    .ok_or_else(|| a.error("attribute `to` is required"))?;
                let to = elem_of(to as i32).ok_or_else(|| {
                    a.error(format!(
                        "casting to {} is not supported",
                        crate::onnx::decode::type_name(to as i32)
                    ))
                })?;
                Op::Cast { to }
            }
            "Identity" => Op::Identity,
            "Constant" => Op::Constant {
                value: constant(&a)?,
            },
            "Gemm" => Op::Gemm {
                alpha: a.float("alpha")?.unwrap_or(1.0),
                beta: a.float("beta")?.unwrap_or(1.0),
                trans_a: a.int_or("transA", 0)? != 0,
                trans_b: a.int_or("transB", 0)? != 0,
            },
            "MatMul" => Op::MatMul,
            "Add" => Op::Binary(Binary::Add),
            "Sub" => Op::Binary(Binary::Sub),
            "Mul" => Op::Binary(Binary::Mul),
            "Div" => Op::Binary(Binary::Div),
            "Relu" => Op::Unary(Unary::Relu),
            "Tanh" => Op::Unary(Unary::Tanh),
            "Sigmoid" => Op::Unary(Unary::Sigmoid),
            "Softmax" => Op::Softmax {
                axis: a.int_or("axis", if opset < 13 { 1 } else { -1 })?,
                coerce: opset < 13,
            },
            other => {
                return Err(OnnxError::UnsupportedOp {
                    node: label.to_string(),
                    op_type: other.to_string(),
                    domain: String::new(),
                })
            }
        })
    }

    /// Runs the operator on values; `inputs[i]` is `None` for an omitted optional input.
    pub fn run(&self, inputs: &[Option<&Val>], label: &str) -> Result<Vec<Val>, OnnxError> {
        match self {
            Op::Recurrent(r) => r.run(inputs, label),
            Op::Constant { value } => Ok(vec![value.clone()]),
            Op::Identity => Ok(vec![input(inputs, 0, label)?.clone()]),
            Op::Gemm { .. } | Op::MatMul | Op::Binary(_) | Op::Unary(_) | Op::Softmax { .. } => {
                math::run(self, inputs, label).map(|v| vec![v])
            }
            _ => layout::run(self, inputs, label).map(|v| vec![v]),
        }
    }

    /// The outputs' types and shapes from the inputs' (the dry run). When every input's data
    /// is known, the node is run, so that shapes computed in the graph stay known.
    pub fn infer(&self, inputs: &[Option<&Meta>], label: &str) -> Result<Vec<Meta>, OnnxError> {
        let metas = match self {
            Op::Constant { value } => return Ok(vec![Meta::known(value.clone())]),
            Op::Recurrent(r) => r.infer(inputs, label)?,
            Op::Identity => vec![meta(inputs, 0, label)?.clone()],
            Op::Gemm { .. } | Op::MatMul | Op::Binary(_) | Op::Unary(_) | Op::Softmax { .. } => {
                vec![math::infer(self, inputs, label)?]
            }
            _ => vec![layout::infer(self, inputs, label)?],
        };
        // Shapes come from the file: bound them before anything of that size is allocated.
        for m in &metas {
            if crate::onnx::array::count(&m.shape).is_none_or(|n| n > MAX_ELEMENTS) {
                return Err(node_error(
                    label,
                    format!("its output would have shape {:?}, more than the {MAX_ELEMENTS} elements this crate allows in one value", m.shape),
                ));
            }
        }
        if inputs.iter().flatten().all(|m| m.value.is_some()) && !matches!(self, Op::Recurrent(_)) {
            let values: Vec<Option<&Val>> = inputs
                .iter()
                .map(|m| m.and_then(|m| m.value.as_ref()))
                .collect();
            return Ok(self
                .run(&values, label)?
                .into_iter()
                .map(Meta::known)
                .collect());
        }
        Ok(metas)
    }
}

/// The most elements one value may have (1 GiB of `f32`): a shape computed from a hostile
/// file is refused in the dry run rather than allocated.
pub(crate) const MAX_ELEMENTS: usize = 1 << 28;

/// `Constant`'s one value attribute.
fn constant(a: &Attrs) -> Result<Val, OnnxError> {
    use crate::onnx::array::Array;
    if let Some(t) = a.tensor("value")? {
        return Ok(t);
    }
    if let Some(f) = a.float("value_float")? {
        return Ok(Val::F(Array::scalar(f)));
    }
    if let Some(f) = a.floats("value_floats")? {
        return Ok(Val::F(Array::new(vec![f.len()], f)));
    }
    if let Some(i) = a.int("value_int")? {
        return Ok(Val::I(Array::scalar(i)));
    }
    if let Some(i) = a.ints("value_ints")? {
        return Ok(Val::I(Array::new(vec![i.len()], i)));
    }
    Err(a.error("a Constant needs one of `value`, `value_float(s)` or `value_int(s)` (sparse and string constants are not supported)"))
}
