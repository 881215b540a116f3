//! Dense stages around the recurrence, and whole PyTorch models built from them.
//!
//! - [`Linear`]: `nn.Linear` with PyTorch's `weight` `(out_features, in_features)` and
//!   optional `bias`, over the last dimension of a tensor of any rank.
//! - [`Activation`]: ReLU, Tanh, Sigmoid, Identity, exact at ±100 on every path.
//! - [`Stage::LastStep`]: each sequence's output at its last valid step, as PyTorch users take
//!   it: `out[torch.arange(B), lengths - 1]` (`out[:, -1]` without lengths); for a
//!   bidirectional layer the forward half at the last valid step and the reverse half at step 0
//!   (where the reverse pass ends), which equals `torch.cat([h_n[-2], h_n[-1]], dim=1)`.
//! - [`Sequential`]: an ordered list of those stages and recurrent layers that loads a whole
//!   `state_dict` (`linear.*`, `rnn.*`, `fc.*`) into a [`SequentialModel`], run on the CPU or,
//!   with every stage on the GPU and one read back per forward pass, as a [`GpuSequential`].
//!
//! ```no_run
//! use wgpu_rnn::dense::Sequential;
//! use wgpu_rnn::{GpuContext, Input, Tensor};
//!
//! // class Classifier(nn.Module):  linear = nn.Linear(30, 20); rnn = nn.LSTM(20, 20,
//! //     batch_first=True); fc = nn.Linear(20, 2); forward: fc(rnn(linear(x))[0][:, -1, :])
//! let model = Sequential::new()
//!     .batch_first(true)
//!     .linear("linear", 30, 20)
//!     .recurrent("rnn")
//!     .last_step()
//!     .linear("fc", 20, 2)
//!     .load("weights.safetensors")?;
//! let x = Tensor::zeros([32, 10, 30])?;
//! let logits = model.to_gpu(&GpuContext::new()?)?.forward(&Input::new(&x))?;
//! assert_eq!(logits.shape(), &[32, 2]);
//! # Ok::<(), wgpu_rnn::Error>(())
//! ```

mod cpu;
mod gpu;
mod gpu_pass;
mod layout;
mod linear;
mod model;
mod sequential;

pub use gpu::GpuSequential;
pub use linear::Linear;
pub use model::SequentialModel;
pub use sequential::{Sequential, Stage};

use crate::shape::Tensor;

/// An elementwise nonlinearity, as the PyTorch module of the same name.
///
/// Sigmoid and Tanh never overflow (their `exp` only sees non-positive arguments), so both
/// paths give exactly 0, 1 or ±1 at ±100 instead of NaN (gpuweb#4458). NaN inputs propagate
/// on both paths as in PyTorch, ReLU included: the GPU's ReLU decides on the float's bits, so
/// no driver can fold it into a `max` that turns NaN into 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Activation {
    /// `nn.Identity()`.
    #[default]
    Identity,
    /// `nn.ReLU()`: 0 below zero, else `x` (NaN and -0.0 stay).
    Relu,
    /// `nn.Tanh()`.
    Tanh,
    /// `nn.Sigmoid()`: `1 / (1 + exp(-x))`.
    Sigmoid,
}

impl Activation {
    /// Every activation, in the order of their GPU codes.
    pub const ALL: [Activation; 4] = [
        Activation::Identity,
        Activation::Relu,
        Activation::Tanh,
        Activation::Sigmoid,
    ];

    /// The activation of one value.
    ///
    /// ```
    /// use wgpu_rnn::dense::Activation;
    /// assert_eq!(Activation::Relu.apply(-2.0), 0.0);
    /// assert_eq!(Activation::Sigmoid.apply(100.0), 1.0);
    /// assert_eq!(Activation::Tanh.apply(100.0), 1.0);
    /// ```
    pub fn apply(self, x: f32) -> f32 {
        match self {
            Activation::Identity => x,
            // `x.max(0.0)` would turn NaN into 0; PyTorch propagates it.
            Activation::Relu => {
                if x < 0.0 {
                    0.0
                } else {
                    x
                }
            }
            Activation::Tanh => x.tanh(),
            Activation::Sigmoid => crate::cpu::sigmoid(x),
        }
    }

    /// The activation of every element (CPU).
    pub fn forward(self, x: &Tensor) -> Tensor {
        let mut data = x.data().to_vec();
        cpu::activate(&mut data, self);
        Tensor::from_parts(x.shape().to_vec(), data)
    }

    /// The PyTorch module, for messages: `nn.ReLU()`.
    pub fn torch_name(self) -> &'static str {
        match self {
            Activation::Identity => "nn.Identity()",
            Activation::Relu => "nn.ReLU()",
            Activation::Tanh => "nn.Tanh()",
            Activation::Sigmoid => "nn.Sigmoid()",
        }
    }

    /// The code `activate_one` in shaders/dense.wesl switches on.
    pub(crate) fn code(self) -> u32 {
        match self {
            Activation::Identity => 0,
            Activation::Relu => 1,
            Activation::Tanh => 2,
            Activation::Sigmoid => 3,
        }
    }
}

impl std::fmt::Display for Activation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.torch_name())
    }
}

/// `prefix` as the start of a tensor name: `fc` and `fc.` both give `fc.`; `""` stays empty.
pub(crate) fn dotted(prefix: &str) -> String {
    if prefix.is_empty() || prefix.ends_with('.') {
        prefix.to_string()
    } else {
        format!("{prefix}.")
    }
}
