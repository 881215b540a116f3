//! Argument types the examples share, as clap value parsers (`value_parser = cli::device`),
//! so that `--device`, `--strategy` and counts read and fail the same way everywhere.
//!
//! Each example is a crate of its own and uses part of this module, hence the `allow`.
#![allow(dead_code)]

use wgpu_rnn::{Precision, Strategy};

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
