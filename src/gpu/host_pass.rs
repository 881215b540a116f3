//! A forward pass from host memory, kept for the next call of the same shape.

use super::device_model::DeviceModel;
use super::pass::{PassKey, Plan};
use super::workspace::{StateBuffers, Workspace};
use crate::error::Result;
use crate::model::HostSequences;
use crate::resolve::Resolved;

/// The most device memory a [`HostPass`] may hold to be kept for the next call: a larger
/// call's allocations are small next to its work, and a model should not hold on to hundreds
/// of megabytes after one long call.
pub(crate) const MAX_KEPT_BYTES: u64 = 32 << 20;

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
    /// Host memory for making a batch-first input time-major, kept for the next call.
    pub time_major: Vec<f32>,
}

impl HostPass {
    /// A pass of `model` over `host` cut as `plan`: `cached` where it was built for this shape
    /// and strategy, with the input, lengths and (with `state`) h0/c0 rewritten, or else a new
    /// one. `staging_bytes` is what the caller reads back.
    pub(crate) fn new(
        model: &DeviceModel,
        cached: Option<HostPass>,
        plan: &Plan,
        resolved: &Resolved,
        host: &HostSequences,
        staging_bytes: u64,
        state: bool,
    ) -> Result<HostPass> {
        let ctx = &model.ctx;
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
        let work = Workspace::new(model, plan, resolved, &x, &host.lengths)?;
        Ok(HostPass {
            key,
            x,
            work,
            staging: ctx.staging("read back", staging_bytes),
            state: state.then(|| StateBuffers::upload(ctx, &host.h0, &host.c0)),
            time_major: Vec::new(),
        })
    }

    /// Whether to keep the pass for the next call of its shape.
    pub(crate) fn worth_keeping(&self) -> bool {
        let state = self.state.as_ref().map_or(0, |s| s.h.size() + s.c.size());
        self.x.size() + self.staging.size() + self.work.bytes() + state <= MAX_KEPT_BYTES
    }
}
