//! The dense stages on the GPU: kernels compiled on first use, and a whole [`Sequential`]
//! model run with its data on the device from the upload of the input to the one read back.
//!
//! [`Sequential`]: super::Sequential

use wgpu::BufferUsages;

use super::layout::{Flow, Layout};
use super::model::{Layer, SequentialModel};
use super::Activation;
use crate::error::{Error, Result};
use crate::gpu::kernels::{
    bindings, layout_entry, DenseParams, DotLoop, GatesMemory, Kernel, Memory, ShaderFile,
    WeightMemory, DENSE_ROWS, DENSE_WORKGROUP, UNIFORM_BINDING_VEC4S,
};
use crate::gpu::{read_back, GpuContext, GpuInput, GpuRnn, Scopes, Wait};
use crate::shape::Tensor;

/// The layout and pipelines of shaders/dense.wgsl, built once per context on first use.
pub(crate) struct DenseKernels {
    layout: wgpu::BindGroupLayout,
    linear: wgpu::ComputePipeline,
    last_step: wgpu::ComputePipeline,
    activate: wgpu::ComputePipeline,
    /// On CPU adapters, `linear` reading src and the weight from uniform windows, with its
    /// layout: lavapipe loads storage one lane at a time through the stack.
    linear_uniform: Option<(wgpu::BindGroupLayout, wgpu::ComputePipeline)>,
}

impl DenseKernels {
    /// Compiles the kernels (`linear_uniform` only on CPU adapters). Run inside an error
    /// scope: a failure is reported there.
    fn new(device: &wgpu::Device, cpu: bool) -> Self {
        let (layout, pipeline) = Self::family(device, Memory::Storage);
        let linear_uniform = cpu.then(|| {
            let (layout, pipeline) = Self::family(device, Memory::Uniform);
            (layout, pipeline(Kernel::Linear))
        });
        DenseKernels {
            linear: pipeline(Kernel::Linear),
            last_step: pipeline(Kernel::LastStep),
            activate: pipeline(Kernel::Activate),
            layout,
            linear_uniform,
        }
    }

    /// The layout of the family with src and the weight in `operands`, and a maker of its
    /// pipelines.
    fn family(
        device: &wgpu::Device,
        operands: Memory,
    ) -> (
        wgpu::BindGroupLayout,
        impl Fn(Kernel) -> wgpu::ComputePipeline + '_,
    ) {
        let entries: Vec<_> = bindings(
            ShaderFile::Dense,
            WeightMemory::Storage,
            operands,
            GatesMemory::Storage,
        )
        .into_iter()
        .map(|(i, b)| layout_entry(i, b, false))
        .collect();
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("wgpu-rnn dense"),
            entries: &entries,
        });
        let source = ShaderFile::Dense.source_for(
            DotLoop::Plain,
            1,
            WeightMemory::Storage,
            operands,
            GatesMemory::Storage,
        );
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(ShaderFile::Dense.name()),
            source: wgpu::ShaderSource::Wgsl(source.into()),
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("wgpu-rnn dense"),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = move |kernel: Kernel| {
            device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(kernel.entry_point()),
                layout: Some(&pipeline_layout),
                module: &module,
                entry_point: Some(kernel.entry_point()),
                compilation_options: Default::default(),
                cache: None,
            })
        };
        (layout, pipeline)
    }

    /// The context's dense kernels, compiled now if this is their first use.
    pub(crate) fn of(ctx: &GpuContext) -> Result<&DenseKernels> {
        if let Some(kernels) = ctx.inner.dense.get() {
            return Ok(kernels);
        }
        let scopes = Scopes::push(&ctx.inner.device);
        let built = DenseKernels::new(&ctx.inner.device, ctx.on_cpu_adapter());
        pollster::block_on(scopes.pop("compiling the dense kernels"))?;
        // Another thread may have won the race; either set of pipelines is as good.
        Ok(ctx.inner.dense.get_or_init(|| built))
    }
}

/// A [`SequentialModel`] whose weights live on a GPU. Create it with
/// [`SequentialModel::to_gpu`].
///
/// A forward pass uploads the input (made time-major on the host), runs every stage on the
/// GPU — each `nn.Linear` (with a following activation fused into it) over all `T * B` rows,
/// the recurrent stacks through [`GpuRnn::forward_gpu`], the last-step selection — and reads
/// back only the final result.
pub struct GpuSequential {
    ctx: GpuContext,
    layout: Layout,
    layers: Vec<GpuLayer>,
    /// Bound where a kernel reads nothing (bind groups need every entry of the layout).
    unused: wgpu::Buffer,
}

enum GpuLayer {
    Linear {
        weight: wgpu::Buffer,
        /// The weight padded to one uniform binding, on CPU adapters where it fits
        /// (`DenseKernels::linear_uniform`).
        weight_window: Option<wgpu::Buffer>,
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
                        weight_window: weight_window(ctx, &packed),
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
        let mut current = ctx.storage("sequential input (time-major)", &x);
        let lengths = ctx.lengths(&flow.lengths_or_full());
        let mut encoder = device.create_command_encoder(&Default::default());
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
            // (kernel, weight, bias, dst); `None` for stages without a dense dispatch.
            // `window` is set where `linear` reads src and the weight from uniform windows.
            let mut window = None;
            let dispatch = match layer {
                GpuLayer::Fused => None,
                GpuLayer::Recurrent(rnn) => {
                    // Its own submissions follow ours on the queue: submit what reads its input.
                    let pending = std::mem::replace(
                        &mut encoder,
                        device.create_command_encoder(&Default::default()),
                    );
                    queue.submit([pending.finish()]);
                    let shape = [flow.t, flow.b, width];
                    let out = rnn.forward_gpu(&GpuInput {
                        buffer: &current,
                        shape: &shape,
                        lengths: flow.lengths.as_deref(),
                    })?;
                    current = out.output;
                    None
                }
                GpuLayer::Linear {
                    weight,
                    weight_window,
                    bias,
                    out_features,
                    activation,
                } => {
                    params.out4 = out_features.div_ceil(4) as u32;
                    params.activation = activation.code();
                    let out = ctx.scratch("linear output", rows * out_width);
                    let src_floats = rows * width;
                    match (weight_window, &kernels.linear_uniform) {
                        (Some(weight_window), Some(_))
                            if src_floats <= UNIFORM_BINDING_VEC4S * 4 =>
                        {
                            let src_window = ctx.uniform_scratch("linear input window");
                            let bytes = (src_floats * 4) as u64;
                            encoder.copy_buffer_to_buffer(&current, 0, &src_window, 0, bytes);
                            window = Some(src_window);
                            Some((Kernel::Linear, weight_window, bias, out))
                        }
                        _ => Some((Kernel::Linear, weight, bias, out)),
                    }
                }
                GpuLayer::LastStep { bidirectional } => {
                    params.split = if *bidirectional { width / 2 } else { width } as u32;
                    let out = ctx.scratch("last step", flow.b * width);
                    Some((Kernel::LastStep, &self.unused, &self.unused, out))
                }
                GpuLayer::Activation(a) => {
                    params.activation = a.code();
                    params.out_features = width as u32;
                    // In place: the kernel reads and writes `dst`.
                    Some((
                        Kernel::Activate,
                        &self.unused,
                        &self.unused,
                        current.clone(),
                    ))
                }
            };
            let Some((kernel, weight, bias, dst)) = dispatch else {
                continue;
            };
            let params = ctx.buffer_with(
                "dense params",
                bytemuck::bytes_of(&params),
                BufferUsages::UNIFORM,
            );
            let src = match (&window, kernel) {
                (Some(window), _) => window,
                (None, Kernel::Activate) => &self.unused,
                (None, _) => &current,
            };
            let (layout, pipeline) = match (&window, &kernels.linear_uniform) {
                (Some(_), Some((layout, pipeline))) => (layout, pipeline),
                _ => (&kernels.layout, kernels.pipeline(kernel)),
            };
            let group = device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some(kernel.entry_point()),
                layout,
                entries: &[&params, src, weight, bias, &lengths, &dst]
                    .iter()
                    .enumerate()
                    .map(|(i, buffer)| wgpu::BindGroupEntry {
                        binding: i as u32,
                        resource: buffer.as_entire_binding(),
                    })
                    .collect::<Vec<_>>(),
            });
            {
                let mut pass = encoder.begin_compute_pass(&Default::default());
                pass.set_pipeline(pipeline);
                pass.set_bind_group(0, &group, &[]);
                let (x, y) = groups[i];
                pass.dispatch_workgroups(x, y, 1);
            }
            current = dst;
        }
        let floats = flow.rows_into(self.layers.len()) * flow.widths[self.layers.len()];
        let staging = ctx.staging("read back", (floats * 4) as u64);
        encoder.copy_buffer_to_buffer(&current, 0, &staging, 0, (floats * 4) as u64);
        queue.submit([encoder.finish()]);
        scopes.pop("running the sequential model").await?;
        let values = read_back(device, &staging, wait).await?;
        Ok(self.layout.finish(flow, values))
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

/// `packed` (a Linear's transposed weight) padded to one uniform binding, on CPU adapters
/// where it fits one: `linear` then reads it as a uniform buffer.
fn weight_window(ctx: &GpuContext, packed: &[f32]) -> Option<wgpu::Buffer> {
    let floats = UNIFORM_BINDING_VEC4S * 4;
    (ctx.on_cpu_adapter() && packed.len() <= floats).then(|| {
        let mut padded = packed.to_vec();
        padded.resize(floats, 0.0);
        ctx.buffer_with(
            "linear weight window (transposed)",
            bytemuck::cast_slice(&padded),
            BufferUsages::UNIFORM,
        )
    })
}

impl DenseKernels {
    fn pipeline(&self, kernel: Kernel) -> &wgpu::ComputePipeline {
        match kernel {
            Kernel::Linear => &self.linear,
            Kernel::LastStep => &self.last_step,
            _ => &self.activate,
        }
    }
}
