//! `GpuOnnxModel`: a graph whose recurrent nodes run on the GPU kernels.

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::gpu::{GpuContext, GpuRnn};
use crate::onnx::array::Val;
use crate::onnx::decode::Node;
use crate::onnx::lower::{lower, stored_weights, Lowered, Prepared};
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

impl OnnxModel {
    /// Uploads the weights of every recurrent node to the GPU. Recurrent nodes then run on
    /// the GPU with the crate's fused kernels; the operators around them run on the host.
    ///
    /// # Errors
    /// [`crate::Error::Unsupported`] for a recurrent node whose stored weights hold NaN or
    /// infinities (naming the node and the tensor), before any GPU work; GPU errors.
    pub fn to_gpu(&self, ctx: &GpuContext) -> Result<GpuOnnxModel> {
        GpuOnnxModel::new(self.clone(), ctx)
    }

}

impl GpuOnnxModel {
    fn new(model: OnnxModel, ctx: &GpuContext) -> Result<Self> {
        // Every node is lowered before anything is uploaded: one that cannot be fails first.
        let mut lowered = Vec::new();
        for (index, node) in model.graph.nodes.iter().enumerate() {
            let Op::Recurrent(rec) = &node.op else { continue };
            if let Some(weights) = stored_weights(node, &model.graph) {
                let l = lower(rec, &node.label, &weights).map_err(|reason| unsupported(&node.label, reason))?;
                lowered.push((index, l));
            }
        }
        let mut uploaded = HashMap::new();
        for (index, l) in lowered {
            let gpu = l.upload(ctx)?;
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
    /// Blocks until the GPU is done (native only; in a browser use
    /// [`GpuOnnxModel::forward_async`]).
    ///
    /// # Errors
    /// As [`OnnxModel::forward`] (all shape errors before any GPU work); for weights that
    /// are graph inputs, [`Error::Unsupported`] when they hold NaN or infinities;
    /// GPU errors.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn forward(&self, inputs: &Values) -> Result<Values> {
        futures::executor::block_on(self.forward_async(inputs))
    }

    /// As [`GpuOnnxModel::forward`], awaiting the GPU instead of blocking.
    ///
    /// # Errors
    /// As [`GpuOnnxModel::forward`].
    pub async fn forward_async(&self, inputs: &Values) -> Result<Values> {
        let given = self.model.prepare(inputs)?;
        let take = |index: usize, node: &Node, inputs: &[Option<&Val>]| -> Option<Result<Pending>> {
            let Op::Recurrent(rec) = &node.op else { return None };
            Some((|| {
                if let Some((l, _)) = self.uploaded.get(&index) {
                    return Ok(Pending::Uploaded(index, l.prepare(inputs)?));
                }
                // Weights that are graph inputs: lowered and uploaded for this call.
                let l = lower(rec, &node.label, inputs).map_err(|reason| unsupported(&node.label, reason))?;
                let gpu = l.upload(&self.ctx)?;
                let p = l.prepare(inputs)?;
                Ok(Pending::PerCall(Box::new((l, gpu)), p))
            })())
        };
        let complete = |pending: Pending| async move {
            let (stack, p) = match &pending {
                Pending::Uploaded(index, p) => (&self.uploaded[index], p),
                Pending::PerCall(stack, p) => (&**stack, p),
            };
            let out = stack.1.forward_async(&p.input()).await?;
            Ok(stack.0.finish(p, out))
        };
        let outputs = run::run(&self.model.graph, given, take, complete).await?;
        Ok(collect(outputs))
    }
}

/// A recurrent node claimed for the GPU, its inputs converted.
enum Pending {
    /// Its stack was uploaded at creation (node index).
    Uploaded(usize, Prepared),
    /// Its weights are graph inputs: lowered and uploaded for this call.
    PerCall(Box<(Lowered, GpuRnn)>, Prepared),
}
