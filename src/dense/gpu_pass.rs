//! The device side of a [`GpuSequential`](super::GpuSequential) forward pass: the dense
//! kernels, each stage's data on the device, and the buffers and bind groups of one shape.

use wgpu::BufferUsages;

use super::layout::Flow;
use super::Activation;
use crate::error::Result;
use crate::gpu::kernels::{DenseParams, Kernel, ShaderFile, Variant};
use crate::gpu::{GpuContext, GpuInput, GpuRnn, ResidentPass};

/// The pipelines of shaders/dense.wesl and their layout, from the context's cache (compiled
/// on first use).
pub(crate) struct DenseKernels {
    layout: wgpu::BindGroupLayout,
    linear: wgpu::ComputePipeline,
    last_step: wgpu::ComputePipeline,
    activate: wgpu::ComputePipeline,
}

impl DenseKernels {
    /// The context's dense kernels for weights stored as `weights`.
    pub(crate) fn of(ctx: &GpuContext, weights: crate::Precision) -> Result<DenseKernels> {
        let (device, kernels) = (&ctx.inner.device, &ctx.inner.kernels);
        let pipeline =
            |kernel| kernels.pipeline(device, Variant::dense(kernel).with_weights(weights));
        Ok(DenseKernels {
            layout: kernels.layout(device, ShaderFile::Dense, false),
            linear: pipeline(Kernel::Linear)?,
            last_step: pipeline(Kernel::LastStep)?,
            activate: pipeline(Kernel::Activate)?,
        })
    }

    pub(crate) fn pipeline(&self, kernel: Kernel) -> &wgpu::ComputePipeline {
        match kernel {
            Kernel::Linear => &self.linear,
            Kernel::LastStep => &self.last_step,
            _ => &self.activate,
        }
    }
}

/// One stage of a [`GpuSequential`](super::GpuSequential) on the device.
pub(crate) enum GpuLayer {
    Linear {
        weight: wgpu::Buffer,
        bias: wgpu::Buffer,
        out_features: usize,
        /// The activation stage right after it, fused into the kernel.
        activation: Activation,
    },
    Recurrent(GpuRnn),
    LastStep {
        bidirectional: bool,
    },
    Activation(Activation),
    /// An activation already applied by the linear stage before it.
    Fused,
}

/// The device side of a [`GpuSequential`] forward pass for one T and B: built once, and kept
/// for the next call of the same shape, which rewrites the input, the lengths and the
/// recurrent stages' zero state, and records the same dispatches again.
pub(crate) struct SequentialPass {
    pub key: (usize, usize),
    pub x: wgpu::Buffer,
    pub lengths: wgpu::Buffer,
    /// One per stage of the model.
    pub stages: Vec<StagePass>,
    /// The last stage's output, and the buffer it is read back through.
    pub output: wgpu::Buffer,
    pub staging: wgpu::Buffer,
    /// Device memory it holds (not counting the model's weights).
    pub bytes: u64,
}

pub(crate) enum StagePass {
    /// One dispatch of `kernel` over `grid` workgroups.
    Dense {
        kernel: Kernel,
        group: wgpu::BindGroup,
        grid: (u32, u32),
    },
    Recurrent {
        /// The buffer the stage reads its input from.
        input: wgpu::Buffer,
        pass: Box<ResidentPass>,
    },
    /// An activation applied by the linear stage before it.
    Fused,
}

impl SequentialPass {
    /// The buffers and bind groups of a forward pass of `layers` over `x` (time-major), for
    /// `flow`'s shape; `unused` is bound where a kernel reads nothing.
    /// `grids` holds each stage's workgroup grid (checked against the device).
    pub(crate) fn build(
        ctx: &GpuContext,
        layers: &[GpuLayer],
        unused: &wgpu::Buffer,
        kernels: &DenseKernels,
        x: &[f32],
        flow: &Flow,
        grids: &[(u32, u32)],
    ) -> Result<SequentialPass> {
        let x_buffer = ctx.storage("sequential input (time-major)", x);
        let lengths = ctx.lengths(&flow.lengths_or_full());
        let mut bytes = x_buffer.size() + lengths.size();
        let mut current = x_buffer.clone();
        let mut stages = Vec::with_capacity(layers.len());
        for (i, layer) in layers.iter().enumerate() {
            let (rows, width, out_width) = (flow.rows_into(i), flow.widths[i], flow.widths[i + 1]);
            let mut params = DenseParams {
                rows: rows as u32,
                in_features: width as u32,
                out_features: out_width as u32,
                seq_len: flow.t as u32,
                batch: flow.b as u32,
                ..Default::default()
            };
            // The dense dispatches' (kernel, src, weight, bias, dst).
            let (kernel, src, weight, bias, dst) = match layer {
                GpuLayer::Fused => {
                    stages.push(StagePass::Fused);
                    continue;
                }
                GpuLayer::Recurrent(rnn) => {
                    let shape = [flow.t, flow.b, width];
                    let pass = rnn.resident_pass(None, &stage_input(&current, &shape, flow))?;
                    bytes += pass.bytes();
                    let input = std::mem::replace(&mut current, pass.output().clone());
                    stages.push(StagePass::Recurrent {
                        input,
                        pass: Box::new(pass),
                    });
                    continue;
                }
                GpuLayer::Linear {
                    weight,
                    bias,
                    out_features,
                    activation,
                } => {
                    params.out4 = out_features.div_ceil(4) as u32;
                    params.activation = activation.code();
                    let out = ctx.scratch("linear output", rows * out_width);
                    (Kernel::Linear, current.clone(), weight, bias, out)
                }
                GpuLayer::LastStep { bidirectional } => {
                    params.split = if *bidirectional { width / 2 } else { width } as u32;
                    let out = ctx.scratch("last step", flow.b * width);
                    let src = current.clone();
                    (Kernel::LastStep, src, unused, unused, out)
                }
                GpuLayer::Activation(a) => {
                    params.activation = a.code();
                    params.out_features = width as u32;
                    // In place: the kernel reads and writes `dst`.
                    let dst = current.clone();
                    let src = unused.clone();
                    (Kernel::Activate, src, unused, unused, dst)
                }
            };
            let params = ctx.buffer_with(
                "dense params",
                bytemuck::bytes_of(&params),
                BufferUsages::UNIFORM,
            );
            let group = ctx.bind_in_order(
                kernel.entry_point(),
                &kernels.layout,
                &[&params, &src, weight, bias, &lengths, &dst],
            );
            if kernel != Kernel::Activate {
                bytes += dst.size();
            }
            bytes += params.size();
            stages.push(StagePass::Dense {
                kernel,
                group,
                grid: grids[i],
            });
            current = dst;
        }
        let floats = flow.rows_into(layers.len()) * flow.widths[layers.len()];
        let staging = ctx.staging("read back", (floats * 4) as u64);
        Ok(SequentialPass {
            key: (flow.t, flow.b),
            x: x_buffer,
            lengths,
            stages,
            output: current,
            bytes: bytes + staging.size(),
            staging,
        })
    }

    /// This pass, kept from a call of the same T and B, with `x`, the lengths and the recurrent
    /// stages' zero state written for this one; `None` where a recurrent stage could not
    /// reuse its buffers (the stages after it are bound to its output).
    pub(crate) fn reuse(
        mut self,
        ctx: &GpuContext,
        layers: &[GpuLayer],
        x: &[f32],
        flow: &Flow,
    ) -> Result<Option<SequentialPass>> {
        ctx.write_storage(&self.x, x);
        ctx.write_lengths(&self.lengths, &flow.lengths_or_full());
        let mut stages = Vec::with_capacity(self.stages.len());
        for (i, stage) in std::mem::take(&mut self.stages).into_iter().enumerate() {
            stages.push(match (&layers[i], stage) {
                (GpuLayer::Recurrent(rnn), StagePass::Recurrent { input, pass: kept }) => {
                    let output = kept.output().clone();
                    let shape = [flow.t, flow.b, flow.widths[i]];
                    let kept =
                        rnn.resident_pass(Some(*kept), &stage_input(&input, &shape, flow))?;
                    if kept.output() != &output {
                        return Ok(None);
                    }
                    StagePass::Recurrent {
                        input,
                        pass: Box::new(kept),
                    }
                }
                (_, stage) => stage,
            });
        }
        self.stages = stages;
        Ok(Some(self))
    }
}

/// A recurrent stage's input: time-major `shape`, with `flow`'s lengths, from zero state.
fn stage_input<'a>(buffer: &'a wgpu::Buffer, shape: &'a [usize], flow: &'a Flow) -> GpuInput<'a> {
    let input = GpuInput::new(buffer, shape);
    match flow.lengths.as_deref() {
        Some(lengths) => input.lengths(lengths),
        None => input,
    }
}
