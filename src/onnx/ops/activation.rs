//! The activation functions a recurrent node may name, with their `alpha`/`beta`, as
//! onnxruntime reads them.

use crate::onnx::OnnxError;

/// One activation of a recurrent node (`f`, `g` or `h` of one direction).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Activation {
    Sigmoid,
    Tanh,
    Relu,
    Affine { alpha: f32, beta: f32 },
    LeakyRelu { alpha: f32 },
    ThresholdedRelu { alpha: f32 },
    ScaledTanh { alpha: f32, beta: f32 },
    HardSigmoid { alpha: f32, beta: f32 },
    Elu { alpha: f32 },
    Softsign,
    Softplus,
}

/// The names this crate accepts (case-insensitive, as onnxruntime).
pub(crate) const NAMES: &str =
    "Sigmoid, Tanh, Relu, Affine, LeakyRelu, ThresholdedRelu, ScaledTanh, HardSigmoid, Elu, Softsign, Softplus";

impl Activation {
    /// Parses the `activations` list, taking `alpha` and `beta` values in order from
    /// `activation_alpha`/`activation_beta` for the functions that use them. When a list runs
    /// out, onnxruntime's defaults apply: LeakyRelu 0.01, HardSigmoid 0.2 and 0.5, Elu 1.0,
    /// and 0 for the rest (ThresholdedRelu's alpha is then 0, not the 1.0 of the standalone
    /// operator; Affine and ScaledTanh get 0 and 0).
    pub fn parse_list(
        names: &[String],
        alphas: &[f32],
        betas: &[f32],
    ) -> Result<Vec<Activation>, OnnxError> {
        let (mut alphas, mut betas) = (alphas.iter().copied(), betas.iter().copied());
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            let mut alpha = |default: f32| alphas.next().unwrap_or(default);
            let a = match name.to_ascii_lowercase().as_str() {
                "sigmoid" => Activation::Sigmoid,
                "tanh" => Activation::Tanh,
                "relu" => Activation::Relu,
                "affine" => Activation::Affine {
                    alpha: alpha(0.0),
                    beta: betas.next().unwrap_or(0.0),
                },
                "leakyrelu" => Activation::LeakyRelu { alpha: alpha(0.01) },
                "thresholdedrelu" => Activation::ThresholdedRelu { alpha: alpha(0.0) },
                "scaledtanh" => Activation::ScaledTanh {
                    alpha: alpha(0.0),
                    beta: betas.next().unwrap_or(0.0),
                },
                "hardsigmoid" => Activation::HardSigmoid {
                    alpha: alpha(0.2),
                    beta: betas.next().unwrap_or(0.5),
                },
                "elu" => Activation::Elu { alpha: alpha(1.0) },
                "softsign" => Activation::Softsign,
                "softplus" => Activation::Softplus,
                _ => {
                    return Err(OnnxError::Node {
                        node: String::new(),
                        reason: format!("activation `{name}` is not one of {NAMES}"),
                    })
                }
            };
            out.push(a);
        }
        Ok(out)
    }

    pub fn apply(self, x: f32) -> f32 {
        match self {
            Activation::Sigmoid => sigmoid(x),
            Activation::Tanh => x.tanh(),
            Activation::Relu => x.max(0.0),
            Activation::Affine { alpha, beta } => alpha * x + beta,
            Activation::LeakyRelu { alpha } => {
                if x >= 0.0 {
                    x
                } else {
                    alpha * x
                }
            }
            Activation::ThresholdedRelu { alpha } => {
                if x > alpha {
                    x
                } else {
                    0.0
                }
            }
            Activation::ScaledTanh { alpha, beta } => alpha * (beta * x).tanh(),
            Activation::HardSigmoid { alpha, beta } => (alpha * x + beta).clamp(0.0, 1.0),
            Activation::Elu { alpha } => {
                if x >= 0.0 {
                    x
                } else {
                    alpha * (x.exp() - 1.0)
                }
            }
            Activation::Softsign => x / (1.0 + x.abs()),
            Activation::Softplus => (1.0 + x.exp()).ln(),
        }
    }
}

pub(crate) use crate::cpu::sigmoid;
