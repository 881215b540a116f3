//! Argument types the examples share, as clap value parsers (`value_parser = cli::device`),
//! so that `--device`, `--strategy` and counts read and fail the same way everywhere.
//!
//! Each example is a crate of its own and uses part of this module, hence the `allow`.
#![allow(dead_code)]

use wgpu_rnn::{Kind, Precision, Rnn, RnnConfig, Strategy, Tensor};

/// Where a forward pass runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Device {
    Gpu,
    Cpu,
}

impl Device {
    /// The name `--device` takes.
    pub fn name(self) -> &'static str {
        match self {
            Device::Gpu => "gpu",
            Device::Cpu => "cpu",
        }
    }
}

/// `--device gpu|cpu`. The message names the value as tests/classify.rs expects.
pub fn device(s: &str) -> Result<Device, String> {
    match s {
        "gpu" => Ok(Device::Gpu),
        "cpu" => Ok(Device::Cpu),
        other => Err(format!("unknown device `{other}`; expected gpu or cpu")),
    }
}

/// `--strategy auto|per-step|sequence|wavefront`.
pub fn strategy(s: &str) -> Result<Strategy, String> {
    match s {
        "auto" => Ok(Strategy::Auto),
        "per-step" => Ok(Strategy::PerStep),
        "sequence" => Ok(Strategy::Sequence),
        "wavefront" => Ok(Strategy::Wavefront),
        other => Err(format!(
            "unknown strategy `{other}`; expected auto, per-step, sequence or wavefront"
        )),
    }
}

/// A count of at least `min` (`value_parser = cli::at_least(1)`).
pub fn at_least(min: usize) -> impl Fn(&str) -> Result<usize, String> + Clone + Send + Sync {
    move |s| match s.parse::<usize>() {
        Ok(n) if n >= min => Ok(n),
        Ok(_) => Err(format!("must be at least {min}")),
        Err(e) => Err(e.to_string()),
    }
}

/// `--precision f32|f16`: how the weight matrices are stored on the GPU.
pub fn precision(s: &str) -> Result<Precision, String> {
    s.parse()
}

/// One model shape and how many rounds to time it, as the examples that time alternatives in
/// turns take them (`#[command(flatten)]`).
#[derive(clap::Args)]
pub struct Shape {
    /// The cell: lstm, gru, rnn-tanh or rnn-relu
    #[arg(long, value_name = "KIND")]
    pub kind: Kind,
    /// Sequences per forward (B)
    #[arg(long, value_name = "B")]
    pub batch: usize,
    /// Hidden units (hidden_size)
    #[arg(long, value_name = "H")]
    pub hidden: usize,
    /// Timesteps per sequence (T)
    #[arg(long, value_name = "T", default_value_t = 64)]
    pub seq: usize,
    /// Input features (input_size)
    #[arg(long, value_name = "I", default_value_t = 64)]
    pub input: usize,
    /// Rounds, each timing every alternative once
    #[arg(long, value_name = "R", value_parser = at_least(1), default_value = "6")]
    pub rounds: usize,
}

impl Shape {
    /// A model of `config` with deterministic weights in PyTorch's initialisation range, and
    /// an input of this shape (their values do not matter for timing).
    pub fn model_and_input(&self, config: RnnConfig) -> wgpu_rnn::Result<(Rnn, Tensor)> {
        let k = 1.0 / (self.hidden as f32).sqrt();
        let mut state = 1u32;
        let mut next = move || {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0
        };
        let rnn = Rnn::from_fn(config, |_, shape| {
            (0..shape.iter().product::<usize>())
                .map(|_| k * next())
                .collect()
        })?;
        let (t, b, i) = (self.seq, self.batch, self.input);
        let x = Tensor::new([t, b, i], (0..t * b * i).map(|_| next()).collect())?;
        Ok((rnn, x))
    }
}

/// The median of `values` (sorted in place).
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    (values[(n - 1) / 2] + values[n / 2]) / 2.0
}
