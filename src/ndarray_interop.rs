//! `ndarray` interop (feature `ndarray`): build inputs from array views, get outputs as arrays.
//!
//! ```
//! use ndarray::Array3;
//! use wgpu_rnn::{Input, Kind, Rnn, RnnConfig, Tensor};
//!
//! let rnn = Rnn::from_fn(RnnConfig::new(Kind::Gru, 3, 4), |_, s| vec![0.1; s.iter().product()])?;
//! let x = Array3::<f32>::zeros((5, 2, 3)); // (T, B, input_size)
//! let x = Tensor::from(x.view());          // any layout: copied in standard order
//! let out = rnn.forward(&Input::new(&x))?;
//! let output: Array3<f32> = out.output.into_array3()?; // (T, B, hidden_size)
//! assert_eq!(output.dim(), (5, 2, 4));
//! # Ok::<(), wgpu_rnn::Error>(())
//! ```

use ndarray::{Array2, Array3, ArrayD, ArrayView, Dimension, IxDyn};

use crate::error::{Error, Result};
use crate::shape::Tensor;

impl<D: Dimension> From<ArrayView<'_, f32, D>> for Tensor {
    /// Copies the view in row-major order, whatever its strides.
    fn from(view: ArrayView<'_, f32, D>) -> Self {
        let shape = view.shape().to_vec();
        Tensor::from_parts(shape, view.iter().copied().collect())
    }
}

impl Tensor {
    /// The tensor as an n-dimensional array.
    pub fn to_ndarray(&self) -> ArrayD<f32> {
        ArrayD::from_shape_vec(IxDyn(self.shape()), self.data().to_vec())
            .unwrap_or_else(|_| ArrayD::zeros(IxDyn(&[0])))
    }

    /// The tensor as a 3-D array, such as a batched `output` `(T, B, D*H_out)`.
    ///
    /// # Errors
    /// [`Error::TensorRank`] when the tensor is not 3-D (an unbatched output is 2-D).
    pub fn into_array3(self) -> Result<Array3<f32>> {
        match *self.shape() {
            [a, b, c] => Ok(Array3::from_shape_vec((a, b, c), self.into_data())
                .map_err(|e| rank_error(3, e))?),
            _ => Err(Error::TensorRank {
                expected: 3,
                shape: self.shape().to_vec(),
            }),
        }
    }

    /// The tensor as a 2-D array, such as an unbatched `output` `(T, D*H_out)`.
    ///
    /// # Errors
    /// [`Error::TensorRank`] when the tensor is not 2-D.
    pub fn into_array2(self) -> Result<Array2<f32>> {
        match *self.shape() {
            [a, b] => {
                Ok(Array2::from_shape_vec((a, b), self.into_data())
                    .map_err(|e| rank_error(2, e))?)
            }
            _ => Err(Error::TensorRank {
                expected: 2,
                shape: self.shape().to_vec(),
            }),
        }
    }
}

fn rank_error(expected: usize, e: ndarray::ShapeError) -> Error {
    Error::Unsupported {
        what: format!("a {expected}-D array of this tensor"),
        reason: e.to_string(),
    }
}
