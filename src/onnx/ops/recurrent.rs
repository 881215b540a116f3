//! ONNX's `LSTM`, `GRU` and `RNN` operators (opsets 7 to 22) on the CPU, written from the
//! operator specification and checked against onnxruntime's outputs.
//!
//! Inputs: `X, W, R, B, sequence_lens, initial_h, initial_c, P` (the last two LSTM only);
//! outputs: `Y, Y_h, Y_c`. Gate orders are ONNX's: LSTM `i o f c`, GRU `z r h`.

use crate::onnx::array::{Array, Elem, Val};
use crate::onnx::ops::activation::{Activation, NAMES};
use crate::onnx::ops::attrs::Attrs;
use crate::onnx::ops::{node_error, Meta};
use crate::onnx::OnnxError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cell {
    Lstm,
    Gru,
    Rnn,
}

impl Cell {
    /// Gate blocks in W and R.
    pub fn gates(self) -> usize {
        match self {
            Cell::Lstm => 4,
            Cell::Gru => 3,
            Cell::Rnn => 1,
        }
    }

    /// Activation functions per direction (f, g, h).
    pub(super) fn activation_count(self) -> usize {
        match self {
            Cell::Lstm => 3,
            Cell::Gru => 2,
            Cell::Rnn => 1,
        }
    }

    fn defaults(self) -> &'static [Activation] {
        match self {
            Cell::Lstm => &[Activation::Sigmoid, Activation::Tanh, Activation::Tanh],
            Cell::Gru => &[Activation::Sigmoid, Activation::Tanh],
            Cell::Rnn => &[Activation::Tanh],
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    Forward,
    Reverse,
    Bidirectional,
}

impl Direction {
    pub fn count(self) -> usize {
        if self == Direction::Bidirectional {
            2
        } else {
            1
        }
    }

    /// Whether direction slot `d` walks time backwards.
    pub fn backwards(self, d: usize) -> bool {
        self == Direction::Reverse || d == 1
    }
}

/// A recurrent node's attributes.
#[derive(Clone, Debug)]
pub(crate) struct Recurrent {
    pub cell: Cell,
    pub hidden_size: Option<usize>,
    pub direction: Direction,
    /// 1: `X` and `Y` batch-major, and the states `[batch, num_directions, hidden]`.
    pub batch_major: bool,
    /// `activation_count()` functions per direction, directions one after the other.
    pub activations: Vec<Activation>,
    pub clip: Option<f32>,
    pub input_forget: bool,
    pub linear_before_reset: bool,
}

/// The sizes of one run.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Dims {
    pub t: usize,
    pub b: usize,
    pub i: usize,
    pub h: usize,
    pub d: usize,
}

impl Recurrent {
    pub(super) fn parse(cell: Cell, a: &Attrs) -> Result<Recurrent, OnnxError> {
        let direction = match a.string("direction")?.as_deref().unwrap_or("forward") {
            "forward" => Direction::Forward,
            "reverse" => Direction::Reverse,
            "bidirectional" => Direction::Bidirectional,
            other => {
                return Err(a.error(format!(
                    "direction `{other}` is none of forward, reverse, bidirectional"
                )))
            }
        };
        let hidden_size = match a.int("hidden_size")? {
            Some(h) if h > 0 => Some(h as usize),
            Some(h) => return Err(a.error(format!("hidden_size {h} must be positive"))),
            None => None,
        };
        let layout = a.int_or("layout", 0)?;
        if layout != 0 && layout != 1 {
            return Err(a.error(format!("layout {layout} is neither 0 nor 1")));
        }
        let per = cell.activation_count();
        let activations = match a.strings("activations")? {
            None => cell.defaults().repeat(direction.count()),
            Some(names) => {
                let alphas = a.floats("activation_alpha")?.unwrap_or_default();
                let betas = a.floats("activation_beta")?.unwrap_or_default();
                let list =
                    Activation::parse_list(&names, &alphas, &betas).map_err(|e| match e {
                        OnnxError::Node { reason, .. } => a.error(reason),
                        other => other,
                    })?;
                if list.len() == per * direction.count() {
                    list
                } else if list.len() == per && direction == Direction::Bidirectional {
                    // onnxruntime accepts one direction's list for both.
                    list.repeat(2)
                } else {
                    return Err(a.error(format!(
                        "`activations` lists {} functions; a {direction:?} {cell:?} needs {} ({per} per direction, from {NAMES})",
                        list.len(),
                        per * direction.count()
                    )));
                }
            }
        };
        let clip = match a.float("clip")? {
            Some(c) if c > 0.0 => Some(c),
            Some(c) => return Err(a.error(format!("clip {c} must be positive"))),
            None => None,
        };
        let input_forget = a.int_or("input_forget", 0)? != 0;
        if input_forget && cell != Cell::Lstm {
            return Err(a.error("input_forget is an LSTM attribute"));
        }
        let linear_before_reset = a.int_or("linear_before_reset", 0)? != 0;
        if linear_before_reset && cell != Cell::Gru {
            return Err(a.error("linear_before_reset is a GRU attribute"));
        }
        Ok(Recurrent {
            cell,
            hidden_size,
            direction,
            batch_major: layout == 1,
            activations,
            clip,
            input_forget,
            linear_before_reset,
        })
    }

    /// Checks every input's shape (index as in the operator's input list) and returns the sizes.
    pub fn dims(&self, shapes: &[Option<&[usize]>], label: &str) -> Result<Dims, OnnxError> {
        let need = |i: usize, name: &str| {
            shapes
                .get(i)
                .copied()
                .flatten()
                .ok_or_else(|| node_error(label, format!("input {name} is required")))
        };
        let x = need(0, "X")?;
        let w = need(1, "W")?;
        let r = need(2, "R")?;
        if x.len() != 3 {
            return Err(node_error(
                label,
                format!(
                    "X must be 3-D ({}), got {x:?}",
                    if self.batch_major {
                        "[batch, seq, input]"
                    } else {
                        "[seq, batch, input]"
                    }
                ),
            ));
        }
        let (t, b, i) = if self.batch_major {
            (x[1], x[0], x[2])
        } else {
            (x[0], x[1], x[2])
        };
        let d = self.direction.count();
        let g = self.cell.gates();
        let h = match (self.hidden_size, r.get(2)) {
            (Some(h), _) => h,
            (None, Some(&h)) => h,
            (None, None) => return Err(node_error(label, format!("R must be 3-D, got {r:?}"))),
        };
        if h > super::MAX_ELEMENTS || i > super::MAX_ELEMENTS {
            return Err(node_error(
                label,
                format!(
                    "hidden_size {h} or input_size {i} is beyond any model this crate can hold"
                ),
            ));
        }
        let expect = |name: &str, got: &[usize], want: Vec<usize>| {
            if got == want.as_slice() {
                Ok(())
            } else {
                Err(node_error(label, format!("{name} has shape {got:?}; with {d} direction(s), hidden_size {h}, input_size {i} and batch {b} it must be {want:?}")))
            }
        };
        expect("W", w, vec![d, g * h, i])?;
        expect("R", r, vec![d, g * h, h])?;
        if let Some(s) = shapes.get(3).copied().flatten() {
            expect("B", s, vec![d, 2 * g * h])?;
        }
        if let Some(s) = shapes.get(4).copied().flatten() {
            expect("sequence_lens", s, vec![b])?;
        }
        let state = if self.batch_major {
            vec![b, d, h]
        } else {
            vec![d, b, h]
        };
        if let Some(s) = shapes.get(5).copied().flatten() {
            expect("initial_h", s, state.clone())?;
        }
        if let Some(s) = shapes.get(6).copied().flatten() {
            expect("initial_c", s, state)?;
        }
        if let Some(s) = shapes.get(7).copied().flatten() {
            expect("P", s, vec![d, 3 * h])?;
        }
        Ok(Dims { t, b, i, h, d })
    }

    /// Output shapes `Y`, `Y_h`, `Y_c` (the last for LSTM only).
    pub fn output_shapes(&self, n: Dims) -> Vec<Vec<usize>> {
        let (y, state) = if self.batch_major {
            (vec![n.b, n.t, n.d, n.h], vec![n.b, n.d, n.h])
        } else {
            (vec![n.t, n.d, n.b, n.h], vec![n.d, n.b, n.h])
        };
        let mut out = vec![y, state.clone()];
        if self.cell == Cell::Lstm {
            out.push(state);
        }
        out
    }

    pub(super) fn infer(
        &self,
        inputs: &[Option<&Meta>],
        label: &str,
    ) -> Result<Vec<Meta>, OnnxError> {
        for (i, m) in inputs.iter().enumerate() {
            if let Some(m) = m {
                let want = if i == 4 { Elem::Int } else { Elem::Float };
                if m.elem != want {
                    return Err(node_error(
                        label,
                        format!(
                            "input {i} must be {}",
                            if want == Elem::Int {
                                "integer"
                            } else {
                                "floating point"
                            }
                        ),
                    ));
                }
            }
        }
        let shapes: Vec<Option<&[usize]>> = inputs
            .iter()
            .map(|m| m.map(|m| m.shape.as_slice()))
            .collect();
        let dims = self.dims(&shapes, label)?;
        if let Some(Some(Meta {
            value: Some(Val::I(lens)),
            ..
        })) = inputs.get(4)
        {
            lengths(Some(lens), dims, label)?;
        }
        Ok(self
            .output_shapes(dims)
            .into_iter()
            .map(|s| Meta::unknown(Elem::Float, s))
            .collect())
    }
}

/// Each sequence's length: `sequence_lens` checked against `seq_length`, or all full.
pub(super) fn lengths(
    lens: Option<&Array<i64>>,
    n: Dims,
    label: &str,
) -> Result<Vec<usize>, OnnxError> {
    match lens {
        None => Ok(vec![n.t; n.b]),
        Some(l) => l
            .data
            .iter()
            .enumerate()
            .map(|(b, &len)| {
                usize::try_from(len)
                    .ok()
                    .filter(|&len| len <= n.t)
                    .ok_or_else(|| node_error(label, format!("sequence_lens[{b}] = {len} is outside 0..={} (the sequence length)", n.t)))
            })
            .collect(),
    }
}
