//! GPU-resident I/O: input and initial state from buffers the caller owns, output left on
//! the GPU or copied into the caller's buffer, nothing read back in between.

use crate::shape::OutputShapes;

/// A forward pass's input already on the GPU: the sequences, and optionally per-sequence
/// lengths and the initial state, with the same shapes and meaning as in [`crate::Input`].
///
/// ```no_run
/// # fn demo(gpu: &wgpu_rnn::GpuRnn, x: &wgpu::Buffer, h0: &wgpu::Buffer) -> wgpu_rnn::Result<()> {
/// use wgpu_rnn::GpuInput;
/// // (T=6, B=3, input_size=4) sequences, and h0 (num_layers * D = 1, B = 3, H_out = 8).
/// let out = gpu.forward_gpu(&GpuInput::new(x, &[6, 3, 4]).lengths(&[6, 2, 4]).h0(h0, &[1, 3, 8]))?;
/// # let _ = out;
/// # Ok(())
/// # }
/// ```
///
/// Layout: little-endian `f32`, row-major, tightly packed from offset 0 of each buffer.
/// `buffer` is `(T, B, input_size)`, `(B, T, input_size)` for a `batch_first` model, or `(T,
/// input_size)` unbatched — the layout of [`GpuOutput::output`], so stacks chain without
/// leaving the GPU. It needs `BufferUsages::STORAGE` and at least `4 * T * B * input_size`
/// bytes. Every buffer must belong to the model's device.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct GpuInput<'a> {
    /// The data.
    pub buffer: &'a wgpu::Buffer,
    /// Its shape, in the model's layout (as [`crate::Input::new`]'s tensor).
    pub shape: &'a [usize],
    /// Per-sequence lengths, as in [`crate::Input::lengths`].
    pub lengths: Option<&'a [usize]>,
    /// Initial hidden state `(D*L, B, H_out)` (or `(D*L, H_out)` unbatched), as in
    /// [`crate::Input::h0`]; zeros when `None`.
    pub h0: Option<GpuState<'a>>,
    /// Initial LSTM cell state `(D*L, B, H)` (or `(D*L, H)` unbatched), as in
    /// [`crate::Input::c0`]; zeros when `None`.
    pub c0: Option<GpuState<'a>>,
}

/// An initial state on the GPU: a buffer the caller owns and the shape of what it holds
/// (little-endian `f32`, row-major, from offset 0). The pass copies it into its own state
/// on the device, so the buffer needs `BufferUsages::COPY_SRC` and at least 4 bytes per
/// element of `shape`; a [`GpuOutput::h_n`] or `c_n` has that usage, so a pass can start where
/// another ended.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct GpuState<'a> {
    /// The data.
    pub buffer: &'a wgpu::Buffer,
    /// Its shape.
    pub shape: &'a [usize],
}

impl<'a> GpuInput<'a> {
    /// The sequences in `buffer`, of shape `shape`: `(T, B, input_size)`, `(B, T,
    /// input_size)` for a `batch_first` model, or unbatched `(T, input_size)`.
    pub fn new(buffer: &'a wgpu::Buffer, shape: &'a [usize]) -> Self {
        GpuInput {
            buffer,
            shape,
            lengths: None,
            h0: None,
            c0: None,
        }
    }

    /// Per-sequence lengths, as in [`crate::Input::lengths`].
    pub fn lengths(mut self, lengths: &'a [usize]) -> Self {
        self.lengths = Some(lengths);
        self
    }

    /// Initial hidden state: `buffer` holds `(D*L, B, H_out)` (or `(D*L, H_out)` for
    /// unbatched input), `shape` says so ([`GpuState`]).
    pub fn h0(mut self, buffer: &'a wgpu::Buffer, shape: &'a [usize]) -> Self {
        self.h0 = Some(GpuState { buffer, shape });
        self
    }

    /// Initial LSTM cell state: `buffer` holds `(D*L, B, H)` (or `(D*L, H)` for unbatched
    /// input), `shape` says so ([`GpuState`]).
    pub fn c0(mut self, buffer: &'a wgpu::Buffer, shape: &'a [usize]) -> Self {
        self.c0 = Some(GpuState { buffer, shape });
        self
    }
}

/// A forward pass's results, left on the GPU. Each buffer has usage
/// `STORAGE | COPY_SRC | COPY_DST` and holds tightly packed little-endian `f32`.
#[derive(Debug)]
#[non_exhaustive]
pub struct GpuOutput {
    /// `(T, B, D*H_out)`, `(B, T, D*H_out)` for a `batch_first` model, or `(T, D*H_out)`
    /// unbatched: as [`crate::Output::output`].
    pub output: wgpu::Buffer,
    /// `(D*L, B, H_out)` (or `(D*L, H_out)`), whatever `batch_first` says.
    pub h_n: wgpu::Buffer,
    /// `(D*L, B, H)` (or `(D*L, H)`) for LSTM.
    pub c_n: Option<wgpu::Buffer>,
    /// The shapes of the three, as [`crate::RnnConfig::check`] gives them.
    pub shapes: OutputShapes,
}
