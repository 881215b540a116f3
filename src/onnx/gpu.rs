//! `GpuOnnxModel`: a graph whose recurrent nodes run on the GPU kernels.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::error::{Error, Result};
use crate::gpu::{GpuContext, GpuRnn};
use crate::onnx::array::Val;
use crate::onnx::decode::Node;
use crate::onnx::device::{self, DeviceTensor, Slot};
use crate::onnx::lower::{lower, stored_weights, Lowered};
use crate::onnx::model::{collect, OnnxModel};
use crate::onnx::ops::Op;
use crate::onnx::ops::Recurrent;
use crate::onnx::value::Values;
use crate::Precision;

/// An [`OnnxModel`] with the weights of its recurrent nodes on the GPU.
///
/// Recurrent nodes run with the crate's fused kernels; their weights are uploaded once when
/// they are initializers, or at each forward when the graph takes them as inputs (as the
/// ONNX backend tests do). A recurrent node's output `Y` stays on the GPU while its
/// consumers only relabel it (`Transpose` to `[T, B, D, H]`, `Reshape`, `Squeeze`,
/// `Unsqueeze`, `Identity`, `Shape`): PyTorch's stacked exports feed one layer's output to
/// the next on the GPU. Other operators (shape arithmetic, dense heads) run on the host,
/// reading a GPU value back once.
pub struct GpuOnnxModel {
    model: OnnxModel,
    ctx: GpuContext,
    /// Node index to its uploaded stack; recurrent nodes absent here upload at each forward.
    uploaded: HashMap<usize, (Lowered, GpuRnn)>,
    /// Device tensors read back so far.
    pub(crate) downloads: AtomicUsize,
    /// How the recurrent nodes' weight matrices are stored.
    precision: Precision,
}

fn unsupported(label: &str, reason: String) -> Error {
    Error::Unsupported {
        what: format!("{label} on the GPU"),
        reason: format!("{reason}; run the model on the CPU with OnnxModel::forward, which supports every attribute"),
    }
}

impl OnnxModel {
    /// Uploads the weights of every recurrent node to the GPU. Recurrent nodes then run on
    /// the GPU with the crate's fused kernels, their outputs kept on the GPU for the next
    /// recurrent node where only layout changes lie between (see [`GpuOnnxModel`]). The
    /// weight matrices are stored as [`OnnxModel::precision`]: f32 unless the model came from
    /// [`OnnxModel::with_precision`].
    ///
    /// # Errors
    /// [`crate::Error::Unsupported`] for a recurrent node whose stored weights hold NaN or
    /// infinities (naming the node and the tensor), before any GPU work; GPU errors.
    pub fn to_gpu(&self, ctx: &GpuContext) -> Result<GpuOnnxModel> {
        GpuOnnxModel::new(self.clone(), ctx, self.precision)
    }

    /// As [`OnnxModel::to_gpu`], with the recurrent nodes' weight matrices stored as
    /// `precision` ([`Rnn::to_gpu_with`](crate::Rnn::to_gpu_with)); the dense operators run on
    /// the host in f32.
    ///
    /// # Errors
    /// As [`OnnxModel::to_gpu`], and [`crate::Error::WeightRange`] for a weight beyond
    /// `precision`'s range.
    pub fn to_gpu_with(&self, ctx: &GpuContext, precision: Precision) -> Result<GpuOnnxModel> {
        GpuOnnxModel::new(self.clone(), ctx, precision)
    }
}

impl GpuOnnxModel {
    fn new(model: OnnxModel, ctx: &GpuContext, precision: Precision) -> Result<Self> {
        // Every node is lowered before anything is uploaded: one that cannot be fails first.
        let mut lowered = Vec::new();
        for (index, node) in model.graph.nodes.iter().enumerate() {
            let Op::Recurrent(rec) = &node.op else {
                continue;
            };
            if let Some(weights) = stored_weights(node, &model.graph) {
                let l = lower(rec, &node.label, &weights)
                    .map_err(|reason| unsupported(&node.label, reason))?;
                lowered.push((index, l));
            }
        }
        let mut uploaded = HashMap::new();
        for (index, l) in lowered {
            let gpu = l.upload(ctx, precision)?;
            uploaded.insert(index, (l, gpu));
        }
        Ok(GpuOnnxModel {
            model,
            ctx: ctx.clone(),
            uploaded,
            downloads: AtomicUsize::new(0),
            precision,
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
        let graph = &self.model.graph;
        let mut slots: HashMap<&str, Slot> = HashMap::new();
        for (name, value) in given {
            let Some(declared) = graph.inputs.iter().find(|d| d.name == name) else {
                continue;
            };
            slots.insert(declared.name.as_str(), Slot::Host(value));
        }
        for (index, node) in graph.nodes.iter().enumerate() {
            let outputs = if let Some(t) = device::relabel(node, &slots, graph) {
                vec![Slot::Device(t)]
            } else if let Some(shape) = device::shape_only(node, &slots) {
                vec![Slot::Host(shape)]
            } else if let Op::Recurrent(rec) = &node.op {
                self.recurrent(index, rec, node, &mut slots).await?
            } else {
                self.on_host(node, &mut slots, 0..node.inputs.len()).await?;
                let inputs = host_inputs(node, &slots, graph);
                node.op
                    .run(&inputs, &node.label)?
                    .into_iter()
                    .map(Slot::Host)
                    .collect()
            };
            for (name, value) in node.outputs.iter().zip(outputs) {
                if !name.is_empty() {
                    slots.insert(name.as_str(), value);
                }
            }
        }
        let mut outputs = Vec::with_capacity(graph.outputs.len());
        for o in &graph.outputs {
            let value = match slots.get(o.name.as_str()) {
                Some(Slot::Device(t)) => self.download(t).await?,
                Some(Slot::Host(v)) => v.clone(),
                None => graph
                    .initializers
                    .get(&o.name)
                    .cloned()
                    .expect("decode checked that every output is defined"),
            };
            outputs.push((o.name.clone(), value));
        }
        Ok(collect(outputs))
    }

    /// Reads back a device tensor (counted, for the tests of what stays on the GPU).
    async fn download(&self, t: &DeviceTensor) -> Result<Val> {
        self.downloads.fetch_add(1, Ordering::Relaxed);
        device::download(&self.ctx, t).await
    }

    /// Brings the node's inputs `which` that are on the GPU to the host, in place, so that
    /// later consumers reuse the copy.
    async fn on_host(
        &self,
        node: &Node,
        slots: &mut HashMap<&str, Slot>,
        which: std::ops::Range<usize>,
    ) -> Result<()> {
        for name in &node.inputs[which] {
            if let Some((key, Slot::Device(t))) = slots.get_key_value(name.as_str()) {
                let (key, t) = (*key, t.clone());
                let value = self.download(&t).await?;
                slots.insert(key, Slot::Host(value));
            }
        }
        Ok(())
    }

    /// A recurrent node: its input read where it is, its `Y` left on the GPU when it can be.
    async fn recurrent(
        &self,
        index: usize,
        rec: &Recurrent,
        node: &Node,
        slots: &mut HashMap<&str, Slot>,
    ) -> Result<Vec<Slot>> {
        // Everything but X on the host (weights and states from earlier nodes are rare).
        self.on_host(node, slots, 1..node.inputs.len()).await?;
        let graph = &self.model.graph;
        let per_call;
        let (l, gpu) = match self.uploaded.get(&index) {
            Some((l, gpu)) => (l, gpu),
            None => {
                // Weights that are graph inputs: lowered and uploaded for this call.
                let inputs = host_inputs(node, slots, graph);
                let l = lower(rec, &node.label, &inputs)
                    .map_err(|reason| unsupported(&node.label, reason))?;
                let gpu = l.upload(&self.ctx, self.precision)?;
                per_call = (l, gpu);
                (&per_call.0, &per_call.1)
            }
        };
        if let Some(result) =
            device::recurrent_on_device(&self.ctx, l, gpu, rec, node, slots, graph)
        {
            let (y, h_n, c_n) = result?;
            let mut outputs = vec![
                Slot::Device(y),
                Slot::Host(device::states_to_onnx(
                    self.download(&h_n).await?,
                    rec.batch_major,
                )),
            ];
            if let Some(c_n) = c_n {
                outputs.push(Slot::Host(device::states_to_onnx(
                    self.download(&c_n).await?,
                    rec.batch_major,
                )));
            }
            return Ok(outputs);
        }
        self.on_host(node, slots, 0..1).await?;
        let inputs = host_inputs(node, slots, graph);
        let p = l.prepare(&inputs)?;
        let out = gpu.forward_async(&p.input()).await?;
        Ok(l.finish(&p, out).into_iter().map(Slot::Host).collect())
    }
}

/// A node's inputs from the host slots and the initializers (`None` for an omitted one).
fn host_inputs<'s>(
    node: &Node,
    slots: &'s HashMap<&str, Slot>,
    graph: &'s crate::onnx::decode::Graph,
) -> Vec<Option<&'s Val>> {
    node.inputs
        .iter()
        .map(|n| device::host_value(n, slots, graph))
        .collect()
}
