//! A model's weights on the device: each layer's matrices packed for the kernels that read
//! them, uploaded once, after every size was checked against the device.

use super::choice::uniform_weights_fit;
use super::context::GpuContext;
use super::pack::{
    gate_stride, pack_input, pack_input_bias, pack_projection, pack_recurrent, pack_recurrent_rows,
    uniform_columns,
};
use super::scopes::Scopes;
use crate::config::RnnConfig;
use crate::error::Result;
use crate::weights::DirectionWeights;
use crate::Precision;

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

/// One layer's weights, every direction in each buffer.
pub(crate) struct LayerBuffers {
    /// W_ih packed k-major in gate-column order (`pack::pack_input`).
    pub w_ih: wgpu::Buffer,
    pub b_ih: wgpu::Buffer,
    /// W_hh in rows for the per-step kernel (`pack::pack_recurrent_rows`). The sequence
    /// kernel and the wavefront read it packed by unit, made from it on their first pass
    /// (`DeviceModel::by_unit_weights`, `WaveWeights::gather`).
    pub w_hh_rows: wgpu::Buffer,
    /// The software profile's copy of W_hh packed by unit in four uniform parts, for its
    /// sequence kernel (`pack::uniform_columns`, `choice::uniform_weights_fit`): at most
    /// 256 KiB, uploaded with the rest.
    pub w_hh_parts: Option<[wgpu::Buffer; 4]>,
    pub b_hh: wgpu::Buffer,
    pub w_hr: wgpu::Buffer,
}

impl LayerBuffers {
    /// Bytes of device memory the layer's buffers take.
    pub(crate) fn bytes(&self) -> u64 {
        let parts = self.w_hh_parts.iter().flatten();
        [
            &self.w_ih,
            &self.b_ih,
            &self.w_hh_rows,
            &self.b_hh,
            &self.w_hr,
        ]
        .into_iter()
        .chain(parts)
        .map(wgpu::Buffer::size)
        .sum()
    }
}

/// Uploads every layer of `config` (`layers[l]`: its directions' weights in PyTorch's layout),
/// the matrices stored as `weights` (biases are always f32).
/// LSTM `peepholes` (`[D][3][H]`, ONNX's `i, o, f`; one layer only) follow every
/// direction's `b_hh`, where cells.wesl reads them.
///
/// # Errors
/// [`crate::Error::WeightRange`] when a matrix holds a value `weights` cannot store;
/// [`crate::Error::DeviceLimit`] when a matrix exceeds a binding or (on software adapters) the
/// input projection's loop exceeds the loop limit; [`crate::Error::Gpu`] when an upload fails.
pub(crate) fn upload(
    ctx: &GpuContext,
    config: &RnnConfig,
    layers: &[Vec<DirectionWeights>],
    peepholes: Option<&[f32]>,
    weights: Precision,
) -> Result<Vec<LayerBuffers>> {
    check_range(layers, weights)?;
    // Bytes of one vec4 of weights as stored.
    let vec4 = 4 * weights.bytes_per_weight();
    let hint = "reduce hidden_size or input_size";
    let (d, g, h, h_out) = (
        config.num_directions(),
        config.kind.gate_count(),
        config.hidden_size,
        config.state_width(),
    );
    let both = if d == 2 { " (both directions)" } else { "" };
    for l in 0..config.num_layers {
        let w_ih = (d * gate_stride(config) * config.layer_input_size(l).next_multiple_of(4) / 4
            * vec4) as u64;
        ctx.check_buffer(format!("weight_ih_l{l}{both}"), w_ih, hint)?;
        ctx.check_buffer(
            format!("weight_hh_l{l}{both}"),
            (d * g * h * h_out.div_ceil(4) * vec4) as u64,
            hint,
        )?;
        // The inner loop (dot.wesl) runs a quarter of the width, plus a quarter of that
        // again for the subgroup loop's outer iterations.
        let width = config.layer_input_size(l).max(h_out);
        ctx.check_loop(
            format!("the input projection of layer {l} ({width} wide)"),
            width.div_ceil(4) * 5 / 4 + 64,
            "use a GPU adapter, or reduce input_size",
        )?;
    }
    let scopes = Scopes::push(&ctx.inner.device);
    let buffers = layers
        .iter()
        .enumerate()
        .map(|(l, dirs)| layer_buffers(ctx, config, l, dirs, peepholes, weights))
        .collect();
    scopes.settle("uploading the weights")?;
    Ok(buffers)
}

/// `Ok` when every matrix of `layers` fits `weights` ([`Precision`]), else the first value
/// that does not, by its `state_dict` name.
pub(crate) fn check_range(layers: &[Vec<DirectionWeights>], weights: Precision) -> Result<()> {
    for (l, dirs) in layers.iter().enumerate() {
        for (d, w) in dirs.iter().enumerate() {
            let suffix = if d == 1 { "_reverse" } else { "" };
            for (name, values) in [("ih", &w.w_ih), ("hh", &w.w_hh), ("hr", &w.w_hr)] {
                weights.check(&format!("weight_{name}_l{l}{suffix}"), values)?;
            }
        }
    }
    Ok(())
}

/// Layer `l`'s buffers from its directions' weights, the matrices stored as `weights`.
fn layer_buffers(
    ctx: &GpuContext,
    config: &RnnConfig,
    l: usize,
    dirs: &[DirectionWeights],
    peepholes: Option<&[f32]>,
    weights: Precision,
) -> LayerBuffers {
    let matrix = |label: String, values: &[f32]| {
        ctx.buffer_with(
            &label,
            &weights.encode(values),
            wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
        )
    };
    let cat = |f: &dyn Fn(&DirectionWeights) -> &[f32]| -> Vec<f32> {
        dirs.iter().flat_map(|w| f(w).iter().copied()).collect()
    };
    LayerBuffers {
        w_ih: matrix(format!("weight_ih_l{l} packed"), &pack_input(config, dirs)),
        b_ih: ctx.storage(
            &format!("bias_ih_l{l} packed"),
            &pack_input_bias(config, dirs),
        ),
        // Only f32 models read them (`choice::sequence_cut`).
        w_hh_parts: (ctx.profile().is_software()
            && weights == Precision::F32
            && uniform_weights_fit(config))
        .then(|| uniform_columns(&pack_recurrent(config, dirs)))
        .flatten()
        .map(|parts| {
            parts.map(|part| {
                let usage = wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST;
                ctx.buffer_with(
                    &format!("weight_hh_l{l} uniform part"),
                    bytemuck::cast_slice(&part),
                    usage,
                )
            })
        }),
        w_hh_rows: matrix(
            format!("weight_hh_l{l} rows"),
            &pack_recurrent_rows(config, dirs),
        ),
        b_hh: ctx.storage(&format!("bias_hh_l{l}"), &{
            let mut b_hh = cat(&|w| &w.b_hh);
            b_hh.extend_from_slice(peepholes.unwrap_or_default());
            b_hh
        }),
        w_hr: matrix(
            format!("weight_hr_l{l} transposed"),
            &pack_projection(config, dirs),
        ),
    }
}
