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
//! let rnn = Rnn::load("gru.safetensors", &wgpu_rnn::LoadOptions { batch_first: true, ..Default::default() })?;
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
//! ## Empty work
//! `T = 0` or a batch of 0 sequences is not an error: the output is empty and `h_n`/`c_n`
//! are `h0`/`c0` (zeros when not given), since no step runs.
//!
//! [wgpu]: https://docs.rs/wgpu
#![deny(missing_docs)]

mod config;
mod cpu;
mod error;
pub mod gpu;
mod model;
mod shape;
pub mod weights;

pub use config::{Kind, RnnConfig};
pub use error::{Error, Result};
pub use gpu::{AdapterChoice, GpuContext, GpuInput, GpuOutput, GpuRnn, GpuStream, Strategy};
pub use model::Rnn;
pub use shape::{Input, InputShapes, Output, OutputShapes, Tensor};
pub use weights::{LoadOptions, TensorFile};
