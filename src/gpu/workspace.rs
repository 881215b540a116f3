//! The device side of one forward pass: its buffers, pipelines and bind groups
//! ([`Workspace::new`]), and the command stream that runs it ([`Workspace::record`]): per
//! layer and chunk of timesteps, the input-projection GEMM, then the recurrence of the
//! strategy the plan chose ([`PerStepRun`], the sequence kernel's [`Dispatch`], or
//! [`WaveRun`]).

use wgpu::BufferUsages;

use super::cell::cell_scratch_floats;
use super::context::GpuContext;
use super::device_model::DeviceModel;
use super::kernels::{Dispatch, ShaderFile, Variant, GEMM_COLS, GEMM_ROWS, GEMM_WORKGROUP};
pub(crate) use super::layers::StateBuffers;
use super::pack::gate_stride;
use super::pass::{Plan, STEPS_PER_SUBMIT};
use super::per_step::PerStepRun;
use super::slots::StepSlots;
use super::wavefront::WaveRun;
use crate::config::Kind;
use crate::error::{Error, Result};
use crate::resolve::Resolved;

/// Timesteps in the first command buffer of a pass: it is submitted at once, so the GPU starts
/// while the CPU encodes the rest (llama.cpp's Vulkan backend does the same). A guess from
/// the design, to be measured on a GPU: a few dispatches' work hides the rest's encoding.
const FIRST_SUBMIT_STEPS: usize = 8;

/// The pipelines that run a layer's recurrence, as the plan chose.
enum Recurrence {
    PerStep(PerStepRun),
    Sequence(Dispatch),
    /// For the first layer's pass; the wavefront has no other.
    Wave(WaveRun),
}

/// One layer's share of a [`Workspace`].
struct LayerPass {
    gemm: wgpu::ComputePipeline,
    gemm_group: wgpu::BindGroup,
    recurrence: Recurrence,
    step_group: wgpu::BindGroup,
}

/// The buffers, pipelines and bind groups of a forward pass of one shape: built once, and
/// reused by host forwards and stream chunks while the shape repeats. A reuse rewrites the
/// input, the lengths and the state through the queue and skips creating, zeroing and binding
/// everything again.
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
    /// c and o * tanh(c) (LSTM).
    cell: wgpu::Buffer,
    layers: Vec<LayerPass>,
    output: wgpu::Buffer,
}

impl Workspace {
    /// Creates the buffers, pipelines and bind groups of a forward pass of `resolved`'s shape
    /// of `model` over `x` (time-major `(T, B, I)` on the device), cut as `plan`, with
    /// `lengths` written.
    pub(crate) fn new(
        model: &DeviceModel,
        plan: &Plan,
        resolved: &Resolved,
        x: &wgpu::Buffer,
        lengths: &[usize],
    ) -> Result<Workspace> {
        let (ctx, config) = (&model.ctx, &model.config);
        let (device, kernels) = (&ctx.inner.device, &ctx.inner.kernels);
        let b = resolved.b;
        let (d, h_out) = (config.num_directions(), config.state_width());
        let lengths = ctx.lengths(lengths);
        let gates = ctx.scratch(
            "input projection",
            d * plan.chunk_steps * b * gate_stride(config),
        );
        let wave_layers = plan.wave_layers;
        let state = ctx.scratch("h ping-pong", 2 * d * b * h_out * wave_layers.max(1));
        let reset_first = model.cell.as_ref().is_some_and(|c| c.reset_first);
        let cell_floats = cell_scratch_floats(config, wave_layers, b, reset_first);
        let cell = ctx.scratch("c and o*tanh(c), or a GRU's reset gates", cell_floats);
        // Bound as `x4` where a layer's input width is not a multiple of 4 (the GEMM then
        // reads `x` one float at a time).
        let unused = (0..config.num_layers)
            .any(|l| !config.layer_input_size(l).is_multiple_of(4))
            .then(|| ctx.scratch("unused binding", 4));
        // The wavefront writes only the last layer's output.
        let passes = if wave_layers > 0 {
            1
        } else {
            config.num_layers
        };
        let outputs: Vec<wgpu::Buffer> = (0..passes.min(2))
            .map(|i| ctx.scratch(&format!("layer output {i}"), plan.output_floats))
            .collect();
        let mut bytes: u64 = [&gates, &lengths, &cell, &state]
            .into_iter()
            .chain(&outputs)
            .chain(&unused)
            .map(wgpu::Buffer::size)
            .sum();
        let wave = match wave_layers {
            0 => None,
            _ => Some(model.wave_weights()?),
        };
        let tiled = ctx.profile().tiles_projection();
        let precision = model.weights;
        let gemm = kernels.pipeline(
            device,
            Variant::input_projection(config, tiled).with_weights(precision),
        )?;
        let (recurrence_file, uniform_weights) = match (&wave, &plan.sequence) {
            (Some(_), _) => (ShaderFile::Wavefront, false),
            (None, Some(cut)) => (ShaderFile::Sequence, cut.shape.uniform_weights),
            (None, None) => (ShaderFile::Recurrent, false),
        };
        let step_layout = kernels.layout(device, recurrence_file, uniform_weights);
        let gemm_layout = kernels.layout(device, ShaderFile::Gemm, false);
        let whole = wgpu::Buffer::as_entire_binding;
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
        let mut layers = Vec::with_capacity(passes);
        for (l, weights) in model.layers.iter().enumerate().take(passes) {
            let mut params = plan.layer_params(config, resolved, l);
            if let Some(cell) = &model.cell {
                params.cell = cell.params();
            }
            let params = ctx.buffer_with(
                "layer params",
                bytemuck::bytes_of(&params),
                BufferUsages::UNIFORM,
            );
            bytes += params.size();
            let layer_in = if l == 0 { x } else { &outputs[(l - 1) % 2] };
            let layer_out = &outputs[l % 2];
            // `x4` reads the input a vec4 at a time, which needs rows on whole vec4s.
            let layer_in4 = match &unused {
                Some(unused) if !config.layer_input_size(l).is_multiple_of(4) => unused,
                _ => layer_in,
            };
            let gemm_group = bind(
                &gemm_layout,
                vec![
                    (0, whole(&params)),
                    (1, whole(layer_in)),
                    (2, whole(&weights.w_ih)),
                    (3, whole(&weights.b_ih)),
                    (4, whole(&gates)),
                    (5, whole(layer_in4)),
                ],
            );
            // Group 0 of the recurrence: the per-step kernel reads W_hh in rows, the sequence
            // kernel packed by unit, the wavefront every layer's weights from its arena.
            let w_hh: Vec<wgpu::Buffer>;
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
            let recurrence = match (&wave, plan.sequence) {
                (Some(wave), _) => {
                    resources[2].1 = whole(&wave.arena);
                    resources[3].1 = whole(&wave.biases);
                    resources.push((9, whole(&wave.params)));
                    Recurrence::Wave(WaveRun::new(ctx, config, plan.step.rows, b, precision)?)
                }
                (None, Some(cut)) => {
                    // W_hh packed by unit: one storage buffer, or four uniform parts.
                    w_hh = model.sequence_weights(l, cut.shape.uniform_weights)?;
                    resources[2].1 = whole(&w_hh[0]);
                    let rest = [9, 10, 11].into_iter().zip(&w_hh[1..]);
                    resources.extend(rest.map(|(b, p)| (b, whole(p))));
                    Recurrence::Sequence(ctx.dispatch(
                        Variant::sequence(cut.shape, config).with_weights(precision),
                        cut.shape.grid(config, b),
                    )?)
                }
                (None, None) => Recurrence::PerStep(PerStepRun::new(
                    ctx,
                    config,
                    plan.step,
                    b,
                    reset_first,
                    precision,
                )?),
            };
            layers.push(LayerPass {
                gemm: gemm.clone(),
                gemm_group,
                recurrence,
                step_group: bind(&step_layout, resources),
            });
        }
        let output = outputs
            .into_iter()
            .nth((passes - 1) % 2)
            .ok_or(Error::Gpu {
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

    /// Encodes every layer of the pass, starting from and leaving the final state in
    /// `state_io`. The first steps and then full runs of [`STEPS_PER_SUBMIT`] steps are
    /// submitted as they are encoded (bounded command buffers: OS watchdogs kill multi-second
    /// ones); the last encoder is returned unsubmitted, so the caller can append its copies of
    /// [`Workspace::output`].
    pub(crate) fn record(
        &self,
        model: &DeviceModel,
        state_io: &StateBuffers,
    ) -> Result<wgpu::CommandEncoder> {
        let (ctx, config) = (&model.ctx, &model.config);
        let (device, queue) = (&ctx.inner.device, &ctx.inner.queue);
        let (t_len, b, d) = (self.t, self.b, config.num_directions());
        // The wavefront's last layer finishes L - 1 dispatches after the first.
        let wave_layers = self.wave_layers;
        let slots_guard = model
            .steps
            .at_least(ctx, t_len + wave_layers.saturating_sub(1))?;
        let slots = slots_guard.as_ref().ok_or(Error::Gpu {
            operation: "indexing timesteps",
            message: "no slots".into(),
        })?;
        let state_bytes = (d * b * config.state_width() * 4) as u64;
        let cell_bytes = (d * b * config.hidden_size * 4) as u64;
        // Where h after s dispatches is for layer l: the ping-pong half s % 2, and in the
        // wavefront's [2][L][B][H] state layer l's part of it.
        let h_at = |s: usize, l: usize| ((s % 2 * wave_layers.max(1) + l) as u64) * state_bytes;
        let mut encoder = device.create_command_encoder(&Default::default());
        let submit = |encoder: &mut wgpu::CommandEncoder| {
            let full =
                std::mem::replace(encoder, device.create_command_encoder(&Default::default()));
            queue.submit([full.finish()]);
        };
        let mut steps_in_encoder = 0;
        for (l, layer) in self.layers.iter().enumerate() {
            // This layer's state in `state_io`, in layers, and how many layers step together.
            let (slot, stacked) = match wave_layers {
                0 => (l as u64, 1),
                layers => (0, layers),
            };
            // Layer wl of the wavefront takes its first step at dispatch wl.
            for wl in 0..stacked {
                let from = (slot + wl as u64) * state_bytes;
                encoder.copy_buffer_to_buffer(
                    &state_io.h,
                    from,
                    &self.state,
                    h_at(wl, wl),
                    state_bytes,
                );
            }
            if config.kind == Kind::Lstm {
                let bytes = cell_bytes * stacked as u64;
                encoder.copy_buffer_to_buffer(&state_io.c, slot * cell_bytes, &self.cell, 0, bytes);
            }
            for (chunk, first) in (0..t_len).step_by(self.chunk_steps).enumerate() {
                let steps = self.chunk_steps.min(t_len - first);
                // The wavefront's last chunk also runs the upper layers' remaining steps.
                let end = match first + steps {
                    end if end == t_len => end + wave_layers.saturating_sub(1),
                    end => end,
                };
                // The sequence kernel runs the chunk in one dispatch: nothing to split.
                let one_dispatch = matches!(layer.recurrence, Recurrence::Sequence(_));
                let early =
                    l == 0 && chunk == 0 && !one_dispatch && end - first > 2 * FIRST_SUBMIT_STEPS;
                let split = if early {
                    first + FIRST_SUBMIT_STEPS
                } else {
                    end
                };
                for (i, run) in [first..split, split..end].into_iter().enumerate() {
                    if i > 0 && run.is_empty() {
                        continue;
                    }
                    let mut pass = encoder.begin_compute_pass(&Default::default());
                    if i == 0 {
                        self.project_input(&mut pass, layer, slots, chunk, steps, config);
                    }
                    pass.set_bind_group(0, &layer.step_group, &[]);
                    match &layer.recurrence {
                        Recurrence::PerStep(steps) => steps.encode(&mut pass, slots, run),
                        Recurrence::Wave(wave) => wave.encode(&mut pass, slots, run),
                        Recurrence::Sequence(sequence) => sequence.run(&mut pass),
                    }
                    drop(pass);
                    if early && i == 0 {
                        submit(&mut encoder);
                    }
                }
                steps_in_encoder += steps;
                if steps_in_encoder >= STEPS_PER_SUBMIT {
                    submit(&mut encoder);
                    steps_in_encoder = 0;
                }
            }
            // Layer wl of the wavefront takes its last step at dispatch T - 1 + wl.
            for wl in 0..stacked {
                let to = (slot + wl as u64) * state_bytes;
                encoder.copy_buffer_to_buffer(
                    &self.state,
                    h_at(t_len + wl, wl),
                    &state_io.h,
                    to,
                    state_bytes,
                );
            }
            if config.kind == Kind::Lstm {
                let bytes = cell_bytes * stacked as u64;
                encoder.copy_buffer_to_buffer(&self.cell, 0, &state_io.c, slot * cell_bytes, bytes);
            }
        }
        Ok(encoder)
    }

    /// The input-projection GEMM of chunk `chunk` (`steps` timesteps) of `layer`.
    fn project_input(
        &self,
        pass: &mut wgpu::ComputePass<'_>,
        layer: &LayerPass,
        slots: &StepSlots,
        chunk: usize,
        steps: usize,
        config: &crate::config::RnnConfig,
    ) {
        pass.set_pipeline(&layer.gemm);
        pass.set_bind_group(0, &layer.gemm_group, &[]);
        pass.set_bind_group(1, &slots.bind_group, &[slots.offset(chunk)]);
        pass.dispatch_workgroups(
            (gate_stride(config) as u32 / GEMM_COLS).div_ceil(GEMM_WORKGROUP),
            ((steps * self.b) as u32).div_ceil(GEMM_ROWS),
            config.num_directions() as u32,
        );
    }
}
