//! A model described as an ordered list of stages, and its loading from a whole `state_dict`.

use std::collections::BTreeSet;
use std::path::Path;

use super::layout::Layout;
use super::linear::repr as linear_repr;
use super::model::{Layer, SequentialModel};
use super::{dotted, Activation, Linear};
use crate::config::{Kind, RnnConfig};
use crate::error::{Error, Result};
use crate::model::Rnn;
use crate::weights::{LoadOptions, TensorFile};

/// One stage of a [`Sequential`] model, named as the attribute of the PyTorch module.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Stage {
    /// `nn.Linear(in_features, out_features)`: tensors `{prefix}.weight` and, when present,
    /// `{prefix}.bias`.
    Linear {
        /// The attribute path, such as `fc` or `head.fc`.
        prefix: String,
        /// Input features.
        in_features: usize,
        /// Output features.
        out_features: usize,
    },
    /// An `nn.GRU`, `nn.LSTM` or `nn.RNN` whose tensors are `{prefix}.weight_ih_l0`, ...; its
    /// configuration is inferred from them (see [`Rnn::load`]). Its output sequence goes on.
    Recurrent {
        /// The attribute path, such as `rnn` or `encoder.lstm`.
        prefix: String,
        /// The kind, where the tensors cannot tell: plain RNN weights read as tanh.
        kind: Option<Kind>,
    },
    /// Each sequence's output at its last valid step: `(B, T, F) -> (B, F)`. After a
    /// bidirectional recurrent stage (activations in between allowed), the forward half is taken
    /// at the last valid step and the reverse half at step 0, where the reverse pass ends.
    LastStep,
    /// An elementwise activation.
    Activation(Activation),
}

impl Stage {
    fn describe(&self) -> String {
        match self {
            Stage::Linear {
                prefix,
                in_features,
                out_features,
            } => format!(
                "`{}` ({})",
                module_name(prefix),
                linear_repr(*in_features, *out_features)
            ),
            Stage::Recurrent { prefix, .. } => format!("`{}` (recurrent)", module_name(prefix)),
            Stage::LastStep => "(last step)".to_string(),
            Stage::Activation(a) => format!("({})", a.torch_name()),
        }
    }
}

/// A PyTorch model written as its sequence of stages, to be loaded from its `state_dict`.
///
/// Loading is strict as `load_state_dict(strict=True)`: each stage's tensors must be present
/// with the right shapes, consecutive stages must agree on widths, and the file may hold no
/// tensor that no stage uses (see [`Sequential::strict`]).
///
/// # Layout
/// With `batch_first`, inputs and sequence outputs are `(B, T, F)`, else `(T, B, F)`; a 2-D
/// input is one unbatched sequence `(T, F)`. After [`Stage::LastStep`] the data is `(B, F)`.
/// A model without recurrent and last-step stages applies to the last dimension of any input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sequential {
    stages: Vec<Stage>,
    batch_first: bool,
    strict: bool,
}

impl Default for Sequential {
    fn default() -> Self {
        Self::new()
    }
}

impl Sequential {
    /// No stages, time-major, strict.
    pub fn new() -> Self {
        Sequential {
            stages: Vec::new(),
            batch_first: false,
            strict: true,
        }
    }

    setters! {
        /// Whether inputs and sequence outputs are `(B, T, F)` (`batch_first=True` of the
        /// recurrent modules).
        batch_first: bool;
        /// Whether every tensor of the file must belong to a stage (default `true`).
        strict: bool;
    }

    /// Appends a stage.
    pub fn push(mut self, stage: Stage) -> Self {
        self.stages.push(stage);
        self
    }

    /// Appends `nn.Linear(in_features, out_features)` with tensors under `prefix`.
    pub fn linear(self, prefix: &str, in_features: usize, out_features: usize) -> Self {
        self.push(Stage::Linear {
            prefix: prefix.to_string(),
            in_features,
            out_features,
        })
    }

    /// Appends a recurrent stack with tensors under `prefix`, its kind inferred.
    pub fn recurrent(self, prefix: &str) -> Self {
        self.push(Stage::Recurrent {
            prefix: prefix.to_string(),
            kind: None,
        })
    }

    /// Appends a recurrent stack of the given kind (for `nn.RNN(nonlinearity='relu')`).
    pub fn recurrent_kind(self, prefix: &str, kind: Kind) -> Self {
        self.push(Stage::Recurrent {
            prefix: prefix.to_string(),
            kind: Some(kind),
        })
    }

    /// Appends [`Stage::LastStep`].
    pub fn last_step(self) -> Self {
        self.push(Stage::LastStep)
    }

    /// Appends an activation.
    pub fn activation(self, activation: Activation) -> Self {
        self.push(Stage::Activation(activation))
    }

    /// The stages, in order.
    pub fn stages(&self) -> &[Stage] {
        &self.stages
    }

    /// Loads every stage's tensors from a `.safetensors` `state_dict`.
    ///
    /// # Errors
    /// As [`Sequential::from_file`], and [`Error::Io`] or [`Error::Safetensors`] for the file.
    pub fn load(&self, path: impl AsRef<Path>) -> Result<SequentialModel> {
        self.from_file(&TensorFile::open(path)?)
    }

    /// As [`Sequential::load`], from a file already read.
    ///
    /// # Errors
    /// [`Error::StageOrder`] for stages that cannot follow each other, [`Error::Unsupported`]
    /// for no stages; [`Error::MissingTensor`],
    /// [`Error::WeightShape`], [`Error::NonFiniteWeight`] and the recurrent loading errors of
    /// [`Rnn::from_file`] naming the tensor; [`Error::FeatureWidth`] when a stage's input width
    /// differs from the previous stage's output; [`Error::UnusedTensors`] when strict.
    pub fn from_file(&self, file: &TensorFile) -> Result<SequentialModel> {
        self.check_order()?;
        let mut layers = Vec::with_capacity(self.stages.len());
        let mut labels = Vec::with_capacity(self.stages.len());
        let mut used = BTreeSet::new();
        // The width flowing out of the last stage that fixed one: (its label, width).
        let mut flowing: Option<(String, usize)> = None;
        for (index, stage) in self.stages.iter().enumerate() {
            let (layer, label) = match stage {
                Stage::Linear {
                    prefix,
                    in_features,
                    out_features,
                } => {
                    let label = format!("stage {index} {}", stage.describe());
                    let linear =
                        Linear::from_file_for(file, prefix, *in_features, *out_features, &label)?;
                    let p = dotted(prefix);
                    used.insert(format!("{p}weight"));
                    if linear.bias().is_some() {
                        used.insert(format!("{p}bias"));
                    }
                    (Layer::Linear(linear), label)
                }
                Stage::Recurrent { prefix, kind } => {
                    let options = LoadOptions {
                        prefix: Some(prefix.clone()),
                        kind: *kind,
                        batch_first: false, // every stage computes time-major
                    };
                    let rnn = Rnn::from_file(file, &options)?;
                    let p = dotted(prefix);
                    used.extend(file.names().into_iter().filter(|n| {
                        n.strip_prefix(p.as_str())
                            .is_some_and(|rest| !rest.contains('.'))
                    }));
                    let label = format!(
                        "stage {index} `{}` ({})",
                        module_name(prefix),
                        recurrent_repr(rnn.config())
                    );
                    (Layer::Recurrent(rnn), label)
                }
                Stage::LastStep => {
                    // The nearest stage before that changes features decides the halves.
                    let bidirectional = layers
                        .iter()
                        .rev()
                        .find(|l| !matches!(l, Layer::Activation(_)))
                        .is_some_and(
                            |l| matches!(l, Layer::Recurrent(r) if r.config().bidirectional),
                        );
                    let label = format!(
                        "stage {index} (last step{})",
                        if bidirectional {
                            ": forward half at the last valid step, reverse half at step 0"
                        } else {
                            ""
                        }
                    );
                    (Layer::LastStep { bidirectional }, label)
                }
                Stage::Activation(a) => (
                    Layer::Activation(*a),
                    format!("stage {index} ({})", a.torch_name()),
                ),
            };
            let input = match &layer {
                Layer::Linear(l) => Some(("in_features", l.in_features(), l.out_features())),
                Layer::Recurrent(r) => Some((
                    "input_size",
                    r.config().input_size,
                    r.config().output_width(),
                )),
                Layer::LastStep { .. } | Layer::Activation(_) => None,
            };
            if let Some((field, expected, out)) = input {
                if let Some((from, got)) = &flowing {
                    if *got != expected {
                        return Err(Error::FeatureWidth {
                            layer: label,
                            field,
                            expected,
                            from: format!("{from} outputs"),
                            got: *got,
                        });
                    }
                }
                flowing = Some((label.clone(), out));
            }
            layers.push(layer);
            labels.push(label);
        }
        if self.strict {
            let unused: Vec<String> = file
                .names()
                .into_iter()
                .filter(|n| !used.contains(n))
                .collect();
            if !unused.is_empty() {
                return Err(Error::UnusedTensors { names: unused });
            }
        }
        Ok(SequentialModel {
            layout: Layout {
                batch_first: self.batch_first,
                stages: layers.iter().map(Layer::shape).collect(),
                labels,
            },
            layers,
        })
    }

    /// Orders no weights can fix: nothing to run, or a sequence stage after the last step.
    fn check_order(&self) -> Result<()> {
        if self.stages.is_empty() {
            return Err(Error::Unsupported {
                what: "a Sequential without stages".into(),
                reason: "add at least one stage".into(),
            });
        }
        let mut stepped: Option<usize> = None;
        for (index, stage) in self.stages.iter().enumerate() {
            if let (Some(at), Stage::Recurrent { .. } | Stage::LastStep) = (stepped, stage) {
                return Err(Error::StageOrder {
                    index,
                    stage: stage.describe(),
                    problem: format!(
                        "it needs a sequence, but stage {at} (last step) already reduced each sequence to one step"
                    ),
                });
            }
            if matches!(stage, Stage::LastStep) {
                stepped = Some(index);
            }
        }
        Ok(())
    }
}

/// `prefix` as named in messages: `fc.` reads `fc`.
fn module_name(prefix: &str) -> &str {
    prefix.trim_end_matches('.')
}

/// `nn.GRU(5, 4, bidirectional=True)`: the constructor call that builds this configuration.
fn recurrent_repr(c: &RnnConfig) -> String {
    let name = match c.kind {
        Kind::Gru => "nn.GRU",
        Kind::Lstm => "nn.LSTM",
        Kind::RnnTanh | Kind::RnnRelu => "nn.RNN",
    };
    let mut args = vec![c.input_size.to_string(), c.hidden_size.to_string()];
    if c.num_layers != 1 {
        args.push(format!("num_layers={}", c.num_layers));
    }
    if c.kind == Kind::RnnRelu {
        args.push("nonlinearity='relu'".into());
    }
    if !c.bias {
        args.push("bias=False".into());
    }
    if c.bidirectional {
        args.push("bidirectional=True".into());
    }
    if c.proj_size > 0 {
        args.push(format!("proj_size={}", c.proj_size));
    }
    format!("{name}({})", args.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recurrent_repr_reads_as_the_pytorch_constructor() {
        let c = RnnConfig::new(Kind::Lstm, 20, 20);
        assert_eq!(recurrent_repr(&c), "nn.LSTM(20, 20)");
        let c = RnnConfig::new(Kind::RnnRelu, 3, 4)
            .num_layers(2)
            .bias(false)
            .bidirectional(true);
        assert_eq!(
            recurrent_repr(&c),
            "nn.RNN(3, 4, num_layers=2, nonlinearity='relu', bias=False, bidirectional=True)"
        );
    }
}
