//! Graph inputs from a `.safetensors` file and graph outputs to one, by their ONNX names.

use std::path::Path;

use safetensors::Dtype;

use crate::error::Result;
use crate::onnx::model::OnnxModel;
use crate::onnx::value::{IntTensor, Value, Values};
use crate::onnx::OnnxError;
use crate::weights::TensorFile;

impl OnnxModel {
    /// Reads every runtime input of the graph from `file`, under its graph-input name:
    /// floating-point inputs from any float dtype, integer inputs (`sequence_lens`) from any
    /// integer dtype.
    ///
    /// # Errors
    /// [`crate::Error::Onnx`] ([`OnnxError::MissingInput`]) for an input the file lacks;
    /// [`crate::Error::Dtype`] for a tensor of the wrong kind.
    pub fn read_inputs(&self, file: &TensorFile) -> Result<Values> {
        let mut values = Values::new();
        for input in self.inputs() {
            let value = if input.is_float {
                file.f32(&input.name)?.map(Value::Float)
            } else {
                match file.i64(&input.name)? {
                    Some((shape, data)) => Some(Value::Int(IntTensor::new(shape, data)?)),
                    None => None,
                }
            };
            let value = value.ok_or_else(|| OnnxError::MissingInput {
                name: input.name.clone(),
                names: self.inputs().into_iter().map(|i| i.name).collect(),
            })?;
            values.insert(input.name, value);
        }
        Ok(values)
    }
}

impl Values {
    /// Writes every value to a `.safetensors` file under its name: floats as `F32`,
    /// integers as `I64`.
    ///
    /// # Errors
    /// As [`crate::weights::save_safetensors`].
    pub fn save_safetensors(&self, path: impl AsRef<Path>) -> Result<()> {
        let views = self
            .iter()
            .map(|(name, v)| match v {
                Value::Float(t) => (
                    name,
                    Dtype::F32,
                    t.shape(),
                    bytemuck::cast_slice::<f32, u8>(t.data()),
                ),
                Value::Int(t) => (
                    name,
                    Dtype::I64,
                    t.shape(),
                    bytemuck::cast_slice::<i64, u8>(t.data()),
                ),
            })
            .collect();
        crate::weights::save_views(path.as_ref(), views, None)
    }
}
