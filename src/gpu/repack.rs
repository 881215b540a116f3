//! W_hh packed by unit on the device (shaders/pack.wesl), from the rows every model uploads
//! for the per-step kernel: the layout the sequence kernel and the wavefront read
//! (`pack::pack_recurrent` on the host), made on their first pass, so a model that only
//! steps keeps one copy of W_hh.

use wgpu::BufferUsages;

use super::context::GpuContext;
use super::kernels::{PackParams, ShaderFile, Variant, PACK_WORKGROUP};
use crate::config::RnnConfig;
use crate::error::Result;
use crate::Precision;

/// Vec4s of weights in one layer's W_hh packed by unit, `directions` of them: for each
/// direction and vec4 of k, a column per gate slot (four) of each unit.
pub(crate) fn by_unit_vec4s(config: &RnnConfig, directions: usize) -> u64 {
    (directions * config.state_width().div_ceil(4) * config.hidden_size * 4) as u64
}

/// Encodes into `encoder` the packing of `rows` (one layer's W_hh of `directions`
/// directions, as `pack::pack_recurrent_rows` lays it out and `weights` stores it) into
/// `dst`, from its vec4 `at` on. `dst` must hold [`by_unit_vec4s`] more vec4s from there.
pub(crate) fn encode_pack(
    ctx: &GpuContext,
    config: &RnnConfig,
    weights: Precision,
    directions: usize,
    rows: &wgpu::Buffer,
    (dst, at): (&wgpu::Buffer, u64),
    encoder: &mut wgpu::CommandEncoder,
) -> Result<()> {
    let (device, kernels) = (&ctx.inner.device, &ctx.inner.kernels);
    // u32 words per vec4 of weights: four f32s, or four halves in two words.
    let words = weights.bytes_per_weight() as u32;
    let params = PackParams {
        hidden: config.hidden_size as u32,
        gates: config.kind.gate_count() as u32,
        k4: config.state_width().div_ceil(4) as u32,
        words,
        directions: directions as u32,
        dst_offset: (at * u64::from(words)) as u32,
        _pad: [0; 2],
    };
    let params = ctx.buffer_with(
        "pack params",
        bytemuck::bytes_of(&params),
        BufferUsages::UNIFORM,
    );
    let layout = kernels.layout(device, ShaderFile::Pack, false);
    let group = ctx.bind_in_order("pack_by_unit", &layout, &[&params, rows, dst]);
    let invocations = by_unit_vec4s(config, directions) * u64::from(words);
    let (x, y) = ctx.flat_grid("packing W_hh by unit", invocations as usize, PACK_WORKGROUP)?;
    let dispatch = ctx.dispatch(Variant::pack(), [x, y, 1])?;
    let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
        label: Some("pack_by_unit"),
        timestamp_writes: None,
    });
    pass.set_bind_group(0, &group, &[]);
    dispatch.run(&mut pass);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Kind;
    use crate::gpu::buffers::{read_back_with, Wait};
    use crate::gpu::pack::{pack_recurrent, pack_recurrent_rows};
    use crate::gpu::resident_tests::context;
    use crate::weights::DirectionWeights;

    /// Every layout the kernel meets: each gate count, two directions, a projection (a state
    /// narrower than H), widths off whole vec4s; halves include a subnormal, 65504 and -0.
    #[test]
    fn the_device_packs_rows_by_unit_bit_for_bit_as_the_host_does() {
        let Some(ctx) = context() else { return };
        let configs = [
            RnnConfig::new(Kind::Gru, 5, 7).bidirectional(true),
            RnnConfig::new(Kind::Lstm, 3, 9).proj_size(3),
            RnnConfig::new(Kind::Lstm, 4, 16),
            RnnConfig::new(Kind::RnnTanh, 2, 6).bidirectional(true),
        ];
        for config in configs {
            let (g, h, k) = (
                config.kind.gate_count(),
                config.hidden_size,
                config.state_width(),
            );
            let dirs: Vec<DirectionWeights> = (0..config.num_directions())
                .map(|d| DirectionWeights {
                    w_ih: vec![],
                    w_hh: (0..g * h * k)
                        .map(|i| match i {
                            0 => 6.0e-8,
                            1 => 65504.0,
                            2 => -0.0,
                            _ => (i as f32 * 0.37 + d as f32).sin() * 3.0,
                        })
                        .collect(),
                    b_ih: vec![],
                    b_hh: vec![],
                    w_hr: vec![],
                })
                .collect();
            for weights in [Precision::F32, Precision::F16] {
                let rows = ctx.buffer_with(
                    "rows",
                    &weights.encode(&pack_recurrent_rows(&config, &dirs)),
                    BufferUsages::STORAGE,
                );
                let vec4 = 4 * weights.bytes_per_weight() as u64;
                let vec4s = by_unit_vec4s(&config, dirs.len());
                // Written from vec4 3 on: the three before keep their sentinel bits.
                let at = 3;
                let bytes = (at + vec4s) * vec4;
                let sentinel = vec![0xA5u8; bytes as usize];
                let usage = BufferUsages::STORAGE | BufferUsages::COPY_SRC;
                let dst = ctx.buffer_with("dst", &sentinel, usage);
                let staging = ctx.staging("read back", bytes);
                let device = ctx.device();
                let mut encoder = device.create_command_encoder(&Default::default());
                encode_pack(
                    &ctx,
                    &config,
                    weights,
                    dirs.len(),
                    &rows,
                    (&dst, at),
                    &mut encoder,
                )
                .unwrap();
                encoder.copy_buffer_to_buffer(&dst, 0, &staging, 0, bytes);
                ctx.queue().submit([encoder.finish()]);
                let got = pollster::block_on(read_back_with(device, &staging, Wait::Block, |v| {
                    bytemuck::cast_slice::<f32, u8>(v).to_vec()
                }))
                .unwrap();
                let head = (at * vec4) as usize;
                let want = weights.encode(&pack_recurrent(&config, &dirs));
                let label = format!("{:?} H={h} D={} {weights}", config.kind, dirs.len());
                assert_eq!(&got[..head], &sentinel[..head], "{label}: before `at`");
                assert_eq!(&got[head..], &want[..got.len() - head], "{label}");
            }
        }
    }
}
