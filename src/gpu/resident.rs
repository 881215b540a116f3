//! GPU-resident I/O: input from a buffer the caller owns, output left on the GPU or copied
//! into the caller's buffer, nothing read back in between.

use wgpu::BufferUsages;

use super::device_model::DeviceModel;
use super::pass::{PassKey, Plan};
use super::scopes::Scopes;
use super::workspace::{StateBuffers, Workspace};
use crate::error::{Error, Result};
use crate::resolve::Resolved;
use crate::shape::{InputShapes, OutputShapes};

/// A forward pass's input already on the GPU.
///
/// Layout: little-endian `f32`, row-major, **time-major** `(T, B, input_size)` (or `(T,
/// input_size)` unbatched), tightly packed from `offset` 0 of the buffer — exactly the layout
/// of [`GpuOutput::output`], so stacks chain without leaving the GPU. The buffer needs
/// `BufferUsages::STORAGE` and at least `4 * T * B * input_size` bytes, and must belong to the
/// model's device.
#[derive(Clone, Copy, Debug)]
pub struct GpuInput<'a> {
    /// The data.
    pub buffer: &'a wgpu::Buffer,
    /// Its shape, time-major.
    pub shape: &'a [usize],
    /// Per-sequence lengths, as in [`crate::Input::lengths`].
    pub lengths: Option<&'a [usize]>,
}

/// A forward pass's results, left on the GPU. Each buffer has usage
/// `STORAGE | COPY_SRC | COPY_DST` and holds tightly packed little-endian `f32`.
#[derive(Debug)]
#[non_exhaustive]
pub struct GpuOutput {
    /// `(T, B, D*H_out)`, time-major whatever `batch_first` says.
    pub output: wgpu::Buffer,
    /// `(D*L, B, H_out)`.
    pub h_n: wgpu::Buffer,
    /// `(D*L, B, H)` for LSTM.
    pub c_n: Option<wgpu::Buffer>,
    /// The shapes of the three, `output` as `(T, B, D*H_out)` (or `(T, D*H_out)`).
    pub shapes: OutputShapes,
}

impl ResidentPass {
    /// Runs `model` on `input` and leaves the results on the GPU
    /// ([`GpuRnn::forward_gpu`](super::GpuRnn::forward_gpu)).
    pub(crate) fn forward_gpu(model: &DeviceModel, input: &GpuInput<'_>) -> Result<GpuOutput> {
        let ctx = &model.ctx;
        let pass = ctx.inner.health.guard_now(|| {
            let scopes = Scopes::push(&ctx.inner.device);
            let pass = ResidentPass::new(model, None, input)?;
            let encoder = pass.record(model)?;
            ctx.inner.queue.submit([encoder.finish()]);
            scopes.settle("running the forward pass on GPU buffers")?;
            Ok(pass)
        })?;
        let lstm = model.config.kind.has_cell_state();
        let mut shapes = pass.resolved.shapes.clone();
        // GPU-resident output is time-major.
        if pass.resolved.batched {
            shapes.output = vec![
                pass.resolved.t,
                pass.resolved.b,
                model.config.output_width(),
            ];
        }
        Ok(GpuOutput {
            output: pass.work.output().clone(),
            h_n: pass.state.h,
            c_n: lstm.then_some(pass.state.c),
            shapes,
        })
    }

    /// The buffers and bind groups of a pass of `model` over `input` from zero state:
    /// `cached` where it was built for the same shape, plan and input buffer, with the lengths
    /// and the state rewritten, or else a new one. Queue writes only: the caller encodes with
    /// [`ResidentPass::record`] and submits.
    pub(crate) fn new(
        model: &DeviceModel,
        cached: Option<ResidentPass>,
        input: &GpuInput<'_>,
    ) -> Result<ResidentPass> {
        let (resolved, plan) = resident_plan(model, input)?;
        let ctx = &model.ctx;
        let lengths = resolved
            .lengths
            .clone()
            .unwrap_or_else(|| vec![resolved.t; resolved.b]);
        let stacked = model.config.num_layers * model.config.num_directions();
        let h0 = vec![0.0; stacked * resolved.b * model.config.state_width()];
        let c0 = vec![0.0; plan.cell_floats];
        let key = plan.key(&resolved);
        if let Some(pass) = cached.filter(|p| p.key == key && &p.input == input.buffer) {
            pass.work.write_lengths(ctx, &lengths);
            ctx.write_storage(&pass.state.h, &h0);
            ctx.write_storage(&pass.state.c, &c0);
            return Ok(ResidentPass { resolved, ..pass });
        }
        Ok(ResidentPass {
            key,
            input: input.buffer.clone(),
            work: Workspace::new(model, &plan, &resolved, input.buffer, &lengths)?,
            state: StateBuffers::upload(ctx, &h0, &c0),
            resolved,
        })
    }

    /// Encodes the pass; the final chunk's encoder is returned unsubmitted, and the output is
    /// [`ResidentPass::output`].
    pub(crate) fn record(&self, model: &DeviceModel) -> Result<wgpu::CommandEncoder> {
        self.work.record(model, &self.state)
    }

    /// As [`ResidentPass::forward_gpu`], copying the output into `output`
    /// ([`GpuRnn::forward_gpu_into`](super::GpuRnn::forward_gpu_into)).
    pub(crate) fn forward_into(
        model: &DeviceModel,
        input: &GpuInput<'_>,
        output: &wgpu::Buffer,
    ) -> Result<()> {
        let (resolved, _) = resident_plan(model, input)?;
        let bytes = (resolved.t * resolved.b * model.config.output_width() * 4) as u64;
        check_buffer("output", output, BufferUsages::COPY_DST, bytes)?;
        let result = ResidentPass::forward_gpu(model, input)?;
        let device = &model.ctx.inner.device;
        let scopes = Scopes::push(device);
        let mut encoder = device.create_command_encoder(&Default::default());
        encoder.copy_buffer_to_buffer(&result.output, 0, output, 0, bytes);
        model.ctx.inner.queue.submit([encoder.finish()]);
        scopes.settle("copying the output into the caller's buffer")
    }
}

/// The shape and plan of a pass of `model` over `input`, checked.
fn resident_plan(model: &DeviceModel, input: &GpuInput<'_>) -> Result<(Resolved, Plan)> {
    if model.config.batch_first {
        return Err(Error::Unsupported {
            what: "GPU-resident input for a batch_first model".into(),
            reason: "data on the GPU is time-major (T, B, input_size); call Rnn::set_batch_first(false) before to_gpu and lay the buffer out time-major".into(),
        });
    }
    let shapes = InputShapes {
        input: input.shape,
        lengths: input.lengths,
        ..Default::default()
    };
    let resolved = crate::resolve::resolve(&model.config, &shapes)?;
    let bytes = (resolved.t * resolved.b * model.config.input_size * 4) as u64;
    check_buffer("input", input.buffer, BufferUsages::STORAGE, bytes)?;
    if resolved.t == 0 || resolved.b == 0 {
        return Err(Error::Unsupported {
            what: "an empty GPU-resident input".into(),
            reason: "T and B must be at least 1 for work on GPU buffers".into(),
        });
    }
    let plan = model.plan(&resolved)?;
    Ok((resolved, plan))
}

/// A forward pass over a GPU-resident input from zero state, which a caller that runs the
/// same shape again over the same buffer (`GpuSequential`) keeps for the next call.
pub(crate) struct ResidentPass {
    /// What the pass was built for.
    key: PassKey,
    /// The buffer the workspace reads its input from.
    input: wgpu::Buffer,
    work: Workspace,
    state: StateBuffers,
    resolved: Resolved,
}

impl ResidentPass {
    /// `(T, B, D*H_out)`, time-major.
    pub(crate) fn output(&self) -> &wgpu::Buffer {
        self.work.output()
    }

    /// Device memory it holds.
    pub(crate) fn bytes(&self) -> u64 {
        self.work.bytes() + self.state.h.size() + self.state.c.size()
    }
}

fn check_buffer(
    arg: &'static str,
    buffer: &wgpu::Buffer,
    usage: BufferUsages,
    needed: u64,
) -> Result<()> {
    if !buffer.usage().contains(usage) {
        return Err(Error::GpuBuffer {
            arg,
            problem: format!("has usage {:?} but needs {usage:?}", buffer.usage()),
        });
    }
    if buffer.size() < needed {
        return Err(Error::GpuBuffer {
            arg,
            problem: format!("holds {} bytes but the shape needs {needed}", buffer.size()),
        });
    }
    Ok(())
}
