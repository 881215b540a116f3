//! [`Strategy::PerStep`](super::Strategy::PerStep) on the device: the per-step kernel's
//! pipelines for one model and batch (shaders/recurrent.wgsl, cut as [`StepShape`]), and the
//! dispatches of a run of timesteps, one each (two with an LSTM's projection).

use std::ops::Range;

use super::context::GpuContext;
use super::kernels::{Kernel, Variant, STEP_WORKGROUP};
use super::plan::StepShape;
use super::slots::StepSlots;
use crate::config::RnnConfig;
use crate::error::Result;

pub(crate) struct PerStepRun {
    step: wgpu::ComputePipeline,
    /// `lstm_project`, for an LSTM with `proj_size`.
    project: Option<wgpu::ComputePipeline>,
    /// Workgroups of a step ([`StepShape::grid`]).
    grid: [u32; 3],
    /// Workgroups of the projection along x: one invocation per projected unit.
    project_groups: u32,
}

impl PerStepRun {
    pub(crate) fn new(
        ctx: &GpuContext,
        config: &RnnConfig,
        shape: StepShape,
        batch: usize,
    ) -> Result<Self> {
        let (device, kernels) = (&ctx.inner.device, &ctx.inner.kernels);
        let variant = |kernel| Variant::step(kernel, config, shape);
        Ok(PerStepRun {
            step: kernels.pipeline(device, variant(Kernel::Step))?,
            project: match config.proj_size {
                0 => None,
                _ => Some(kernels.pipeline(device, variant(Kernel::LstmProject))?),
            },
            grid: shape.grid(config, batch),
            project_groups: (config.state_width() as u32).div_ceil(STEP_WORKGROUP),
        })
    }

    /// Dispatches timesteps `steps` into `pass`, whose group 0 is the layer's.
    pub(crate) fn encode(
        &self,
        pass: &mut wgpu::ComputePass<'_>,
        slots: &StepSlots,
        steps: Range<usize>,
    ) {
        let [x, y, z] = self.grid;
        for s in steps {
            pass.set_pipeline(&self.step);
            pass.set_bind_group(1, &slots.bind_group, &[slots.offset(s)]);
            pass.dispatch_workgroups(x, y, z);
            if let Some(project) = &self.project {
                pass.set_pipeline(project);
                pass.dispatch_workgroups(self.project_groups, y, z);
            }
        }
    }
}
