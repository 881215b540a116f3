//! The dense stages on the GPU: kernels compiled on first use, and a whole [`Sequential`]
//! model run with its data on the device from the upload of the input to the one read back.
//!
//! [`Sequential`]: super::Sequential

use super::gpu_pass::{DenseKernels, GpuLayer, SequentialPass, StagePass};
use super::layout::{Flow, Layout};
use super::model::{Layer, SequentialModel};
use super::Activation;
use crate::error::{Error, Result};
use crate::gpu::kernels::{DENSE_ROWS, DENSE_WORKGROUP};
use crate::gpu::{read_back, GpuContext, Scopes, Wait, MAX_KEPT_BYTES};
use crate::shape::{Input, Tensor, TensorView};
use crate::Precision;

/// A [`SequentialModel`] whose weights live on a GPU. Create it with
/// [`SequentialModel::to_gpu`].
///
/// A forward pass uploads the input (made time-major on the host), runs every stage on the
/// GPU — each `nn.Linear` (with a following activation fused into it) over all `T * B` rows,
/// the recurrent stacks as [`GpuRnn::forward_gpu`](crate::GpuRnn::forward_gpu) runs them, the last-step selection — and
/// reads back only the final result. Its buffers and bind groups are kept for the next call
/// with the same T and B (up to 32 MiB of them), which only rewrites the input, the lengths and
/// the recurrent stages' zero state; concurrent calls each use their own.
pub struct GpuSequential {
    ctx: GpuContext,
    /// How every weight matrix is stored.
    precision: Precision,
    layout: Layout,
    layers: Vec<GpuLayer>,
    /// Bound where a kernel reads nothing (bind groups need every entry of the layout).
    unused: wgpu::Buffer,
    /// The last call's buffers and bind groups, for the next call of the same shape.
    pass: std::sync::Mutex<Option<Box<SequentialPass>>>,
}

impl std::fmt::Debug for GpuSequential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuSequential")
            .field("stages", &self.layout.labels)
            .field("context", &self.ctx)
            .finish()
    }
}

impl GpuSequential {
    pub(crate) fn upload(
        ctx: &GpuContext,
        model: &SequentialModel,
        precision: Precision,
    ) -> Result<Self> {
        ctx.inner.health.check()?;
        // Every weight is checked against `precision` before anything is uploaded (an f32
        // model is used as it is, not copied).
        let rounded;
        let model = match precision {
            Precision::F32 => model,
            _ => {
                rounded = model.with_precision(precision)?;
                &rounded
            }
        };
        for (layer, label) in model.layers.iter().zip(&model.layout.labels) {
            if let Layer::Linear(l) = layer {
                let bytes = (l.in_features()
                    * l.out_features().div_ceil(4)
                    * 4
                    * precision.bytes_per_weight()) as u64;
                ctx.check_buffer(
                    format!("the weight of {label}"),
                    bytes,
                    "reduce in_features or out_features",
                )?;
                // One loop iteration per input feature (shaders/dense.wesl).
                ctx.check_loop(
                    format!("{label} over {} input features", l.in_features()),
                    l.in_features() + 64,
                    "use a GPU adapter, or reduce in_features",
                )?;
            }
        }
        DenseKernels::of(ctx, precision)?;
        let scopes = Scopes::push(&ctx.inner.device);
        let mut layers = Vec::with_capacity(model.layers.len());
        for layer in &model.layers {
            let fused = matches!(
                layers.last(),
                Some(GpuLayer::Linear {
                    activation: Activation::Identity,
                    ..
                })
            );
            let next = match layer {
                Layer::Linear(l) => {
                    let packed = l.packed_weight();
                    GpuLayer::Linear {
                        weight: ctx.buffer_with(
                            "linear weight (transposed)",
                            &precision.encode(&packed),
                            wgpu::BufferUsages::STORAGE,
                        ),
                        bias: ctx.storage("linear bias (padded)", &l.packed_bias()),
                        out_features: l.out_features(),
                        activation: Activation::Identity,
                    }
                }
                Layer::Recurrent(rnn) => GpuLayer::Recurrent(rnn.to_gpu_with(ctx, precision)?),
                Layer::LastStep { bidirectional } => GpuLayer::LastStep {
                    bidirectional: *bidirectional,
                },
                Layer::Activation(a) if fused => {
                    if let Some(GpuLayer::Linear { activation, .. }) = layers.last_mut() {
                        *activation = *a;
                    }
                    GpuLayer::Fused
                }
                Layer::Activation(a) => GpuLayer::Activation(*a),
            };
            layers.push(next);
        }
        let unused = ctx.storage("unused binding", &[0.0; 4]);
        scopes.settle("uploading the dense weights")?;
        Ok(GpuSequential {
            ctx: ctx.clone(),
            precision,
            layout: model.layout.clone(),
            layers,
            unused,
            pass: std::sync::Mutex::new(None),
        })
    }

    /// The context the weights live on.
    pub fn context(&self) -> &GpuContext {
        &self.ctx
    }

    /// Runs every stage on the GPU and reads the result back, shaped as
    /// [`SequentialModel::forward`] returns it.
    ///
    /// # Errors
    /// The shape and length errors of [`SequentialModel::forward`], found before any GPU work;
    /// [`Error::DeviceLimit`] when the work does not fit the device; [`Error::Gpu`] or
    /// [`Error::DeviceLost`] when the device fails.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn forward(&self, input: &Input<'_>) -> Result<Tensor> {
        pollster::block_on(self.forward_with(input, Wait::Block))
    }

    /// As [`GpuSequential::forward`], without blocking the executor while the GPU works.
    ///
    /// # Errors
    /// As [`GpuSequential::forward`].
    pub async fn forward_async(&self, input: &Input<'_>) -> Result<Tensor> {
        self.forward_with(input, Wait::Yield).await
    }

    async fn forward_with(&self, input: &Input<'_>, wait: Wait) -> Result<Tensor> {
        let flow = self.layout.resolve_input(&input.shapes())?;
        input.check_finite()?;
        let input = input.x;
        if flow.is_empty() {
            return Tensor::zeros(flow.out_shape);
        }
        self.ctx
            .inner
            .health
            .guard(self.run(input, &flow, wait))
            .await
    }

    async fn run(&self, input: TensorView<'_>, flow: &Flow, wait: Wait) -> Result<Tensor> {
        let ctx = &self.ctx;
        let (device, queue) = (&ctx.inner.device, &ctx.inner.queue);
        let kernels = DenseKernels::of(ctx, self.precision)?;
        // Every size is checked before the first buffer is created.
        let hint = "shorten the sequences or split the batch into calls";
        let mut groups = Vec::with_capacity(self.layers.len());
        for (i, layer) in self.layers.iter().enumerate() {
            let rows = flow.rows_into(i + 1);
            let bytes = (rows * flow.widths[i + 1] * 4) as u64;
            ctx.check_buffer(
                format!("the output of {}", self.layout.labels[i]),
                bytes,
                hint,
            )?;
            let invocations = match layer {
                GpuLayer::Linear { out_features, .. } => {
                    out_features.div_ceil(4) * flow.rows_into(i).div_ceil(DENSE_ROWS as usize)
                }
                GpuLayer::LastStep { .. } | GpuLayer::Activation(_) => rows * flow.widths[i + 1],
                GpuLayer::Recurrent(_) | GpuLayer::Fused => 0,
            };
            groups.push(self.workgroups(invocations)?);
        }
        ctx.check_buffer(
            "the input",
            (flow.t * flow.b * flow.widths[0] * 4) as u64,
            hint,
        )?;

        let scopes = Scopes::push(device);
        let x = if flow.swap {
            crate::shape::swap_batch_time(input.data(), flow.b, flow.t, flow.widths[0])
        } else {
            input.data().to_vec()
        };
        let cached = self
            .pass
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .filter(|p| p.key == (flow.t, flow.b));
        let kept = match cached {
            Some(pass) => pass.reuse(&self.ctx, &self.layers, &x, flow)?,
            None => None,
        };
        let pass = match kept {
            Some(pass) => pass,
            None => SequentialPass::build(
                &self.ctx,
                &self.layers,
                &self.unused,
                &kernels,
                &x,
                flow,
                &groups,
            )?,
        };
        let mut encoder = device.create_command_encoder(&Default::default());
        for (layer, stage) in self.layers.iter().zip(&pass.stages) {
            match (layer, stage) {
                (_, StagePass::Fused) => {}
                (GpuLayer::Recurrent(rnn), StagePass::Recurrent { pass, .. }) => {
                    // Its own submissions follow ours on the queue: submit what reads its input.
                    let pending = std::mem::replace(
                        &mut encoder,
                        device.create_command_encoder(&Default::default()),
                    );
                    queue.submit([pending.finish()]);
                    queue.submit([rnn.record_resident(pass)?.finish()]);
                }
                (
                    _,
                    StagePass::Dense {
                        kernel,
                        group,
                        grid,
                    },
                ) => {
                    let pipeline = kernels.pipeline(*kernel);
                    let mut compute = encoder.begin_compute_pass(&Default::default());
                    compute.set_pipeline(pipeline);
                    compute.set_bind_group(0, group, &[]);
                    compute.dispatch_workgroups(grid.0, grid.1, 1);
                }
                _ => {
                    return Err(Error::Gpu {
                        operation: "running the sequential model",
                        message: "a kept pass does not match the model's stages".into(),
                    })
                }
            }
        }
        let bytes = pass.staging.size();
        encoder.copy_buffer_to_buffer(&pass.output, 0, &pass.staging, 0, bytes);
        queue.submit([encoder.finish()]);
        scopes.pop("running the sequential model").await?;
        let values = read_back(device, &pass.staging, wait).await?;
        if pass.bytes <= MAX_KEPT_BYTES {
            *self.pass.lock().unwrap_or_else(|e| e.into_inner()) = Some(Box::new(pass));
        }
        Ok(self.layout.finish(flow, values))
    }

    /// The workgroup grid covering `invocations` ([`GpuContext::flat_grid`]).
    fn workgroups(&self, invocations: usize) -> Result<(u32, u32)> {
        self.ctx
            .flat_grid("a dense stage", invocations, DENSE_WORKGROUP)
    }
}
