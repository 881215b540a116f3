//! Host-side weights in PyTorch layout, checked against the configuration.

mod load_options;
mod safetensors_file;
mod save;
mod saved_input;

pub use load_options::LoadOptions;
pub use safetensors_file::TensorFile;
pub use save::save_safetensors;
#[cfg(feature = "onnx")]
pub(crate) use save::save_views;
pub use saved_input::SavedInput;

use crate::config::{Kind, RnnConfig};
use crate::error::{Error, Result};

/// What a tensor is for, inside one layer and direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    WeightIh,
    WeightHh,
    BiasIh,
    BiasHh,
    WeightHr,
}

/// One tensor a configuration needs: its PyTorch name, shape and place.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TensorSpec {
    /// The `state_dict` name without any prefix, e.g. `weight_hh_l1_reverse`.
    pub name: String,
    /// Its shape.
    pub shape: Vec<usize>,
    pub(crate) layer: usize,
    pub(crate) direction: usize,
    pub(crate) role: Role,
}

impl TensorSpec {
    fn meaning(&self, config: &RnnConfig) -> String {
        let g = config.kind.gate_count();
        let gates = if g == 1 {
            String::from("hidden_size")
        } else {
            format!("{g}*hidden_size")
        };
        let input = if self.layer == 0 {
            "input_size".to_string()
        } else {
            format!(
                "{}*{} from the layer below",
                config.num_directions(),
                h_out_name(config)
            )
        };
        let what = match self.role {
            Role::WeightIh => format!(
                "{gates} rows for the {} gates, {input} columns",
                config.kind
            ),
            Role::WeightHh => format!("{gates} rows, {} columns", h_out_name(config)),
            Role::BiasIh | Role::BiasHh => format!("{gates} entries"),
            Role::WeightHr => "proj_size rows, hidden_size columns".to_string(),
        };
        let sizes = format!(
            "{what}, with hidden_size={}{}",
            config.hidden_size,
            if config.proj_size > 0 {
                format!(", proj_size={}", config.proj_size)
            } else {
                String::new()
            }
        );
        if self.layer > 0 || self.direction > 0 {
            // The sizes come from layer 0's forward tensors when they were inferred from a file.
            format!("{sizes}; every layer and direction of a stack shares these sizes")
        } else {
            sizes
        }
    }
}

fn h_out_name(config: &RnnConfig) -> &'static str {
    if config.proj_size > 0 {
        "proj_size"
    } else {
        "hidden_size"
    }
}

/// The tensors of one layer and direction, in PyTorch layout (row-major, gate blocks stacked).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct DirectionWeights {
    /// `(G*H, in)`.
    pub w_ih: Vec<f32>,
    /// `(G*H, H_out)`.
    pub w_hh: Vec<f32>,
    /// `(G*H)`, all zeros when the stack has no bias.
    pub b_ih: Vec<f32>,
    /// `(G*H)`, all zeros when the stack has no bias.
    pub b_hh: Vec<f32>,
    /// `(H_out, H)` when `proj_size > 0`, else empty.
    pub w_hr: Vec<f32>,
}

/// Every tensor `config` needs, in `state_dict` order, with its shape.
///
/// # Errors
/// The configuration's own errors ([`RnnConfig::validate`]).
pub fn expected_tensors(config: &RnnConfig) -> Result<Vec<TensorSpec>> {
    config.validate()?;
    let rows = config.gate_rows();
    let mut specs = Vec::new();
    for layer in 0..config.num_layers {
        for direction in 0..config.num_directions() {
            let suffix = if direction == 1 { "_reverse" } else { "" };
            let mut push = |stem: &str, shape: Vec<usize>, role: Role| {
                specs.push(TensorSpec {
                    name: format!("{stem}_l{layer}{suffix}"),
                    shape,
                    layer,
                    direction,
                    role,
                })
            };
            push(
                "weight_ih",
                vec![rows, config.layer_input_size(layer)],
                Role::WeightIh,
            );
            push(
                "weight_hh",
                vec![rows, config.state_width()],
                Role::WeightHh,
            );
            if config.bias {
                push("bias_ih", vec![rows], Role::BiasIh);
                push("bias_hh", vec![rows], Role::BiasHh);
            }
            if config.proj_size > 0 {
                push(
                    "weight_hr",
                    vec![config.proj_size, config.hidden_size],
                    Role::WeightHr,
                );
            }
        }
    }
    Ok(specs)
}

/// Builds the per-layer weights from named tensors, checking names, shapes and values.
pub(crate) fn collect<'a>(
    config: &RnnConfig,
    prefix: &str,
    tensors: impl IntoIterator<Item = (&'a str, &'a [usize], std::borrow::Cow<'a, [f32]>)>,
) -> Result<Vec<Vec<DirectionWeights>>> {
    let specs = expected_tensors(config)?;
    let rows = config.gate_rows();
    let mut layers: Vec<Vec<DirectionWeights>> = (0..config.num_layers)
        .map(|_| {
            (0..config.num_directions())
                .map(|_| DirectionWeights {
                    w_ih: Vec::new(),
                    w_hh: Vec::new(),
                    b_ih: Vec::new(),
                    b_hh: Vec::new(),
                    w_hr: Vec::new(),
                })
                .collect()
        })
        .collect();
    let by_name: std::collections::HashMap<&str, usize> = specs
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.as_str(), i))
        .collect();
    let mut seen = vec![false; specs.len()];
    for (name, shape, data) in tensors {
        let Some(&index) = by_name.get(name) else {
            return Err(Error::UnexpectedWeight {
                name: format!("{prefix}{name}"),
                kind: config.kind,
                num_layers: config.num_layers,
                bidirectional: config.bidirectional,
            });
        };
        let spec = &specs[index];
        if shape != spec.shape.as_slice() {
            return Err(Error::WeightShape {
                name: format!("{prefix}{name}"),
                expected: spec.shape.clone(),
                got: shape.to_vec(),
                meaning: spec.meaning(config),
            });
        }
        let expected_len: usize = spec.shape.iter().product();
        if data.len() != expected_len {
            return Err(Error::DataLength {
                arg: "weight",
                shape: shape.to_vec(),
                expected: expected_len,
                got: data.len(),
            });
        }
        if let Some(i) = data.iter().position(|v| !v.is_finite()) {
            let cols = spec.shape.get(1).copied().unwrap_or(1);
            return Err(Error::NonFiniteWeight {
                name: format!("{prefix}{name}"),
                index: i,
                row: i / cols,
                col: i % cols,
                value: data[i],
            });
        }
        seen[index] = true;
        let slot = &mut layers[spec.layer][spec.direction];
        let data = data.into_owned();
        match spec.role {
            Role::WeightIh => slot.w_ih = data,
            Role::WeightHh => slot.w_hh = data,
            Role::BiasIh => slot.b_ih = data,
            Role::BiasHh => slot.b_hh = data,
            Role::WeightHr => slot.w_hr = data,
        }
    }
    if let Some(missing) = seen.iter().position(|s| !s) {
        let spec = &specs[missing];
        return Err(Error::MissingWeight {
            name: format!("{prefix}{}", spec.name),
            kind: config.kind,
            expected: spec.shape.clone(),
        });
    }
    // Zero biases only now that every weight (with its real data) has been checked: the
    // file's names alone can claim any number of layers.
    for w in layers.iter_mut().flatten() {
        if w.b_ih.is_empty() {
            w.b_ih = vec![0.0; rows];
        }
        if w.b_hh.is_empty() {
            w.b_hh = vec![0.0; rows];
        }
    }
    Ok(layers)
}

/// Infers the configuration from the shapes of unprefixed tensor names (see [`LoadOptions`]).
pub(crate) fn infer_config(
    shape_of: &dyn Fn(&str) -> Option<Vec<usize>>,
    options: &LoadOptions,
    prefix: &str,
) -> Result<RnnConfig> {
    let need = |name: &str| {
        shape_of(name).ok_or_else(|| Error::InferConfig {
            reason: format!("there is no tensor named `{prefix}{name}`"),
        })
    };
    let w_ih = need("weight_ih_l0")?;
    let w_hh = need("weight_hh_l0")?;
    let (&[rows, input_size], &[rows_hh, state_width]) = (w_ih.as_slice(), w_hh.as_slice()) else {
        return Err(Error::InferConfig {
            reason: format!(
                "`{prefix}weight_ih_l0` and `{prefix}weight_hh_l0` must be 2-D, found {:?} and {:?}",
                w_ih, w_hh
            ),
        });
    };
    let (hidden_size, proj_size) = match shape_of("weight_hr_l0") {
        Some(s) if s.len() == 2 => (s[1], s[0]),
        Some(s) => {
            return Err(Error::InferConfig {
                reason: format!("`{prefix}weight_hr_l0` must be 2-D, found {s:?}"),
            })
        }
        None => (state_width, 0),
    };
    if hidden_size == 0 || rows != rows_hh || rows % hidden_size != 0 {
        return Err(Error::InferConfig {
            reason: format!(
                "`{prefix}weight_ih_l0` has {rows} rows and `{prefix}weight_hh_l0` has {rows_hh}; both must be gates*hidden_size with hidden_size={hidden_size}"
            ),
        });
    }
    let inferred = match rows / hidden_size {
        4 => Kind::Lstm,
        3 => Kind::Gru,
        1 => Kind::RnnTanh,
        g => {
            return Err(Error::InferConfig {
                reason: format!(
                    "`{prefix}weight_hh_l0` has {g}*hidden_size rows; LSTM has 4, GRU 3, RNN 1"
                ),
            })
        }
    };
    let kind =
        match options.kind {
            None => inferred,
            Some(k) if k.gate_count() == inferred.gate_count() => k,
            Some(k) => {
                return Err(Error::InferConfig {
                    reason: format!(
                    "the weights have {}*hidden_size gate rows (a {}), but kind {} was asked for",
                    inferred.gate_count(),
                    if inferred == Kind::RnnTanh { "plain RNN" } else { inferred.name() },
                    k
                ),
                })
            }
        };
    let num_layers = (0..)
        .take_while(|l| shape_of(&format!("weight_ih_l{l}")).is_some())
        .count();
    Ok(RnnConfig {
        kind,
        input_size,
        hidden_size,
        num_layers,
        bidirectional: shape_of("weight_ih_l0_reverse").is_some(),
        bias: shape_of("bias_ih_l0").is_some(),
        batch_first: options.batch_first,
        proj_size,
    })
}
