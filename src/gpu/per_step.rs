//! [`Strategy::PerStep`](super::Strategy::PerStep) on the device: the per-step kernel's
//! pipelines for one model and batch (shaders/recurrent.wesl, cut as [`StepShape`]), and the
//! dispatches of a run of timesteps, one each (two with an LSTM's projection).

use std::ops::Range;

use super::context::GpuContext;
use super::kernels::{Dispatch, Kernel, Variant, STEP_WORKGROUP};
use super::plan::StepShape;
use super::slots::StepSlots;
use crate::config::RnnConfig;
use crate::error::Result;

pub(crate) struct PerStepRun {
    /// `gru_reset`, for a GRU whose reset gate comes first: one invocation per unit.
    reset: Option<Dispatch>,
    step: Dispatch,
    /// `lstm_project`, for an LSTM with `proj_size`: one invocation per projected unit.
    project: Option<Dispatch>,
}

impl PerStepRun {
    pub(crate) fn new(
        ctx: &GpuContext,
        config: &RnnConfig,
        shape: StepShape,
        batch: usize,
        reset_first: bool,
        weights: crate::Precision,
    ) -> Result<Self> {
        let variant =
            |kernel| Variant::step(kernel, config, shape, reset_first).with_weights(weights);
        let grid = shape.grid(config, batch);
        let project_grid = [
            (config.state_width() as u32).div_ceil(STEP_WORKGROUP),
            grid[1],
            grid[2],
        ];
        Ok(PerStepRun {
            reset: match reset_first {
                false => None,
                true => Some(ctx.dispatch(variant(Kernel::GruReset), project_grid)?),
            },
            step: ctx.dispatch(variant(Kernel::Step), grid)?,
            project: match config.proj_size {
                0 => None,
                _ => Some(ctx.dispatch(variant(Kernel::LstmProject), project_grid)?),
            },
        })
    }

    /// Dispatches timesteps `steps` into `pass`, whose group 0 is the layer's.
    pub(crate) fn encode(
        &self,
        pass: &mut wgpu::ComputePass<'_>,
        slots: &StepSlots,
        steps: Range<usize>,
    ) {
        for (i, s) in steps.enumerate() {
            pass.set_bind_group(1, &slots.bind_group, &[slots.offset(s)]);
            if let Some(reset) = &self.reset {
                // The reset gates of every unit, then the step that reads them.
                reset.run(pass);
                self.step.run(pass);
                continue;
            }
            match &self.project {
                // The step and the projection alternate pipelines.
                Some(project) => {
                    self.step.run(pass);
                    project.run(pass);
                }
                None if i == 0 => self.step.run(pass),
                None => self.step.again(pass),
            }
        }
    }
}
