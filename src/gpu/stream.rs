//! Streaming: a stateful session that takes a batch's timesteps as they arrive.

use std::sync::Arc;

use super::buffers::{read_back, read_back_with, Wait};
use super::device_model::DeviceModel;
use super::host_pass::HostPass;
use super::scopes::Scopes;
use super::workspace::StateBuffers;
use crate::error::{Error, Result};
use crate::model::HostSequences;
use crate::shape::{swap_batch_time_into, InputShapes, Tensor, TensorView};

/// A session over one batch of streams: feed chunks of any number of timesteps, the state
/// stays on the GPU between them, and the outputs equal one call over the concatenation.
///
/// ```no_run
/// use wgpu_rnn::{GpuContext, Kind, Rnn, RnnConfig, Tensor};
/// let rnn = Rnn::from_fn(RnnConfig::new(Kind::Gru, 40, 256), |_, s| vec![0.01; s.iter().product()])?;
/// let gpu = rnn.to_gpu(&GpuContext::new()?)?;
/// let mut stream = gpu.stream(2)?; // two concurrent streams (batch slots)
/// for frame in 0..100 {
///     let chunk = Tensor::new([1, 2, 40], vec![frame as f32 * 0.01; 80])?; // (T=1, B, I)
///     let out = stream.push(&chunk)?; // (1, 2, 256)
///     # let _ = out;
///     if frame == 50 {
///         stream.reset_slot(1)?; // a new utterance starts in slot 1; slot 0 carries on
///     }
/// }
/// # Ok::<(), wgpu_rnn::Error>(())
/// ```
pub struct GpuStream {
    /// Shared with the [`GpuRnn`](super::GpuRnn) that opened it.
    model: Arc<DeviceModel>,
    batch: usize,
    state: StateBuffers,
    /// The last chunk's buffers, for the next chunk of as many steps.
    pass: Option<HostPass>,
    /// Kept between chunks so that a steady loop allocates nothing for its data: the lengths
    /// (all full) and a batch-first chunk made time-major.
    lengths: Vec<usize>,
    time_major: Vec<f32>,
}

impl std::fmt::Debug for GpuStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuStream")
            .field("batch", &self.batch)
            .finish_non_exhaustive()
    }
}

impl GpuStream {
    /// Opens a session of `model` for `batch` concurrent sequences, starting from zero
    /// state ([`GpuRnn::stream`](super::GpuRnn::stream)).
    pub(crate) fn open(model: Arc<DeviceModel>, batch: usize) -> Result<Self> {
        if model.config.bidirectional {
            return Err(Error::Unsupported {
                what: "streaming a bidirectional model".into(),
                reason: "the reverse direction reads the sequence from its end; run whole sequences with forward()".into(),
            });
        }
        if batch == 0 {
            return Err(Error::Unsupported {
                what: "a stream of 0 sequences".into(),
                reason: "open the stream with the number of concurrent sequences (at least 1)"
                    .into(),
            });
        }
        let (h, c) = zero_state(&model, batch);
        let hint = "use a smaller batch";
        model
            .ctx
            .check_buffer("the stream state h", (h.len() * 4) as u64, hint)?;
        model
            .ctx
            .check_buffer("the stream state c", (c.len() * 4) as u64, hint)?;
        let scopes = Scopes::push(&model.ctx.inner.device);
        let state = StateBuffers::upload(&model.ctx, &h, &c);
        scopes.settle("opening a stream")?;
        Ok(GpuStream {
            model,
            batch,
            state,
            pass: None,
            lengths: Vec::new(),
            time_major: Vec::new(),
        })
    }
}

impl GpuStream {
    /// The number of concurrent sequences (batch slots).
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Runs the next `chunk` of timesteps: `(T, B, I)`, or `(B, T, I)` with `batch_first`
    /// (or `(T, I)` when the stream has one slot), and returns its output in the same layout.
    ///
    /// # Errors
    /// The shape errors of a forward pass; [`Error::StreamBatch`] when the chunk's batch is not
    /// the stream's; GPU errors as in [`GpuRnn::forward`](super::GpuRnn::forward).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn push<'a>(&mut self, chunk: impl Into<TensorView<'a>>) -> Result<Tensor> {
        let mut out = Tensor::default();
        pollster::block_on(self.run(chunk.into(), Wait::Block, &mut out))?;
        Ok(out)
    }

    /// As [`GpuStream::push`], writing the output into `out` (which takes its shape): a loop
    /// that passes the same `out` for chunks of one shape allocates no memory for its data.
    ///
    /// ```no_run
    /// use wgpu_rnn::{GpuContext, Kind, Rnn, RnnConfig, Tensor, TensorView};
    /// let rnn = Rnn::from_fn(RnnConfig::new(Kind::Lstm, 40, 128), |_, s| vec![0.01; s.iter().product()])?;
    /// let mut stream = rnn.to_gpu(&GpuContext::new()?)?.stream(1)?;
    /// let (mut frame, mut out) = ([0.0f32; 40], Tensor::default());
    /// for _ in 0..1000 {
    ///     // ... fill `frame` from the microphone ...
    ///     stream.push_into(TensorView::new(&[1, 1, 40], &frame)?, &mut out)?; // (1, 1, 128)
    ///     # frame[0] += 1.0;
    /// }
    /// # Ok::<(), wgpu_rnn::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`GpuStream::push`]; `out` is unspecified after an error.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn push_into<'a>(
        &mut self,
        chunk: impl Into<TensorView<'a>>,
        out: &mut Tensor,
    ) -> Result<()> {
        pollster::block_on(self.run(chunk.into(), Wait::Block, out))
    }

    /// As [`GpuStream::push`], without blocking the executor while the GPU works.
    ///
    /// # Errors
    /// As [`GpuStream::push`].
    pub async fn push_async<'a>(&mut self, chunk: impl Into<TensorView<'a>>) -> Result<Tensor> {
        let mut out = Tensor::default();
        self.run(chunk.into(), Wait::Yield, &mut out).await?;
        Ok(out)
    }

    /// As [`GpuStream::push_into`], without blocking the executor while the GPU works.
    ///
    /// # Errors
    /// As [`GpuStream::push`].
    pub async fn push_into_async<'a>(
        &mut self,
        chunk: impl Into<TensorView<'a>>,
        out: &mut Tensor,
    ) -> Result<()> {
        self.run(chunk.into(), Wait::Yield, out).await
    }

    async fn run(&mut self, chunk: TensorView<'_>, wait: Wait, out: &mut Tensor) -> Result<()> {
        let model = &*self.model;
        let shapes = InputShapes {
            input: chunk.shape(),
            ..Default::default()
        };
        let resolved = crate::resolve::resolve(&model.config, &shapes)?;
        if resolved.b != self.batch {
            return Err(Error::StreamBatch {
                expected: self.batch,
                got: resolved.b,
            });
        }
        if resolved.t == 0 {
            let input = crate::Input::new(chunk);
            *out = crate::model::empty_output(&input, &resolved)?.output;
            return Ok(());
        }
        // The arguments in the time-major layout the kernels read, in buffers kept across
        // chunks; the state is the stream's own, so no h0/c0.
        let (t, b) = (resolved.t, resolved.b);
        self.lengths.clear();
        self.lengths.resize(b, t);
        let x = if resolved.batched && model.config.batch_first {
            self.time_major.resize(chunk.data().len(), 0.0);
            swap_batch_time_into(
                chunk.data(),
                b,
                t,
                model.config.input_size,
                &mut self.time_major,
            );
            &self.time_major[..]
        } else {
            chunk.data()
        };
        let host = HostSequences {
            x: x.into(),
            lengths: self.lengths[..].into(),
            h0: (&[][..]).into(),
            c0: (&[][..]).into(),
        };
        let plan = model.plan(&resolved)?;
        let cached = self.pass.take();
        let state = &self.state;
        let work = async {
            let (device, queue) = (&model.ctx.inner.device, &model.ctx.inner.queue);
            let scopes = Scopes::push(device);
            let bytes = (plan.output_floats * 4) as u64;
            let pass = HostPass::new(model, cached, &plan, &resolved, &host, bytes, false)?;
            let mut encoder = pass.work.record(model, state)?;
            encoder.copy_buffer_to_buffer(pass.work.output(), 0, &pass.staging, 0, bytes);
            queue.submit([encoder.finish()]);
            scopes.pop("running a stream chunk").await?;
            read_back_with(device, &pass.staging, wait, |output| {
                crate::model::write_sequence(&model.config, &resolved, output, out);
            })
            .await?;
            Ok(pass)
        };
        let pass = model.ctx.inner.health.guard(work).await?;
        // The next chunk of as many steps reuses the buffers.
        self.pass = pass.worth_keeping().then_some(pass);
        Ok(())
    }

    /// Sets every slot back to zero state.
    ///
    /// # Errors
    /// GPU errors (a lost device).
    pub fn reset(&mut self) -> Result<()> {
        self.clear(None)
    }

    /// Sets one slot back to zero state (a new stream starts there); the others continue.
    ///
    /// # Errors
    /// [`Error::SlotOutOfRange`] when `slot >= batch`; GPU errors.
    pub fn reset_slot(&mut self, slot: usize) -> Result<()> {
        if slot >= self.batch {
            return Err(Error::SlotOutOfRange {
                slot,
                batch: self.batch,
            });
        }
        self.clear(Some(slot))
    }

    fn clear(&mut self, slot: Option<usize>) -> Result<()> {
        let model = &*self.model;
        let c = &model.config;
        let stacked = c.num_layers * c.num_directions();
        let device = &model.ctx.inner.device;
        let scopes = Scopes::push(device);
        let mut encoder = device.create_command_encoder(&Default::default());
        for (buffer, width) in [
            (&self.state.h, c.state_width()),
            (&self.state.c, c.hidden_size),
        ] {
            if buffer.size() < (stacked * self.batch * width * 4) as u64 {
                continue; // the placeholder c of a GRU/RNN
            }
            let row = (width * 4) as u64;
            match slot {
                None => encoder.clear_buffer(buffer, 0, None),
                Some(k) => {
                    for s in 0..stacked {
                        encoder.clear_buffer(
                            buffer,
                            ((s * self.batch + k) as u64) * row,
                            Some(row),
                        );
                    }
                }
            }
        }
        model.ctx.inner.queue.submit([encoder.finish()]);
        scopes.settle("resetting stream state")
    }

    /// Reads the current state back: `h (D*L, B, H_out)` and, for LSTM, `c (D*L, B, H)`.
    ///
    /// # Errors
    /// GPU errors.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn state(&self) -> Result<(Tensor, Option<Tensor>)> {
        pollster::block_on(self.read_state(Wait::Block))
    }

    /// As [`GpuStream::state`], without blocking the executor while the GPU works.
    ///
    /// # Errors
    /// As [`GpuStream::state`].
    pub async fn state_async(&self) -> Result<(Tensor, Option<Tensor>)> {
        self.read_state(Wait::Yield).await
    }

    async fn read_state(&self, wait: Wait) -> Result<(Tensor, Option<Tensor>)> {
        let model = &*self.model;
        let cfg = &model.config;
        let (h, c) = zero_state(model, self.batch);
        let (h_bytes, c_bytes) = ((h.len() * 4) as u64, (c.len() * 4) as u64);
        let device = &model.ctx.inner.device;
        let scopes = Scopes::push(device);
        let staging = model
            .ctx
            .staging("stream state read back", h_bytes + c_bytes);
        let mut encoder = device.create_command_encoder(&Default::default());
        encoder.copy_buffer_to_buffer(&self.state.h, 0, &staging, 0, h_bytes);
        if c_bytes > 0 {
            encoder.copy_buffer_to_buffer(&self.state.c, 0, &staging, h_bytes, c_bytes);
        }
        model.ctx.inner.queue.submit([encoder.finish()]);
        scopes.pop("reading stream state").await?;
        let values = read_back(device, &staging, wait).await?;
        let stacked = cfg.num_layers * cfg.num_directions();
        let h = Tensor::new(
            [stacked, self.batch, cfg.state_width()],
            values[..h.len()].to_vec(),
        )?;
        let c = (c_bytes > 0)
            .then(|| {
                Tensor::new(
                    [stacked, self.batch, cfg.hidden_size],
                    values[h.data().len()..].to_vec(),
                )
            })
            .transpose()?;
        Ok((h, c))
    }

    /// Replaces the state with host values: `h (D*L, B, H_out)` and, for LSTM, `c (D*L, B, H)`
    /// (`None` leaves `c` as it is).
    ///
    /// # Errors
    /// [`Error::StateShape`] for wrong shapes, [`Error::UnexpectedState`] for `c` on a GRU/RNN.
    pub fn set_state(&mut self, h: &Tensor, c: Option<&Tensor>) -> Result<()> {
        let model = &*self.model;
        let cfg = &model.config;
        let stacked = cfg.num_layers * cfg.num_directions();
        crate::resolve::check_states(
            cfg,
            ["h", "c"],
            Some(h.shape()),
            c.map(Tensor::shape),
            &[stacked, self.batch],
        )?;
        let queue = &model.ctx.inner.queue;
        let scopes = Scopes::push(&model.ctx.inner.device);
        queue.write_buffer(&self.state.h, 0, bytemuck::cast_slice(h.data()));
        if let Some(c) = c {
            queue.write_buffer(&self.state.c, 0, bytemuck::cast_slice(c.data()));
        }
        queue.submit([]);
        scopes.settle("setting stream state")
    }
}

/// Zero h and c for `batch` sequences of every layer and direction of `model`.
fn zero_state(model: &DeviceModel, batch: usize) -> (Vec<f32>, Vec<f32>) {
    let c = &model.config;
    let stacked = c.num_layers * c.num_directions();
    let cell = if c.kind.has_cell_state() {
        stacked * batch * c.hidden_size
    } else {
        0
    };
    (
        vec![0.0; stacked * batch * c.state_width()],
        vec![0.0; cell],
    )
}
