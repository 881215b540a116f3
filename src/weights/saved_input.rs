//! The arguments of a forward pass saved in a `.safetensors` file, as the examples, the
//! browser page and the parity tests read them.

use super::TensorFile;
use crate::error::{Error, Result};
use crate::shape::{Input, Tensor};

/// A forward pass's arguments read from a file under PyTorch's names: `input`, and where
/// present `h0`, `c0` and `lengths` (as
/// `safetensors.torch.save_file({"input": x, "h0": h0, "lengths": lengths}, path)` writes them).
///
/// ```no_run
/// use wgpu_rnn::weights::SavedInput;
/// use wgpu_rnn::{LoadOptions, Rnn, TensorFile};
/// let rnn = Rnn::load("gru.safetensors", &LoadOptions::default())?;
/// let saved = SavedInput::from_file(&TensorFile::open("x.safetensors")?)?;
/// let out = rnn.forward(&saved.input())?;
/// # let _ = out;
/// # Ok::<(), wgpu_rnn::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct SavedInput {
    /// `input`.
    pub x: Tensor,
    /// `h0`, if saved.
    pub h0: Option<Tensor>,
    /// `c0`, if saved.
    pub c0: Option<Tensor>,
    /// `lengths`, if saved (any integer dtype).
    pub lengths: Option<Vec<usize>>,
}

impl SavedInput {
    /// Reads the arguments from `file`.
    ///
    /// # Errors
    /// [`Error::MissingInput`] without a tensor `input`; the errors of [`TensorFile::f32`] and
    /// [`TensorFile::lengths`] for tensors of the wrong type.
    pub fn from_file(file: &TensorFile) -> Result<Self> {
        let x = file
            .f32("input")?
            .ok_or_else(|| Error::MissingInput { held: file.names() })?;
        Ok(SavedInput {
            x,
            h0: file.f32("h0")?,
            c0: file.f32("c0")?,
            lengths: file.lengths("lengths")?,
        })
    }

    /// The arguments as a forward pass takes them.
    pub fn input(&self) -> Input<'_> {
        let mut input = Input::new(&self.x);
        if let Some(h0) = &self.h0 {
            input = input.h0(h0);
        }
        if let Some(c0) = &self.c0 {
            input = input.c0(c0);
        }
        if let Some(lengths) = &self.lengths {
            input = input.lengths(lengths);
        }
        input
    }
}
