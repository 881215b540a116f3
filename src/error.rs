//! The one error type of the crate: structured fields to match on, a `Display` to read.

use std::path::PathBuf;

use crate::error_hints::{
    batched_layout, flattened_message, proj_message, rank_hint, reshape_hint, state_hint,
    swapped_message, zero_meaning, Shape,
};
use crate::kind::Kind;

/// A shorthand for `std::result::Result<T, wgpu_rnn::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong, checked on the host before any GPU work where possible.
///
/// Every variant carries the facts (argument, expected and actual values) as fields, and its
/// `Display` is a complete sentence with the most likely fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A size in the configuration is zero.
    #[error("`{field}` is 0; a recurrent layer needs at least one {field_meaning}. Set `{field}` to a positive number.", field_meaning = zero_meaning(field))]
    #[non_exhaustive]
    ZeroSize {
        /// `input_size`, `hidden_size` or `num_layers`.
        field: &'static str,
    },
    /// `proj_size` is set where PyTorch forbids it.
    #[error("{}", proj_message(*kind, *proj_size, *hidden_size))]
    #[non_exhaustive]
    ProjSize {
        /// The configured cell.
        kind: Kind,
        /// The `proj_size` given.
        proj_size: usize,
        /// The `hidden_size` given.
        hidden_size: usize,
    },
    /// A kind name that is none of `gru`, `lstm`, `rnn-tanh`, `rnn-relu`.
    #[error("unknown recurrent kind `{given}`; expected one of gru, lstm, rnn-tanh, rnn-relu")]
    #[non_exhaustive]
    UnknownKind {
        /// What was given.
        given: String,
    },
    /// Sizes so large that their element count overflows what the kernels can index.
    #[error("{what} would hold {elements} elements, more than the {limit} this crate can index; reduce the sizes")]
    #[non_exhaustive]
    TooLarge {
        /// What would be too large.
        what: &'static str,
        /// Its element count.
        elements: u128,
        /// The largest count supported.
        limit: u64,
    },
    /// A tensor's data does not have as many elements as its shape says.
    #[error("`{arg}` has shape {} ({expected} elements) but {got} values were given; the data must be the row-major contents of that shape", Shape(shape))]
    #[non_exhaustive]
    DataLength {
        /// Which argument.
        arg: &'static str,
        /// The shape given.
        shape: Vec<usize>,
        /// Elements the shape implies.
        expected: usize,
        /// Values given.
        got: usize,
    },
    /// The input is not 2-D (unbatched) or 3-D (batched).
    #[error("`input` has shape {} ({} dimension{}); a recurrent layer takes a 3-D batched input {} or a 2-D unbatched input (T, input_size={input_size}){}", Shape(shape), shape.len(), if shape.len() == 1 { "" } else { "s" }, batched_layout(*batch_first, *input_size), rank_hint(shape, *input_size))]
    #[non_exhaustive]
    InputRank {
        /// The input's shape.
        shape: Vec<usize>,
        /// The model's `input_size`.
        input_size: usize,
        /// The model's `batch_first`.
        batch_first: bool,
    },
    /// The input's last dimension is not `input_size`.
    #[error("`input` has {got} features per timestep (shape {}{}), but the model was built with input_size={expected}. input_size is the width of each timestep's feature vector; it need not equal hidden_size. Build the model with input_size={got}, or map your {got} features to {expected} (for example with a linear layer) before the recurrent layer{}", Shape(shape), if shape.len() == 2 { ", read as one unbatched sequence (T, input_size)" } else { "" }, reshape_hint(shape, *expected))]
    #[non_exhaustive]
    InputSize {
        /// The model's `input_size`.
        expected: usize,
        /// The input's last dimension.
        got: usize,
        /// The input's shape.
        shape: Vec<usize>,
    },
    /// A 2-D input (one unbatched sequence) next to a state or lengths for a whole batch.
    #[error("{}", flattened_message(shape, arg, *batch, *batch_first))]
    #[non_exhaustive]
    FlattenedBatch {
        /// The input's shape.
        shape: Vec<usize>,
        /// The argument that has a batch dimension (`h0`, `c0` or `lengths`).
        arg: &'static str,
        /// The batch size it implies.
        batch: usize,
        /// The model's `batch_first`.
        batch_first: bool,
    },
    /// The input fits only with the other `batch_first`: its batch and time axes are swapped.
    #[error("{}", swapped_message(shape, arg, *batch, *batch_first))]
    #[non_exhaustive]
    BatchTimeSwapped {
        /// The input's shape.
        shape: Vec<usize>,
        /// The argument whose batch size matches the other axis.
        arg: &'static str,
        /// The batch size it implies.
        batch: usize,
        /// The model's `batch_first`.
        batch_first: bool,
    },
    /// `h0` or `c0` has the wrong shape.
    #[error(
        "`{arg}` has shape {}, expected {} = (num_layers * num_directions, {}{width_name}){}",
        Shape(got),
        Shape(expected),
        if expected.len() == 3 { "batch, " } else { "" },
        state_hint(got, expected)
    )]
    #[non_exhaustive]
    StateShape {
        /// `h0` or `c0`.
        arg: &'static str,
        /// The shape the input and configuration call for.
        expected: Vec<usize>,
        /// The shape given.
        got: Vec<usize>,
        /// What the last dimension is (`hidden_size` or `proj_size`).
        width_name: &'static str,
    },
    /// A state was given that this kind does not have (`c0` for a GRU or RNN).
    #[error("`{arg}` was given, but {} has no cell state; only LSTM takes `c0`. Pass `h0` alone", kind.torch_name())]
    #[non_exhaustive]
    UnexpectedState {
        /// The argument.
        arg: &'static str,
        /// The configured cell.
        kind: Kind,
    },
    /// `lengths` does not have one entry per sequence.
    #[error("`lengths` has {got} entries but the batch holds {expected} sequences; give exactly one length per sequence")]
    #[non_exhaustive]
    LengthsCount {
        /// The batch size.
        expected: usize,
        /// The number of lengths given.
        got: usize,
    },
    /// A length is 0 or longer than the padded sequence.
    #[error("`lengths[{index}]` is {length}, but every length must be between 1 and T={max} (the padded sequence length); {}", if *length == 0 { "drop empty sequences from the batch (PyTorch rejects them too)" } else { "a sequence cannot be longer than the input's time axis" })]
    #[non_exhaustive]
    LengthOutOfRange {
        /// Which sequence.
        index: usize,
        /// Its length.
        length: usize,
        /// The padded length `T`.
        max: usize,
    },
    /// A length read from a file is negative or not an integer type.
    #[error("`lengths` {reason}")]
    #[non_exhaustive]
    LengthsType {
        /// What is wrong.
        reason: String,
    },
    /// A weight tensor the configuration needs is missing.
    #[error(
        "weight `{name}` is missing; a {kind} with this configuration needs it with shape {}",
        Shape(expected)
    )]
    #[non_exhaustive]
    MissingWeight {
        /// Full tensor name.
        name: String,
        /// The cell.
        kind: Kind,
        /// The shape it must have.
        expected: Vec<usize>,
    },
    /// A file of forward-pass arguments ([`crate::weights::SavedInput`]) without `input`.
    #[error("the file has no tensor named `input` (it holds: {}); save the input sequence(s) as `input`, and `h0`, `c0`, `lengths` where used", if held.is_empty() { "no tensors".to_string() } else { held.join(", ") })]
    #[non_exhaustive]
    MissingInput {
        /// The names the file holds.
        held: Vec<String>,
    },
    /// A tensor under the model's prefix that the configuration does not use.
    #[error("weight `{name}` is not part of a {kind} with {num_layers} layer(s){}; check num_layers/bidirectional/bias/proj_size, or the prefix", if *bidirectional { ", bidirectional" } else { "" })]
    #[non_exhaustive]
    UnexpectedWeight {
        /// Full tensor name.
        name: String,
        /// The cell.
        kind: Kind,
        /// Configured layers.
        num_layers: usize,
        /// Configured directions.
        bidirectional: bool,
    },
    /// A weight tensor has the wrong shape.
    #[error(
        "weight `{name}` has shape {}, expected {} ({meaning})",
        Shape(got),
        Shape(expected)
    )]
    #[non_exhaustive]
    WeightShape {
        /// Full tensor name.
        name: String,
        /// The shape the configuration implies.
        expected: Vec<usize>,
        /// The shape found.
        got: Vec<usize>,
        /// What the dimensions mean.
        meaning: String,
    },
    /// A weight is NaN or infinite.
    #[error("weight `{name}` holds {value} at flat index {index} (row {row}, column {col}); weights must be finite")]
    #[non_exhaustive]
    NonFiniteWeight {
        /// Full tensor name.
        name: String,
        /// Flat index.
        index: usize,
        /// Row of the first bad value.
        row: usize,
        /// Column of the first bad value.
        col: usize,
        /// The value.
        value: f32,
    },
    /// A weight is beyond the range of the precision the model is stored in
    /// ([`Precision`](crate::Precision)): stored, it would be infinite.
    #[error("weight `{name}` holds {value} at flat index {index}, beyond {precision}'s range (|w| <= 65504); keep this model in Precision::F32")]
    #[non_exhaustive]
    WeightRange {
        /// Full tensor name.
        name: String,
        /// Flat index of the first value out of range.
        index: usize,
        /// The value.
        value: f32,
        /// The precision asked for.
        precision: crate::Precision,
    },
    /// A tensor in a file has a dtype this crate cannot use.
    #[error("tensor `{name}` has dtype {dtype}, expected {expected}")]
    #[non_exhaustive]
    Dtype {
        /// Tensor name.
        name: String,
        /// The dtype found.
        dtype: String,
        /// What is accepted.
        expected: &'static str,
    },
    /// The tensors do not describe a recurrent stack this crate can infer.
    #[error("cannot infer the recurrent configuration: {reason}")]
    #[non_exhaustive]
    InferConfig {
        /// Why.
        reason: String,
    },
    /// A `.safetensors` file could not be parsed.
    #[error("{} is not a valid .safetensors file: {reason}", path.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "the data".into()))]
    #[non_exhaustive]
    Safetensors {
        /// The file, when loaded from one.
        path: Option<PathBuf>,
        /// The parser's explanation.
        reason: String,
    },
    /// Tensors that cannot be written as one `.safetensors` file
    /// ([`save_safetensors`](crate::weights::save_safetensors)); nothing was written.
    #[error("cannot save {} as .safetensors{}: {reason}; nothing was written", path.display(), tensor.as_ref().map(|t| format!(" (tensor `{t}`)")).unwrap_or_default())]
    #[non_exhaustive]
    Serialize {
        /// The file that was to be written.
        path: PathBuf,
        /// The tensor at fault, when one is.
        tensor: Option<String>,
        /// What is wrong, and what to do about it.
        reason: String,
    },
    /// A file could not be read or written.
    #[error("cannot access {}: {source}", path.display())]
    #[non_exhaustive]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// No GPU adapter was found.
    #[error("no GPU adapter found ({reason}); {hint}")]
    #[non_exhaustive]
    NoAdapter {
        /// What wgpu said.
        reason: String,
        /// What to do about it, natively or in a browser.
        hint: &'static str,
    },
    /// The adapter refused to create a device.
    #[error("the GPU adapter refused to create a device: {reason}")]
    #[non_exhaustive]
    RequestDevice {
        /// What wgpu said.
        reason: String,
    },
    /// The work does not fit a limit of the device.
    #[error("{what} needs {needed}{unit} but the device allows at most {limit}{unit} (limit `{limit_name}`); {hint}", unit = if limit_name.ends_with("_size") { " bytes" } else { "" })]
    #[non_exhaustive]
    DeviceLimit {
        /// What would exceed the limit.
        what: String,
        /// The wgpu limit's name.
        limit_name: &'static str,
        /// The limit's value.
        limit: u64,
        /// What the work needs.
        needed: u64,
        /// What to reduce.
        hint: String,
    },
    /// The GPU device was lost (driver reset, `Device::destroy`, unplugged GPU).
    #[error("the GPU device was lost ({reason}); create a new GpuContext and upload the model again with Rnn::to_gpu")]
    #[non_exhaustive]
    DeviceLost {
        /// What wgpu reported.
        reason: String,
    },
    /// An input value is NaN or infinite (only with [`crate::Input::reject_non_finite`]).
    #[error("`{arg}` holds {value} at index {}; inputs must be finite (NaN and infinities otherwise propagate through the recurrence as in PyTorch)", Shape(index))]
    #[non_exhaustive]
    NonFiniteInput {
        /// `input`, `h0` or `c0`.
        arg: &'static str,
        /// The multi-dimensional index of the first non-finite value.
        index: Vec<usize>,
        /// The value.
        value: f32,
    },
    /// A stream chunk's batch differs from the batch the stream was opened for.
    #[error("this stream was opened for a batch of {expected} sequences, but the chunk holds {got}; every chunk must carry all {expected} slots (open one stream per batch size)")]
    #[non_exhaustive]
    StreamBatch {
        /// The stream's batch.
        expected: usize,
        /// The chunk's batch.
        got: usize,
    },
    /// A stream slot index past the batch.
    #[error("slot {slot} does not exist: the stream has {batch} slots (0..{batch})")]
    #[non_exhaustive]
    SlotOutOfRange {
        /// The slot asked for.
        slot: usize,
        /// The stream's batch.
        batch: usize,
    },
    /// A caller's `wgpu::Buffer` cannot be used as given.
    #[error("the `{arg}` buffer {problem}")]
    #[non_exhaustive]
    GpuBuffer {
        /// Which buffer.
        arg: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// A tensor converted to an array of the wrong rank.
    #[error("a tensor of shape {} is {}-D, not {expected}-D", Shape(shape), shape.len())]
    #[non_exhaustive]
    TensorRank {
        /// The rank asked for.
        expected: usize,
        /// The tensor's shape.
        shape: Vec<usize>,
    },
    /// A dense or [`crate::dense::Sequential`] stage receives a different number of features
    /// than it was built for.
    #[error("{layer} expects {field}={expected}, but {from} {got} features; each stage's input width must equal the width of what feeds it (the stage before it, or the input's last dimension)")]
    #[non_exhaustive]
    FeatureWidth {
        /// The stage, e.g. "stage 1 `rnn` (nn.LSTM(25, 20))".
        layer: String,
        /// Its input-width parameter (`in_features` or `input_size`).
        field: &'static str,
        /// The width it was built for.
        expected: usize,
        /// What feeds it, as the subject of a sentence ("stage 0 `linear` (...) outputs").
        from: String,
        /// The width it receives.
        got: usize,
    },
    /// The stages of a [`crate::dense::Sequential`] cannot run in this order.
    #[error("stage {index} {stage} cannot be used here: {problem}")]
    #[non_exhaustive]
    StageOrder {
        /// Its position, from 0.
        index: usize,
        /// The stage, e.g. "`rnn` (recurrent)" or "(last step)".
        stage: String,
        /// Why not.
        problem: String,
    },
    /// A tensor a dense stage needs is not in the file.
    #[error("tensor `{name}` is missing: {needed_by} needs it with shape {}; the file holds {}", Shape(expected), if prefixes.is_empty() { "no tensors".to_string() } else { format!("tensors under {}", prefixes.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", ")) })]
    #[non_exhaustive]
    MissingTensor {
        /// Full tensor name.
        name: String,
        /// The stage that needs it.
        needed_by: String,
        /// The shape it must have.
        expected: Vec<usize>,
        /// The module prefixes in the file (`linear.`, `rnn.`, ...), sorted.
        prefixes: Vec<String>,
    },
    /// Tensors that no stage of a strict [`crate::dense::Sequential`] uses.
    #[error("the file holds {} tensor(s) that no stage uses: {}; add the stages they belong to (or fix the prefixes), or load with Sequential::strict(false) to ignore them, as load_state_dict(strict=False) does", names.len(), names.iter().take(12).map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ") + if names.len() > 12 { ", ..." } else { "" })]
    #[non_exhaustive]
    UnusedTensors {
        /// Their names, sorted.
        names: Vec<String>,
    },
    /// A feature or option cannot be used with this model.
    #[error("{what} is not supported: {reason}")]
    #[non_exhaustive]
    Unsupported {
        /// What was asked for.
        what: String,
        /// Why not, and what to use instead.
        reason: String,
    },
    /// An ONNX file that cannot be read or run, or inputs that do not fit its graph.
    #[cfg(feature = "onnx")]
    #[error(transparent)]
    Onnx(#[from] crate::onnx::OnnxError),
    /// wgpu reported an error (device lost, out of memory, validation) during GPU work.
    #[error("GPU error during {operation}: {message}")]
    #[non_exhaustive]
    Gpu {
        /// What the crate was doing.
        operation: &'static str,
        /// What wgpu said.
        message: String,
    },
}
