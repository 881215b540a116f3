//! A node's inputs as its operator needs them, with errors that name the node.

use crate::onnx::array::Val;
use crate::onnx::ops::Meta;
use crate::onnx::OnnxError;

pub(crate) fn node_error(label: &str, reason: impl Into<String>) -> OnnxError {
    OnnxError::Node {
        node: label.to_string(),
        reason: reason.into(),
    }
}

/// Input `i`, which the operator requires.
pub(crate) fn input<'v>(
    inputs: &[Option<&'v Val>],
    i: usize,
    label: &str,
) -> Result<&'v Val, OnnxError> {
    inputs
        .get(i)
        .copied()
        .flatten()
        .ok_or_else(|| node_error(label, format!("input {i} is required")))
}

pub(crate) fn meta<'m>(
    inputs: &[Option<&'m Meta>],
    i: usize,
    label: &str,
) -> Result<&'m Meta, OnnxError> {
    inputs
        .get(i)
        .copied()
        .flatten()
        .ok_or_else(|| node_error(label, format!("input {i} is required")))
}

/// Input `i` as float data.
pub(crate) fn floats<'v>(
    inputs: &[Option<&'v Val>],
    i: usize,
    label: &str,
) -> Result<&'v crate::onnx::array::Array<f32>, OnnxError> {
    match input(inputs, i, label)? {
        Val::F(a) => Ok(a),
        Val::I(_) => Err(node_error(
            label,
            format!("input {i} must be floating point, not integer"),
        )),
    }
}

/// Input `i` as integer data (shapes, axes, indices, lengths).
pub(crate) fn ints<'v>(
    inputs: &[Option<&'v Val>],
    i: usize,
    label: &str,
) -> Result<&'v crate::onnx::array::Array<i64>, OnnxError> {
    match input(inputs, i, label)? {
        Val::I(a) => Ok(a),
        Val::F(_) => Err(node_error(
            label,
            format!("input {i} must be integer, not floating point"),
        )),
    }
}

/// The data of input `i` in the dry run, which the shape rule needs (a target shape, axes,
/// slice bounds): it must be computable from constants and input shapes.
pub(crate) fn known_ints(
    inputs: &[Option<&Meta>],
    i: usize,
    label: &str,
) -> Result<Option<Vec<i64>>, OnnxError> {
    let Some(m) = inputs.get(i).copied().flatten() else {
        return Ok(None);
    };
    match &m.value {
        Some(Val::I(a)) => Ok(Some(a.data.clone())),
        Some(Val::F(_)) => Err(node_error(label, format!("input {i} must be integer, not floating point"))),
        None => Err(node_error(
            label,
            format!("input {i} (a shape, axes or bounds) depends on the data of a graph input; only shapes computed from constants and input shapes are supported"),
        )),
    }
}
