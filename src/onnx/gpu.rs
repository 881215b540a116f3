//! `GpuOnnxModel`: a graph whose recurrent nodes run on the GPU kernels.

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::gpu::{GpuContext, GpuRnn};
use crate::onnx::array::Val;
use crate::onnx::lower::{cell_obstacle, lower, stored_weights, Lowered};
use crate::onnx::model::{collect, OnnxModel};
use crate::onnx::ops::Op;
use crate::onnx::run;
use crate::onnx::value::Values;

/// An [`OnnxModel`] with the weights of its recurrent nodes on the GPU.
///
/// Recurrent nodes run with the crate's fused kernels; their weights are uploaded once when
/// they are initializers, or at each forward when the graph takes them as inputs (as the
/// ONNX backend tests do). The operators around them (layout changes, shape arithmetic,
/// dense heads) run on the host.
pub struct GpuOnnxModel {
    model: OnnxModel,
    ctx: GpuContext,
    /// Node index to its uploaded stack; recurrent nodes absent here upload at each forward.
    uploaded: HashMap<usize, (Lowered, GpuRnn)>,
}

fn unsupported(label: &str, reason: String) -> Error {
    Error::Unsupported {
        what: format!("{label} on the GPU"),
        reason: format!("{reason}; run the model on the CPU with OnnxModel::forward, which supports every attribute"),
    }
}

impl GpuOnnxModel {
    pub(crate) fn new(model: OnnxModel, ctx: &GpuContext) -> Result<Self> {
        // Every node is checked before anything is uploaded: an unsupported one fails first.
        let mut lowered = Vec::new();
        for (index, node) in model.graph.nodes.iter().enumerate() {
            let Op::Recurrent(rec) = &node.op else { continue };
            if let Some(reason) = cell_obstacle(rec) {
                return Err(unsupported(&node.label, reason));
            }
            if let Some(weights) = stored_weights(node, &model.graph) {
                let l = lower(rec, &node.label, &weights).map_err(|reason| unsupported(&node.label, reason))?;
                lowered.push((index, l));
            }
        }
        let mut uploaded = HashMap::new();
        for (index, l) in lowered {
            let gpu = l.rnn.to_gpu(ctx)?;
            uploaded.insert(index, (l, gpu));
        }
        Ok(GpuOnnxModel {
            model,
            ctx: ctx.clone(),
            uploaded,
        })
    }

    /// The model on the host.
    pub fn model(&self) -> &OnnxModel {
        &self.model
    }

    /// Runs the graph: inputs and outputs by the graph's names, as [`OnnxModel::forward`].
    ///
    /// # Errors
    /// As [`OnnxModel::forward`] (all shape errors before any GPU work); for weights that
    /// are graph inputs, [`Error::Unsupported`] when they hold non-zero peepholes or NaN;
    /// GPU errors.
    pub fn forward(&self, inputs: &Values) -> Result<Values> {
        let given = self.model.prepare(inputs)?;
        let outputs = run::run(&self.model.graph, given, |index, node, inputs| {
            if let Some((l, gpu)) = self.uploaded.get(&index) {
                return Some(l.run(inputs, |input| gpu.forward(input)));
            }
            let Op::Recurrent(rec) = &node.op else { return None };
            Some(self.per_call(rec, &node.label, inputs))
        })?;
        Ok(collect(outputs))
    }

    /// A recurrent node whose weights are graph inputs: lowered and uploaded for this call.
    fn per_call(&self, rec: &crate::onnx::ops::Recurrent, label: &str, inputs: &[Option<&Val>]) -> Result<Vec<Val>> {
        let l = lower(rec, label, inputs).map_err(|reason| unsupported(label, reason))?;
        let gpu = l.rnn.to_gpu(&self.ctx)?;
        l.run(inputs, |input| gpu.forward(input))
    }
}
