//! `nn.Linear` on the host: checked weights and the CPU reference forward pass.

use std::path::Path;

use super::{cpu, dotted, Activation};
use crate::error::{Error, Result};
use crate::error_hints::Shape;
use crate::shape::Tensor;
use crate::weights::TensorFile;
use crate::Precision;

/// `nn.Linear(in_features, out_features)`: `y = x W^T + b` over the last dimension.
///
/// ```
/// use wgpu_rnn::dense::Linear;
/// use wgpu_rnn::Tensor;
/// // nn.Linear(2, 1) with weight [[1, 2]] and bias [0.5]
/// let fc = Linear::from_tensors(
///     2,
///     1,
///     &Tensor::new([1, 2], vec![1.0, 2.0])?,
///     Some(&Tensor::new([1], vec![0.5])?),
/// )?;
/// let y = fc.forward(&Tensor::new([2, 2], vec![1.0, 1.0, 3.0, 0.0])?)?;
/// assert_eq!(y.shape(), &[2, 1]);
/// assert_eq!(y.data(), &[3.5, 3.5]);
/// # Ok::<(), wgpu_rnn::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Linear {
    in_features: usize,
    out_features: usize,
    /// `(out_features, in_features)`, row-major.
    weight: Vec<f32>,
    /// `(out_features,)`.
    bias: Option<Vec<f32>>,
}

impl Linear {
    /// Builds the layer from PyTorch's `weight` `(out_features, in_features)` and optional
    /// `bias` `(out_features,)`.
    ///
    /// # Errors
    /// [`Error::WeightShape`] for a tensor of the wrong shape, [`Error::NonFiniteWeight`] for
    /// a NaN or infinite value, [`Error::Unsupported`] for a size of 0.
    pub fn from_tensors(
        in_features: usize,
        out_features: usize,
        weight: &Tensor,
        bias: Option<&Tensor>,
    ) -> Result<Self> {
        Self::checked("", in_features, out_features, weight.clone(), bias.cloned())
    }

    /// Loads `{prefix}.weight` and, when present, `{prefix}.bias` from a `.safetensors` file
    /// (a `state_dict`): `prefix` is the module's attribute path, such as `fc` or `head.fc`.
    ///
    /// # Errors
    /// [`Error::Io`], [`Error::Safetensors`], [`Error::MissingTensor`], [`Error::Dtype`], and
    /// the errors of [`Linear::from_tensors`].
    pub fn load(
        path: impl AsRef<Path>,
        prefix: &str,
        in_features: usize,
        out_features: usize,
    ) -> Result<Self> {
        Self::from_file(&TensorFile::open(path)?, prefix, in_features, out_features)
    }

    /// As [`Linear::load`], from a file already read.
    ///
    /// # Errors
    /// As [`Linear::load`].
    pub fn from_file(
        file: &TensorFile,
        prefix: &str,
        in_features: usize,
        out_features: usize,
    ) -> Result<Self> {
        let needed_by = format!(
            "`{}` ({})",
            prefix.trim_end_matches('.'),
            repr(in_features, out_features)
        );
        Self::from_file_for(file, prefix, in_features, out_features, &needed_by)
    }

    pub(crate) fn from_file_for(
        file: &TensorFile,
        prefix: &str,
        in_features: usize,
        out_features: usize,
        needed_by: &str,
    ) -> Result<Self> {
        let prefix = dotted(prefix);
        let name = format!("{prefix}weight");
        let Some(weight) = file.f32(&name)? else {
            return Err(Error::MissingTensor {
                name,
                needed_by: needed_by.to_string(),
                expected: vec![out_features, in_features],
                prefixes: module_prefixes(file),
            });
        };
        let bias = file.f32(&format!("{prefix}bias"))?;
        Self::checked(&prefix, in_features, out_features, weight, bias)
    }

    fn checked(
        prefix: &str,
        in_features: usize,
        out_features: usize,
        weight: Tensor,
        bias: Option<Tensor>,
    ) -> Result<Self> {
        if in_features == 0 || out_features == 0 {
            return Err(Error::Unsupported {
                what: repr(in_features, out_features),
                reason: "a linear layer needs at least one input and one output feature".into(),
            });
        }
        let layer = repr(in_features, out_features);
        let check = |suffix: &str, t: &Tensor, expected: Vec<usize>, meaning: String| {
            let name = format!("{prefix}{suffix}");
            if t.shape() != expected.as_slice() {
                return Err(Error::WeightShape {
                    name,
                    expected,
                    got: t.shape().to_vec(),
                    meaning,
                });
            }
            if let Some(i) = t.data().iter().position(|v| !v.is_finite()) {
                let cols = expected.get(1).copied().unwrap_or(1);
                return Err(Error::NonFiniteWeight {
                    name,
                    index: i,
                    row: i / cols,
                    col: i % cols,
                    value: t.data()[i],
                });
            }
            Ok(())
        };
        check(
            "weight",
            &weight,
            vec![out_features, in_features],
            format!(
                "{layer} stores its weight as (out_features, in_features){}",
                match *weight.shape() {
                    [rows, cols] => format!(
                        "; this tensor is the weight of nn.Linear(in_features={cols}, out_features={rows})"
                    ),
                    _ => String::new(),
                }
            ),
        )?;
        if let Some(bias) = &bias {
            check(
                "bias",
                bias,
                vec![out_features],
                format!("one bias per output feature of {layer}"),
            )?;
        }
        Ok(Linear {
            in_features,
            out_features,
            weight: weight.into_data(),
            bias: bias.map(Tensor::into_data),
        })
    }

    /// Input features per row.
    pub fn in_features(&self) -> usize {
        self.in_features
    }

    /// Output features per row.
    pub fn out_features(&self) -> usize {
        self.out_features
    }

    /// `(out_features, in_features)`, row-major.
    pub fn weight(&self) -> &[f32] {
        &self.weight
    }

    /// `(out_features,)`, when the layer has a bias.
    pub fn bias(&self) -> Option<&[f32]> {
        self.bias.as_deref()
    }

    /// Applies the layer to the last dimension of `x` (any rank from 1) on the CPU.
    ///
    /// # Errors
    /// [`Error::FeatureWidth`] when the last dimension is not `in_features`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let shape = x.shape();
        let features = shape.last().copied().unwrap_or(0);
        if shape.is_empty() || features != self.in_features {
            return Err(Error::FeatureWidth {
                layer: format!("`{}`", self),
                field: "in_features",
                expected: self.in_features,
                from: format!("`input` of shape {} has", Shape(shape)),
                got: features,
            });
        }
        let rows = x.data().len() / features;
        let data = self.forward_rows(x.data(), rows, Activation::Identity);
        let mut out_shape = shape.to_vec();
        if let Some(last) = out_shape.last_mut() {
            *last = self.out_features;
        }
        Ok(Tensor::from_parts(out_shape, data))
    }

    pub(crate) fn forward_rows(&self, x: &[f32], rows: usize, activation: Activation) -> Vec<f32> {
        cpu::linear(
            x,
            rows,
            &self.weight,
            self.bias.as_deref(),
            self.in_features,
            self.out_features,
            activation,
        )
    }

    /// The layer with its weight rounded as `precision` stores it on the GPU (the bias stays
    /// f32); `label` names it in the error for a weight beyond `precision`'s range.
    pub(crate) fn with_precision(&self, precision: Precision, label: &str) -> Result<Linear> {
        precision.check(label, &self.weight)?;
        Ok(Linear {
            weight: self.weight.iter().map(|&x| precision.round(x)).collect(),
            ..self.clone()
        })
    }

    /// The weight transposed to `(in_features, out4 * 4)`, zero-padded: the layout of
    /// `weight` in shaders/dense.wesl, where neighbouring invocations read neighbouring outputs.
    pub(crate) fn packed_weight(&self) -> Vec<f32> {
        let n4 = self.out_features.div_ceil(4) * 4;
        let mut out = vec![0.0; self.in_features * n4];
        for n in 0..self.out_features {
            for k in 0..self.in_features {
                out[k * n4 + n] = self.weight[n * self.in_features + k];
            }
        }
        out
    }

    /// The bias zero-padded to a multiple of 4 (zeros without bias).
    pub(crate) fn packed_bias(&self) -> Vec<f32> {
        let mut out = vec![0.0; self.out_features.div_ceil(4) * 4];
        if let Some(bias) = &self.bias {
            out[..self.out_features].copy_from_slice(bias);
        }
        out
    }
}

impl std::fmt::Display for Linear {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&repr(self.in_features, self.out_features))?;
        if self.bias.is_none() {
            f.write_str(" without bias")?;
        }
        Ok(())
    }
}

/// `nn.Linear(in_features=30, out_features=20)`.
pub(crate) fn repr(in_features: usize, out_features: usize) -> String {
    format!("nn.Linear(in_features={in_features}, out_features={out_features})")
}

/// The module prefixes of a file's tensors (`linear.`, `rnn.`, ...), sorted, for messages.
pub(crate) fn module_prefixes(file: &TensorFile) -> Vec<String> {
    let mut prefixes: Vec<String> = file
        .names()
        .iter()
        .map(|n| match n.rsplit_once('.') {
            Some((module, _)) => format!("{module}."),
            None => String::from("(no prefix)"),
        })
        .collect();
    prefixes.sort();
    prefixes.dedup();
    prefixes
}
