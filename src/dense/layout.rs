//! The shape checks of a [`Sequential`] model's forward pass, shared by the CPU and GPU paths.
//!
//! [`Sequential`]: super::Sequential

use super::Activation;
use crate::error::{Error, Result};
use crate::error_hints::Shape;
use crate::shape::{swap_batch_time, InputShapes, Tensor};

/// What the shape checks need of a model: shared by the CPU and GPU paths.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Layout {
    pub batch_first: bool,
    pub stages: Vec<StageShape>,
    /// Per stage, for messages: "stage 1 `rnn` (nn.LSTM(20, 20))".
    pub labels: Vec<String>,
}

/// A stage's widths.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StageShape {
    Linear {
        in_features: usize,
        out_features: usize,
    },
    Recurrent {
        input_size: usize,
        output_width: usize,
    },
    LastStep {
        bidirectional: bool,
    },
    Activation(Activation),
}

/// The dimensions of one forward pass, once every check has passed. The data of every stage is
/// `rows x width` row-major; sequences are time-major, `rows = t * b`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Flow {
    /// Steps and sequences; for a model without sequence stages, `t` is every row and `b` 1.
    pub t: usize,
    pub b: usize,
    /// Whether `(B, T, F)` input must be made time-major (and the output back).
    pub swap: bool,
    /// Per-sequence lengths as given.
    pub lengths: Option<Vec<usize>>,
    /// The width into each stage, then the output width: `stages + 1` entries.
    pub widths: Vec<usize>,
    /// The index of the last-step stage, if any.
    pub last_step: Option<usize>,
    /// The shape to return.
    pub out_shape: Vec<usize>,
}

impl Flow {
    /// Whether there is nothing to compute (`T = 0` or `B = 0`).
    pub(crate) fn is_empty(&self) -> bool {
        self.out_shape.contains(&0) || self.t * self.b == 0
    }

    /// Lengths, `t` for every sequence when none were given.
    pub(crate) fn lengths_or_full(&self) -> Vec<usize> {
        self.lengths.clone().unwrap_or_else(|| vec![self.t; self.b])
    }

    /// The rows of data flowing into stage `index`.
    pub(crate) fn rows_into(&self, index: usize) -> usize {
        match self.last_step {
            Some(at) if index > at => self.b,
            _ => self.t * self.b,
        }
    }
}

impl Layout {
    /// Time-major results in the caller's layout and shape.
    pub(crate) fn finish(&self, flow: &Flow, data: Vec<f32>) -> Tensor {
        let width = flow.widths[self.stages.len()];
        let data = if flow.swap && flow.last_step.is_none() {
            swap_batch_time(&data, flow.t, flow.b, width)
        } else {
            data
        };
        Tensor::from_parts(flow.out_shape.clone(), data)
    }

    /// The flow of a forward pass's arguments. Every recurrent stage starts from zero state,
    /// as in a PyTorch module that calls its RNN without one: `h0`/`c0` are refused.
    pub(crate) fn resolve_input(&self, shapes: &InputShapes<'_>) -> Result<Flow> {
        if shapes.h0.is_some() || shapes.c0.is_some() {
            return Err(Error::Unsupported {
                what: "h0/c0 for a Sequential model".into(),
                reason: "its recurrent stages start from zero state; run a stack alone (Rnn, GpuRnn) to give it an initial state".into(),
            });
        }
        self.resolve(shapes.input, shapes.lengths)
    }

    pub(crate) fn resolve(&self, shape: &[usize], lengths: Option<&[usize]>) -> Result<Flow> {
        let sequence = self.stages.iter().any(|l| {
            matches!(
                l,
                StageShape::Recurrent { .. } | StageShape::LastStep { .. }
            )
        });
        let features = shape.last().copied().unwrap_or(0);
        let (t, b, batched) = match (sequence, shape) {
            (true, &[t, _]) => (t, 1, false),
            (true, &[d0, d1, _]) if self.batch_first => (d1, d0, true),
            (true, &[d0, d1, _]) => (d0, d1, true),
            (false, [_, ..]) => (shape[..shape.len() - 1].iter().product(), 1, false),
            _ => {
                return Err(Error::InputRank {
                    shape: shape.to_vec(),
                    input_size: self.input_width().map_or(features, |(_, w)| w),
                    batch_first: self.batch_first,
                })
            }
        };
        if let Some((index, expected)) = self.input_width() {
            if features != expected {
                let field = match self.stages[index] {
                    StageShape::Recurrent { .. } => "input_size",
                    _ => "in_features",
                };
                return Err(Error::FeatureWidth {
                    layer: self.labels[index].clone(),
                    field,
                    expected,
                    from: format!("`input` of shape {} has", Shape(shape)),
                    got: features,
                });
            }
        }
        let lengths = match lengths {
            None => None,
            Some(_) if !sequence => {
                return Err(Error::Unsupported {
                    what: "`lengths` for a model without recurrent or last-step stages".into(),
                    reason: "its stages act on every row alike; pass no lengths".into(),
                })
            }
            Some(l) if l.len() != b => {
                return Err(Error::LengthsCount {
                    expected: b,
                    got: l.len(),
                })
            }
            Some(l) => {
                if let Some((index, &length)) = l.iter().enumerate().find(|(_, &n)| n == 0 || n > t)
                {
                    return Err(Error::LengthOutOfRange {
                        index,
                        length,
                        max: t,
                    });
                }
                Some(l.to_vec())
            }
        };
        let mut widths = vec![features];
        let mut last_step = None;
        for (i, stage) in self.stages.iter().enumerate() {
            let width = widths[i];
            widths.push(match *stage {
                StageShape::Linear { out_features, .. } => out_features,
                StageShape::Recurrent { output_width, .. } => output_width,
                StageShape::LastStep { .. } => {
                    if t == 0 && b > 0 {
                        return Err(Error::Unsupported {
                            what: "the last step of sequences with T=0 steps".into(),
                            reason: "there is no step to take (PyTorch's out[:, -1] fails too)"
                                .into(),
                        });
                    }
                    last_step = Some(i);
                    width
                }
                StageShape::Activation(_) => width,
            });
        }
        // The kernels index with u32: every buffer stays below 2^32 / 4 elements.
        let widest = widths.iter().copied().max().unwrap_or(0);
        let elements = (t as u128 * b as u128).saturating_mul(widest as u128);
        if elements > (u32::MAX / 4) as u128 {
            return Err(Error::TooLarge {
                what: "the activations of one stage",
                elements,
                limit: (u32::MAX / 4) as u64,
            });
        }
        let out = widths[self.stages.len()];
        let out_shape = match (sequence, last_step.is_some(), batched) {
            (false, _, _) => [&shape[..shape.len() - 1], &[out]].concat(),
            (true, true, true) => vec![b, out],
            (true, true, false) => vec![out],
            (true, false, false) => vec![t, out],
            (true, false, true) if self.batch_first => vec![b, t, out],
            (true, false, true) => vec![t, b, out],
        };
        Ok(Flow {
            t,
            b,
            swap: batched && self.batch_first,
            lengths,
            widths,
            last_step,
            out_shape,
        })
    }

    /// The first stage that fixes the input width, and that width.
    fn input_width(&self) -> Option<(usize, usize)> {
        self.stages.iter().enumerate().find_map(|(i, l)| match *l {
            StageShape::Linear { in_features, .. } => Some((i, in_features)),
            StageShape::Recurrent { input_size, .. } => Some((i, input_size)),
            _ => None,
        })
    }
}
