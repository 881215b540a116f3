//! A whole PyTorch sequence classifier on the GPU: `Linear(30 -> 20) -> LSTM(20, 20,
//! batch_first) -> last step -> Linear(20 -> 2)`, loaded from its `state_dict`.
//!
//! ```text
//! cargo run --release --example classify -- [--weights W.safetensors] [--input X.safetensors]
//!     [--output Y.safetensors] [--device gpu|cpu]
//! ```
//!
//! The PyTorch module (examples/classify/make_classify.py writes its weights and input):
//!
//! ```python
//! class Classifier(nn.Module):
//!     def __init__(self):
//!         super().__init__()
//!         self.linear = nn.Linear(30, 20)
//!         self.rnn = nn.LSTM(20, 20, batch_first=True)
//!         self.fc = nn.Linear(20, 2)
//!
//!     def forward(self, x):                      # x: (B, T, 30)
//!         out, _ = self.rnn(self.linear(x))
//!         return self.fc(out[:, -1, :])          # (B, 2)
//! ```
//!
//! - `W.safetensors`: `Classifier().state_dict()` (`linear.weight`, `rnn.weight_ih_l0`, ...,
//!   `fc.bias`); default examples/classify/weights.safetensors.
//! - `X.safetensors`: `input` (B, T, 30) and optionally `lengths` (int64, one per sequence):
//!   with lengths each sequence is classified at its own last step, as
//!   `out[torch.arange(B), lengths - 1]`; default examples/classify/input.safetensors.
//! - `Y.safetensors` receives `logits` (B, 2).
//!
//! `--help` describes every option. The logits go to stdout, the summary to stderr. Any
//! error prints `error: ...` and exits with status 2.

mod cli;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Parser;
use cli::Device;
use wgpu_rnn::weights::save_safetensors;
use wgpu_rnn::{GpuContext, Input, Sequential, TensorFile};

type BoxError = Box<dyn std::error::Error>;

/// Runs a PyTorch sequence classifier, Linear(30 -> 20) -> LSTM(20, 20) -> last step ->
/// Linear(20 -> 2), loaded from its state_dict, and prints the logits.
#[derive(Parser)]
#[command(name = "classify")]
struct Args {
    /// State_dict of the classifier (linear.*, rnn.*, fc.*)
    #[arg(long, value_name = "W.safetensors", default_value_os_t = data("weights.safetensors"))]
    weights: PathBuf,
    /// Tensor `input` (B, T, 30) and optionally `lengths` (B,)
    #[arg(long, value_name = "X.safetensors", default_value_os_t = data("input.safetensors"))]
    input: PathBuf,
    /// File to write `logits` (B, 2) to
    #[arg(long, value_name = "Y.safetensors")]
    output: Option<PathBuf>,
    /// gpu or cpu (the reference path)
    #[arg(long, value_name = "gpu|cpu", value_parser = cli::device, default_value = "gpu")]
    device: Device,
}

/// A file of examples/classify, found from any working directory.
fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/classify")
        .join(name)
}

fn main() {
    if let Err(e) = run(Args::parse()) {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
}

fn run(args: Args) -> Result<(), BoxError> {
    // Exactly the PyTorch module: attribute names are the state_dict prefixes.
    let model = Sequential::new()
        .batch_first(true)
        .linear("linear", 30, 20)
        .recurrent("rnn")
        .last_step()
        .linear("fc", 20, 2)
        .load(&args.weights)?;
    eprintln!("model:   {model}");

    let file = TensorFile::open(&args.input)?;
    let x = file.f32("input")?.ok_or_else(|| {
        format!(
            "{} has no tensor named `input` (it holds: {}); save the batch as `input` (B, T, 30)",
            args.input.display(),
            file.names().join(", ")
        )
    })?;
    let lengths = file.lengths("lengths")?;
    let mut input = Input::new(&x);
    if let Some(lengths) = &lengths {
        input = input.lengths(lengths);
    }
    // Dry run: shape errors before any GPU work.
    model.check(&input.shapes())?;
    eprintln!(
        "input:   {:?}{}",
        x.shape(),
        match &lengths {
            Some(l) => format!(", lengths {l:?}"),
            None => String::new(),
        }
    );

    let logits = if args.device == Device::Gpu {
        let ctx = GpuContext::new().map_err(|e| match e {
            wgpu_rnn::Error::NoAdapter { .. } | wgpu_rnn::Error::RequestDevice { .. } => {
                format!("{e}. To run without a GPU, pass `--device cpu`").into()
            }
            other => BoxError::from(other),
        })?;
        eprintln!("device:  {}", ctx.adapter_name());
        let start = Instant::now();
        let gpu = model.to_gpu(&ctx)?;
        eprintln!(
            "upload:  {:.2} ms (includes compiling the kernels)",
            ms(start)
        );
        let start = Instant::now();
        let logits = gpu.forward(&input)?;
        eprintln!("forward: {:.2} ms (first run)", ms(start));
        logits
    } else {
        eprintln!("device:  cpu (reference path)");
        let start = Instant::now();
        let logits = model.forward(&input)?;
        eprintln!("forward: {:.2} ms", ms(start));
        logits
    };

    let classes = logits.shape().last().copied().unwrap_or(1).max(1);
    for (b, row) in logits.data().chunks(classes).enumerate() {
        let best = row
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map_or(0, |(i, _)| i);
        let values: Vec<String> = row.iter().map(|v| format!("{v:>10.6}")).collect();
        println!("{b:>3}: [{}]  class {best}", values.join(", "));
    }
    if let Some(output) = &args.output {
        let metadata = HashMap::from([("device".to_string(), args.device.name().to_string())]);
        save_safetensors(output, &[("logits", &logits)], Some(metadata))?;
        eprintln!(
            "output:  logits {:?} -> {}",
            logits.shape(),
            output.display()
        );
    }
    Ok(())
}

fn ms(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1e3
}
