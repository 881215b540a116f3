//! A model uploaded to the GPU, and its forward pass: validate, upload, encode, read back.

use std::sync::{Arc, Mutex};

use super::buffers::{read_back_with, Wait};
use super::cell::CellVariant;
use super::context::GpuContext;
use super::device_model::DeviceModel;
use super::host_pass::HostPass;
use super::layers;
pub use super::plan::Strategy;
use super::resident::{GpuInput, GpuOutput};
use super::resident_pass::{self, Layout, ResidentPass};
use super::scopes::Scopes;
use super::stream::GpuStream;
use crate::config::RnnConfig;
use crate::error::{Error, Result};
use crate::resolve::Resolved;
use crate::shape::{Input, Output};
use crate::weights::DirectionWeights;

/// An [`crate::Rnn`] whose weights live on a GPU. Create it with [`crate::Rnn::to_gpu`].
///
/// Weights are uploaded once. A forward pass encodes the whole sequence (one input-projection
/// GEMM per chunk, and one dispatch per chunk or per timestep, see [`Strategy`]) and reads the
/// results back; its activation buffers and bind groups stay with the model for the next call
/// of the same shape, which only rewrites the input, lengths and initial state.
pub struct GpuRnn {
    /// Shared with the model's open streams, which outlive no borrow of it.
    model: Arc<DeviceModel>,
    /// The last host forward's buffers, for the next one of the same shape; a forward takes
    /// them while it runs, so concurrent forwards make their own.
    host_pass: Mutex<Option<Box<HostPass>>>,
}

impl std::fmt::Debug for GpuRnn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuRnn")
            .field("config", &self.model.config)
            .field("context", &self.model.ctx)
            .finish()
    }
}

impl GpuRnn {
    pub(crate) fn upload(
        ctx: &GpuContext,
        config: &RnnConfig,
        weights: &[Vec<DirectionWeights>],
        cell: Option<CellVariant>,
        precision: crate::Precision,
    ) -> Result<Self> {
        let peepholes = cell.as_ref().and_then(|c| c.peepholes.as_deref());
        let buffers = layers::upload(ctx, config, weights, peepholes, precision)?;
        Ok(GpuRnn {
            model: Arc::new(DeviceModel::new(ctx, config, buffers, cell, precision)),
            host_pass: Mutex::new(None),
        })
    }

    /// The configuration of the uploaded model.
    pub fn config(&self) -> &RnnConfig {
        &self.model.config
    }

    /// How the weight matrices are stored on the device ([`Rnn::to_gpu_with`](crate::Rnn::to_gpu_with)).
    pub fn precision(&self) -> crate::Precision {
        self.model.weights
    }

    /// Bytes of device memory the weights take now: every matrix and bias as stored, and the
    /// copies made on first use. An upload holds W_hh once, in the per-step kernel's rows;
    /// the first [`Strategy::Sequence`] pass adds it packed by unit, the first
    /// [`Strategy::Wavefront`] pass every layer's recurrent weights in one buffer. With
    /// [`Precision::F16`](crate::Precision::F16) the matrices take half.
    pub fn weight_bytes(&self) -> u64 {
        self.model.weight_bytes()
    }

    /// The context the weights live on.
    pub fn context(&self) -> &GpuContext {
        &self.model.ctx
    }

    /// Chooses how the recurrence is dispatched (the default is [`Strategy::Auto`]).
    ///
    /// # Errors
    /// [`Error::Unsupported`](crate::Error::Unsupported) for [`Strategy::Sequence`] when
    /// `hidden_size` or the state width exceeds 1024, and for [`Strategy::Wavefront`] unless
    /// the model stacks two or more unidirectional layers without `proj_size`.
    pub fn set_strategy(&mut self, strategy: Strategy) -> Result<()> {
        self.model.set_strategy(strategy)
    }

    /// The strategy set with [`GpuRnn::set_strategy`] (`Auto` unless changed).
    pub fn strategy(&self) -> Strategy {
        self.model.strategy()
    }

    /// The strategy a forward pass over `batch` sequences uses, with `Auto` resolved for this
    /// device ([`plan_lines`](super::plan_lines) shows what it runs).
    pub fn strategy_for(&self, batch: usize) -> Strategy {
        self.model.strategy_for(batch)
    }

    /// Opens a streaming session for `batch` concurrent sequences, starting from zero state.
    /// The stream shares the model's weights and borrows nothing: keep it next to the model,
    /// move it to another thread, or drop the model first. It runs with the strategy the
    /// model has when each chunk is pushed.
    ///
    /// # Errors
    /// [`Error::Unsupported`] for a bidirectional model (its reverse direction needs the whole
    /// sequence) or a batch of 0; [`Error::DeviceLimit`] when the state does not fit.
    pub fn stream(&self, batch: usize) -> Result<GpuStream> {
        GpuStream::open(self.model.clone(), batch)
    }

    /// Runs the stack on `input` and leaves the results on the GPU: the same pass as
    /// [`GpuRnn::forward`], with input, `h0`/`c0` and results in device buffers, in the same
    /// layouts (a `batch_first` model takes `(B, T, I)` and gives `(B, T, D*H_out)`; the
    /// states are never batch-first). Only submits: work the caller submits afterwards on
    /// the same queue sees the results.
    ///
    /// # Errors
    /// The shape, state and length errors of [`GpuRnn::forward`], found before any GPU work;
    /// [`Error::GpuBuffer`] for an input buffer without `STORAGE` usage, an `h0`/`c0` buffer
    /// without `COPY_SRC` usage, or a buffer smaller than its shape;
    /// [`Error::Unsupported`] for an empty input (`T` or `B` of 0).
    pub fn forward_gpu(&self, input: &GpuInput<'_>) -> Result<GpuOutput> {
        resident_pass::forward_gpu(&self.model, input)
    }

    /// As [`GpuRnn::forward_gpu`], copying the output (`(T, B, D*H_out)`, `(B, T, D*H_out)`
    /// for a `batch_first` model) into `output`, a buffer the caller owns (usage `COPY_DST`,
    /// at least `4 * T * B * D*H_out` bytes).
    ///
    /// # Errors
    /// As [`GpuRnn::forward_gpu`]; [`Error::GpuBuffer`] for an unusable `output`.
    pub fn forward_gpu_into(&self, input: &GpuInput<'_>, output: &wgpu::Buffer) -> Result<()> {
        resident_pass::forward_into(&self.model, input, output)
    }

    /// A resident pass over time-major `input` whatever `batch_first` says (`GpuSequential`
    /// chains its stages so), `cached` reused where it fits ([`ResidentPass::new`]).
    pub(crate) fn resident_pass(
        &self,
        cached: Option<ResidentPass>,
        input: &GpuInput<'_>,
    ) -> Result<ResidentPass> {
        ResidentPass::new(&self.model, cached, input, Layout::TimeMajor)
    }

    /// Encodes `pass`, left unsubmitted ([`ResidentPass::record`]).
    pub(crate) fn record_resident(&self, pass: &ResidentPass) -> Result<wgpu::CommandEncoder> {
        pass.record(&self.model)
    }

    /// Runs the stack on the GPU and waits for the result.
    ///
    /// # Errors
    /// Every shape, state and length error of [`RnnConfig::check`], found before any GPU work;
    /// [`Error::DeviceLimit`](crate::Error::DeviceLimit) when the work does not fit the device
    /// (on software adapters, inputs wider than their loop limit too);
    /// [`Error::Gpu`](crate::Error::Gpu) when the device fails (lost, out of memory).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn forward(&self, input: &Input<'_>) -> Result<Output> {
        let mut out = Output::default();
        pollster::block_on(self.run(input, Wait::Block, &mut out))?;
        Ok(out)
    }

    /// As [`GpuRnn::forward`], writing the results into `out` (its tensors take the result's
    /// shapes): a loop that passes the same `out` again allocates no memory for the results.
    ///
    /// # Errors
    /// As [`GpuRnn::forward`]; `out` is unspecified after an error.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn forward_into(&self, input: &Input<'_>, out: &mut Output) -> Result<()> {
        pollster::block_on(self.run(input, Wait::Block, out))
    }

    /// As [`GpuRnn::forward`], without blocking the executor while the GPU works.
    ///
    /// # Errors
    /// As [`GpuRnn::forward`].
    pub async fn forward_async(&self, input: &Input<'_>) -> Result<Output> {
        let mut out = Output::default();
        self.run(input, Wait::Yield, &mut out).await?;
        Ok(out)
    }

    /// As [`GpuRnn::forward_into`], without blocking the executor while the GPU works.
    ///
    /// # Errors
    /// As [`GpuRnn::forward`].
    pub async fn forward_into_async(&self, input: &Input<'_>, out: &mut Output) -> Result<()> {
        self.run(input, Wait::Yield, out).await
    }

    async fn run(&self, input: &Input<'_>, wait: Wait, out: &mut Output) -> Result<()> {
        let resolved = crate::resolve::resolve(&self.model.config, &input.shapes())?;
        input.check_finite()?;
        if resolved.t == 0 || resolved.b == 0 {
            *out = crate::model::empty_output(input, &resolved)?;
            return Ok(());
        }
        self.model
            .ctx
            .inner
            .health
            .guard(self.execute(input, &resolved, wait, out))
            .await
    }

    async fn execute(
        &self,
        input: &Input<'_>,
        resolved: &Resolved,
        wait: Wait,
        out: &mut Output,
    ) -> Result<()> {
        let model = &self.model;
        let plan = model.plan(resolved)?;
        let ctx = &model.ctx;
        let (device, queue) = (&ctx.inner.device, &ctx.inner.queue);
        let (out_bytes, h_bytes, c_bytes) = (
            (plan.output_floats * 4) as u64,
            (plan.state_floats * 4) as u64,
            (plan.cell_floats * 4) as u64,
        );
        let scopes = Scopes::push(device);
        let mut cached = self
            .host_pass
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .map(|pass| *pass);
        let mut time_major = cached
            .as_mut()
            .map(|pass| std::mem::take(&mut pass.time_major))
            .unwrap_or_default();
        let host = crate::model::HostSequences::with_scratch(
            &model.config,
            input,
            resolved,
            Some(&mut time_major),
        );
        let mut pass = HostPass::new(
            model,
            cached,
            &plan,
            resolved,
            &host,
            out_bytes + h_bytes + c_bytes,
            true,
        )?;
        pass.time_major = time_major;
        let state = pass.state.as_ref().ok_or(Error::Gpu {
            operation: "running the forward pass",
            message: "the pass has no state buffers".into(),
        })?;
        let mut encoder = pass.work.record(model, state)?;
        let staging = &pass.staging;
        encoder.copy_buffer_to_buffer(pass.work.output(), 0, staging, 0, out_bytes);
        encoder.copy_buffer_to_buffer(&state.h, 0, staging, out_bytes, h_bytes);
        if c_bytes > 0 {
            encoder.copy_buffer_to_buffer(&state.c, 0, staging, out_bytes + h_bytes, c_bytes);
        }
        queue.submit([encoder.finish()]);
        scopes.pop("running the forward pass").await?;
        let (out_len, hn_len) = (plan.output_floats, plan.state_floats);
        read_back_with(device, staging, wait, |values| {
            let (output, rest) = values.split_at(out_len);
            let (h_n, rest) = rest.split_at(hn_len);
            let c_n = &rest[..plan.cell_floats];
            crate::model::write_output(&model.config, resolved, [output, h_n, c_n], out);
        })
        .await?;
        // The GPU is done with the pass: the next forward of this shape reuses it.
        if pass.worth_keeping() {
            *self.host_pass.lock().unwrap_or_else(|e| e.into_inner()) = Some(Box::new(pass));
        }
        Ok(())
    }
}
