//! The recurrent cell kinds, as in PyTorch: apart from the configuration so that errors can
//! name a kind without depending on the configuration that raises them.

use std::fmt;

/// Which recurrent cell a stack uses, as in `torch.nn.GRU`, `torch.nn.LSTM` and `torch.nn.RNN`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Kind {
    /// `torch.nn.GRU`: gate rows `[r | z | n]`.
    Gru,
    /// `torch.nn.LSTM`: gate rows `[i | f | g | o]`, optional `proj_size`.
    Lstm,
    /// `torch.nn.RNN(nonlinearity="tanh")`, PyTorch's default Elman RNN.
    RnnTanh,
    /// `torch.nn.RNN(nonlinearity="relu")`.
    RnnRelu,
}

impl Kind {
    /// Number of gate blocks stacked in `weight_ih`/`weight_hh` (4 for LSTM, 3 for GRU, 1 for RNN).
    pub fn gate_count(self) -> usize {
        match self {
            Kind::Lstm => 4,
            Kind::Gru => 3,
            Kind::RnnTanh | Kind::RnnRelu => 1,
        }
    }

    /// The name used on the command line and in errors: `gru`, `lstm`, `rnn-tanh`, `rnn-relu`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Gru => "gru",
            Kind::Lstm => "lstm",
            Kind::RnnTanh => "rnn-tanh",
            Kind::RnnRelu => "rnn-relu",
        }
    }

    /// The PyTorch module this kind mirrors, for messages.
    pub fn torch_name(self) -> &'static str {
        match self {
            Kind::Gru => "nn.GRU",
            Kind::Lstm => "nn.LSTM",
            Kind::RnnTanh => "nn.RNN(nonlinearity='tanh')",
            Kind::RnnRelu => "nn.RNN(nonlinearity='relu')",
        }
    }

    /// Whether this kind carries a cell state `c` next to `h`.
    pub fn has_cell_state(self) -> bool {
        self == Kind::Lstm
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
