//! [`Strategy::Wavefront`](super::Strategy::Wavefront): every layer of a unidirectional stack
//! steps in the same dispatch (shaders/wavefront.wesl). One dispatch must reach every layer's
//! weights, so the first wavefront forward of a model gathers them, on the device, into one
//! buffer: W_hh packed by unit from its rows (shaders/pack.wesl), W_ih and the biases copied.

use super::context::GpuContext;
use super::kernels::{Dispatch, Variant, STEP_WORKGROUP};
use super::layers::LayerBuffers;
pub(crate) use super::plan::wavefront_reason;
use super::repack::{by_unit_vec4s, encode_pack};
use super::scopes::Scopes;
use super::slots::StepSlots;
use crate::config::RnnConfig;
use crate::error::{Error, Result};
use crate::Precision;

/// The error for asking `config` to run as a wavefront, or `None` where it can.
pub(crate) fn wavefront_unsupported(config: &RnnConfig) -> Option<Error> {
    wavefront_reason(config).map(|reason| Error::Unsupported {
        what: format!(
            "Strategy::Wavefront with num_layers={}, bidirectional={}, proj_size={}",
            config.num_layers, config.bidirectional, config.proj_size
        ),
        reason: reason.into(),
    })
}

/// Mirrors `struct Wave` in shaders/wavefront.wesl.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct WaveParams {
    pub layers: u32,
    pub hh_block: u32,
    pub ih_first: u32,
    pub ih_block: u32,
    pub bias_block: u32,
    pub _pad: [u32; 3],
}

/// Every layer's recurrent weights in one buffer (`arena`: W_hh of each layer, then W_ih of
/// layers 1 and up) and their biases in another (b_hh and b_ih of each layer in turn), as
/// `params` describes for the kernel.
pub(crate) struct WaveWeights {
    pub arena: wgpu::Buffer,
    pub biases: wgpu::Buffer,
    pub params: wgpu::Buffer,
}

impl WaveWeights {
    /// Gathers `layers`' recurrent weights on the device (a copy per matrix and bias), their
    /// matrices stored as `weights`.
    pub(crate) fn gather(
        ctx: &GpuContext,
        config: &RnnConfig,
        layers: &[LayerBuffers],
        weights: Precision,
    ) -> Result<Self> {
        let above = match layers {
            [_, second, ..] => second,
            _ => {
                return Err(wavefront_unsupported(config).unwrap_or(Error::Gpu {
                    operation: "gathering the wavefront's weights",
                    message: "fewer than two layers".into(),
                }))
            }
        };
        let count = layers.len() as u64;
        // Offsets count vec4s of weights, 16 bytes in f32 and 8 in f16 (shaders/half.wesl).
        let vec4 = 4 * weights.bytes_per_weight() as u64;
        // W_hh packed by unit from each layer's rows (the wavefront is unidirectional).
        let (hh_block, ih_block) = (by_unit_vec4s(config, 1), above.w_ih.size() / vec4);
        let ih_first = count * hh_block;
        let arena_bytes = (ih_first + (count - 1) * ih_block) * vec4;
        let hint = "use Strategy::PerStep, or reduce hidden_size or num_layers";
        ctx.check_buffer(
            "every layer's recurrent weights (Strategy::Wavefront)",
            arena_bytes,
            hint,
        )?;
        let bias_bytes = layers
            .iter()
            .map(|layer| layer.b_hh.size().max(layer.b_ih.size()))
            .max()
            .unwrap_or(16);
        let device = &ctx.inner.device;
        let scopes = Scopes::push(device);
        let arena = ctx.scratch(
            "every layer's recurrent weights",
            (arena_bytes / 4) as usize,
        );
        let biases = ctx.scratch(
            "every layer's biases",
            (2 * count * bias_bytes / 4) as usize,
        );
        let mut encoder = device.create_command_encoder(&Default::default());
        for (l, layer) in layers.iter().enumerate() {
            let l = l as u64;
            let copy = |encoder: &mut wgpu::CommandEncoder, matrix: &wgpu::Buffer, at: u64| {
                encoder.copy_buffer_to_buffer(matrix, 0, &arena, at * vec4, matrix.size());
            };
            let rows = &layer.w_hh_rows;
            encode_pack(
                ctx,
                config,
                weights,
                1,
                rows,
                (&arena, l * hh_block),
                &mut encoder,
            )?;
            if l > 0 {
                copy(&mut encoder, &layer.w_ih, ih_first + (l - 1) * ih_block);
            }
            let at = 2 * l * bias_bytes;
            encoder.copy_buffer_to_buffer(&layer.b_hh, 0, &biases, at, layer.b_hh.size());
            encoder.copy_buffer_to_buffer(
                &layer.b_ih,
                0,
                &biases,
                at + bias_bytes,
                layer.b_ih.size(),
            );
        }
        ctx.inner.queue.submit([encoder.finish()]);
        let params = WaveParams {
            layers: count as u32,
            hh_block: hh_block as u32,
            ih_first: ih_first as u32,
            ih_block: ih_block as u32,
            bias_block: (bias_bytes / 4) as u32,
            _pad: [0; 3],
        };
        let params = ctx.buffer_with(
            "wavefront table",
            bytemuck::bytes_of(&params),
            wgpu::BufferUsages::UNIFORM,
        );
        scopes.settle("gathering the wavefront's weights")?;
        Ok(WaveWeights {
            arena,
            biases,
            params,
        })
    }
}

/// [`Strategy::Wavefront`](super::Strategy::Wavefront) on the device: the wavefront step's
/// pipeline for one model and batch, and its dispatches, one per step of every layer.
pub(crate) struct WaveRun(Dispatch);

impl WaveRun {
    /// For blocks of `rows` sequences (the per-step kernel's, `StepShape::rows`) and weight
    /// matrices stored as `weights`.
    pub(crate) fn new(
        ctx: &GpuContext,
        config: &RnnConfig,
        rows: u32,
        batch: usize,
        weights: Precision,
    ) -> Result<Self> {
        let groups = (config.hidden_size as u32).div_ceil(STEP_WORKGROUP);
        let grid = [
            groups,
            (batch as u32).div_ceil(rows),
            config.num_layers as u32,
        ];
        ctx.dispatch(Variant::wave(config, rows).with_weights(weights), grid)
            .map(WaveRun)
    }

    /// Dispatches wavefront steps `dispatches` (dispatch w runs step w - l of layer l) into
    /// `pass`, whose group 0 is the wavefront's.
    pub(crate) fn encode(
        &self,
        pass: &mut wgpu::ComputePass<'_>,
        slots: &StepSlots,
        dispatches: std::ops::Range<usize>,
    ) {
        for (i, w) in dispatches.enumerate() {
            pass.set_bind_group(1, &slots.bind_group, &[slots.offset(w)]);
            match i {
                0 => self.0.run(pass),
                _ => self.0.again(pass),
            }
        }
    }
}
