//! # wgpu-rnn
//!
//! GRU, LSTM and Elman RNN inference on any GPU that [wgpu] reaches (Vulkan, Metal, DX12, GL),
//! with PyTorch's semantics and weights, a CPU reference path, and shape errors that say what
//! to fix before any GPU work starts.
//!
//! ```no_run
//! use wgpu_rnn::{GpuContext, Input, Kind, Rnn, RnnConfig, Tensor};
//!
//! // nn.GRU(input_size=3, hidden_size=20, batch_first=True), weights from a state_dict.
//! let rnn = Rnn::load("gru.safetensors", &wgpu_rnn::LoadOptions::default().batch_first(true))?;
//! let x = Tensor::new([4, 50, 3], vec![0.1; 4 * 50 * 3])?; // (B, T, input_size)
//!
//! let gpu = rnn.to_gpu(&GpuContext::new()?)?;   // weights uploaded once
//! let out = gpu.forward(&Input::new(&x).lengths(&[50, 17, 33, 2]))?;
//! assert_eq!(out.output.shape(), &[4, 50, 20]);   // zero past each sequence's length
//! assert_eq!(out.h_n.shape(), &[1, 4, 20]);       // state at each sequence's last step
//!
//! let reference = rnn.forward(&Input::new(&x).lengths(&[50, 17, 33, 2]))?; // CPU path
//! # let _ = reference;
//! # Ok::<(), wgpu_rnn::Error>(())
//! ```
//!
//! ## Semantics
//! Exactly `torch.nn.GRU`, `torch.nn.LSTM` (with `proj_size`) and `torch.nn.RNN`: the same
//! gate order, weight names and shapes, `batch_first`, unbatched `(T, input_size)` input,
//! `h0`/`c0`, and variable lengths as `pack_padded_sequence(..., enforce_sorted=False)`
//! followed by `pad_packed_sequence`. `input_size` and `hidden_size` are independent.
//!
//! ## Whole models
//! [`Sequential`] describes a PyTorch model as its stages (`nn.Linear`, the recurrent stack,
//! the last step, activations) and loads its whole `state_dict`; the GPU path keeps every
//! stage's data on the GPU. See [`dense`] and `examples/classify.rs`.
//!
//! ## Empty work
//! `T = 0` or a batch of 0 sequences is not an error: the output is empty and `h_n`/`c_n`
//! are `h0`/`c0` (zeros when not given), since no step runs.
//!
//! ## Guide
//! See [`guide`] for the shapes of every input and output in every layout next to their
//! PyTorch equivalents, the dry run ([`RnnConfig::check`]), and a table of the errors with
//! what to do about each.
//!
//! ## On the GPU
//! - [`GpuContext`] holds the device, queue and compiled kernels: from the default adapter
//!   ([`GpuContext::new`]), a software adapter ([`GpuContext::software`]), or a device your
//!   application owns ([`GpuContext::from_device`]). Create one per device and share it.
//! - [`Rnn::to_gpu`] uploads the weights once; [`GpuRnn::forward`] blocks,
//!   [`GpuRnn::forward_async`] awaits the GPU: the task sleeps until the results are mapped
//!   (natively a helper thread waits in `device.poll`; in a browser the page runs the
//!   callback). On `wasm32` (WebGPU) only the async forms exist.
//! - [`Rnn::to_gpu_with`] with [`Precision::F16`] stores every weight matrix as f16 (state and
//!   arithmetic stay f32): half the device memory and half the bytes a step reads, on every
//!   adapter (no `shader-f16` needed). [`Rnn::with_precision`] gives the CPU reference the
//!   same rounding.
//! - [`GpuRnn::stream`] opens a [`GpuStream`]: feed timesteps as they arrive, the state stays
//!   on the GPU, and the outputs equal one call over the whole sequence. A stream shares the
//!   model's weights and borrows nothing, so an application keeps both in one struct.
//! - Inputs are borrowed: a `&Tensor`, or a [`TensorView`] of any `&[f32]` with a shape.
//!   [`GpuStream::push_into`] and [`GpuRnn::forward_into`] write into the caller's output and
//!   reuse their buffers, so a steady real-time loop allocates nothing for its data.
//! - [`GpuRnn::forward_gpu`] takes a [`GpuInput`] (buffers you own: the input, optionally
//!   `h0`/`c0`) and leaves a [`GpuOutput`] on the GPU, in the same shapes and layouts as a
//!   host forward (`batch_first` included), so stacks and your own passes chain without a
//!   read back.
//! - Every shape, length and weight is checked on the host first; device limits are checked
//!   before any buffer is created; wgpu errors, device loss and out-of-memory come back as
//!   [`Error`] values, never panics.
//!
//! ## Performance
//! The input projection of all timesteps runs as one register-blocked GEMM per chunk; the
//! recurrence runs either one fused dispatch per timestep (each workgroup owns a few hidden
//! units with all their gate rows for a block of up to 8 sequences, and its invocations split
//! the matrix-vector product and reduce it with subgroup operations where the device has
//! them), for narrow layers one
//! workgroup per block of sequences that loops over a chunk of timesteps, or for stacks of
//! unidirectional layers one dispatch per step of every layer at once, a wavefront
//! ([`Strategy`]; chosen automatically; they agree to float rounding, and each one gives a
//! sequence the same bits in any batch). Long
//! sequences are submitted in bounded chunks with the state kept on the GPU. See
//! `BENCHMARKS.md` in the repository for measurements. [`gpu::plan_lines`] prints, without
//! running anything, which kernels a pass runs on a device profile and what each step reads.
//!
//! ## Features
//! - `onnx` (default): load ONNX files with LSTM, GRU and RNN nodes and the glue exporters
//!   put around them ([`onnx::OnnxModel`]).
//! - `ndarray`: build inputs from `ndarray` views and take outputs as arrays
//!   (`ndarray_interop`).
//!
//! [wgpu]: https://docs.rs/wgpu
#![deny(missing_docs)]
// In a browser (wasm32) wgpu's handles are neither Send nor Sync, and nothing runs on another
// thread: the Arcs that share them natively are plain reference counts there.
#![cfg_attr(target_arch = "wasm32", allow(clippy::arc_with_non_send_sync))]

/// Builder methods that each set one field: `$(#[doc] name: Type;)*` becomes
/// `pub fn name(mut self, name: Type) -> Self`.
macro_rules! setters {
    ($($(#[$attr:meta])* $name:ident: $ty:ty;)*) => {
        $(
            $(#[$attr])*
            pub fn $name(mut self, $name: $ty) -> Self {
                self.$name = $name;
                self
            }
        )*
    };
}

mod config;
mod cpu;
pub mod dense;
mod error;
mod error_hints;
pub mod gpu;
pub mod guide;
mod kind;
mod model;
#[cfg(feature = "ndarray")]
pub mod ndarray_interop;
#[cfg(feature = "onnx")]
pub mod onnx;
mod precision;
mod resolve;
mod shape;
pub mod weights;

pub use config::{Kind, RnnConfig};
pub use dense::{Activation, GpuSequential, Linear, Sequential, SequentialModel};
pub use error::{Error, Result};
pub use gpu::{
    AdapterChoice, GpuContext, GpuInput, GpuOutput, GpuRnn, GpuState, GpuStream, Strategy,
};
pub use model::Rnn;
pub use precision::Precision;
pub use shape::{Input, InputShapes, Output, OutputShapes, Tensor, TensorView};
pub use weights::{LoadOptions, TensorFile};
