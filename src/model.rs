//! The model users hold: a configuration plus checked weights, run on the CPU or uploaded to a GPU.

use std::borrow::Cow;
use std::path::Path;

use crate::config::RnnConfig;
#[allow(unused_imports)] // for intra-doc links
use crate::error::Error;
use crate::error::Result;
use crate::gpu::{GpuContext, GpuRnn};
use crate::resolve::Resolved;
use crate::shape::{
    swap_batch_time, swap_batch_time_into, Input, OutputShapes, Tensor, TensorView,
};
use crate::weights::{DirectionWeights, LoadOptions, TensorFile};
use crate::{cpu, Output, Precision};

/// A recurrent layer stack with its weights, in PyTorch layout, on the host.
///
/// Run it on the CPU reference path with [`Rnn::forward`], or upload it with [`Rnn::to_gpu`]
/// and run the same inputs through [`GpuRnn::forward`].
#[derive(Clone, Debug, PartialEq)]
pub struct Rnn {
    config: RnnConfig,
    layers: Vec<Vec<DirectionWeights>>,
}

impl Rnn {
    /// Builds a model from named tensors in PyTorch layout (`weight_ih_l0`, `bias_hh_l1_reverse`,
    /// ...), given as `(name, shape, row-major values)`. Every tensor the configuration needs
    /// must be present, with its exact shape and finite values; no other tensor may be.
    ///
    /// ```
    /// use wgpu_rnn::{Input, Kind, Rnn, RnnConfig, Tensor};
    /// // nn.RNN(input_size=2, hidden_size=1, bias=False) with weight_ih = [[1, 0]], weight_hh = [[0.5]]
    /// let config = RnnConfig::new(Kind::RnnRelu, 2, 1).bias(false);
    /// let rnn = Rnn::from_tensors(config, [
    ///     ("weight_ih_l0", &[1usize, 2][..], &[1.0f32, 0.0][..]),
    ///     ("weight_hh_l0", &[1, 1][..], &[0.5][..]),
    /// ])?;
    /// let x = Tensor::new([2, 2], vec![1.0, 9.0, 1.0, 9.0])?; // unbatched (T=2, I=2)
    /// let out = rnn.forward(&Input::new(&x))?;
    /// assert_eq!(out.output.data(), &[1.0, 1.5]); // h1 = relu(1), h2 = relu(1 + 0.5 * 1)
    /// # Ok::<(), wgpu_rnn::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::MissingWeight`](crate::Error::MissingWeight), [`Error::UnexpectedWeight`](crate::Error::UnexpectedWeight), [`Error::WeightShape`](crate::Error::WeightShape),
    /// [`Error::NonFiniteWeight`](crate::Error::NonFiniteWeight), or the configuration's own errors.
    pub fn from_tensors<'a>(
        config: RnnConfig,
        tensors: impl IntoIterator<Item = (&'a str, &'a [usize], &'a [f32])>,
    ) -> Result<Self> {
        let layers = crate::weights::collect(
            &config,
            "",
            tensors
                .into_iter()
                .map(|(n, s, d)| (n, s, Cow::Borrowed(d))),
        )?;
        Ok(Rnn { config, layers })
    }

    /// Builds a model whose every tensor is produced by `init(name, shape)` (for random or
    /// synthetic weights). The values are checked as in [`Rnn::from_tensors`].
    ///
    /// # Errors
    /// As [`Rnn::from_tensors`]; a closure returning the wrong number of values is an error.
    pub fn from_fn(
        config: RnnConfig,
        mut init: impl FnMut(&str, &[usize]) -> Vec<f32>,
    ) -> Result<Self> {
        let specs = crate::weights::expected_tensors(&config)?;
        let values: Vec<Vec<f32>> = specs.iter().map(|s| init(&s.name, &s.shape)).collect();
        let layers = crate::weights::collect(
            &config,
            "",
            specs.iter().zip(&values).map(|(s, v)| {
                (
                    s.name.as_str(),
                    s.shape.as_slice(),
                    Cow::Borrowed(v.as_slice()),
                )
            }),
        )?;
        Ok(Rnn { config, layers })
    }

    /// Loads a PyTorch `state_dict` saved with `safetensors.torch.save_file`, inferring the
    /// configuration from the tensors (kind, sizes, layers, directions, bias, projection).
    ///
    /// ```no_run
    /// use wgpu_rnn::{LoadOptions, Rnn};
    /// let rnn = Rnn::load("gru.safetensors", &LoadOptions::default().batch_first(true))?;
    /// println!("{:?}", rnn.config());
    /// # Ok::<(), wgpu_rnn::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Io`](crate::Error::Io), [`Error::Safetensors`](crate::Error::Safetensors), [`Error::InferConfig`](crate::Error::InferConfig), [`Error::Dtype`](crate::Error::Dtype), or any
    /// weight error of [`Rnn::from_tensors`], naming the tensor as it is in the file.
    pub fn load(path: impl AsRef<Path>, options: &LoadOptions) -> Result<Self> {
        Self::from_file(&TensorFile::open(path)?, options)
    }

    /// As [`Rnn::load`], from a file already read.
    ///
    /// # Errors
    /// As [`Rnn::load`].
    pub fn from_file(file: &TensorFile, options: &LoadOptions) -> Result<Self> {
        let (config, layers) = file.rnn_parts(options)?;
        Ok(Rnn { config, layers })
    }

    /// The configuration.
    pub fn config(&self) -> &RnnConfig {
        &self.config
    }

    /// Changes `batch_first` (a property of the data layout, not of the weights).
    pub fn set_batch_first(&mut self, batch_first: bool) {
        self.config.batch_first = batch_first;
    }

    /// Dry run: the output shapes for these arguments, or the error a forward pass would give.
    ///
    /// # Errors
    /// As [`RnnConfig::check`].
    pub fn check(&self, input: &Input<'_>) -> Result<OutputShapes> {
        self.config.check(&input.shapes())
    }

    /// Runs the stack on the CPU reference path.
    ///
    /// # Errors
    /// Every shape, state and length error of [`RnnConfig::check`].
    pub fn forward(&self, input: &Input<'_>) -> Result<Output> {
        let resolved = crate::resolve::resolve(&self.config, &input.shapes())?;
        input.check_finite()?;
        if resolved.t == 0 || resolved.b == 0 {
            return empty_output(input, &resolved);
        }
        let r = self.reference(input, &resolved);
        Ok(finish_output(
            &self.config,
            &resolved,
            r.output,
            r.h_n,
            r.c_n,
        ))
    }

    /// As [`Rnn::forward`], writing the results into `out` (its tensors take the result's
    /// shapes and keep their allocations). The reference path still allocates its working
    /// memory; [`GpuStream::push_into`](crate::GpuStream::push_into) is the form whose
    /// steady loop allocates nothing for its data.
    ///
    /// # Errors
    /// As [`Rnn::forward`]; `out` is unspecified after an error.
    pub fn forward_into(&self, input: &Input<'_>, out: &mut Output) -> Result<()> {
        let resolved = crate::resolve::resolve(&self.config, &input.shapes())?;
        input.check_finite()?;
        if resolved.t == 0 || resolved.b == 0 {
            *out = empty_output(input, &resolved)?;
            return Ok(());
        }
        let r = self.reference(input, &resolved);
        write_output(&self.config, &resolved, [&r.output, &r.h_n, &r.c_n], out);
        Ok(())
    }

    fn reference(&self, input: &Input<'_>, resolved: &Resolved) -> cpu::Results {
        let host = HostSequences::new(&self.config, input, resolved);
        let seq = cpu::Sequences {
            x: &host.x,
            t: resolved.t,
            b: resolved.b,
            lengths: &host.lengths,
            h0: &host.h0,
            c0: &host.c0,
        };
        cpu::forward(&self.config, &self.layers, &seq)
    }

    /// Uploads the weights to `ctx` (once); the returned model runs on that GPU.
    ///
    /// # Errors
    /// [`Error::DeviceLimit`](crate::Error::DeviceLimit) when a weight matrix exceeds the
    /// device's buffer limits, or, on a software adapter, when a layer's input is wider than
    /// its shaders can loop over (about 209 000 features: llvmpipe ends longer loops);
    /// [`Error::Gpu`](crate::Error::Gpu) when the upload fails.
    pub fn to_gpu(&self, ctx: &GpuContext) -> Result<GpuRnn> {
        self.to_gpu_with(ctx, Precision::F32)
    }

    /// As [`Rnn::to_gpu`], with the weight matrices stored as `precision` on the device:
    /// [`Precision::F16`] halves their memory and the bytes each step reads (arithmetic and
    /// state stay f32). The results then equal [`Rnn::with_precision`]'s on the CPU to float
    /// rounding.
    ///
    /// ```no_run
    /// # use wgpu_rnn::{GpuContext, Precision, Rnn};
    /// # fn run(rnn: &Rnn, ctx: &GpuContext) -> wgpu_rnn::Result<()> {
    /// let gpu = rnn.to_gpu_with(ctx, Precision::F16)?;
    /// let reference = rnn.with_precision(Precision::F16)?; // the same weights, on the CPU
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Rnn::to_gpu`], and [`Error::WeightRange`](crate::Error::WeightRange) when a
    /// weight is beyond `precision`'s range.
    pub fn to_gpu_with(&self, ctx: &GpuContext, precision: Precision) -> Result<GpuRnn> {
        GpuRnn::upload(ctx, &self.config, &self.layers, None, precision)
    }

    /// The model with its weight matrices (`weight_ih`, `weight_hh`, `weight_hr`) rounded as
    /// `precision` stores them on the GPU, biases unchanged: its CPU forward is the reference
    /// for a model uploaded with [`Rnn::to_gpu_with`]. F32 returns a copy.
    ///
    /// # Errors
    /// [`Error::WeightRange`](crate::Error::WeightRange) when a weight is beyond
    /// `precision`'s range.
    pub fn with_precision(&self, precision: Precision) -> Result<Rnn> {
        crate::gpu::check_range(&self.layers, precision)?;
        let round = |m: &[f32]| m.iter().map(|&x| precision.round(x)).collect();
        let layers = self
            .layers
            .iter()
            .map(|dirs| {
                dirs.iter()
                    .map(|w| DirectionWeights {
                        w_ih: round(&w.w_ih),
                        w_hh: round(&w.w_hh),
                        w_hr: round(&w.w_hr),
                        b_ih: w.b_ih.clone(),
                        b_hh: w.b_hh.clone(),
                    })
                    .collect()
            })
            .collect();
        Ok(Rnn {
            config: self.config.clone(),
            layers,
        })
    }

    /// Uploads with another cell than PyTorch's (ONNX's activations, clip, peepholes).
    #[cfg(feature = "onnx")]
    pub(crate) fn to_gpu_with_cell(
        &self,
        ctx: &GpuContext,
        cell: crate::gpu::cell::CellVariant,
        precision: Precision,
    ) -> Result<GpuRnn> {
        GpuRnn::upload(ctx, &self.config, &self.layers, Some(cell), precision)
    }
}

/// The arguments of a forward pass in the layout both paths compute in: time-major, with
/// lengths and zero states filled in. Borrowed from the caller where they already are.
pub(crate) struct HostSequences<'a> {
    /// `(T, B, I)`.
    pub x: Cow<'a, [f32]>,
    /// One per sequence (`T` when not given).
    pub lengths: Cow<'a, [usize]>,
    /// `(D*L, B, H_out)`.
    pub h0: Cow<'a, [f32]>,
    /// `(D*L, B, H)` for LSTM, empty otherwise.
    pub c0: Cow<'a, [f32]>,
}

impl<'a> HostSequences<'a> {
    pub(crate) fn new(config: &RnnConfig, input: &Input<'a>, r: &'a Resolved) -> Self {
        Self::with_scratch(config, input, r, None)
    }

    /// As [`HostSequences::new`], making a batch-first input time-major in `scratch` (kept
    /// by the caller between calls) rather than in a new allocation.
    pub(crate) fn with_scratch(
        config: &RnnConfig,
        input: &Input<'a>,
        r: &'a Resolved,
        scratch: Option<&'a mut Vec<f32>>,
    ) -> Self {
        let x = match (r.batched && config.batch_first, scratch) {
            (false, _) => Cow::Borrowed(input.x.data()),
            (true, None) => {
                Cow::Owned(swap_batch_time(input.x.data(), r.b, r.t, config.input_size))
            }
            (true, Some(scratch)) => {
                scratch.resize(input.x.data().len(), 0.0);
                swap_batch_time_into(input.x.data(), r.b, r.t, config.input_size, scratch);
                Cow::Borrowed(&scratch[..])
            }
        };
        let stacked = config.num_layers * config.num_directions();
        let h0 = match input.h0 {
            Some(h0) => Cow::Borrowed(h0.data()),
            None => Cow::Owned(vec![0.0; stacked * r.b * config.state_width()]),
        };
        let c0 = match (input.c0, config.kind.has_cell_state()) {
            (Some(c0), _) => Cow::Borrowed(c0.data()),
            (None, true) => Cow::Owned(vec![0.0; stacked * r.b * config.hidden_size]),
            (None, false) => Cow::Borrowed(&[][..]),
        };
        let lengths = match &r.lengths {
            Some(lengths) => Cow::Borrowed(lengths.as_slice()),
            None => Cow::Owned(vec![r.t; r.b]),
        };
        HostSequences { x, lengths, h0, c0 }
    }
}

/// Puts time-major results into the caller's layout and shapes.
pub(crate) fn finish_output(
    config: &RnnConfig,
    r: &Resolved,
    output: Vec<f32>,
    h_n: Vec<f32>,
    c_n: Vec<f32>,
) -> Output {
    Output {
        output: finish_sequence(config, r, output),
        h_n: Tensor::from_parts(r.shapes.h_n.clone(), h_n),
        c_n: r
            .shapes
            .c_n
            .clone()
            .map(|shape| Tensor::from_parts(shape, c_n)),
    }
}

/// A time-major `(T, B, D*H_out)` output in the caller's layout and shape.
pub(crate) fn finish_sequence(config: &RnnConfig, r: &Resolved, output: Vec<f32>) -> Tensor {
    let output = if r.batched && config.batch_first {
        swap_batch_time(&output, r.t, r.b, config.output_width())
    } else {
        output
    };
    Tensor::from_parts(r.shapes.output.clone(), output)
}

/// As [`finish_output`], into `out`'s allocations: nothing is allocated when they are large
/// enough (a previous call of the same shape).
pub(crate) fn write_output(
    config: &RnnConfig,
    r: &Resolved,
    [output, h_n, c_n]: [&[f32]; 3],
    out: &mut Output,
) {
    write_sequence(config, r, output, &mut out.output);
    out.h_n
        .reshape_for_write(&r.shapes.h_n)
        .copy_from_slice(h_n);
    match &r.shapes.c_n {
        Some(shape) => out
            .c_n
            .get_or_insert_with(Tensor::default)
            .reshape_for_write(shape)
            .copy_from_slice(c_n),
        None => out.c_n = None,
    }
}

/// As [`finish_sequence`], into `out`'s allocation.
pub(crate) fn write_sequence(config: &RnnConfig, r: &Resolved, output: &[f32], out: &mut Tensor) {
    let dst = out.reshape_for_write(&r.shapes.output);
    if r.batched && config.batch_first {
        swap_batch_time_into(output, r.t, r.b, config.output_width(), dst);
    } else {
        dst.copy_from_slice(output);
    }
}

/// `T = 0` or `B = 0`: no step runs, so the output is empty and the final state is the initial one.
pub(crate) fn empty_output(input: &Input<'_>, r: &Resolved) -> Result<Output> {
    let state = |given: Option<TensorView<'_>>, shape: &[usize]| match given {
        Some(t) => Ok(t.to_tensor()),
        None => Tensor::zeros(shape.to_vec()),
    };
    Ok(Output {
        output: Tensor::zeros(r.shapes.output.clone())?,
        h_n: state(input.h0, &r.shapes.h_n)?,
        c_n: match &r.shapes.c_n {
            Some(shape) => Some(state(input.c0, shape)?),
            None => None,
        },
    })
}
