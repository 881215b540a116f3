//! Host tensors, the arguments of a forward pass, and the shape checks done before any work.

use crate::error::{Error, Result};

/// A dense row-major `f32` tensor on the host.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    shape: Vec<usize>,
    data: Vec<f32>,
}

impl Tensor {
    /// Wraps row-major `data` of the given `shape`.
    ///
    /// # Errors
    /// [`Error::DataLength`] when `data.len()` is not the product of `shape`.
    pub fn new(shape: impl Into<Vec<usize>>, data: Vec<f32>) -> Result<Self> {
        let shape = shape.into();
        let expected = element_count("tensor", &shape)?;
        if expected != data.len() {
            return Err(Error::DataLength {
                arg: "tensor",
                shape,
                expected,
                got: data.len(),
            });
        }
        Ok(Tensor { shape, data })
    }

    /// A tensor of zeros.
    ///
    /// # Errors
    /// [`Error::TooLarge`] when the shape's element count overflows `usize`.
    pub fn zeros(shape: impl Into<Vec<usize>>) -> Result<Self> {
        let shape = shape.into();
        let n = element_count("tensor", &shape)?;
        Ok(Tensor {
            shape,
            data: vec![0.0; n],
        })
    }

    /// The shape, outermost dimension first.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The row-major values.
    pub fn data(&self) -> &[f32] {
        &self.data
    }

    /// Takes the values out.
    pub fn into_data(self) -> Vec<f32> {
        self.data
    }

    pub(crate) fn from_parts(shape: Vec<usize>, data: Vec<f32>) -> Self {
        debug_assert_eq!(shape.iter().product::<usize>(), data.len());
        Tensor { shape, data }
    }
}

pub(crate) fn element_count(what: &'static str, shape: &[usize]) -> Result<usize> {
    shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or(Error::TooLarge {
            what,
            elements: shape
                .iter()
                .map(|&d| d as u128)
                .fold(1u128, |a, d| a.saturating_mul(d)),
            limit: usize::MAX as u64,
        })
}

/// The arguments of one forward pass: `input`, and optionally `h0`, `c0` and per-sequence `lengths`.
///
/// ```
/// use wgpu_rnn::{Input, Tensor};
/// let x = Tensor::zeros([6, 3, 5])?; // (T, B, input_size)
/// let h0 = Tensor::zeros([1, 3, 7])?; // (num_layers * D, B, hidden_size)
/// let input = Input::new(&x).h0(&h0).lengths(&[6, 2, 4]);
/// # let _ = input;
/// # Ok::<(), wgpu_rnn::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Input<'a> {
    pub(crate) x: &'a Tensor,
    pub(crate) h0: Option<&'a Tensor>,
    pub(crate) c0: Option<&'a Tensor>,
    pub(crate) lengths: Option<&'a [usize]>,
    pub(crate) reject_non_finite: bool,
}

impl<'a> Input<'a> {
    /// The input sequence(s): `(T, B, I)`, `(B, T, I)` with `batch_first`, or unbatched `(T, I)`.
    pub fn new(x: &'a Tensor) -> Self {
        Input {
            x,
            h0: None,
            c0: None,
            lengths: None,
            reject_non_finite: false,
        }
    }

    /// Initial hidden state `(D*L, B, H_out)` (or `(D*L, H_out)` for unbatched input).
    pub fn h0(mut self, h0: &'a Tensor) -> Self {
        self.h0 = Some(h0);
        self
    }

    /// Initial LSTM cell state `(D*L, B, H)` (or `(D*L, H)` for unbatched input).
    pub fn c0(mut self, c0: &'a Tensor) -> Self {
        self.c0 = Some(c0);
        self
    }

    /// Valid length of each sequence, in any order, as `pack_padded_sequence(..., enforce_sorted=False)`.
    pub fn lengths(mut self, lengths: &'a [usize]) -> Self {
        self.lengths = Some(lengths);
        self
    }

    /// Rejects NaN and infinite values in `input`, `h0` and `c0` with
    /// [`Error::NonFiniteInput`] (the position of the first one) before any work. Without it,
    /// non-finite inputs propagate through the recurrence exactly as on the CPU path and in
    /// PyTorch.
    pub fn reject_non_finite(mut self) -> Self {
        self.reject_non_finite = true;
        self
    }

    pub(crate) fn check_finite(&self) -> Result<()> {
        if !self.reject_non_finite {
            return Ok(());
        }
        for (arg, tensor) in [("input", Some(self.x)), ("h0", self.h0), ("c0", self.c0)] {
            let Some(tensor) = tensor else { continue };
            if let Some(flat) = tensor.data().iter().position(|v| !v.is_finite()) {
                let mut index = vec![0; tensor.shape().len()];
                let mut rest = flat;
                for (i, &dim) in tensor.shape().iter().enumerate().rev() {
                    index[i] = rest % dim.max(1);
                    rest /= dim.max(1);
                }
                return Err(Error::NonFiniteInput {
                    arg,
                    index,
                    value: tensor.data()[flat],
                });
            }
        }
        Ok(())
    }

    /// The shapes alone, for [`RnnConfig::check`](crate::RnnConfig::check).
    pub fn shapes(&self) -> InputShapes<'a> {
        InputShapes {
            input: self.x.shape(),
            h0: self.h0.map(Tensor::shape),
            c0: self.c0.map(Tensor::shape),
            lengths: self.lengths,
        }
    }
}

/// The shapes of a forward pass's arguments, for a dry run without data.
#[derive(Clone, Copy, Debug, Default)]
pub struct InputShapes<'a> {
    /// Shape of `input`.
    pub input: &'a [usize],
    /// Shape of `h0`, if given.
    pub h0: Option<&'a [usize]>,
    /// Shape of `c0`, if given.
    pub c0: Option<&'a [usize]>,
    /// The lengths themselves, if given (their values are checked too).
    pub lengths: Option<&'a [usize]>,
}

/// What a forward pass returns, shaped as PyTorch returns it.
#[derive(Clone, Debug, PartialEq)]
pub struct Output {
    /// `(T, B, D*H_out)`, `(B, T, D*H_out)` with `batch_first`, or `(T, D*H_out)` unbatched.
    /// Zero past each sequence's length.
    pub output: Tensor,
    /// Final hidden state `(D*L, B, H_out)` (or `(D*L, H_out)`): the state at each sequence's last valid step.
    pub h_n: Tensor,
    /// Final LSTM cell state `(D*L, B, H)`; `None` for GRU and RNN.
    pub c_n: Option<Tensor>,
}

/// The output shapes a forward pass will produce, from [`RnnConfig::check`](crate::RnnConfig::check).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputShapes {
    /// Shape of `output`.
    pub output: Vec<usize>,
    /// Shape of `h_n`.
    pub h_n: Vec<usize>,
    /// Shape of `c_n` (LSTM only).
    pub c_n: Option<Vec<usize>>,
}

/// Reorders `(B, T, W)` into `(T, B, W)` (or back: the operation is its own shape-swap).
pub(crate) fn swap_batch_time(data: &[f32], d0: usize, d1: usize, width: usize) -> Vec<f32> {
    let mut out = vec![0.0; data.len()];
    for i in 0..d0 {
        for j in 0..d1 {
            let src = (i * d1 + j) * width;
            let dst = (j * d0 + i) * width;
            out[dst..dst + width].copy_from_slice(&data[src..src + width]);
        }
    }
    out
}
