//! The batch and time axes of GPU-resident data swapped on the device (shaders/swap.wesl):
//! a `batch_first` model's `(B, T, I)` input made time-major for the recurrence, and its
//! time-major output given back as `(B, T, D*H_out)`.

use wgpu::BufferUsages;

use super::context::GpuContext;
use super::kernels::{Dispatch, ShaderFile, SwapParams, Variant, SWAP_WORKGROUP};
use crate::error::Result;

/// One dispatch of the swap kernel, bound once: `src (d0, d1, width)` into `dst (d1, d0,
/// width)`, as `crate::shape::swap_batch_time` does on the host.
pub(crate) struct SwapRun {
    dispatch: Dispatch,
    group: wgpu::BindGroup,
    /// Device memory of its parameters.
    bytes: u64,
}

impl SwapRun {
    /// Binds `src`, of shape `[d0, d1, width]`, and `dst`; both at least that many floats
    /// (the resolved shape keeps their product below 2^32, as the kernel indexes in u32).
    pub(crate) fn new(
        ctx: &GpuContext,
        src: &wgpu::Buffer,
        dst: &wgpu::Buffer,
        [d0, d1, width]: [usize; 3],
    ) -> Result<SwapRun> {
        let (device, kernels) = (&ctx.inner.device, &ctx.inner.kernels);
        let params = SwapParams {
            d0: d0 as u32,
            d1: d1 as u32,
            width: width as u32,
            _pad: 0,
        };
        let params = ctx.buffer_with(
            "swap params",
            bytemuck::bytes_of(&params),
            BufferUsages::UNIFORM,
        );
        let layout = kernels.layout(device, ShaderFile::Swap, false);
        let group = ctx.bind_in_order("swap_batch_time", &layout, &[&params, src, dst]);
        let (x, y) = ctx.flat_grid(
            "swapping the batch and time axes",
            d0 * d1 * width,
            SWAP_WORKGROUP,
        )?;
        Ok(SwapRun {
            dispatch: ctx.dispatch(Variant::swap(), [x, y, 1])?,
            group,
            bytes: params.size(),
        })
    }

    /// Encodes the swap into `encoder`.
    pub(crate) fn encode(&self, encoder: &mut wgpu::CommandEncoder) {
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("swap_batch_time"),
            timestamp_writes: None,
        });
        pass.set_bind_group(0, &self.group, &[]);
        self.dispatch.run(&mut pass);
    }

    /// Device memory it holds (not counting `src` and `dst`).
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }
}
