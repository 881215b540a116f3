//! Reading `.safetensors` files: PyTorch `state_dict`s and the tensors of a run (save.rs writes them).

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::error::{Error, Result};
use crate::shape::Tensor;

use super::LoadOptions;

/// A tensor's unprefixed name, shape and values, as `weights::collect` takes them.
type NamedFloats<'a> = (&'a str, &'a [usize], Cow<'a, [f32]>);

/// A `.safetensors` file held in memory, with typed access to its tensors.
#[derive(Clone, Debug)]
pub struct TensorFile {
    path: Option<PathBuf>,
    bytes: Vec<u8>,
}

impl TensorFile {
    /// Reads and parses a file.
    ///
    /// # Errors
    /// [`Error::Io`] when it cannot be read, [`Error::Safetensors`] when it is not valid.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let io = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        // Only regular files: a device (/dev/zero) never ends and a FIFO blocks on open.
        let meta = std::fs::metadata(path).map_err(io)?;
        if !meta.is_file() {
            return Err(io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "not a regular file",
            )));
        }
        let len = meta.len();
        let mut bytes = Vec::new();
        bytes
            .try_reserve_exact(usize::try_from(len).unwrap_or(usize::MAX))
            .map_err(|_| io(std::io::ErrorKind::OutOfMemory.into()))?;
        // At most the size it had when we looked: a file that grows meanwhile cannot run on.
        std::io::Read::read_to_end(
            &mut std::io::Read::take(std::fs::File::open(path).map_err(io)?, len),
            &mut bytes,
        )
        .map_err(io)?;
        let file = TensorFile {
            path: Some(path.to_path_buf()),
            bytes,
        };
        file.parse()?;
        Ok(file)
    }

    /// Parses bytes already in memory.
    ///
    /// # Errors
    /// [`Error::Safetensors`] when they are not a valid `.safetensors` file.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self> {
        let file = TensorFile { path: None, bytes };
        file.parse()?;
        Ok(file)
    }

    fn parse(&self) -> Result<SafeTensors<'_>> {
        SafeTensors::deserialize(&self.bytes).map_err(|e| Error::Safetensors {
            path: self.path.clone(),
            reason: e.to_string(),
        })
    }

    /// The tensor names, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .parse()
            .map(|st| st.names().into_iter().map(str::to_string).collect())
            .unwrap_or_default();
        names.sort();
        names
    }

    /// The shape of a tensor, if present.
    pub fn shape(&self, name: &str) -> Option<Vec<usize>> {
        self.parse()
            .ok()?
            .tensor(name)
            .ok()
            .map(|t| t.shape().to_vec())
    }

    /// The file's string metadata (`__metadata__`).
    pub fn metadata(&self) -> HashMap<String, String> {
        SafeTensors::read_metadata(&self.bytes)
            .ok()
            .and_then(|(_, m)| m.metadata().clone())
            .unwrap_or_default()
    }

    /// A floating-point tensor as `f32` (`F32`, or converted from `F64`, `F16`, `BF16`).
    ///
    /// # Errors
    /// [`Error::Dtype`] for any other dtype.
    pub fn f32(&self, name: &str) -> Result<Option<Tensor>> {
        let st = self.parse()?;
        let Ok(view) = st.tensor(name) else {
            return Ok(None);
        };
        let data = floats(name, &view)?.into_owned();
        Ok(Some(Tensor::from_parts(view.shape().to_vec(), data)))
    }

    /// An integer tensor as `i64` (`I64`, `I32`, `I16`, `I8`, `U32`, `U16`, `U8` or `BOOL`),
    /// with its shape.
    ///
    /// # Errors
    /// [`Error::Dtype`] for a floating-point or other dtype.
    pub fn i64(&self, name: &str) -> Result<Option<(Vec<usize>, Vec<i64>)>> {
        let st = self.parse()?;
        let Ok(view) = st.tensor(name) else {
            return Ok(None);
        };
        let bytes = view.data();
        let values: Vec<i128> = match view.dtype() {
            Dtype::I64 => little_endian(bytes, i64::from_le_bytes),
            Dtype::I32 => little_endian(bytes, i32::from_le_bytes),
            Dtype::I16 => little_endian(bytes, i16::from_le_bytes),
            Dtype::I8 => little_endian(bytes, i8::from_le_bytes),
            Dtype::U32 => little_endian(bytes, u32::from_le_bytes),
            Dtype::U16 => little_endian(bytes, u16::from_le_bytes),
            Dtype::U8 | Dtype::BOOL => little_endian(bytes, u8::from_le_bytes),
            other => {
                return Err(Error::Dtype {
                    name: name.to_string(),
                    dtype: format!("{other:?}"),
                    expected: "an integer type (I64, I32, I16, I8, U32, U16, U8 or BOOL)",
                })
            }
        };
        Ok(Some((
            view.shape().to_vec(),
            values.into_iter().map(|v| v as i64).collect(),
        )))
    }

    /// A 1-D integer tensor of sequence lengths (`I64`, `I32` or unsigned), checked non-negative.
    ///
    /// # Errors
    /// [`Error::Dtype`] for a floating-point or other dtype, [`Error::LengthsType`] for a
    /// negative value or a tensor that is not 1-D.
    pub fn lengths(&self, name: &str) -> Result<Option<Vec<usize>>> {
        let st = self.parse()?;
        let Ok(view) = st.tensor(name) else {
            return Ok(None);
        };
        if view.shape().len() != 1 {
            return Err(Error::LengthsType {
                reason: format!(
                    "must be 1-D (one length per sequence), but `{name}` has shape {:?}",
                    view.shape()
                ),
            });
        }
        let bytes = view.data();
        let values: Vec<i128> =
            match view.dtype() {
                Dtype::I64 => little_endian(bytes, i64::from_le_bytes),
                Dtype::I32 => little_endian(bytes, i32::from_le_bytes),
                Dtype::U64 => little_endian(bytes, u64::from_le_bytes),
                Dtype::U32 => little_endian(bytes, u32::from_le_bytes),
                other => return Err(Error::Dtype {
                    name: name.to_string(),
                    dtype: format!("{other:?}"),
                    expected:
                        "an integer type (I64 or I32), as torch.tensor(lengths, dtype=torch.int64)",
                }),
            };
        values
            .into_iter()
            .enumerate()
            .map(|(i, v)| {
                usize::try_from(v).map_err(|_| Error::LengthsType {
                    reason: format!(
                        "holds {v} at index {i}; every length must be a positive number of timesteps"
                    ),
                })
            })
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }

    /// Builds a model from the recurrent module's tensors in this file (see [`crate::Rnn::load`]).
    pub(crate) fn rnn_parts(
        &self,
        options: &LoadOptions,
    ) -> Result<(crate::RnnConfig, Vec<Vec<super::DirectionWeights>>)> {
        let st = self.parse()?;
        let names = st.names();
        let prefix = find_prefix(&names, options.prefix.as_deref())?;
        let shape_of = |name: &str| {
            st.tensor(&format!("{prefix}{name}"))
                .ok()
                .map(|t| t.shape().to_vec())
        };
        let config = super::infer_config(&shape_of, options, &prefix)?;
        let mut views = Vec::new();
        for name in names.iter().filter_map(|n| n.strip_prefix(prefix.as_str())) {
            // A name like `rnn.extra.weight` under prefix `rnn.` is a sub-module, not ours.
            if name.contains('.') {
                continue;
            }
            let view = st
                .tensor(&format!("{prefix}{name}"))
                .map_err(|e| Error::Safetensors {
                    path: self.path.clone(),
                    reason: e.to_string(),
                })?;
            views.push((name, view));
        }
        let floats: Vec<NamedFloats<'_>> = views
            .iter()
            .map(|(name, view)| {
                Ok((
                    *name,
                    view.shape(),
                    floats(&format!("{prefix}{name}"), view)?,
                ))
            })
            .collect::<Result<_>>()?;
        let layers = super::collect(&config, &prefix, floats)?;
        Ok((config, layers))
    }
}

fn find_prefix(names: &[&str], given: Option<&str>) -> Result<String> {
    const ANCHOR: &str = "weight_ih_l0";
    let mut candidates: Vec<&str> = names
        .iter()
        .filter_map(|n| n.strip_suffix(ANCHOR))
        .collect();
    candidates.sort();
    match given {
        Some(p) => {
            let dotted = if p.is_empty() || p.ends_with('.') { p.to_string() } else { format!("{p}.") };
            for p in [dotted.as_str(), p] {
                if candidates.contains(&p) {
                    return Ok(p.to_string());
                }
            }
            Err(Error::InferConfig {
                reason: format!(
                    "no tensor named `{dotted}{ANCHOR}`; the recurrent modules in this file have the prefixes {}",
                    list(&candidates)
                ),
            })
        }
        None => match candidates.as_slice() {
            [one] => Ok(one.to_string()),
            [] => Err(Error::InferConfig {
                reason: format!(
                    "no tensor ends in `{ANCHOR}`, so the file holds no nn.RNN/nn.GRU/nn.LSTM state_dict (its {} tensors start with {})",
                    names.len(),
                    list(&names.iter().take(5).copied().collect::<Vec<_>>())
                ),
            }),
            many => Err(Error::InferConfig {
                reason: format!("the file holds several recurrent modules ({}); choose one with a prefix", list(many)),
            }),
        },
    }
}

fn list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("`{s}`")).collect();
    if quoted.is_empty() {
        "(none)".into()
    } else {
        quoted.join(", ")
    }
}

/// Little-endian floats of any width as `f32`.
fn floats<'a>(name: &str, view: &TensorView<'a>) -> Result<Cow<'a, [f32]>> {
    let bytes = view.data();
    let values = match view.dtype() {
        Dtype::F32 => bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect(),
        Dtype::F64 => bytes
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap()) as f32)
            .collect(),
        Dtype::BF16 => bytes
            .chunks_exact(2)
            .map(|c| f32::from_bits((u16::from_le_bytes([c[0], c[1]]) as u32) << 16))
            .collect(),
        Dtype::F16 => bytes
            .chunks_exact(2)
            .map(|c| f16_to_f32(u16::from_le_bytes([c[0], c[1]])))
            .collect(),
        other => {
            return Err(Error::Dtype {
                name: name.to_string(),
                dtype: format!("{other:?}"),
                expected: "a floating-point type (F32, F64, F16 or BF16)",
            })
        }
    };
    Ok(Cow::Owned(values))
}

/// IEEE half to single, exact for every value including subnormals, infinities and NaN.
fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let mant = (h & 0x3ff) as u32;
    let bits = match (exp, mant) {
        (0, 0) => sign,
        (0, m) => {
            // Subnormal: value = m * 2^-24.
            let v = m as f32 * 2f32.powi(-24);
            return if sign != 0 { -v } else { v };
        }
        (0x1f, m) => sign | 0x7f80_0000 | (m << 13),
        (e, m) => sign | ((e + 112) << 23) | (m << 13),
    };
    f32::from_bits(bits)
}

/// `bytes` read as little-endian integers of `N` bytes each, widened to i128.
fn little_endian<const N: usize, T: Into<i128>>(bytes: &[u8], from: fn([u8; N]) -> T) -> Vec<i128> {
    bytes
        .chunks_exact(N)
        .map(|c| {
            let mut word = [0u8; N];
            word.copy_from_slice(c);
            from(word).into()
        })
        .collect()
}
