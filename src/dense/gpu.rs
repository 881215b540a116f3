//! The dense stages on the GPU: kernels compiled on first use, and a whole [`Sequential`]
//! model run with its data on the device from the upload of the input to the one read back.
//!
//! [`Sequential`]: super::Sequential

use wgpu::BufferUsages;

use super::layout::{Flow, Layout};
use super::model::{Layer, SequentialModel};
use super::Activation;
use crate::error::{Error, Result};
use crate::gpu::kernels::{DenseParams, Kernel, ShaderFile, Variant, DENSE_ROWS, DENSE_WORKGROUP};
use crate::gpu::{
    read_back, GpuContext, GpuInput, GpuRnn, ResidentPass, Scopes, Wait, MAX_KEPT_BYTES,
};
use crate::shape::Tensor;

/// The pipelines of shaders/dense.wgsl and their layout, from the context's cache (compiled
/// on first use).
pub(crate) struct DenseKernels {
    layout: wgpu::BindGroupLayout,
    linear: wgpu::ComputePipeline,
    last_step: wgpu::ComputePipeline,
    activate: wgpu::ComputePipeline,
}

impl DenseKernels {
    /// The context's dense kernels.
    pub(crate) fn of(ctx: &GpuContext) -> Result<DenseKernels> {
        let (device, kernels) = (&ctx.inner.device, &ctx.inner.kernels);
        let pipeline = |kernel| kernels.pipeline(device, Variant::dense(kernel));
        Ok(DenseKernels {
            layout: kernels.layout(device, ShaderFile::Dense, false),
            linear: pipeline(Kernel::Linear)?,
            last_step: pipeline(Kernel::LastStep)?,
            activate: pipeline(Kernel::Activate)?,
        })
    }

    fn pipeline(&self, kernel: Kernel) -> &wgpu::ComputePipeline {
        match kernel {
            Kernel::Linear => &self.linear,
            Kernel::LastStep => &self.last_step,
            _ => &self.activate,
        }
    }
}

/// A [`SequentialModel`] whose weights live on a GPU. Create it with
/// [`SequentialModel::to_gpu`].
///
/// A forward pass uploads the input (made time-major on the host), runs every stage on the
/// GPU — each `nn.Linear` (with a following activation fused into it) over all `T * B` rows,
/// the recurrent stacks as [`GpuRnn::forward_gpu`] runs them, the last-step selection — and
/// reads back only the final result. Its buffers and bind groups are kept for the next call
/// with the same T and B (up to 32 MiB of them), which only rewrites the input, the lengths and
/// the recurrent stages' zero state; concurrent calls each use their own.
pub struct GpuSequential {
    ctx: GpuContext,
    layout: Layout,
    layers: Vec<GpuLayer>,
    /// Bound where a kernel reads nothing (bind groups need every entry of the layout).
    unused: wgpu::Buffer,
    /// The last call's buffers and bind groups, for the next call of the same shape.
    pass: std::sync::Mutex<Option<Box<SequentialPass>>>,
}

enum GpuLayer {
    Linear {
        weight: wgpu::Buffer,
        bias: wgpu::Buffer,
        out_features: usize,
        /// The activation stage right after it, fused into the kernel.
        activation: Activation,
    },
    Recurrent(GpuRnn),
    LastStep {
        bidirectional: bool,
    },
    Activation(Activation),
    /// An activation already applied by the linear stage before it.
    Fused,
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
    pub(crate) fn upload(ctx: &GpuContext, model: &SequentialModel) -> Result<Self> {
        ctx.inner.health.check()?;
        for (layer, label) in model.layers.iter().zip(&model.layout.labels) {
            if let Layer::Linear(l) = layer {
                let bytes = (l.in_features() * l.out_features().div_ceil(4) * 16) as u64;
                ctx.check_buffer(
                    format!("the weight of {label}"),
                    bytes,
                    "reduce in_features or out_features",
                )?;
                // One loop iteration per input feature (shaders/dense.wgsl).
                ctx.check_loop(
                    format!("{label} over {} input features", l.in_features()),
                    l.in_features() + 64,
                    "use a GPU adapter, or reduce in_features",
                )?;
            }
        }
        DenseKernels::of(ctx)?;
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
                        weight: ctx.storage("linear weight (transposed)", &packed),
                        bias: ctx.storage("linear bias (padded)", &l.packed_bias()),
                        out_features: l.out_features(),
                        activation: Activation::Identity,
                    }
                }
                Layer::Recurrent(rnn) => GpuLayer::Recurrent(rnn.to_gpu(ctx)?),
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
        pollster::block_on(scopes.pop("uploading the dense weights"))?;
        Ok(GpuSequential {
            ctx: ctx.clone(),
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
    pub fn forward(&self, input: &Tensor, lengths: Option<&[usize]>) -> Result<Tensor> {
        pollster::block_on(self.forward_with(input, lengths, Wait::Block))
    }

    /// As [`GpuSequential::forward`], without blocking the executor while the GPU works.
    ///
    /// # Errors
    /// As [`GpuSequential::forward`].
    pub async fn forward_async(&self, input: &Tensor, lengths: Option<&[usize]>) -> Result<Tensor> {
        self.forward_with(input, lengths, Wait::Yield).await
    }

    async fn forward_with(
        &self,
        input: &Tensor,
        lengths: Option<&[usize]>,
        wait: Wait,
    ) -> Result<Tensor> {
        let flow = self.layout.resolve(input.shape(), lengths)?;
        if flow.is_empty() {
            return Tensor::zeros(flow.out_shape);
        }
        self.ctx
            .inner
            .health
            .guard(self.run(input, &flow, wait))
            .await
    }

    async fn run(&self, input: &Tensor, flow: &Flow, wait: Wait) -> Result<Tensor> {
        let ctx = &self.ctx;
        let (device, queue) = (&ctx.inner.device, &ctx.inner.queue);
        let kernels = DenseKernels::of(ctx)?;
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
            Some(pass) => self.reuse(*pass, &x, flow)?,
            None => None,
        };
        let pass = match kept {
            Some(pass) => pass,
            None => self.build(&kernels, &x, flow, &groups)?,
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

    /// The buffers and bind groups of a forward pass over `x` (time-major), for `flow`'s shape.
    /// `grids` holds each stage's workgroup grid (checked against the device).
    fn build(
        &self,
        kernels: &DenseKernels,
        x: &[f32],
        flow: &Flow,
        grids: &[(u32, u32)],
    ) -> Result<SequentialPass> {
        let ctx = &self.ctx;
        let device = &ctx.inner.device;
        let x_buffer = ctx.storage("sequential input (time-major)", x);
        let lengths = ctx.lengths(&flow.lengths_or_full());
        let mut bytes = x_buffer.size() + lengths.size();
        let mut current = x_buffer.clone();
        let mut stages = Vec::with_capacity(self.layers.len());
        for (i, layer) in self.layers.iter().enumerate() {
            let (rows, width, out_width) = (flow.rows_into(i), flow.widths[i], flow.widths[i + 1]);
            let mut params = DenseParams {
                rows: rows as u32,
                in_features: width as u32,
                out_features: out_width as u32,
                seq_len: flow.t as u32,
                batch: flow.b as u32,
                ..Default::default()
            };
            // The dense dispatches' (kernel, src, weight, bias, dst).
            let (kernel, src, weight, bias, dst) = match layer {
                GpuLayer::Fused => {
                    stages.push(StagePass::Fused);
                    continue;
                }
                GpuLayer::Recurrent(rnn) => {
                    let shape = [flow.t, flow.b, width];
                    let pass = rnn.resident_pass(
                        None,
                        &GpuInput {
                            buffer: &current,
                            shape: &shape,
                            lengths: flow.lengths.as_deref(),
                        },
                    )?;
                    bytes += pass.bytes();
                    let input = std::mem::replace(&mut current, pass.output().clone());
                    stages.push(StagePass::Recurrent {
                        input,
                        pass: Box::new(pass),
                    });
                    continue;
                }
                GpuLayer::Linear {
                    weight,
                    bias,
                    out_features,
                    activation,
                } => {
                    params.out4 = out_features.div_ceil(4) as u32;
                    params.activation = activation.code();
                    let out = ctx.scratch("linear output", rows * out_width);
                    (Kernel::Linear, current.clone(), weight, bias, out)
                }
                GpuLayer::LastStep { bidirectional } => {
                    params.split = if *bidirectional { width / 2 } else { width } as u32;
                    let out = ctx.scratch("last step", flow.b * width);
                    let src = current.clone();
                    (Kernel::LastStep, src, &self.unused, &self.unused, out)
                }
                GpuLayer::Activation(a) => {
                    params.activation = a.code();
                    params.out_features = width as u32;
                    // In place: the kernel reads and writes `dst`.
                    let dst = current.clone();
                    let src = self.unused.clone();
                    (Kernel::Activate, src, &self.unused, &self.unused, dst)
                }
            };
            let params = ctx.buffer_with(
                "dense params",
                bytemuck::bytes_of(&params),
                BufferUsages::UNIFORM,
            );
            let group = device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some(kernel.entry_point()),
                layout: &kernels.layout,
                entries: &[&params, &src, weight, bias, &lengths, &dst]
                    .iter()
                    .enumerate()
                    .map(|(i, buffer)| wgpu::BindGroupEntry {
                        binding: i as u32,
                        resource: buffer.as_entire_binding(),
                    })
                    .collect::<Vec<_>>(),
            });
            if kernel != Kernel::Activate {
                bytes += dst.size();
            }
            bytes += params.size();
            stages.push(StagePass::Dense {
                kernel,
                group,
                grid: grids[i],
            });
            current = dst;
        }
        let floats = flow.rows_into(self.layers.len()) * flow.widths[self.layers.len()];
        let staging = ctx.staging("read back", (floats * 4) as u64);
        Ok(SequentialPass {
            key: (flow.t, flow.b),
            x: x_buffer,
            lengths,
            stages,
            output: current,
            bytes: bytes + staging.size(),
            staging,
        })
    }

    /// `pass`, kept from a call of the same T and B, with `x`, the lengths and the recurrent
    /// stages' zero state written for this one; `None` where a recurrent stage could not
    /// reuse its buffers (the stages after it are bound to its output).
    fn reuse(
        &self,
        mut pass: SequentialPass,
        x: &[f32],
        flow: &Flow,
    ) -> Result<Option<SequentialPass>> {
        let ctx = &self.ctx;
        ctx.write_storage(&pass.x, x);
        ctx.write_lengths(&pass.lengths, &flow.lengths_or_full());
        let mut stages = Vec::with_capacity(pass.stages.len());
        for (i, stage) in std::mem::take(&mut pass.stages).into_iter().enumerate() {
            stages.push(match (&self.layers[i], stage) {
                (GpuLayer::Recurrent(rnn), StagePass::Recurrent { input, pass: kept }) => {
                    let output = kept.output().clone();
                    let shape = [flow.t, flow.b, flow.widths[i]];
                    let kept = rnn.resident_pass(
                        Some(*kept),
                        &GpuInput {
                            buffer: &input,
                            shape: &shape,
                            lengths: flow.lengths.as_deref(),
                        },
                    )?;
                    if kept.output() != &output {
                        return Ok(None);
                    }
                    StagePass::Recurrent {
                        input,
                        pass: Box::new(kept),
                    }
                }
                (_, stage) => stage,
            });
        }
        pass.stages = stages;
        Ok(Some(pass))
    }

    /// The workgroup grid covering `invocations`: as wide as the device allows, then rows.
    fn workgroups(&self, invocations: usize) -> Result<(u32, u32)> {
        let max = self
            .ctx
            .inner
            .device
            .limits()
            .max_compute_workgroups_per_dimension as usize;
        let needed = invocations.div_ceil(DENSE_WORKGROUP as usize);
        let x = needed.clamp(1, max.max(1));
        let y = needed.div_ceil(x);
        if y > max {
            return Err(Error::DeviceLimit {
                what: format!("a dense stage of {invocations} invocations"),
                limit_name: "max_compute_workgroups_per_dimension",
                limit: max as u64,
                needed: y as u64,
                hint: "split the batch into smaller calls".into(),
            });
        }
        Ok((x as u32, y as u32))
    }
}

/// The device side of a [`GpuSequential`] forward pass for one T and B: built once, and kept
/// for the next call of the same shape, which rewrites the input, the lengths and the
/// recurrent stages' zero state, and records the same dispatches again.
struct SequentialPass {
    key: (usize, usize),
    x: wgpu::Buffer,
    lengths: wgpu::Buffer,
    /// One per stage of the model.
    stages: Vec<StagePass>,
    /// The last stage's output, and the buffer it is read back through.
    output: wgpu::Buffer,
    staging: wgpu::Buffer,
    /// Device memory it holds (not counting the model's weights).
    bytes: u64,
}

enum StagePass {
    /// One dispatch of `kernel` over `grid` workgroups.
    Dense {
        kernel: Kernel,
        group: wgpu::BindGroup,
        grid: (u32, u32),
    },
    Recurrent {
        /// The buffer the stage reads its input from.
        input: wgpu::Buffer,
        pass: Box<ResidentPass>,
    },
    /// An activation applied by the linear stage before it.
    Fused,
}
