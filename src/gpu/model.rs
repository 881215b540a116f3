//! A model uploaded to the GPU, and its forward pass: validate, upload, encode, read back.

use std::sync::Mutex;

use super::buffers::{read_back, Wait};
use super::choice;
use super::context::GpuContext;
use super::encode::{HostPass, Plan};
use super::pack::{
    gate_stride, pack_input, pack_input_bias, pack_projection, pack_recurrent, pack_recurrent_rows,
};
pub use super::plan::Strategy;
use super::scopes::Scopes;
use super::sequence::sequence_unsupported;
use super::wavefront::{wavefront_unsupported, WaveWeights};
use crate::config::RnnConfig;
use crate::error::{Error, Result};
use crate::shape::{Input, Output, Resolved};
use crate::weights::DirectionWeights;

/// An [`crate::Rnn`] whose weights live on a GPU. Create it with [`crate::Rnn::to_gpu`].
///
/// Weights are uploaded once. A forward pass encodes the whole sequence (one input-projection
/// GEMM per chunk, and one dispatch per chunk or per timestep, see [`Strategy`]) and reads the
/// results back; its activation buffers and bind groups stay with the model for the next call
/// of the same shape, which only rewrites the input, lengths and initial state.
pub struct GpuRnn {
    pub(super) ctx: GpuContext,
    pub(super) config: RnnConfig,
    pub(super) layers: Vec<LayerBuffers>,
    strategy: Strategy,
    /// Uniform slots holding 0, 1, 2, ... selected by dynamic offset; grown on demand.
    pub(super) steps: Mutex<Option<StepSlots>>,
    /// The last host forward's buffers, for the next one of the same shape; a forward takes
    /// them while it runs, so concurrent forwards make their own.
    host_pass: Mutex<Option<Box<HostPass>>>,
    /// Every layer's recurrent weights in one buffer, for [`Strategy::Wavefront`]; gathered
    /// on its first use.
    pub(super) wave: Mutex<Option<std::sync::Arc<WaveWeights>>>,
}

impl std::fmt::Debug for GpuRnn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuRnn")
            .field("config", &self.config)
            .field("context", &self.ctx)
            .finish()
    }
}

pub(super) struct LayerBuffers {
    /// W_ih packed k-major in gate-column order (`pack::pack_input`).
    pub w_ih: wgpu::Buffer,
    pub b_ih: wgpu::Buffer,
    /// W_hh packed k-major by unit (columns.wgsl), for the sequence kernel and the wavefront.
    pub w_hh: wgpu::Buffer,
    /// W_hh in rows for the per-step kernel (`pack::pack_recurrent_rows`).
    pub w_hh_rows: wgpu::Buffer,
    pub b_hh: wgpu::Buffer,
    pub w_hr: wgpu::Buffer,
}

pub(super) struct StepSlots {
    pub capacity: usize,
    pub stride: u64,
    pub _buffer: wgpu::Buffer,
    pub bind_group: wgpu::BindGroup,
}

impl GpuRnn {
    pub(crate) fn upload(
        ctx: &GpuContext,
        config: &RnnConfig,
        layers: &[Vec<DirectionWeights>],
    ) -> Result<Self> {
        let hint = "reduce hidden_size or input_size";
        let (d, h, h_out) = (
            config.num_directions(),
            config.hidden_size,
            config.state_width(),
        );
        let both = if d == 2 { ", both directions" } else { "" };
        for l in 0..config.num_layers {
            let w_ih =
                (d * gate_stride(config) * config.layer_input_size(l).next_multiple_of(4) * 4)
                    as u64;
            ctx.check_buffer(
                format!(
                    "weight_ih_l{l}{}",
                    if d == 2 { " (both directions)" } else { "" }
                ),
                w_ih,
                hint,
            )?;
            ctx.check_buffer(
                format!("weight_hh_l{l} (packed{both})"),
                (d * h_out.next_multiple_of(4) * h * 16) as u64,
                hint,
            )?;
            // The inner loop (dot.wgsl) runs a quarter of the width, plus a quarter of that
            // again for the subgroup loop's outer iterations.
            let width = config.layer_input_size(l).max(h_out);
            ctx.check_loop(
                format!("the input projection of layer {l} ({width} wide)"),
                width.div_ceil(4) * 5 / 4 + 64,
                "use a GPU adapter, or reduce input_size",
            )?;
        }
        let device = &ctx.inner.device;
        let scopes = Scopes::push(device);
        let cat = |f: &dyn Fn(&DirectionWeights) -> &[f32],
                   dirs: &[DirectionWeights]|
         -> Vec<f32> { dirs.iter().flat_map(|w| f(w).iter().copied()).collect() };
        let buffers = layers
            .iter()
            .enumerate()
            .map(|(l, dirs)| LayerBuffers {
                w_ih: ctx.storage(&format!("weight_ih_l{l} packed"), &pack_input(config, dirs)),
                b_ih: ctx.storage(
                    &format!("bias_ih_l{l} packed"),
                    &pack_input_bias(config, dirs),
                ),
                w_hh: ctx.storage(
                    &format!("weight_hh_l{l} packed"),
                    &pack_recurrent(config, dirs),
                ),
                w_hh_rows: ctx.storage(
                    &format!("weight_hh_l{l} rows"),
                    &pack_recurrent_rows(config, dirs),
                ),
                b_hh: ctx.storage(&format!("bias_hh_l{l}"), &cat(&|w| &w.b_hh, dirs)),
                w_hr: ctx.storage(
                    &format!("weight_hr_l{l} transposed"),
                    &pack_projection(config, dirs),
                ),
            })
            .collect();
        pollster::block_on(scopes.pop("uploading the weights"))?;
        Ok(GpuRnn {
            ctx: ctx.clone(),
            config: config.clone(),
            layers: buffers,
            strategy: Strategy::Auto,
            steps: Mutex::new(None),
            host_pass: Mutex::new(None),
            wave: Mutex::new(None),
        })
    }

    /// The configuration of the uploaded model.
    pub fn config(&self) -> &RnnConfig {
        &self.config
    }

    /// Chooses how the recurrence is dispatched (the default is [`Strategy::Auto`]).
    ///
    /// # Errors
    /// [`Error::Unsupported`](crate::Error::Unsupported) for [`Strategy::Sequence`] when `hidden_size` or the state
    /// width exceeds 1024, and for [`Strategy::Wavefront`] unless the model stacks two or more
    /// unidirectional layers without `proj_size`.
    pub fn set_strategy(&mut self, strategy: Strategy) -> Result<()> {
        if strategy == Strategy::Sequence && !self.sequence_fits() {
            return Err(sequence_unsupported(&self.config));
        }
        if strategy == Strategy::Wavefront {
            if let Some(err) = wavefront_unsupported(&self.config) {
                return Err(err);
            }
        }
        self.strategy = strategy;
        Ok(())
    }

    /// The strategy set with [`GpuRnn::set_strategy`] (`Auto` unless changed).
    pub fn strategy(&self) -> Strategy {
        self.strategy
    }

    /// The strategy a forward pass over `batch` sequences uses, with `Auto` resolved
    /// ([`choice::resolve`]).
    pub fn strategy_for(&self, batch: usize) -> Strategy {
        choice::resolve(&self.config, batch, self.strategy, self.ctx.profile())
    }

    /// Sizes and strategy of one pass, checked against the device.
    pub(super) fn plan(&self, resolved: &Resolved) -> Result<Plan> {
        Plan::new(
            &self.ctx,
            &self.config,
            resolved,
            self.strategy_for(resolved.b),
        )
    }

    fn sequence_fits(&self) -> bool {
        choice::sequence_cut(&self.config, 1, self.ctx.profile()).is_some()
    }

    /// The context the weights live on.
    pub fn context(&self) -> &GpuContext {
        &self.ctx
    }

    /// Runs the stack on the GPU and waits for the result.
    ///
    /// # Errors
    /// Every shape, state and length error of [`RnnConfig::check`], found before any GPU work;
    /// [`Error::DeviceLimit`](crate::Error::DeviceLimit) when the work does not fit the device
    /// (on software adapters, inputs wider than their loop limit too);
    /// [`Error::Gpu`](crate::Error::Gpu) when the device fails (lost, out of memory).
    pub fn forward(&self, input: &Input<'_>) -> Result<Output> {
        pollster::block_on(self.run(input, Wait::Block))
    }

    /// As [`GpuRnn::forward`], without blocking the executor while the GPU works.
    ///
    /// # Errors
    /// As [`GpuRnn::forward`].
    pub async fn forward_async(&self, input: &Input<'_>) -> Result<Output> {
        self.run(input, Wait::Yield).await
    }

    async fn run(&self, input: &Input<'_>, wait: Wait) -> Result<Output> {
        let resolved = crate::shape::resolve(&self.config, &input.shapes())?;
        input.check_finite()?;
        if resolved.t == 0 || resolved.b == 0 {
            return crate::model::empty_output(input, &resolved);
        }
        self.ctx
            .inner
            .health
            .guard(self.execute(input, &resolved, wait))
            .await
    }

    async fn execute(&self, input: &Input<'_>, resolved: &Resolved, wait: Wait) -> Result<Output> {
        let resolved = resolved.clone();
        let host = crate::model::HostSequences::new(&self.config, input, &resolved);
        let plan = self.plan(&resolved)?;
        let ctx = &self.ctx;
        let (device, queue) = (&ctx.inner.device, &ctx.inner.queue);
        let (out_bytes, h_bytes, c_bytes) = (
            (plan.output_floats * 4) as u64,
            (plan.state_floats * 4) as u64,
            (plan.cell_floats * 4) as u64,
        );
        let scopes = Scopes::push(device);
        let cached = self
            .host_pass
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .map(|pass| *pass);
        let pass = self.host_pass(
            cached,
            &plan,
            &resolved,
            &host,
            out_bytes + h_bytes + c_bytes,
            true,
        )?;
        let state = pass.state.as_ref().ok_or(Error::Gpu {
            operation: "running the forward pass",
            message: "the pass has no state buffers".into(),
        })?;
        let mut encoder = self.record(&pass.work, state)?;
        let staging = &pass.staging;
        encoder.copy_buffer_to_buffer(pass.work.output(), 0, staging, 0, out_bytes);
        encoder.copy_buffer_to_buffer(&state.h, 0, staging, out_bytes, h_bytes);
        if c_bytes > 0 {
            encoder.copy_buffer_to_buffer(&state.c, 0, staging, out_bytes + h_bytes, c_bytes);
        }
        queue.submit([encoder.finish()]);
        scopes.pop("running the forward pass").await?;
        let values = read_back(device, staging, wait).await?;
        // The GPU is done with the pass: the next forward of this shape reuses it.
        if pass.worth_keeping() {
            *self.host_pass.lock().unwrap_or_else(|e| e.into_inner()) = Some(Box::new(pass));
        }
        let (out_len, hn_len) = (plan.output_floats, plan.state_floats);
        let output = values[..out_len].to_vec();
        let h_n = values[out_len..out_len + hn_len].to_vec();
        let c_n = values[out_len + hn_len..out_len + hn_len + plan.cell_floats].to_vec();
        Ok(crate::model::finish_output(
            &self.config,
            &resolved,
            output,
            h_n,
            c_n,
        ))
    }
}
