//! Encoding a forward pass: the dispatch sequence for one model, shape and strategy.

use wgpu::BufferUsages;

use super::context::GpuContext;
use super::kernels::{
    Kernel, LayerParams, ShaderFile, Variant, GEMM_COLS, GEMM_ROWS, GEMM_WORKGROUP, STEP_SLOT_SIZE,
    STEP_WORKGROUP,
};
use super::model::{GpuRnn, StepSlots, Strategy};
use super::pack::gate_stride;
use super::plan::StepShape;
use super::sequence::{sequence_unsupported, SequenceCut, SequenceShape};
use super::wavefront::wavefront_unsupported;
use crate::config::{Kind, RnnConfig};
use crate::error::{Error, Result};
use crate::model::HostSequences;
use crate::shape::Resolved;

/// Rows (timesteps x batch) of input projection computed per chunk: bounds one GEMM dispatch.
const MAX_CHUNK_ROWS: usize = 16_384;
/// Timesteps encoded per submit: long sequences go to the GPU in bounded command buffers
/// (OS watchdogs kill multi-second ones) while state stays on the GPU between them.
const STEPS_PER_SUBMIT: usize = 1_024;
/// Device-side recurrent state in PyTorch's layout: `h (D*L, B, H_out)` and, for LSTM,
/// `c (D*L, B, H)`. Read as `h0`/`c0` when a pass starts, holding `h_n`/`c_n` when it ends.
pub(crate) struct StateBuffers {
    pub h: wgpu::Buffer,
    pub c: wgpu::Buffer,
}

impl StateBuffers {
    /// Uploads initial states (zeros when empty).
    pub(crate) fn upload(ctx: &GpuContext, h0: &[f32], c0: &[f32]) -> Self {
        StateBuffers {
            h: ctx.storage("h_n", h0),
            c: ctx.storage("c_n", c0),
        }
    }
}

impl GpuRnn {
    fn step_slots(&self, needed: usize) -> Result<std::sync::MutexGuard<'_, Option<StepSlots>>> {
        let mut slots = self.steps.lock().unwrap_or_else(|e| e.into_inner());
        if slots.as_ref().is_none_or(|s| s.capacity < needed) {
            let device = &self.ctx.inner.device;
            let stride =
                (device.limits().min_uniform_buffer_offset_alignment as u64).max(STEP_SLOT_SIZE);
            let capacity = needed.next_power_of_two();
            let bytes = stride * capacity as u64;
            if bytes > device.limits().max_buffer_size {
                return Err(Error::DeviceLimit {
                    what: format!("the timestep index table for T={needed}"),
                    limit_name: "max_buffer_size",
                    limit: device.limits().max_buffer_size,
                    needed: bytes,
                    hint: "split the sequence into shorter calls and pass h_n back as h0".into(),
                });
            }
            let mut contents = vec![0u8; bytes as usize];
            for i in 0..capacity {
                let at = i * stride as usize;
                contents[at..at + 4].copy_from_slice(&(i as u32).to_le_bytes());
            }
            let buffer =
                self.ctx
                    .buffer_with("wgpu-rnn step indices", &contents, BufferUsages::UNIFORM);
            let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("wgpu-rnn step indices"),
                layout: &self.ctx.inner.kernels.step_layout,
                entries: &[wgpu::BindGroupEntry {
                    binding: 0,
                    resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                        buffer: &buffer,
                        offset: 0,
                        size: wgpu::BufferSize::new(STEP_SLOT_SIZE),
                    }),
                }],
            });
            *slots = Some(StepSlots {
                capacity,
                stride,
                _buffer: buffer,
                bind_group,
            });
        }
        Ok(slots)
    }

    /// Creates the buffers, pipelines and bind groups of a forward pass of `resolved`'s shape
    /// over `x` (time-major `(T, B, I)` on the device), cut as `plan`, with `lengths` written.
    pub(super) fn workspace(
        &self,
        plan: &Plan,
        resolved: &Resolved,
        x: &wgpu::Buffer,
        lengths: &[usize],
    ) -> Result<Workspace> {
        let ctx = &self.ctx;
        let (device, kernels) = (&ctx.inner.device, &ctx.inner.kernels);
        let config = &self.config;
        let b = resolved.b;
        let (d, h, h_out, gh) = (
            config.num_directions(),
            config.hidden_size,
            config.state_width(),
            config.gate_rows(),
        );
        let lstm = config.kind == Kind::Lstm;

        let lengths = ctx.lengths(lengths);
        let gates_floats = d * plan.chunk_steps * b * gate_stride(config);
        let gates = ctx.scratch("input projection", gates_floats);
        // h between steps, for h after s steps: a ping-pong buffer (half s % 2).
        // The wavefront keeps every layer's h in one ping-pong buffer, [2][L][B][H].
        let wave_layers = plan.wave_layers;
        let state = ctx.scratch("h ping-pong", 2 * d * b * h_out * wave_layers.max(1));
        let cell_floats = match wave_layers {
            0 => 2 * d * b * h,
            layers => layers * b * h,
        };
        let cell = ctx.scratch("c and o*tanh(c)", if lstm { cell_floats } else { 4 });
        // Bound as `x4` where a layer's input width is not a multiple of 4 (the GEMM then
        // reads `x` one float at a time).
        let unused = (0..config.num_layers)
            .any(|l| !config.layer_input_size(l).is_multiple_of(4))
            .then(|| ctx.scratch("unused binding", 4));
        // The wavefront writes only the last layer's output.
        let passes = match wave_layers {
            0 => config.num_layers,
            _ => 1,
        };
        let outputs: Vec<wgpu::Buffer> = (0..passes.min(2))
            .map(|i| ctx.scratch(&format!("layer output {i}"), plan.output_floats))
            .collect();

        // The sequence kernel cut as Plan::new chose, or the per-step kernel cut for the batch.
        let shape = plan.step;
        // The recurrence's pipelines and their group 0 layout.
        let recurrence = || -> Result<(Recurrence, wgpu::BindGroupLayout)> {
            let step = |kernel| Variant::step(kernel, config, shape);
            Ok(match plan.sequence {
                None if wave_layers > 0 => {
                    let variant = Variant::wave(config, shape.rows);
                    let recurrence = Recurrence::Wave {
                        step: kernels.pipeline(device, variant)?,
                        batch_blocks: (b as u32).div_ceil(shape.rows),
                    };
                    (recurrence, kernels.layout(device, variant.kernel.file()))
                }
                Some(cut) => {
                    let variant = Variant::sequence(cut.shape, config);
                    let recurrence = Recurrence::Sequence {
                        shape: cut.shape,
                        pipeline: kernels.pipeline(device, variant)?,
                    };
                    (recurrence, kernels.layout(device, variant.kernel.file()))
                }
                None => {
                    let recurrence = Recurrence::PerStep {
                        step: kernels.pipeline(device, step(Kernel::Step))?,
                        project: match config.proj_size {
                            0 => None,
                            _ => Some(kernels.pipeline(device, step(Kernel::LstmProject))?),
                        },
                        grid: shape.grid(config, b),
                    };
                    (recurrence, kernels.layout(device, ShaderFile::Recurrent))
                }
            })
        };
        let sizes = |buffers: &[&wgpu::Buffer]| buffers.iter().map(|b| b.size()).sum::<u64>();
        let mut bytes = sizes(&[&gates, &lengths, &cell])
            + sizes(
                &std::iter::once(&state)
                    .chain(&outputs)
                    .chain(&unused)
                    .collect::<Vec<_>>(),
            );
        let wave = match wave_layers {
            0 => None,
            _ => Some(self.wave_weights()?),
        };
        let mut layers = Vec::with_capacity(passes);
        for (l, weights) in self.layers.iter().enumerate().take(passes) {
            let params = LayerParams {
                seq_len: resolved.t as u32,
                batch: b as u32,
                in_size: config.layer_input_size(l) as u32,
                hidden: h as u32,
                state_width: h_out as u32,
                directions: d as u32,
                chunk_steps: plan.chunk_steps as u32,
                gate_rows: gh as u32,
                gate_stride: gate_stride(config) as u32,
                relu: (config.kind == Kind::RnnRelu) as u32,
                project: (config.proj_size > 0) as u32,
                gate_count: config.kind.gate_count() as u32,
            };
            let params = ctx.buffer_with(
                "layer params",
                bytemuck::bytes_of(&params),
                BufferUsages::UNIFORM,
            );
            bytes += params.size();
            let layer_in = if l == 0 { x } else { &outputs[(l - 1) % 2] };
            let layer_out = &outputs[l % 2];
            // Group 0 of a family: `resources` at their bindings (gpu::kernels::bindings).
            let bind = |layout: &wgpu::BindGroupLayout,
                        resources: Vec<(u32, wgpu::BindingResource)>| {
                let entries: Vec<_> = resources
                    .into_iter()
                    .map(|(binding, resource)| wgpu::BindGroupEntry { binding, resource })
                    .collect();
                device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: None,
                    layout,
                    entries: &entries,
                })
            };
            // `x4` reads the input a vec4 at a time, which needs rows on whole vec4s.
            let layer_in4 = match &unused {
                Some(unused) if !config.layer_input_size(l).is_multiple_of(4) => unused,
                _ => layer_in,
            };
            let gemm_variant = Variant::input_projection(config);
            let gemm = kernels.pipeline(device, gemm_variant)?;
            let whole = wgpu::Buffer::as_entire_binding;
            let gemm_group = bind(
                &kernels.layout(device, ShaderFile::Gemm),
                vec![
                    (0, whole(&params)),
                    (1, whole(layer_in)),
                    (2, whole(&weights.w_ih)),
                    (3, whole(&weights.b_ih)),
                    (4, whole(&gates)),
                    (5, whole(layer_in4)),
                ],
            );
            let (recurrence, layout) = recurrence()?;
            // Group 0 of the recurrence: the per-step kernel reads W_hh in rows, the sequence
            // kernel packed by unit, the wavefront every layer's weights from its arena.
            let mut resources = vec![
                (0, whole(&params)),
                (1, whole(&gates)),
                (2, whole(&weights.w_hh_rows)),
                (3, whole(&weights.b_hh)),
                (4, whole(&lengths)),
                (5, whole(&state)),
                (6, whole(&cell)),
                (7, whole(layer_out)),
                (8, whole(&weights.w_hr)),
            ];
            match (&wave, &plan.sequence) {
                (Some(wave), _) => {
                    resources[2].1 = whole(&wave.arena);
                    resources[3].1 = whole(&wave.biases);
                    resources.push((9, whole(&wave.params)));
                }
                (None, Some(_)) => resources[2].1 = whole(&weights.w_hh),
                (None, None) => {}
            }
            let step_group = bind(&layout, resources);
            layers.push(LayerPass {
                gemm,
                gemm_group,
                recurrence,
                step_group,
            });
        }
        let last = (passes - 1) % 2;
        let output = outputs.into_iter().nth(last).ok_or(Error::Gpu {
            operation: "encoding the layers",
            message: "no layer output".into(),
        })?;
        Ok(Workspace {
            t: resolved.t,
            b,
            wave_layers,
            chunk_steps: plan.chunk_steps,
            bytes,
            lengths,
            state,
            cell,
            layers,
            output,
        })
    }

    /// Encodes every layer of a pass prepared in `work`, starting from and leaving the final
    /// state in `state_io`. Full chunks are submitted as they are encoded (a bounded command
    /// buffer each); the last encoder is returned unsubmitted, so the caller can append its
    /// copies of `work.output()`.
    pub(super) fn record(
        &self,
        work: &Workspace,
        state_io: &StateBuffers,
    ) -> Result<wgpu::CommandEncoder> {
        let ctx = &self.ctx;
        let (device, queue) = (&ctx.inner.device, &ctx.inner.queue);
        let config = &self.config;
        let (t_len, b) = (work.t, work.b);
        let (d, h, h_out) = (
            config.num_directions(),
            config.hidden_size,
            config.state_width(),
        );
        let lstm = config.kind == Kind::Lstm;
        // The wavefront's last layer finishes L - 1 dispatches after the first.
        let wave_layers = work.wave_layers;
        let slots_guard = self.step_slots(t_len + wave_layers.saturating_sub(1))?;
        let slots = slots_guard.as_ref().ok_or(Error::Gpu {
            operation: "indexing timesteps",
            message: "no slots".into(),
        })?;
        let (h_n, c_n) = (&state_io.h, &state_io.c);
        let state_after = |s: usize| (&work.state, (s % 2) as u64 * (d * b * h_out * 4) as u64);
        let state_bytes = (d * b * h_out * 4) as u64;
        let cell_bytes = (d * b * h * 4) as u64;
        let chunk_steps = work.chunk_steps;
        let n_chunks = t_len.div_ceil(chunk_steps);
        let mut encoder = device.create_command_encoder(&Default::default());
        let mut steps_in_encoder = 0;
        // Layer l's h in the wavefront's [2][L][B][H] state after w dispatches, in bytes.
        let wave_h = |w: usize, l: usize| ((w % 2 * wave_layers + l) as u64) * state_bytes;
        for (l, layer) in work.layers.iter().enumerate() {
            let slot = (l * d) as u64;
            let (first_state, at) = state_after(0);
            if wave_layers > 0 {
                // Layer l's first step is dispatch l.
                for wl in 0..wave_layers {
                    let from = wl as u64 * state_bytes;
                    encoder.copy_buffer_to_buffer(
                        h_n,
                        from,
                        first_state,
                        wave_h(wl, wl),
                        state_bytes,
                    );
                }
            } else {
                encoder.copy_buffer_to_buffer(
                    h_n,
                    slot * (b * h_out * 4) as u64,
                    first_state,
                    at,
                    state_bytes,
                );
            }
            if lstm {
                encoder.copy_buffer_to_buffer(
                    c_n,
                    slot * (b * h * 4) as u64,
                    &work.cell,
                    0,
                    cell_bytes * wave_layers.max(1) as u64,
                );
            }
            for chunk in 0..n_chunks {
                let first = chunk * chunk_steps;
                let steps = chunk_steps.min(t_len - first);
                {
                    let mut pass = encoder.begin_compute_pass(&Default::default());
                    pass.set_pipeline(&layer.gemm);
                    pass.set_bind_group(0, &layer.gemm_group, &[]);
                    pass.set_bind_group(
                        1,
                        &slots.bind_group,
                        &[(chunk as u64 * slots.stride) as u32],
                    );
                    pass.dispatch_workgroups(
                        (gate_stride(config) as u32 / GEMM_COLS).div_ceil(GEMM_WORKGROUP),
                        ((steps * b) as u32).div_ceil(GEMM_ROWS),
                        d as u32,
                    );
                    pass.set_bind_group(0, &layer.step_group, &[]);
                    match &layer.recurrence {
                        Recurrence::Sequence { shape, pipeline } => {
                            pass.set_pipeline(pipeline);
                            pass.dispatch_workgroups(1, (b as u32).div_ceil(shape.rows), d as u32);
                        }
                        Recurrence::PerStep {
                            step,
                            project,
                            grid,
                        } => {
                            pass.set_pipeline(step);
                            for s in first..first + steps {
                                pass.set_bind_group(
                                    1,
                                    &slots.bind_group,
                                    &[(s as u64 * slots.stride) as u32],
                                );
                                if project.is_some() && s > first {
                                    pass.set_pipeline(step);
                                }
                                pass.dispatch_workgroups(grid[0], grid[1], grid[2]);
                                if let Some(project) = project {
                                    pass.set_pipeline(project);
                                    pass.dispatch_workgroups(
                                        (h_out as u32).div_ceil(STEP_WORKGROUP),
                                        grid[1],
                                        grid[2],
                                    );
                                }
                            }
                        }
                        Recurrence::Wave { step, batch_blocks } => {
                            pass.set_pipeline(step);
                            // The last chunk also runs the upper layers' remaining steps.
                            let end = match first + steps {
                                end if end == t_len => end + wave_layers - 1,
                                end => end,
                            };
                            for w in first..end {
                                pass.set_bind_group(
                                    1,
                                    &slots.bind_group,
                                    &[(w as u64 * slots.stride) as u32],
                                );
                                pass.dispatch_workgroups(
                                    (h as u32).div_ceil(STEP_WORKGROUP),
                                    *batch_blocks,
                                    wave_layers as u32,
                                );
                            }
                        }
                    }
                }
                steps_in_encoder += steps;
                if steps_in_encoder >= STEPS_PER_SUBMIT {
                    queue.submit([std::mem::replace(
                        &mut encoder,
                        device.create_command_encoder(&Default::default()),
                    )
                    .finish()]);
                    steps_in_encoder = 0;
                }
            }
            let (last_state, last) = state_after(t_len);
            if wave_layers > 0 {
                // Layer l's last step is dispatch T - 1 + l.
                for wl in 0..wave_layers {
                    let to = wl as u64 * state_bytes;
                    encoder.copy_buffer_to_buffer(
                        last_state,
                        wave_h(t_len + wl, wl),
                        h_n,
                        to,
                        state_bytes,
                    );
                }
            } else {
                encoder.copy_buffer_to_buffer(
                    last_state,
                    last,
                    h_n,
                    slot * (b * h_out * 4) as u64,
                    state_bytes,
                );
            }
            if lstm {
                encoder.copy_buffer_to_buffer(
                    &work.cell,
                    0,
                    c_n,
                    slot * (b * h * 4) as u64,
                    cell_bytes * wave_layers.max(1) as u64,
                );
            }
        }
        Ok(encoder)
    }
}

/// The buffers, pipelines and bind groups of a forward pass of one shape
/// ([`GpuRnn::workspace`]): built once, and reused by host forwards and stream chunks while the
/// shape repeats. A reuse rewrites the input, the lengths and the state through the queue and
/// skips creating, zeroing and binding everything again.
pub(crate) struct Workspace {
    t: usize,
    b: usize,
    /// Layers stepped together by the wavefront (`Plan::wave_layers`), 0 for the others.
    wave_layers: usize,
    /// Timesteps per input-projection chunk (`Plan::chunk_steps`).
    chunk_steps: usize,
    /// Device memory of the buffers it holds (not counting the input).
    bytes: u64,
    lengths: wgpu::Buffer,
    /// h between steps: [2][D][B][H_out] (the wavefront's [2][L][B][H]), half s % 2 after s
    /// steps.
    state: wgpu::Buffer,
    cell: wgpu::Buffer,
    layers: Vec<LayerPass>,
    output: wgpu::Buffer,
}

impl Workspace {
    /// The last layer's output `(T, B, D*H_out)`.
    pub(crate) fn output(&self) -> &wgpu::Buffer {
        &self.output
    }

    /// Rewrites the per-sequence lengths for the next pass.
    pub(crate) fn write_lengths(&self, ctx: &GpuContext, lengths: &[usize]) {
        ctx.write_lengths(&self.lengths, lengths);
    }

    /// Device memory of the buffers it holds (not counting the input).
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }
}

/// One layer's share of a [`Workspace`].
struct LayerPass {
    gemm: wgpu::ComputePipeline,
    gemm_group: wgpu::BindGroup,
    recurrence: Recurrence,
    step_group: wgpu::BindGroup,
}

/// The pipelines that run a layer's recurrence.
enum Recurrence {
    /// One dispatch per chunk of timesteps.
    Sequence {
        shape: SequenceShape,
        pipeline: wgpu::ComputePipeline,
    },
    /// One dispatch per timestep over `grid` ([`StepShape::grid`]), and one more for an
    /// LSTM's projection.
    PerStep {
        step: wgpu::ComputePipeline,
        project: Option<wgpu::ComputePipeline>,
        grid: [u32; 3],
    },
    /// One dispatch per step of every layer at once (shaders/wavefront.wgsl), for the
    /// first layer's pass; the others have none.
    Wave {
        step: wgpu::ComputePipeline,
        batch_blocks: u32,
    },
}

/// Sizes of one forward pass, checked against the device before anything is created.
pub(crate) struct Plan {
    /// How the sequence kernel cuts the pass, with [`Strategy::Sequence`].
    pub sequence: Option<SequenceCut>,
    /// How the per-step kernel cuts a step (its block of sequences also cuts the wavefront's).
    pub step: StepShape,
    /// Layers stepped together, with [`Strategy::Wavefront`] (0 otherwise).
    pub wave_layers: usize,
    pub chunk_steps: usize,
    pub output_floats: usize,
    pub state_floats: usize,
    pub cell_floats: usize,
}

/// What a kept pass was built for: T, B, whether it runs the sequence kernel
/// (`Plan::sequence`) and the layers it steps together (`Plan::wave_layers`).
pub(crate) type PassKey = (usize, usize, bool, usize);

impl Plan {
    /// The key of a pass over `resolved` cut as this plan: a kept pass with another key
    /// cannot be reused.
    pub(crate) fn key(&self, resolved: &Resolved) -> PassKey {
        (
            resolved.t,
            resolved.b,
            self.sequence.is_some(),
            self.wave_layers,
        )
    }

    pub(crate) fn new(
        ctx: &GpuContext,
        config: &RnnConfig,
        r: &Resolved,
        strategy: Strategy,
    ) -> Result<Plan> {
        let limits = ctx.inner.device.limits();
        let (d, gh, b, t) = (config.num_directions(), config.gate_rows(), r.b, r.t);
        let max_groups = limits.max_compute_workgroups_per_dimension as usize;
        let gemm_groups =
            (gate_stride(config) / GEMM_COLS as usize).div_ceil(GEMM_WORKGROUP as usize);
        if b > max_groups || gemm_groups > max_groups {
            return Err(Error::DeviceLimit {
                what: format!("a batch of {b} sequences with {gh} gate rows"),
                limit_name: "max_compute_workgroups_per_dimension",
                limit: max_groups as u64,
                needed: b.max(gemm_groups) as u64,
                hint: "split the batch into smaller calls".into(),
            });
        }
        let per_step = (d * b * gate_stride(config) * 4) as u64;
        let binding = limits
            .max_storage_buffer_binding_size
            .min(limits.max_buffer_size);
        let by_memory = (binding / per_step.max(1)) as usize;
        if by_memory == 0 {
            ctx.check_buffer(
                "the input projection of one timestep",
                per_step,
                "reduce the batch size or hidden_size",
            )?;
        }
        let by_rows = (MAX_CHUNK_ROWS / b).max(1);
        let by_dispatch = max_groups * GEMM_ROWS as usize / b;
        // A sequence dispatch runs a whole chunk: keep each one short of any GPU watchdog.
        // Per step, a chunk is also the unit of submission: keep command buffers bounded.
        let sequence = match strategy {
            Strategy::Sequence => Some(
                super::choice::sequence_cut(config, b, ctx.profile())
                    .ok_or_else(|| sequence_unsupported(config))?,
            ),
            _ => None,
        };
        let wave_layers = match strategy {
            Strategy::Wavefront => match wavefront_unsupported(config) {
                Some(err) => return Err(err),
                None => config.num_layers,
            },
            _ => 0,
        };
        let by_latency = match &sequence {
            Some(cut) => cut.max_steps,
            None => STEPS_PER_SUBMIT,
        };
        let chunk_steps = t
            .min(by_memory)
            .min(by_rows)
            .min(by_dispatch)
            .min(by_latency)
            .max(1);

        let output_floats = t * b * config.output_width();
        let state_floats = config.num_layers * d * b * config.state_width();
        let cell_floats = if config.kind == Kind::Lstm {
            config.num_layers * d * b * config.hidden_size
        } else {
            0
        };
        let hint =
            "shorten the sequence or the batch (split it into calls and pass h_n back as h0)";
        ctx.check_buffer(
            format!("the input (T={t}, B={b})"),
            (t * b * config.input_size * 4) as u64,
            hint,
        )?;
        ctx.check_buffer(
            format!("the layer output (T={t}, B={b})"),
            (output_floats * 4) as u64,
            hint,
        )?;
        ctx.check_buffer(
            "the read-back buffer",
            ((output_floats + state_floats + cell_floats) * 4) as u64,
            hint,
        )?;
        ctx.check_buffer(
            "every layer's h, twice (Strategy::Wavefront)",
            (2 * wave_layers * b * config.hidden_size * 4) as u64,
            hint,
        )?;
        Ok(Plan {
            sequence,
            step: StepShape::new(config, b, ctx.profile()),
            wave_layers,
            chunk_steps,
            output_floats,
            state_floats,
            cell_floats,
        })
    }
}

/// The device side of a forward pass from host memory, for one shape: the input it uploads,
/// its [`Workspace`], the buffer it reads back through, and (for `GpuRnn::forward`) the state
/// it starts from and ends in. A host forward or a stream chunk of the same shape reuses it.
pub(crate) struct HostPass {
    /// What the pass was built for.
    key: PassKey,
    pub x: wgpu::Buffer,
    pub work: Workspace,
    pub staging: wgpu::Buffer,
    /// `h0`/`c0` in, `h_n`/`c_n` out; `None` where the caller keeps its own (a stream).
    pub state: Option<StateBuffers>,
}

/// The most device memory a [`HostPass`] may hold to be kept for the next call: a larger
/// call's allocations are small next to its work, and a model should not hold on to hundreds
/// of megabytes after one long call.
pub(crate) const MAX_KEPT_BYTES: u64 = 32 << 20;

impl HostPass {
    /// Whether to keep the pass for the next call of its shape.
    pub(crate) fn worth_keeping(&self) -> bool {
        let state = self.state.as_ref().map_or(0, |s| s.h.size() + s.c.size());
        self.x.size() + self.staging.size() + self.work.bytes + state <= MAX_KEPT_BYTES
    }
}

impl GpuRnn {
    /// A pass over `host` cut as `plan`: `cached` where it was built for this shape and
    /// strategy, with the input, lengths and (with `state`) h0/c0 rewritten, or else a new one.
    /// `staging_bytes` is what the caller reads back.
    pub(super) fn host_pass(
        &self,
        cached: Option<HostPass>,
        plan: &Plan,
        resolved: &Resolved,
        host: &HostSequences,
        staging_bytes: u64,
        state: bool,
    ) -> Result<HostPass> {
        let ctx = &self.ctx;
        let key = plan.key(resolved);
        if let Some(pass) = cached.filter(|p| p.key == key) {
            ctx.write_storage(&pass.x, &host.x);
            pass.work.write_lengths(ctx, &host.lengths);
            if let Some(s) = &pass.state {
                ctx.write_storage(&s.h, &host.h0);
                ctx.write_storage(&s.c, &host.c0);
            }
            return Ok(pass);
        }
        let x = ctx.storage("input (time-major)", &host.x);
        let work = self.workspace(plan, resolved, &x, &host.lengths)?;
        Ok(HostPass {
            key,
            x,
            work,
            staging: ctx.staging("read back", staging_bytes),
            state: state.then(|| StateBuffers::upload(ctx, &host.h0, &host.c0)),
        })
    }
}
