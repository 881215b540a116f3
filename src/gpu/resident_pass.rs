//! A forward pass over GPU-resident input (`GpuRnn::forward_gpu`): the caller's `h0`/`c0`
//! copied into its state on the device, a `batch_first` input made time-major and its output
//! given back batch-first, and the pass kept by a caller that runs the same shape again.

use wgpu::BufferUsages;

use super::device_model::DeviceModel;
use super::pass::{PassKey, Plan};
use super::resident::{GpuInput, GpuOutput, GpuState};
use super::scopes::Scopes;
use super::swap::SwapRun;
use super::workspace::{StateBuffers, Workspace};
use crate::error::{Error, Result};
use crate::resolve::Resolved;
use crate::shape::InputShapes;

/// How a resident pass reads its input and lays out its output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Layout {
    /// As the model's `batch_first` says (the public entry points).
    Model,
    /// Time-major whatever `batch_first` says: `GpuSequential` chains its stages so.
    TimeMajor,
}

/// A forward pass over a GPU-resident input, which a caller that runs the same shape again
/// over the same buffer (`GpuSequential`) keeps for the next call.
pub(crate) struct ResidentPass {
    /// What the pass was built for.
    key: PassKey,
    /// The caller's buffer the pass reads its input from.
    input: wgpu::Buffer,
    work: Workspace,
    state: StateBuffers,
    resolved: Resolved,
    /// The caller's `h0` and `c0` with their sizes in bytes, copied into `state` when the
    /// pass starts; where `None`, zeros were written there instead.
    start: [Option<(wgpu::Buffer, u64)>; 2],
    /// A `batch_first` input's time-major copy and the output in the caller's layout.
    swapped: Option<Swapped>,
}

/// The buffers and dispatches of a pass whose caller's layout is `(B, T, ..)`.
struct Swapped {
    /// The input, time-major `(T, B, I)`: what the workspace reads.
    x: wgpu::Buffer,
    to_time_major: SwapRun,
    /// The output, `(B, T, D*H_out)`.
    output: wgpu::Buffer,
    to_batch_first: SwapRun,
}

impl ResidentPass {
    /// The buffers and bind groups of a pass of `model` over `input` in `layout`: `cached`
    /// where it was built for the same shape, plan, layout and input buffer, with the lengths
    /// and the state rewritten, or else a new one. The state is zeros where `input` gives no
    /// `h0`/`c0`, and their copies where it does (made by [`ResidentPass::record`]). Queue
    /// writes only: the caller encodes with [`ResidentPass::record`] and submits.
    pub(crate) fn new(
        model: &DeviceModel,
        cached: Option<ResidentPass>,
        input: &GpuInput<'_>,
        layout: Layout,
    ) -> Result<ResidentPass> {
        let (resolved, plan) = resident_plan(model, input, layout)?;
        let ctx = &model.ctx;
        let lengths = resolved
            .lengths
            .clone()
            .unwrap_or_else(|| vec![resolved.t; resolved.b]);
        let h0 = vec![0.0; plan.state_floats];
        let c0 = vec![0.0; plan.cell_floats];
        let given = |state: Option<GpuState<'_>>, floats: usize| {
            state.map(|s| (s.buffer.clone(), (floats * 4) as u64))
        };
        let start = [
            given(input.h0, plan.state_floats),
            given(input.c0, plan.cell_floats),
        ];
        let swap = swaps(model, &resolved, layout);
        let key = plan.key(&resolved);
        if let Some(pass) = cached
            .filter(|p| p.key == key && &p.input == input.buffer && p.swapped.is_some() == swap)
        {
            pass.work.write_lengths(ctx, &lengths);
            if start[0].is_none() {
                ctx.write_storage(&pass.state.h, &h0);
            }
            if start[1].is_none() {
                ctx.write_storage(&pass.state.c, &c0);
            }
            return Ok(ResidentPass {
                resolved,
                start,
                ..pass
            });
        }
        let config = &model.config;
        let (t, b) = (resolved.t, resolved.b);
        let x = swap.then(|| ctx.scratch("input (time-major)", t * b * config.input_size));
        let work = Workspace::new(
            model,
            &plan,
            &resolved,
            x.as_ref().unwrap_or(input.buffer),
            &lengths,
        )?;
        let swapped = match x {
            Some(x) => Some(Swapped::new(model, &resolved, input.buffer, x, &work)?),
            None => None,
        };
        Ok(ResidentPass {
            key,
            input: input.buffer.clone(),
            work,
            state: StateBuffers::upload(ctx, &h0, &c0),
            resolved,
            start,
            swapped,
        })
    }

    /// Encodes the pass; the final chunk's encoder is returned unsubmitted, and the output is
    /// [`ResidentPass::output`]. The copies of `h0`/`c0` and the input's swap to time-major
    /// are submitted first, in a command buffer of their own (the workspace submits its first
    /// steps early, so they cannot share its first encoder).
    pub(crate) fn record(&self, model: &DeviceModel) -> Result<wgpu::CommandEncoder> {
        let (device, queue) = (&model.ctx.inner.device, &model.ctx.inner.queue);
        if self.start.iter().any(Option::is_some) || self.swapped.is_some() {
            queue.submit([self.record_start(device).finish()]);
        }
        let mut encoder = self.work.record(model, &self.state)?;
        if let Some(swapped) = &self.swapped {
            swapped.to_batch_first.encode(&mut encoder);
        }
        Ok(encoder)
    }

    /// The copies of `h0`/`c0` into the state and the input's swap to time-major.
    fn record_start(&self, device: &wgpu::Device) -> wgpu::CommandEncoder {
        let mut first = device.create_command_encoder(&Default::default());
        let targets = [&self.state.h, &self.state.c];
        for (given, target) in self.start.iter().zip(targets) {
            if let Some((buffer, bytes)) = given {
                first.copy_buffer_to_buffer(buffer, 0, target, 0, *bytes);
            }
        }
        if let Some(swapped) = &self.swapped {
            swapped.to_time_major.encode(&mut first);
        }
        first
    }

    /// The output in the pass's layout: `(T, B, D*H_out)`, or `(B, T, D*H_out)` for a
    /// `batch_first` model in [`Layout::Model`].
    pub(crate) fn output(&self) -> &wgpu::Buffer {
        self.swapped
            .as_ref()
            .map_or(self.work.output(), |s| &s.output)
    }

    /// Its state: `h0`/`c0` when it starts, `h_n`/`c_n` once it ran.
    pub(super) fn state(&self) -> &StateBuffers {
        &self.state
    }

    /// Device memory it holds.
    pub(crate) fn bytes(&self) -> u64 {
        let swapped = self.swapped.as_ref().map_or(0, |s| {
            s.x.size() + s.output.size() + s.to_time_major.bytes() + s.to_batch_first.bytes()
        });
        self.work.bytes() + self.state.h.size() + self.state.c.size() + swapped
    }
}

/// Runs `model` on `input` and leaves the results on the GPU
/// ([`GpuRnn::forward_gpu`](super::GpuRnn::forward_gpu)).
pub(super) fn forward_gpu(model: &DeviceModel, input: &GpuInput<'_>) -> Result<GpuOutput> {
    let ctx = &model.ctx;
    let pass = ctx.inner.health.guard_now(|| {
        let scopes = Scopes::push(&ctx.inner.device);
        let pass = ResidentPass::new(model, None, input, Layout::Model)?;
        let encoder = pass.record(model)?;
        ctx.inner.queue.submit([encoder.finish()]);
        scopes.settle("running the forward pass on GPU buffers")?;
        Ok(pass)
    })?;
    let lstm = model.config.kind.has_cell_state();
    let output = pass.output().clone();
    let shapes = pass.resolved.shapes.clone();
    let state = pass.state();
    Ok(GpuOutput {
        output,
        h_n: state.h.clone(),
        c_n: lstm.then(|| state.c.clone()),
        shapes,
    })
}

/// As [`forward_gpu`], copying the output into `output`
/// ([`GpuRnn::forward_gpu_into`](super::GpuRnn::forward_gpu_into)).
pub(super) fn forward_into(
    model: &DeviceModel,
    input: &GpuInput<'_>,
    output: &wgpu::Buffer,
) -> Result<()> {
    let (resolved, _) = resident_plan(model, input, Layout::Model)?;
    let bytes = (resolved.t * resolved.b * model.config.output_width() * 4) as u64;
    check_buffer("output", output, BufferUsages::COPY_DST, bytes)?;
    let result = forward_gpu(model, input)?;
    let device = &model.ctx.inner.device;
    let scopes = Scopes::push(device);
    let mut encoder = device.create_command_encoder(&Default::default());
    encoder.copy_buffer_to_buffer(&result.output, 0, output, 0, bytes);
    model.ctx.inner.queue.submit([encoder.finish()]);
    scopes.settle("copying the output into the caller's buffer")
}

impl Swapped {
    /// The swaps of a pass over `resolved` between the caller's `(B, T, I)` `input` and `x`,
    /// which `work` reads, and from `work`'s output to one in the caller's layout.
    fn new(
        model: &DeviceModel,
        r: &Resolved,
        input: &wgpu::Buffer,
        x: wgpu::Buffer,
        work: &Workspace,
    ) -> Result<Swapped> {
        let (ctx, config) = (&model.ctx, &model.config);
        let width = config.output_width();
        let output = ctx.scratch("output (batch-first)", r.t * r.b * width);
        Ok(Swapped {
            to_time_major: SwapRun::new(ctx, input, &x, [r.b, r.t, config.input_size])?,
            to_batch_first: SwapRun::new(ctx, work.output(), &output, [r.t, r.b, width])?,
            x,
            output,
        })
    }
}

/// Whether a pass over `r` in `layout` swaps its input and output: for a batched input of a
/// `batch_first` model, unless one of the two axes is 1 (the layouts are then the same bytes).
fn swaps(model: &DeviceModel, r: &Resolved, layout: Layout) -> bool {
    layout == Layout::Model && model.config.batch_first && r.batched && r.b > 1 && r.t > 1
}

/// The shape and plan of a pass of `model` over `input` in `layout`, with every shape and
/// buffer checked: shapes as [`crate::resolve`] checks a host pass's, then the buffers'
/// usages and sizes.
pub(super) fn resident_plan(
    model: &DeviceModel,
    input: &GpuInput<'_>,
    layout: Layout,
) -> Result<(Resolved, Plan)> {
    let shapes = InputShapes {
        input: input.shape,
        h0: input.h0.map(|s| s.shape),
        c0: input.c0.map(|s| s.shape),
        lengths: input.lengths,
    };
    let resolved = match layout {
        Layout::Model => crate::resolve::resolve(&model.config, &shapes)?,
        Layout::TimeMajor => {
            crate::resolve::resolve(&model.config.clone().batch_first(false), &shapes)?
        }
    };
    let floats = |shape: &[usize]| shape.iter().product::<usize>() as u64;
    let bytes = 4 * floats(&[resolved.t, resolved.b, model.config.input_size]);
    check_buffer("input", input.buffer, BufferUsages::STORAGE, bytes)?;
    // Copied into the pass's state: the shapes are those `resolve` just checked.
    for (arg, state) in [("h0", input.h0), ("c0", input.c0)] {
        if let Some(state) = state {
            let bytes = 4 * floats(state.shape);
            check_buffer(arg, state.buffer, BufferUsages::COPY_SRC, bytes)?;
        }
    }
    if resolved.t == 0 || resolved.b == 0 {
        return Err(Error::Unsupported {
            what: "an empty GPU-resident input".into(),
            reason: "T and B must be at least 1 for work on GPU buffers".into(),
        });
    }
    let plan = model.plan(&resolved)?;
    Ok((resolved, plan))
}

/// Checks a caller's buffer: `usage`, and at least `needed` bytes.
pub(super) fn check_buffer(
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
