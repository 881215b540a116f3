//! ONNX import: models with `LSTM`, `GRU` and `RNN` nodes and the glue exporters put around
//! them, run on the CPU or with the recurrent nodes on the GPU.
//!
//! [`OnnxModel::load`] reads an `.onnx` file and checks it whole: every operator supported,
//! every attribute valid, every value defined before use. [`OnnxModel::check`] is the dry
//! run (every node's output shape from the inputs' shapes), and [`OnnxModel::forward`]
//! runs the graph with inputs and outputs by their names in the graph.
//!
//! ## Recurrent operators
//! All of ONNX's `LSTM`, `GRU` and `RNN` (opsets 7 to 22), as onnxruntime computes them:
//! `direction` forward, reverse and bidirectional; `layout` 0 and 1; `sequence_lens`
//! (unsorted; `Y` zero past a length, `Y_h`/`Y_c` the last valid state, the reverse
//! direction walking back from each sequence's own end, a length of 0 giving zero states);
//! `initial_h`, `initial_c`; peepholes `P`; `clip`; `input_forget`; `linear_before_reset`
//! 0 and 1; `activations` with `activation_alpha`/`activation_beta`, per direction; any
//! subset of the outputs.
//!
//! Where onnxruntime and the specification differ, this crate follows onnxruntime: an
//! activation whose `alpha`/`beta` are not listed gets onnxruntime's default (LeakyRelu
//! 0.01, HardSigmoid 0.2/0.5, Elu 1.0, and 0 for ThresholdedRelu, Affine and ScaledTanh),
//! and one direction's `activations` list serves both directions of a bidirectional node.
//!
//! ## On the GPU
//! [`OnnxModel::to_gpu`] uploads every recurrent node's weights and runs it with the fused
//! kernels, every attribute included. A node whose cell is PyTorch's (default activations
//! or an RNN's Relu, no `clip`, `input_forget` or non-zero peepholes, GRU with
//! `linear_before_reset = 1`: what `torch.onnx.export` and Keras' `reset_after=True`
//! produce) runs PyTorch's cell; any other runs the kernels' general cell, and a GRU with
//! `linear_before_reset = 0` adds a dispatch per step for its reset gates (per-step kernels
//! only). Weights holding NaN or infinities are refused, naming the node. A recurrent
//! node's output stays on the GPU through the layout changes exporters put between stacked
//! nodes (`Transpose`, `Reshape`, `Squeeze`, `Unsqueeze`, `Shape`) into the next recurrent
//! node; other operators run on the host. [`OnnxModel::to_gpu_with`] stores the recurrent
//! weight matrices as f16 ([`crate::Precision`]); [`OnnxModel::with_precision`] rounds them
//! the same way on the CPU.
//!
//! ## Other operators
//! Transpose, Squeeze, Unsqueeze, Reshape, Concat, Slice, Gather, Shape, Expand,
//! ConstantOfShape, Cast, Identity, Constant, Gemm, MatMul, Add, Sub, Mul, Div, Relu, Tanh,
//! Sigmoid and Softmax. Shapes computed inside the graph (`Shape -> Gather -> Concat`) are
//! folded in the dry run; a shape that depends on input *data* is refused. Any other
//! operator is an error at load that names the node.

mod array;
mod decode;
mod device;
mod error;
mod files;
mod gpu;
mod lower;
mod model;
pub(crate) mod ops;
#[allow(missing_docs, clippy::all, rustdoc::all)]
mod proto;
mod rounding;
mod run;
mod value;

pub use decode::Dim;
pub use error::OnnxError;
pub use gpu::GpuOnnxModel;
pub use model::{OnnxModel, TensorInfo};
pub use value::{IntTensor, Value, Values};

#[cfg(test)]
mod error_tests;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod fuzz_tests;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod gpu_tests;
