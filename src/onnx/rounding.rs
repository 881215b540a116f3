//! A graph's recurrent weights rounded as [`Precision`] stores them on the GPU, for the CPU
//! reference of a model uploaded with [`OnnxModel::to_gpu_with`](super::OnnxModel::to_gpu_with):
//! `W` and `R` of every `LSTM`, `GRU` and `RNN` node (what the GPU stores as `W_ih` and
//! `W_hh`); biases, peepholes, states and every other operator stay f32, as on the GPU.

use crate::error::Result;
use crate::onnx::array::{Array, Val};
use crate::onnx::decode::{Graph, Node};
use crate::onnx::ops::Op;
use crate::Precision;

/// A recurrent node's inputs that hold weight matrices: `W` and `R`.
const MATRICES: [usize; 2] = [1, 2];

/// `value` (the tensor `name`) rounded as `precision` stores it.
///
/// # Errors
/// [`crate::Error::WeightRange`] for a value beyond `precision`'s range.
fn round(name: &str, value: &Val, precision: Precision) -> Result<Val> {
    match value {
        Val::F(a) => {
            precision.check(name, &a.data)?;
            let data = a.data.iter().map(|&x| precision.round(x)).collect();
            Ok(Val::F(Array::new(a.shape.clone(), data)))
        }
        Val::I(_) => Ok(value.clone()),
    }
}

/// `graph` with the weight matrices of its recurrent nodes that are initializers rounded.
pub(crate) fn round_initializers(graph: &Graph, precision: Precision) -> Result<Graph> {
    let mut rounded = graph.clone();
    for node in graph
        .nodes
        .iter()
        .filter(|n| matches!(n.op, Op::Recurrent(_)))
    {
        for name in MATRICES.iter().filter_map(|&i| node.inputs.get(i)) {
            if let Some(value) = graph.initializers.get(name) {
                rounded
                    .initializers
                    .insert(name.clone(), round(name, value, precision)?);
            }
        }
    }
    Ok(rounded)
}

/// For a recurrent node, its weight matrices that are not initializers (graph inputs, or
/// computed), rounded: `Some` at their input index, `None` elsewhere. Empty for any other
/// node, and for f32.
pub(crate) fn round_given(
    node: &Node,
    inputs: &[Option<&Val>],
    graph: &Graph,
    precision: Precision,
) -> Result<Vec<Option<Val>>> {
    if precision == Precision::F32 || !matches!(node.op, Op::Recurrent(_)) {
        return Ok(Vec::new());
    }
    let mut rounded = vec![None; inputs.len()];
    for i in MATRICES {
        let name = node.inputs.get(i).map_or("", String::as_str);
        if let (Some(Some(value)), false) = (inputs.get(i), graph.initializers.contains_key(name)) {
            rounded[i] = Some(round(name, value, precision)?);
        }
    }
    Ok(rounded)
}
