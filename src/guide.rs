//! # Guide: shapes, PyTorch equivalents, and what to do about each error
//!
//! This page has no code of its own. It collects, in one place, the shape of every argument
//! and result in every layout next to its PyTorch counterpart, how to check shapes without
//! running anything (the *dry run*), and a table of the errors with what to do about each.
//!
//! ## Notation
//!
//! | Symbol  | Meaning                                                         | PyTorch docs call it |
//! |---------|-----------------------------------------------------------------|----------------------|
//! | `T`     | timesteps per sequence (the padded length)                      | `L`                  |
//! | `B`     | sequences in the batch                                          | `N`                  |
//! | `I`     | `input_size`: features of each timestep of the input            | `H_in`               |
//! | `H`     | `hidden_size`: units of the hidden (and LSTM cell) state        | `H_cell` / `H_out`   |
//! | `H_out` | `proj_size` when set (LSTM only), else `hidden_size`            | `H_out`              |
//! | `L`     | `num_layers`                                                    | `num_layers`         |
//! | `D`     | 2 when `bidirectional`, else 1                                  | `D`                  |
//! | `G`     | gate blocks: 3 for GRU (r, z, n), 4 for LSTM (i, f, g, o), 1 for RNN | —               |
//!
//! **`input_size` need not equal `hidden_size`.** `I` is the width of *your data*, `H` the width
//! of the state the layer keeps; they are independent, in PyTorch and here. `nn.GRU(3, 20)`
//! reads 3 features per step and keeps 20 hidden units, with a `weight_ih_l0` of shape
//! `(60, 3)`. There is no need to pad or project the input to `hidden_size`; layers above the
//! first read the `D * H_out` features of the layer below, and that is automatic.
//!
//! ## Building a model: PyTorch side by side
//!
//! | PyTorch                                                    | wgpu-rnn                                                                        |
//! |------------------------------------------------------------|---------------------------------------------------------------------------------|
//! | `nn.GRU(3, 20, num_layers=2, batch_first=True)`            | `RnnConfig::new(Kind::Gru, 3, 20).num_layers(2).batch_first(true)`             |
//! | `nn.LSTM(10, 20, proj_size=5, bidirectional=True)`         | `RnnConfig::new(Kind::Lstm, 10, 20).proj_size(5).bidirectional(true)`          |
//! | `nn.RNN(4, 8, nonlinearity='relu', bias=False)`            | `RnnConfig::new(Kind::RnnRelu, 4, 8).bias(false)`                              |
//! | `model.load_state_dict(torch.load(...))`                   | [`Rnn::load`] on a `safetensors.torch.save_file` of the `state_dict`            |
//! | the tensors of a `state_dict`                              | [`Rnn::from_tensors`]`(config, [(name, shape, values), ...])`                   |
//! | `out, h_n = gru(x)`                                        | `let out = rnn.forward(&Input::new(&x))?;` then `out.output`, `out.h_n`         |
//! | `out, h_n = gru(x, h0)`                                    | `rnn.forward(&Input::new(&x).h0(&h0))?`                                          |
//! | `out, (h_n, c_n) = lstm(x, (h0, c0))`                      | `rnn.forward(&Input::new(&x).h0(&h0).c0(&c0))?`, then `out.c_n`                 |
//! | `pack_padded_sequence(x, lengths, enforce_sorted=False)`   | `Input::new(&x).lengths(&lengths)` (any order)                                  |
//! | `model.cuda()`                                             | `let gpu = rnn.to_gpu(&GpuContext::new()?)?;` then `gpu.forward(...)` alike     |
//!
//! ## Shapes of every argument and result
//!
//! | Argument / result          | time-major (default)  | `batch_first = true`  | unbatched (2-D input) | PyTorch                                                   |
//! |----------------------------|-----------------------|-----------------------|-----------------------|-----------------------------------------------------------|
//! | `input`                    | `(T, B, I)`           | `(B, T, I)`           | `(T, I)`              | `input`: `(L, N, H_in)`, `(N, L, H_in)`, `(L, H_in)`       |
//! | `h0` (optional)            | `(L*D, B, H_out)`     | `(L*D, B, H_out)`     | `(L*D, H_out)`        | `h_0`                                                     |
//! | `c0` (optional, LSTM only) | `(L*D, B, H)`         | `(L*D, B, H)`         | `(L*D, H)`            | `c_0`                                                     |
//! | `lengths` (optional)       | `B` values in `1..=T` | `B` values in `1..=T` | one value in `1..=T`  | the `lengths` of `pack_padded_sequence`                   |
//! | `output`                   | `(T, B, D*H_out)`     | `(B, T, D*H_out)`     | `(T, D*H_out)`        | `output` (packed: `pad_packed_sequence(.., total_length=T)`) |
//! | `h_n`                      | `(L*D, B, H_out)`     | `(L*D, B, H_out)`     | `(L*D, H_out)`        | `h_n`                                                     |
//! | `c_n` (LSTM only)          | `(L*D, B, H)`         | `(L*D, B, H)`         | `(L*D, H)`            | `c_n`                                                     |
//!
//! - States are never batch-first, in PyTorch or here: `batch_first` only changes `input`
//!   and `output`.
//! - The `L*D` states are stacked layer by layer, forward direction first:
//!   `[l0, l0_reverse, l1, l1_reverse, ...]`.
//! - With `lengths`, `output` is zero past each sequence's length, and `h_n`/`c_n` hold each
//!   sequence's state at its own last step (the reverse direction starts at that step), exactly
//!   as with a packed sequence. Without `lengths`, every sequence runs all `T` steps.
//! - A 2-D input is always one unbatched sequence `(T, I)`, as in PyTorch, whatever
//!   `batch_first` says. A batch must be 3-D.
//! - Data already on the GPU takes the same shapes: [`GpuInput::new`]`(&buffer, &shape)` with
//!   `.lengths(..)`, `.h0(&buffer, &shape)` and `.c0(&buffer, &shape)` for
//!   [`GpuRnn::forward_gpu`], whose [`GpuOutput`] holds `output`, `h_n` and `c_n` in the
//!   layouts above (`batch_first` included) and says their shapes in `shapes`. Shape errors
//!   are the same as for host tensors.
//!
//! ## Weights
//!
//! Names and shapes are those of the PyTorch `state_dict` (any common prefix, such as
//! `encoder.rnn.`, is found by [`Rnn::load`] or given in [`LoadOptions::prefix`]).
//!
//! | Tensor                              | Shape                                          | Present when            |
//! |-------------------------------------|------------------------------------------------|-------------------------|
//! | `weight_ih_l0`                      | `(G*H, I)`                                     | always                  |
//! | `weight_ih_l{k}`, `k > 0`           | `(G*H, D*H_out)`                               | `num_layers > k`        |
//! | `weight_hh_l{k}`                    | `(G*H, H_out)`                                 | always                  |
//! | `bias_ih_l{k}`, `bias_hh_l{k}`      | `(G*H,)`                                       | `bias = true`           |
//! | `weight_hr_l{k}`                    | `(proj_size, H)`                               | LSTM with `proj_size`   |
//! | the same names with `_reverse`      | the same shapes                                | `bidirectional = true`  |
//!
//! Every layer and direction of a stack shares `H` (and `proj_size`): a `state_dict` whose
//! layers disagree is rejected with [`Error::WeightShape`] naming the first tensor that does.
//!
//! ## The dry run
//!
//! [`RnnConfig::check`] takes the shapes alone ([`InputShapes`]); [`Rnn::check`] takes the
//! same [`Input`] a forward pass takes. Both return the [`OutputShapes`] a forward pass will
//! produce, or the error it would return, without any data, weights or GPU. The forward
//! passes run exactly these checks first, so a call that passes the dry run fails later only
//! for reasons that need the values or a device: [`Error::NonFiniteInput`] (when asked for),
//! [`Error::DeviceLimit`], [`Error::DeviceLost`], [`Error::Gpu`].
//!
//! ```
//! use wgpu_rnn::{Error, InputShapes, Kind, RnnConfig};
//!
//! // nn.GRU(input_size=3, hidden_size=20, num_layers=2, batch_first=True)
//! let gru = RnnConfig::new(Kind::Gru, 3, 20).num_layers(2).batch_first(true);
//! let shapes = gru.check(
//!     &InputShapes::new(&[32, 50, 3]) // (B, T, I)
//!         .h0(&[2, 32, 20]),           // (L*D, B, H)
//! )?;
//! assert_eq!(shapes.output, [32, 50, 20]);
//! assert_eq!(shapes.h_n, [2, 32, 20]);
//! assert_eq!(shapes.c_n, None);
//!
//! // A batch of 32 sequences of 50 steps, flattened to (1600, 3) by mistake. Alone, a 2-D
//! // input is one unbatched sequence of 1600 steps (valid, as in PyTorch); next to an h0 for
//! // 32 sequences it is recognised, and the message says which reshape fixes it.
//! let err = gru
//!     .check(&InputShapes::new(&[1600, 3]).h0(&[2, 32, 20]))
//!     .unwrap_err();
//! assert!(matches!(err, Error::FlattenedBatch { batch: 32, .. }));
//! assert!(err.to_string().contains("reshape the input to (32, 50, 3)"));
//! # Ok::<(), Error>(())
//! ```
//!
//! ## Matching on an error
//!
//! Every variant of [`Error`] carries its facts as fields. [`Error`] is `#[non_exhaustive]`,
//! so a `match` needs a catch-all arm. Here, the last batch of a dataset is shorter than the
//! batch the state was kept for:
//!
//! ```
//! use wgpu_rnn::{Error, Input, Kind, Rnn, RnnConfig, Tensor};
//!
//! let config = RnnConfig::new(Kind::Gru, 3, 20).batch_first(true);
//! let rnn = Rnn::from_fn(config, |_, shape| vec![0.01; shape.iter().product()])?;
//!
//! let h0 = Tensor::zeros([1, 32, 20])?;  // kept from the full batches of 32
//! let last = Tensor::zeros([8, 50, 3])?; // the last batch holds 8 sequences
//! let out = match rnn.forward(&Input::new(&last).h0(&h0)) {
//!     Ok(out) => out,
//!     Err(Error::StateShape { arg: "h0", expected, got, .. }) => {
//!         assert_eq!((expected.as_slice(), got.as_slice()), (&[1, 8, 20][..], &[1, 32, 20][..]));
//!         // Slice the state to the batch (here: the first 8 of 32 sequences of the one
//!         // layer), or pass no h0 to start from zeros.
//!         let h0 = Tensor::new(expected, h0.data()[..8 * 20].to_vec())?;
//!         rnn.forward(&Input::new(&last).h0(&h0))?
//!     }
//!     Err(other) => return Err(other),
//! };
//! assert_eq!(out.output.shape(), &[8, 50, 20]);
//! # Ok::<(), Error>(())
//! ```
//!
//! ## Empty work
//!
//! `T = 0` or `B = 0` is not an error: no step runs, `output` is empty (with the shape of the
//! table above) and `h_n`/`c_n` are `h0`/`c0`, or zeros when they were not given. The shapes
//! are still checked.
//!
//! ## Errors and what to do about them
//!
//! Shape, state, length and configuration errors come from the dry run and from the first
//! thing every forward pass does; weight errors come from building a model; device errors
//! from [`Rnn::to_gpu`] and the GPU forward pass. Every message names the argument and the
//! numbers involved.
//!
//! | Error                         | When                                                                                       | What to do                                                                                                            |
//! |-------------------------------|--------------------------------------------------------------------------------------------|-----------------------------------------------------------------------------------------------------------------------|
//! | [`Error::InputSize`]          | the input's last dimension is not `input_size`                                             | build the model with `input_size` = your feature count, or map your features to `input_size` (a linear layer) first. It need not equal `hidden_size`. For a 2-D input, the message suggests a reshape when the values divide into rows of `input_size` |
//! | [`Error::InputRank`]          | the input is neither 2-D `(T, I)` nor 3-D                                                   | reshape: a 1-D input of one sequence to `(T, I)`; merge extra leading dimensions into the batch                      |
//! | [`Error::FlattenedBatch`]     | a 2-D input next to an `h0`, `c0` or `lengths` for a batch of several sequences             | the batch was flattened into rows: reshape to `(T, B, I)` or `(B, T, I)`; the message gives the exact shape           |
//! | [`Error::BatchTimeSwapped`]   | a 3-D input whose batch size matches `h0`/`c0`/`lengths` only on the other axis             | set `batch_first` the other way, or transpose the input's first two axes                                              |
//! | [`Error::StateShape`]         | `h0` or `c0` is not `(L*D, B, H_out)` / `(L*D, B, H)` (2-D for unbatched input)             | a short last batch: slice the state to `B` or pass none; 2-D vs 3-D: match the input's rank; check `num_layers * D` and `proj_size` |
//! | [`Error::UnexpectedState`]    | `c0` given to a GRU or RNN                                                                 | pass `h0` alone: only LSTM has a cell state                                                                           |
//! | [`Error::LengthsCount`]       | `lengths` does not have one entry per sequence                                             | give exactly `B` lengths (one for unbatched input)                                                                    |
//! | [`Error::LengthOutOfRange`]   | a length is 0 or greater than `T`                                                          | drop empty sequences (PyTorch rejects them too); pad the input to the longest length                                   |
//! | [`Error::LengthsType`]        | lengths read from a file are negative or not 1-D                                           | save them as a 1-D `torch.int64` tensor of positive lengths                                                           |
//! | [`Error::DataLength`]         | a tensor's values do not fill its shape                                                    | pass the row-major values of exactly that shape                                                                       |
//! | [`Error::ZeroSize`]           | `input_size`, `hidden_size` or `num_layers` is 0                                           | set it to a positive number                                                                                           |
//! | [`Error::ProjSize`]           | `proj_size` on a GRU/RNN, or `proj_size >= hidden_size`                                     | use `proj_size = 0` for GRU/RNN; a `proj_size` below `hidden_size` for LSTM. From a file: a `weight_hr_l*` that does not belong |
//! | [`Error::TooLarge`]           | a size whose element count overflows, or a buffer beyond the kernels' 32-bit indexing      | reduce the sizes; split long sequences into calls, passing `h_n` back as `h0`                                         |
//! | [`Error::MissingWeight`]      | a tensor the configuration needs is absent                                                 | check `num_layers`, `bidirectional`, `bias`, `proj_size` (or the file's prefix)                                       |
//! | [`Error::MissingInput`]       | a file of saved arguments has no `input`                                                   | save the sequence(s) as `input` (and `h0`, `c0`, `lengths` where used)                                                |
//! | [`Error::UnexpectedWeight`]   | a tensor the configuration does not use                                                    | the same: the configuration has fewer layers/directions/biases than the weights                                      |
//! | [`Error::WeightShape`]        | a tensor's shape is not the one the configuration implies                                  | the message explains each dimension; every layer of a stack shares `hidden_size`                                     |
//! | [`Error::NonFiniteWeight`]    | a weight is NaN or infinite (tensor, flat index, row and column are reported)              | fix the checkpoint (a diverged training run?)                                                                        |
//! | [`Error::WeightRange`]        | with `Precision::F16`, a weight above f16's largest value, 65504 (tensor and flat index are reported) | upload with `Precision::F32` (or rescale that layer in the checkpoint)                                              |
//! | [`Error::Dtype`]              | a tensor in a file has an unusable dtype                                                   | weights and inputs: F32, F64, F16 or BF16; lengths: I64 or I32                                                        |
//! | [`Error::InferConfig`]        | a file holds no recurrent module, several (which one?), none under the given prefix, or gate rows that contradict [`LoadOptions::kind`] | give [`LoadOptions::prefix`] (the message lists the prefixes found) or the right kind          |
//! | [`Error::Safetensors`], [`Error::Io`] | a file is not valid `.safetensors`, or cannot be read or written                   | check the path and that the file was saved with `safetensors.torch.save_file`                                         |
//! | [`Error::Serialize`]          | [`save_safetensors`](crate::weights::save_safetensors) was given a name twice, a tensor named `__metadata__`, or a header over the format's 100 MB | give each tensor its own name (not `__metadata__`); shorten the metadata or split the tensors into several files |
//! | [`Error::UnknownKind`]        | a kind name that is none of `gru`, `lstm`, `rnn-tanh`, `rnn-relu`                          | use one of those                                                                                                      |
//! | [`Error::NonFiniteInput`]     | NaN or infinity in `input`, `h0` or `c0`, only with [`Input::reject_non_finite`]           | clean the data; without that option non-finite values propagate as in PyTorch                                        |
//! | [`Error::DeviceLimit`]        | a buffer (a weight matrix, the input, the output) is larger than a limit of the device; the message names the limit and its value | reduce `hidden_size`/`input_size`, or split the batch or the sequence into calls (pass `h_n` back as `h0`); the CPU path has no such limit |
//! | [`Error::NoAdapter`], [`Error::RequestDevice`] | no GPU adapter, or it refused a device                                   | install a Vulkan/Metal/DX12 driver (Linux without a GPU: `mesa-vulkan-drivers`), or use the CPU path ([`Rnn::forward`]) |
//! | [`Error::DeviceLost`]         | the GPU device was lost                                                                    | create a new [`GpuContext`] and upload the model again                                                                 |
//! | [`Error::Gpu`]                | wgpu reported an error during GPU work (out of memory, validation)                         | out of memory: smaller batches; anything else is a bug in this crate, please report it                               |
//! | [`Error::Unsupported`]        | an option this model cannot use, such as [`Strategy::Sequence`] with `hidden_size > 1024`, or [`Strategy::Wavefront`] for a bidirectional layer | the message says why and names the alternative ([`Strategy::Auto`] or [`Strategy::PerStep`])                         |
//!
//! Variants not listed belong to other parts of the API (streams, caller-owned buffers); the
//! documentation of each variant on [`Error`] says when it occurs.

#[allow(unused_imports)] // for the links above
use crate::{
    Error, GpuContext, GpuInput, GpuOutput, GpuRnn, Input, InputShapes, LoadOptions, OutputShapes,
    Rnn, RnnConfig, Strategy,
};
