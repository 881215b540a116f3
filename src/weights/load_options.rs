//! How to read a PyTorch `state_dict` whose configuration is inferred from the tensors.

use crate::config::Kind;

/// How to read a PyTorch `state_dict` whose configuration is inferred from the tensors.
///
/// ```
/// use wgpu_rnn::{Kind, LoadOptions};
/// let options = LoadOptions::default().prefix("encoder.rnn").kind(Kind::RnnRelu).batch_first(true);
/// assert_eq!(options.prefix.as_deref(), Some("encoder.rnn"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoadOptions {
    /// The common prefix of the recurrent module's names (`rnn.` or `encoder.lstm.`); found
    /// automatically when `None` and exactly one recurrent module is in the file. A missing
    /// trailing `.` is added.
    pub prefix: Option<String>,
    /// The kind, when it cannot be inferred: RNN weights look the same for tanh and relu
    /// (`RnnTanh` is assumed). When given for GRU/LSTM it is checked against the tensors.
    pub kind: Option<Kind>,
    /// Whether input and output are batch-first (not stored in a `state_dict`).
    pub batch_first: bool,
}

impl LoadOptions {
    /// Sets the prefix of the recurrent module's names ([`LoadOptions::prefix`](#structfield.prefix)).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }

    /// Sets the kind, for RNN weights that do not say whether they are tanh or relu.
    pub fn kind(mut self, kind: Kind) -> Self {
        self.kind = Some(kind);
        self
    }

    setters! {
        /// Sets whether input and output are batch-first.
        batch_first: bool;
    }
}
