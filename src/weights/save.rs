//! Writing tensors to a `.safetensors` file: the checks the `safetensors` crate leaves to
//! its callers, then one write.

use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensorError, TensorView};

use crate::error::{Error, Result};
use crate::shape::Tensor;

/// The largest header the `safetensors` crate writes or reads (its private `MAX_HEADER_SIZE`).
const MAX_HEADER_BYTES: usize = 100_000_000;

/// Writes `f32` tensors to a `.safetensors` file, with optional string metadata.
///
/// # Errors
/// [`Error::Serialize`] when the tensors cannot form one file (a name given twice, a tensor
/// named `__metadata__`, a header over the format's limit), before anything is written;
/// [`Error::Io`] when the file cannot be written.
pub fn save_safetensors(
    path: impl AsRef<Path>,
    tensors: &[(&str, &Tensor)],
    metadata: Option<HashMap<String, String>>,
) -> Result<()> {
    let path = path.as_ref();
    let refuse = |tensor: Option<&str>, reason: String| Error::Serialize {
        path: path.to_path_buf(),
        tensor: tensor.map(str::to_string),
        reason,
    };
    // The format keys tensors by name in one JSON object next to `__metadata__`; the library
    // does not check either (a repeated name makes it panic), so check them here.
    let mut seen: HashMap<&str, usize> = HashMap::with_capacity(tensors.len());
    for (i, (name, _)) in tensors.iter().enumerate() {
        if *name == "__metadata__" {
            return Err(refuse(
                Some(name),
                format!(
                    "`__metadata__` is the key the format reserves for the string metadata, so \
                     tensor {i} cannot have it as its name; rename that tensor"
                ),
            ));
        }
        if let Some(first) = seen.insert(name, i) {
            return Err(refuse(
                Some(name),
                format!(
                    "tensors {first} and {i} are both named `{name}`, and a file holds one \
                     tensor per name; give each tensor its own name"
                ),
            ));
        }
    }
    let views: Vec<(&str, Dtype, &[usize], &[u8])> = tensors
        .iter()
        .map(|(name, t)| (*name, Dtype::F32, t.shape(), bytemuck::cast_slice(t.data())))
        .collect();
    save_views(path, views, metadata)
}

/// Writes tensors given as raw little-endian bytes: the checks and the write of
/// [`save_safetensors`], for any dtype (the ONNX outputs include integer tensors).
pub(crate) fn save_views(
    path: &Path,
    tensors: Vec<(&str, Dtype, &[usize], &[u8])>,
    metadata: Option<HashMap<String, String>>,
) -> Result<()> {
    let refuse = |tensor: Option<&str>, reason: String| Error::Serialize {
        path: path.to_path_buf(),
        tensor: tensor.map(str::to_string),
        reason,
    };
    let views: Vec<(&str, TensorView<'_>)> = tensors
        .into_iter()
        .map(|(name, dtype, shape, bytes)| {
            let view = TensorView::new(dtype, shape.to_vec(), bytes)
                .expect("the caller's bytes match the shape");
            (name, view)
        })
        .collect();
    // Serialize in memory and write the file ourselves: the library's file writer goes
    // through a temporary name, which then shows up in error messages instead of `path`.
    let bytes = safetensors::tensor::serialize(views, metadata).map_err(|e| {
        let reason = match e {
            SafeTensorError::HeaderTooLarge => format!(
                "its header (every tensor's name, dtype and shape, and the metadata) would be \
                 larger than the {MAX_HEADER_BYTES} bytes the format allows; shorten the \
                 metadata or the names, or split the tensors into several files"
            ),
            other => format!("the safetensors library refused the tensors: {other}"),
        };
        refuse(None, reason)
    })?;
    std::fs::write(path, bytes).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}
