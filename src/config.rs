//! The description of a recurrent layer stack, in PyTorch's vocabulary.

use std::str::FromStr;

use crate::error::{Error, Result};
pub use crate::kind::Kind;

impl FromStr for Kind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "gru" => Ok(Kind::Gru),
            "lstm" => Ok(Kind::Lstm),
            "rnn" | "rnn-tanh" | "rnn_tanh" | "tanh" => Ok(Kind::RnnTanh),
            "rnn-relu" | "rnn_relu" | "relu" => Ok(Kind::RnnRelu),
            _ => Err(Error::UnknownKind {
                given: s.to_string(),
            }),
        }
    }
}

/// A recurrent layer stack, described exactly as the PyTorch constructor arguments.
///
/// ```
/// use wgpu_rnn::{Kind, RnnConfig};
/// // nn.LSTM(input_size=20, hidden_size=10, num_layers=2, bidirectional=True, batch_first=True)
/// let config = RnnConfig::new(Kind::Lstm, 20, 10)
///     .num_layers(2)
///     .bidirectional(true)
///     .batch_first(true);
/// config.validate()?;
/// assert_eq!(config.output_width(), 20); // D * H_out
/// # Ok::<(), wgpu_rnn::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct RnnConfig {
    /// The cell.
    pub kind: Kind,
    /// Features per timestep of the input (`I`). Need not equal `hidden_size`.
    pub input_size: usize,
    /// Features of the hidden state (`H`).
    pub hidden_size: usize,
    /// Stacked layers (`L`).
    pub num_layers: usize,
    /// Whether each layer also runs right to left (`D = 2`).
    pub bidirectional: bool,
    /// Whether the layers have `bias_ih`/`bias_hh`.
    pub bias: bool,
    /// Input and output are `(B, T, ..)` instead of `(T, B, ..)`.
    pub batch_first: bool,
    /// LSTM only: project `h` to this width (`H_out`); 0 means no projection.
    pub proj_size: usize,
}

impl RnnConfig {
    /// A single-layer, unidirectional stack with biases and time-major input, as PyTorch's defaults.
    pub fn new(kind: Kind, input_size: usize, hidden_size: usize) -> Self {
        RnnConfig {
            kind,
            input_size,
            hidden_size,
            num_layers: 1,
            bidirectional: false,
            bias: true,
            batch_first: false,
            proj_size: 0,
        }
    }

    setters! {
        /// Sets `num_layers`.
        num_layers: usize;
        /// Sets `bidirectional`.
        bidirectional: bool;
        /// Sets `bias`.
        bias: bool;
        /// Sets `batch_first`.
        batch_first: bool;
        /// Sets `proj_size` (LSTM only; 0 for none).
        proj_size: usize;
    }

    /// Number of directions `D`: 2 when bidirectional, else 1.
    pub fn num_directions(&self) -> usize {
        if self.bidirectional {
            2
        } else {
            1
        }
    }

    /// Width of `h` (`H_out`): `proj_size` when set, else `hidden_size`.
    pub fn state_width(&self) -> usize {
        if self.proj_size > 0 {
            self.proj_size
        } else {
            self.hidden_size
        }
    }

    /// Width of each output timestep: `D * H_out`.
    pub fn output_width(&self) -> usize {
        // Saturating: an absurd configuration must reach `validate`'s error, not overflow.
        self.num_directions().saturating_mul(self.state_width())
    }

    /// Input width of layer `layer`: `input_size` for layer 0, `D * H_out` above it.
    pub fn layer_input_size(&self, layer: usize) -> usize {
        if layer == 0 {
            self.input_size
        } else {
            self.output_width()
        }
    }

    /// Rows of `weight_ih`/`weight_hh`: gates times `hidden_size`.
    pub fn gate_rows(&self) -> usize {
        self.kind.gate_count().saturating_mul(self.hidden_size)
    }

    /// Checks the configuration on its own (sizes non-zero, `proj_size` legal).
    ///
    /// # Errors
    /// [`Error::ZeroSize`] for a zero `input_size`, `hidden_size` or `num_layers`;
    /// [`Error::ProjSize`] when `proj_size` is set on a GRU/RNN or is not below `hidden_size`.
    pub fn validate(&self) -> Result<()> {
        for (field, value) in [
            ("input_size", self.input_size),
            ("hidden_size", self.hidden_size),
            ("num_layers", self.num_layers),
        ] {
            if value == 0 {
                return Err(Error::ZeroSize { field });
            }
        }
        if self.proj_size > 0 && (self.kind != Kind::Lstm || self.proj_size >= self.hidden_size) {
            return Err(Error::ProjSize {
                kind: self.kind,
                proj_size: self.proj_size,
                hidden_size: self.hidden_size,
            });
        }
        // Every size we index with must fit the u32 arithmetic of the kernels (computed in
        // u128: the sizes themselves may be absurd).
        let rows = self.kind.gate_count() as u128 * self.hidden_size as u128;
        let width = (self.input_size as u128)
            .max(self.num_directions() as u128 * self.state_width() as u128);
        let elements = rows.saturating_mul(width);
        if elements > (u32::MAX / 4) as u128 {
            return Err(Error::TooLarge {
                what: "a weight matrix",
                elements,
                limit: u32::MAX as u64 / 4,
            });
        }
        // `num_layers * num_directions` states are stacked in `h0` and `h_n`.
        if self.num_layers.checked_mul(self.num_directions()).is_none() {
            return Err(Error::TooLarge {
                what: "the stack of states (num_layers * num_directions)",
                elements: self.num_layers as u128 * self.num_directions() as u128,
                limit: usize::MAX as u64,
            });
        }
        Ok(())
    }
}
