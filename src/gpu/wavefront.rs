//! [`Strategy::Wavefront`](super::Strategy::Wavefront): every layer of a unidirectional stack
//! steps in the same dispatch (shaders/wavefront.wgsl). One dispatch must reach every layer's
//! weights, so the first wavefront forward of a model copies them, on the device, into one
//! buffer, from wherever the per-layer kernels keep them.

use std::sync::Arc;

use super::buffers::Scopes;
use super::context::GpuContext;
use super::kernels::UNIFORM_BINDING_VEC4S;
use super::model::{GpuRnn, LayerBuffers, PackedWeights};
pub(crate) use super::plan::wavefront_reason;
use crate::config::RnnConfig;
use crate::error::{Error, Result};

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

/// Mirrors `struct Wave` in shaders/wavefront.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct WaveParams {
    pub layers: u32,
    pub hh_block: u32,
    pub ih_first: u32,
    pub ih_block: u32,
    pub hh_parts: u32,
    pub ih_parts: u32,
    pub bias_block: u32,
    pub _pad: u32,
}

/// Every layer's recurrent weights in one buffer (`arena`: W_hh of each layer, then W_ih of
/// layers 1 and up) and their biases in another (b_hh and b_ih of each layer in turn), as
/// `params` describes for the kernel.
pub(crate) struct WaveWeights {
    pub arena: wgpu::Buffer,
    pub biases: wgpu::Buffer,
    pub params: wgpu::Buffer,
}

/// Vec4s a packed matrix takes once copied into the arena, and the vec4s of each of its four
/// parts where it is split ([`PackedWeights::Uniform`]; 0 where it is contiguous).
fn extent(matrix: &PackedWeights) -> (u64, u32) {
    match matrix {
        PackedWeights::Storage(buffer) => (buffer.size() / 16, 0),
        PackedWeights::Uniform(_) => (
            4 * UNIFORM_BINDING_VEC4S as u64,
            UNIFORM_BINDING_VEC4S as u32,
        ),
        PackedWeights::Texture(view) => {
            let size = view.texture().size();
            (u64::from(size.width) * u64::from(size.height), 0)
        }
    }
}

/// Copies `matrix` into `arena` at vec4 `at`, laid out as [`extent`] says.
fn copy_matrix(
    encoder: &mut wgpu::CommandEncoder,
    matrix: &PackedWeights,
    arena: &wgpu::Buffer,
    at: u64,
) {
    match matrix {
        PackedWeights::Storage(buffer) => {
            encoder.copy_buffer_to_buffer(buffer, 0, arena, at * 16, buffer.size());
        }
        PackedWeights::Uniform(parts) => {
            let part_bytes = UNIFORM_BINDING_VEC4S as u64 * 16;
            for (c, part) in parts.iter().enumerate() {
                encoder.copy_buffer_to_buffer(
                    part,
                    0,
                    arena,
                    at * 16 + c as u64 * part_bytes,
                    part_bytes,
                );
            }
        }
        PackedWeights::Texture(view) => {
            let texture = view.texture();
            let size = texture.size();
            encoder.copy_texture_to_buffer(
                texture.as_image_copy(),
                wgpu::TexelCopyBufferInfo {
                    buffer: arena,
                    layout: wgpu::TexelCopyBufferLayout {
                        offset: at * 16,
                        bytes_per_row: Some(size.width * 16),
                        rows_per_image: None,
                    },
                },
                size,
            );
        }
    }
}

impl WaveWeights {
    /// Gathers `layers`' recurrent weights on the device (a copy per matrix and bias).
    fn gather(ctx: &GpuContext, config: &RnnConfig, layers: &[LayerBuffers]) -> Result<Self> {
        let (first, above) = match layers {
            [first, second, ..] => (first, second),
            _ => {
                return Err(wavefront_unsupported(config).unwrap_or(Error::Gpu {
                    operation: "gathering the wavefront's weights",
                    message: "fewer than two layers".into(),
                }))
            }
        };
        let count = layers.len() as u64;
        let (hh_block, hh_parts) = extent(&first.w_hh);
        let (ih_block, ih_parts) = extent(&above.w_ih);
        let ih_first = count * hh_block;
        let arena_bytes = (ih_first + (count - 1) * ih_block) * 16;
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
            copy_matrix(&mut encoder, &layer.w_hh, &arena, l * hh_block);
            if l > 0 {
                copy_matrix(
                    &mut encoder,
                    &layer.w_ih,
                    &arena,
                    ih_first + (l - 1) * ih_block,
                );
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
            hh_parts,
            ih_parts,
            bias_block: (bias_bytes / 4) as u32,
            _pad: 0,
        };
        let params = ctx.buffer_with(
            "wavefront table",
            bytemuck::bytes_of(&params),
            wgpu::BufferUsages::UNIFORM,
        );
        pollster::block_on(scopes.pop("gathering the wavefront's weights"))?;
        Ok(WaveWeights {
            arena,
            biases,
            params,
        })
    }
}

impl GpuRnn {
    /// The weights of every layer in one place, gathered on first use and kept.
    pub(super) fn wave_weights(&self) -> Result<Arc<WaveWeights>> {
        let mut wave = self.wave.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(weights) = wave.as_ref() {
            return Ok(weights.clone());
        }
        let weights = Arc::new(WaveWeights::gather(&self.ctx, &self.config, &self.layers)?);
        *wave = Some(weights.clone());
        Ok(weights)
    }
}
