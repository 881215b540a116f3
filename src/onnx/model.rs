//! `OnnxModel`: a loaded graph, its dry run, and its CPU forward.

use std::path::Path;
use std::sync::Arc;

use crate::error::Result;
use crate::onnx::array::{Elem, Val};
use crate::onnx::decode::{decode, type_name, Declared, Dim, Graph};
use crate::onnx::value::{Value, Values};
use crate::onnx::{rounding, run};
use crate::Precision;

/// An ONNX model: its graph checked at load (every operator supported, every attribute
/// valid, every value defined before use), run on the CPU with [`OnnxModel::forward`] or
/// uploaded with [`OnnxModel::to_gpu`].
///
/// ```no_run
/// use wgpu_rnn::onnx::{OnnxModel, Values};
/// use wgpu_rnn::Tensor;
///
/// let model = OnnxModel::load("lstm.onnx")?;
/// let x = Tensor::new([5, 2, 8], vec![0.5; 5 * 2 * 8])?;   // [seq, batch, input]
/// let outputs = model.forward(&Values::new().with("X", x))?;
/// let y = outputs.get("Y").and_then(|v| v.as_float()).unwrap();
/// # let _ = y;
/// # Ok::<(), wgpu_rnn::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct OnnxModel {
    /// Shared: a clone (and the GPU model made from it) does not copy the initializers.
    pub(crate) graph: Arc<Graph>,
    /// How the recurrent weight matrices are stored ([`OnnxModel::with_precision`]).
    pub(crate) precision: Precision,
}

/// A graph input or output: its name, element type and declared dimensions.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct TensorInfo {
    /// The name values are passed and returned under.
    pub name: String,
    /// ONNX's name of the element type (`float`, `int32`, ...).
    pub data_type: &'static str,
    /// Whether it holds floating-point data ([`Value::Float`]) rather than integers.
    pub is_float: bool,
    /// The declared dimensions, when the file declares a shape.
    pub dims: Option<Vec<Dim>>,
}

impl TensorInfo {
    fn from(d: &Declared) -> Self {
        TensorInfo {
            name: d.name.clone(),
            data_type: type_name(d.data_type),
            is_float: d.elem == Elem::Float,
            dims: d.dims.clone(),
        }
    }
}

impl OnnxModel {
    /// Reads and checks an `.onnx` file.
    ///
    /// # Errors
    /// [`crate::Error::Io`] when the file cannot be read; [`crate::Error::Onnx`] when it is
    /// no ONNX model, breaks the format, or uses an operator or attribute this crate does not
    /// support (the error names the node).
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| crate::Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        // The file's buffer is decoded in place: tensor data is converted from it, not
        // from a copy.
        Ok(OnnxModel {
            graph: Arc::new(decode(bytes.into())?),
            precision: Precision::F32,
        })
    }

    /// Reads and checks a model from the bytes of an `.onnx` file.
    ///
    /// # Errors
    /// As [`OnnxModel::load`], without the I/O.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        Ok(OnnxModel {
            graph: Arc::new(decode(bytes::Bytes::copy_from_slice(bytes))?),
            precision: Precision::F32,
        })
    }

    /// The model with the weight matrices of its recurrent nodes (`W` and `R`) rounded as
    /// `precision` stores them on the GPU; biases, peepholes and every other operator stay
    /// f32. Its CPU forward is the reference for [`OnnxModel::to_gpu_with`] with the same
    /// precision (weights the graph takes as inputs are rounded at each forward), and its
    /// [`OnnxModel::to_gpu`] stores them so. F32 shares this model's graph; F16 copies it.
    ///
    /// # Errors
    /// [`crate::Error::WeightRange`] for a weight beyond `precision`'s range, naming the
    /// initializer.
    pub fn with_precision(&self, precision: Precision) -> Result<Self> {
        let graph = match precision {
            Precision::F32 => self.graph.clone(),
            _ => Arc::new(rounding::round_initializers(&self.graph, precision)?),
        };
        Ok(OnnxModel { graph, precision })
    }

    /// How the recurrent nodes' weight matrices are rounded: f32 unless made by
    /// [`OnnxModel::with_precision`].
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// The inputs the graph needs at run time (initializers excluded), in the graph's order.
    pub fn inputs(&self) -> Vec<TensorInfo> {
        self.graph.inputs.iter().map(TensorInfo::from).collect()
    }

    /// The graph's outputs, in order.
    pub fn outputs(&self) -> Vec<TensorInfo> {
        self.graph.outputs.iter().map(TensorInfo::from).collect()
    }

    /// The dry run: the shape of every output for inputs of these shapes (by name), checking
    /// every node on the way, without computing anything but shapes.
    ///
    /// # Errors
    /// [`crate::Error::Onnx`]: a missing or unknown input, a shape that contradicts the
    /// graph's declaration, or a node whose inputs do not fit (the error names the node).
    pub fn check(&self, shapes: &[(&str, &[usize])]) -> Result<Vec<(String, Vec<usize>)>> {
        let given: Vec<(&str, Elem, &[usize])> = shapes
            .iter()
            .map(|(name, shape)| {
                let elem = self
                    .graph
                    .inputs
                    .iter()
                    .find(|d| d.name == *name)
                    .map_or(Elem::Float, |d| d.elem);
                (*name, elem, *shape)
            })
            .collect();
        Ok(run::infer(&self.graph, &given)?
            .into_iter()
            .map(|(n, m)| (n, m.shape))
            .collect())
    }

    /// Runs the graph on the CPU: every graph input by name, every graph output by name.
    ///
    /// # Errors
    /// Everything [`OnnxModel::check`] reports, found before any computation, and
    /// data-dependent errors (a `sequence_lens` value past the sequence length, an index out
    /// of range); [`crate::Error::WeightRange`] for weights given as inputs beyond
    /// [`OnnxModel::precision`]'s range.
    pub fn forward(&self, inputs: &Values) -> Result<Values> {
        let given = self.prepare(inputs)?;
        let outputs = run::run_cpu(&self.graph, given, self.precision)?;
        Ok(collect(outputs))
    }

    /// Checks `inputs` with the dry run and converts them for the graph runner.
    pub(crate) fn prepare(&self, inputs: &Values) -> Result<Vec<(String, Val)>> {
        let vals: Vec<(String, Val)> = inputs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_val()))
            .collect();
        let given: Vec<(&str, Elem, &[usize])> = vals
            .iter()
            .map(|(n, v)| (n.as_str(), v.elem(), v.shape()))
            .collect();
        run::infer(&self.graph, &given)?;
        Ok(vals)
    }
}

pub(crate) fn collect(outputs: Vec<(String, Val)>) -> Values {
    let mut values = Values::new();
    for (name, v) in outputs {
        values.insert(name, Value::from_val(v));
    }
    values
}
