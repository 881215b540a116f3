//! `GpuOnnxModel`: a graph whose recurrent nodes run on the GPU kernels.

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::gpu::{GpuContext, GpuRnn};
use crate::onnx::lower::{lower, Lowered};
use crate::onnx::model::{collect, OnnxModel};
use crate::onnx::ops::Op;
use crate::onnx::run;
use crate::onnx::value::Values;

/// An [`OnnxModel`] with the weights of its recurrent nodes on the GPU.
///
/// Recurrent nodes run with the crate's fused kernels (one upload at creation); the
/// operators around them (layout changes, shape arithmetic, dense heads) run on the host.
pub struct GpuOnnxModel {
    model: OnnxModel,
    /// Node index to its uploaded stack.
    nodes: HashMap<usize, (Lowered, GpuRnn)>,
}

impl GpuOnnxModel {
    pub(crate) fn new(model: OnnxModel, ctx: &GpuContext) -> Result<Self> {
        // Every node is lowered before anything is uploaded: an unsupported one fails first.
        let mut lowered = Vec::new();
        for (index, node) in model.graph.nodes.iter().enumerate() {
            if let Op::Recurrent(rec) = &node.op {
                let l = lower(rec, node, &model.graph).map_err(|reason| Error::Unsupported {
                    what: format!("{} on the GPU", node.label),
                    reason: format!("{reason}; run the model on the CPU with OnnxModel::forward, which supports every attribute"),
                })?;
                lowered.push((index, l));
            }
        }
        let mut nodes = HashMap::new();
        for (index, l) in lowered {
            let gpu = l.rnn.to_gpu(ctx)?;
            nodes.insert(index, (l, gpu));
        }
        Ok(GpuOnnxModel { model, nodes })
    }

    /// The model on the host.
    pub fn model(&self) -> &OnnxModel {
        &self.model
    }

    /// Runs the graph: inputs and outputs by the graph's names, as [`OnnxModel::forward`].
    ///
    /// # Errors
    /// As [`OnnxModel::forward`] (all shape errors before any GPU work), and GPU errors.
    pub fn forward(&self, inputs: &Values) -> Result<Values> {
        let given = self.model.prepare(inputs)?;
        let outputs = run::run(&self.model.graph, given, |index, _, inputs| {
            self.nodes.get(&index).map(|(l, gpu)| l.run(inputs, |input| gpu.forward(input)))
        })?;
        Ok(collect(outputs))
    }
}
