//! The sizes of one forward pass: which kernels, how many timesteps a chunk holds, and every
//! buffer's size, checked against the device before anything is created.

use super::context::GpuContext;
use super::kernels::{LayerParams, GEMM_COLS, GEMM_ROWS, GEMM_WORKGROUP};
use super::pack::gate_stride;
use super::plan::{StepShape, Strategy};
use super::sequence::{sequence_unsupported, SequenceCut};
use super::wavefront::wavefront_unsupported;
use crate::config::{Kind, RnnConfig};
use crate::error::{Error, Result};
use crate::resolve::Resolved;

/// Rows (timesteps x batch) of input projection computed per chunk: bounds one GEMM dispatch.
const MAX_CHUNK_ROWS: usize = 16_384;
/// Timesteps encoded per submit: long sequences go to the GPU in bounded command buffers
/// (OS watchdogs kill multi-second ones) while state stays on the GPU between them.
pub(crate) const STEPS_PER_SUBMIT: usize = 1_024;

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
    /// Layer `l`'s constants for the kernels (`struct Layer` in common.wesl).
    pub(crate) fn layer_params(
        &self,
        config: &RnnConfig,
        resolved: &Resolved,
        l: usize,
    ) -> LayerParams {
        LayerParams {
            seq_len: resolved.t as u32,
            batch: resolved.b as u32,
            in_size: config.layer_input_size(l) as u32,
            hidden: config.hidden_size as u32,
            state_width: config.state_width() as u32,
            directions: config.num_directions() as u32,
            chunk_steps: self.chunk_steps as u32,
            gate_rows: config.gate_rows() as u32,
            gate_stride: gate_stride(config) as u32,
            relu: (config.kind == Kind::RnnRelu) as u32,
            project: (config.proj_size > 0) as u32,
            gate_count: config.kind.gate_count() as u32,
            cell: Default::default(),
        }
    }

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

    /// `weights`: how the model's weight matrices are stored.
    pub(crate) fn new(
        ctx: &GpuContext,
        config: &RnnConfig,
        r: &Resolved,
        strategy: Strategy,
        weights: crate::Precision,
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
                super::choice::sequence_cut(config, b, ctx.profile(), weights)
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
