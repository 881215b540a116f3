//! Typed access to a node's attributes, with errors that name the node and the attribute.

use crate::onnx::array::Val;
use crate::onnx::decode::tensor;
use crate::onnx::proto::{attribute_proto::AttributeType, AttributeProto, NodeProto};
use crate::onnx::OnnxError;

pub(crate) struct Attrs<'a> {
    node: &'a NodeProto,
    label: &'a str,
}

impl<'a> Attrs<'a> {
    pub fn new(node: &'a NodeProto, label: &'a str) -> Self {
        Attrs { node, label }
    }

    pub fn error(&self, reason: impl Into<String>) -> OnnxError {
        OnnxError::Node {
            node: self.label.to_string(),
            reason: reason.into(),
        }
    }

    fn get(
        &self,
        name: &str,
        kind: AttributeType,
    ) -> Result<Option<&'a AttributeProto>, OnnxError> {
        let Some(a) = self.node.attribute.iter().find(|a| a.name() == name) else {
            return Ok(None);
        };
        if !a.ref_attr_name().is_empty() {
            return Err(self.error(format!(
                "attribute `{name}` refers to a function attribute, which is not supported"
            )));
        }
        // Files from before IR version 2 leave `type` unset; trust the field that is present.
        if a.r#type.is_some() && a.r#type() != kind {
            return Err(self.error(format!(
                "attribute `{name}` is {:?}, expected {kind:?}",
                a.r#type()
            )));
        }
        Ok(Some(a))
    }

    pub fn int(&self, name: &str) -> Result<Option<i64>, OnnxError> {
        Ok(self.get(name, AttributeType::Int)?.map(|a| a.i()))
    }

    pub fn int_or(&self, name: &str, default: i64) -> Result<i64, OnnxError> {
        Ok(self.int(name)?.unwrap_or(default))
    }

    pub fn ints(&self, name: &str) -> Result<Option<Vec<i64>>, OnnxError> {
        Ok(self.get(name, AttributeType::Ints)?.map(|a| a.ints.clone()))
    }

    pub fn float(&self, name: &str) -> Result<Option<f32>, OnnxError> {
        Ok(self.get(name, AttributeType::Float)?.map(|a| a.f()))
    }

    pub fn floats(&self, name: &str) -> Result<Option<Vec<f32>>, OnnxError> {
        Ok(self
            .get(name, AttributeType::Floats)?
            .map(|a| a.floats.clone()))
    }

    pub fn string(&self, name: &str) -> Result<Option<String>, OnnxError> {
        Ok(self
            .get(name, AttributeType::String)?
            .map(|a| String::from_utf8_lossy(a.s()).into_owned()))
    }

    pub fn strings(&self, name: &str) -> Result<Option<Vec<String>>, OnnxError> {
        Ok(self.get(name, AttributeType::Strings)?.map(|a| {
            a.strings
                .iter()
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect()
        }))
    }

    pub fn tensor(&self, name: &str) -> Result<Option<Val>, OnnxError> {
        match self.get(name, AttributeType::Tensor)? {
            Some(a) => {
                let t =
                    a.t.as_ref()
                        .ok_or_else(|| self.error(format!("attribute `{name}` holds no tensor")))?;
                Ok(Some(tensor(
                    t,
                    &format!("{}: attribute `{name}`", self.label),
                )?))
            }
            None => Ok(None),
        }
    }
}
