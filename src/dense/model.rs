//! A [`Sequential`] model with its weights: the CPU reference forward pass.
//!
//! [`Sequential`]: super::Sequential

use super::layout::{Layout, StageShape};
use super::{cpu, Activation, GpuSequential, Linear};
use crate::error::Result;
use crate::gpu::GpuContext;
use crate::model::Rnn;
use crate::shape::{swap_batch_time, Input, InputShapes, Tensor};
use crate::Precision;

/// A [`Sequential`](super::Sequential) description with its weights loaded: run it on the CPU with
/// [`SequentialModel::forward`], or upload it with [`SequentialModel::to_gpu`].
#[derive(Clone, Debug, PartialEq)]
pub struct SequentialModel {
    pub(crate) layout: Layout,
    pub(crate) layers: Vec<Layer>,
}

/// A loaded stage. Recurrent stacks are held time-major (`batch_first` is the model's).
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Layer {
    Linear(Linear),
    Recurrent(Rnn),
    LastStep { bidirectional: bool },
    Activation(Activation),
}

impl Layer {
    pub(crate) fn shape(&self) -> StageShape {
        match self {
            Layer::Linear(l) => StageShape::Linear {
                in_features: l.in_features(),
                out_features: l.out_features(),
            },
            Layer::Recurrent(r) => StageShape::Recurrent {
                input_size: r.config().input_size,
                output_width: r.config().output_width(),
            },
            Layer::LastStep { bidirectional } => StageShape::LastStep {
                bidirectional: *bidirectional,
            },
            Layer::Activation(a) => StageShape::Activation(*a),
        }
    }
}

impl SequentialModel {
    /// Whether inputs and sequence outputs are `(B, T, F)`.
    pub fn batch_first(&self) -> bool {
        self.layout.batch_first
    }

    /// Dry run: the output shape for these argument shapes, or the error a forward pass
    /// would give.
    ///
    /// # Errors
    /// As [`SequentialModel::forward`].
    pub fn check(&self, shapes: &InputShapes<'_>) -> Result<Vec<usize>> {
        self.layout.resolve_input(shapes).map(|f| f.out_shape)
    }

    /// Runs every stage on the CPU reference path.
    ///
    /// # Errors
    /// [`Error::InputRank`](crate::Error::InputRank) for an input that is not a 2-D or 3-D sequence (models with
    /// recurrent or last-step stages), [`Error::FeatureWidth`](crate::Error::FeatureWidth) for the wrong number of
    /// features, the length errors of [`Input::lengths`], [`Error::TooLarge`](crate::Error::TooLarge);
    /// [`Error::Unsupported`](crate::Error::Unsupported) for `h0`/`c0` (every recurrent stage
    /// starts from zero state).
    pub fn forward(&self, input: &Input<'_>) -> Result<Tensor> {
        let flow = self.layout.resolve_input(&input.shapes())?;
        input.check_finite()?;
        let input = input.x;
        if flow.is_empty() {
            return Tensor::zeros(flow.out_shape);
        }
        let mut data = if flow.swap {
            swap_batch_time(input.data(), flow.b, flow.t, flow.widths[0])
        } else {
            input.data().to_vec()
        };
        let full = flow.lengths_or_full();
        for (i, layer) in self.layers.iter().enumerate() {
            let (rows, width) = (flow.rows_into(i), flow.widths[i]);
            data = match layer {
                Layer::Linear(linear) => linear.forward_rows(&data, rows, Activation::Identity),
                Layer::Activation(a) => {
                    cpu::activate(&mut data, *a);
                    data
                }
                Layer::Recurrent(rnn) => {
                    let x = Tensor::from_parts(vec![flow.t, flow.b, width], data);
                    let mut args = Input::new(&x);
                    if let Some(lengths) = &flow.lengths {
                        args = args.lengths(lengths);
                    }
                    rnn.forward(&args)?.output.into_data()
                }
                Layer::LastStep { bidirectional } => {
                    let split = if *bidirectional { width / 2 } else { width };
                    cpu::last_step(&data, flow.b, width, split, &full)
                }
            };
        }
        Ok(self.layout.finish(&flow, data))
    }

    /// Uploads every stage's weights to `ctx` (once) and compiles the dense kernels on first
    /// use; the returned model runs every stage on that GPU.
    ///
    /// # Errors
    /// [`Error::DeviceLimit`](crate::Error::DeviceLimit) when a weight does not fit the
    /// device, or, on a software adapter, when a `Linear` has more than about 65 000 input
    /// features (llvmpipe ends longer loops); [`Error::Gpu`](crate::Error::Gpu) when the upload
    /// or the kernels fail.
    pub fn to_gpu(&self, ctx: &GpuContext) -> Result<GpuSequential> {
        GpuSequential::upload(ctx, self, Precision::F32)
    }

    /// As [`SequentialModel::to_gpu`], with every weight matrix (the `Linear` layers' and the
    /// recurrent stacks') stored as `precision` ([`Rnn::to_gpu_with`]).
    ///
    /// # Errors
    /// As [`SequentialModel::to_gpu`], and [`Error::WeightRange`](crate::Error::WeightRange)
    /// for a weight beyond `precision`'s range.
    pub fn to_gpu_with(&self, ctx: &GpuContext, precision: Precision) -> Result<GpuSequential> {
        GpuSequential::upload(ctx, self, precision)
    }

    /// The model with every weight matrix rounded as `precision` stores it on the GPU
    /// ([`Rnn::with_precision`]): the CPU reference for [`SequentialModel::to_gpu_with`].
    ///
    /// # Errors
    /// [`Error::WeightRange`](crate::Error::WeightRange) for a weight beyond `precision`'s
    /// range.
    pub fn with_precision(&self, precision: Precision) -> Result<SequentialModel> {
        let layers = self
            .layers
            .iter()
            .zip(&self.layout.labels)
            .map(|(layer, label)| {
                Ok(match layer {
                    Layer::Linear(l) => Layer::Linear(l.with_precision(precision, label)?),
                    Layer::Recurrent(rnn) => Layer::Recurrent(rnn.with_precision(precision)?),
                    other => other.clone(),
                })
            })
            .collect::<Result<_>>()?;
        Ok(SequentialModel {
            layout: self.layout.clone(),
            layers,
        })
    }
}

impl std::fmt::Display for SequentialModel {
    /// One line per stage, as the errors name them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let layout = if self.layout.batch_first {
            "batch_first: (B, T, F)"
        } else {
            "time-major: (T, B, F)"
        };
        write!(f, "Sequential ({layout})")?;
        for label in &self.layout.labels {
            write!(f, "\n  {label}")?;
        }
        Ok(())
    }
}
