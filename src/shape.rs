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

    /// A borrowed view of the same shape and values.
    pub fn view(&self) -> TensorView<'_> {
        TensorView {
            shape: &self.shape,
            data: &self.data,
        }
    }

    pub(crate) fn from_parts(shape: Vec<usize>, data: Vec<f32>) -> Self {
        debug_assert_eq!(shape.iter().product::<usize>(), data.len());
        Tensor { shape, data }
    }

    /// Gives the tensor `shape` and returns its values to overwrite, reusing the allocations:
    /// nothing is allocated when the tensor held as many values (or more) before.
    pub(crate) fn reshape_for_write(&mut self, shape: &[usize]) -> &mut [f32] {
        let n = shape.iter().product();
        self.shape.clear();
        self.shape.extend_from_slice(shape);
        self.data.resize(n, 0.0);
        &mut self.data
    }
}

/// An empty tensor, shape `[0]`: a place for a `*_into` call to write its result.
impl Default for Tensor {
    fn default() -> Self {
        Tensor {
            shape: vec![0],
            data: Vec::new(),
        }
    }
}

/// A borrowed row-major `f32` tensor: values the caller owns, in any slice, with a shape.
/// Everything that takes an input takes one (a `&Tensor` converts), so a caller's buffers are
/// read where they are.
///
/// ```
/// use wgpu_rnn::{Input, TensorView};
/// let frames = [0.5f32; 2 * 40]; // a caller's buffer: (T=1, B=2, I=40)
/// let x = TensorView::new(&[1, 2, 40], &frames)?;
/// let input = Input::new(x);
/// # let _ = input;
/// # Ok::<(), wgpu_rnn::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TensorView<'a> {
    shape: &'a [usize],
    data: &'a [f32],
}

impl<'a> TensorView<'a> {
    /// Views row-major `data` as `shape`.
    ///
    /// # Errors
    /// [`Error::DataLength`] when `data.len()` is not the product of `shape`.
    pub fn new(shape: &'a [usize], data: &'a [f32]) -> Result<Self> {
        let expected = element_count("tensor", shape)?;
        if expected != data.len() {
            return Err(Error::DataLength {
                arg: "tensor",
                shape: shape.to_vec(),
                expected,
                got: data.len(),
            });
        }
        Ok(TensorView { shape, data })
    }

    /// The shape, outermost dimension first.
    pub fn shape(&self) -> &'a [usize] {
        self.shape
    }

    /// The row-major values.
    pub fn data(&self) -> &'a [f32] {
        self.data
    }

    /// An owned copy.
    pub fn to_tensor(&self) -> Tensor {
        Tensor::from_parts(self.shape.to_vec(), self.data.to_vec())
    }
}

impl<'a> From<&'a Tensor> for TensorView<'a> {
    fn from(tensor: &'a Tensor) -> Self {
        tensor.view()
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
    pub(crate) x: TensorView<'a>,
    pub(crate) h0: Option<TensorView<'a>>,
    pub(crate) c0: Option<TensorView<'a>>,
    pub(crate) lengths: Option<&'a [usize]>,
    pub(crate) reject_non_finite: bool,
}

impl<'a> Input<'a> {
    /// The input sequence(s): `(T, B, I)`, `(B, T, I)` with `batch_first`, or unbatched `(T, I)`.
    /// Takes a `&Tensor` or a [`TensorView`] of the caller's own buffer.
    pub fn new(x: impl Into<TensorView<'a>>) -> Self {
        Input {
            x: x.into(),
            h0: None,
            c0: None,
            lengths: None,
            reject_non_finite: false,
        }
    }

    /// Initial hidden state `(D*L, B, H_out)` (or `(D*L, H_out)` for unbatched input).
    pub fn h0(mut self, h0: impl Into<TensorView<'a>>) -> Self {
        self.h0 = Some(h0.into());
        self
    }

    /// Initial LSTM cell state `(D*L, B, H)` (or `(D*L, H)` for unbatched input).
    pub fn c0(mut self, c0: impl Into<TensorView<'a>>) -> Self {
        self.c0 = Some(c0.into());
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
            h0: self.h0.map(|t| t.shape()),
            c0: self.c0.map(|t| t.shape()),
            lengths: self.lengths,
        }
    }
}

/// The shapes of a forward pass's arguments, for a dry run without data.
///
/// ```
/// use wgpu_rnn::InputShapes;
/// let shapes = InputShapes::new(&[50, 32, 3]).h0(&[2, 32, 20]).lengths(&[50; 32]);
/// # let _ = shapes;
/// ```
#[derive(Clone, Copy, Debug, Default)]
#[non_exhaustive]
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

impl<'a> InputShapes<'a> {
    /// The shape of `input`, with no state and full lengths.
    pub fn new(input: &'a [usize]) -> Self {
        InputShapes {
            input,
            ..Default::default()
        }
    }

    /// Sets the shape of `h0`.
    pub fn h0(mut self, h0: &'a [usize]) -> Self {
        self.h0 = Some(h0);
        self
    }

    /// Sets the shape of `c0`.
    pub fn c0(mut self, c0: &'a [usize]) -> Self {
        self.c0 = Some(c0);
        self
    }

    /// Sets the per-sequence lengths.
    pub fn lengths(mut self, lengths: &'a [usize]) -> Self {
        self.lengths = Some(lengths);
        self
    }
}

/// What a forward pass returns, shaped as PyTorch returns it.
///
/// `Output::default()` is an empty one for the `forward_into` forms to fill.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
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
#[non_exhaustive]
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
    swap_batch_time_into(data, d0, d1, width, &mut out);
    out
}

/// As [`swap_batch_time`], into `out` (as long as `data`).
pub(crate) fn swap_batch_time_into(
    data: &[f32],
    d0: usize,
    d1: usize,
    width: usize,
    out: &mut [f32],
) {
    for i in 0..d0 {
        for j in 0..d1 {
            let src = (i * d1 + j) * width;
            let dst = (j * d0 + i) * width;
            out[dst..dst + width].copy_from_slice(&data[src..src + width]);
        }
    }
}
