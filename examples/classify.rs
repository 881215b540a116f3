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
//! The logits go to stdout, the summary to stderr. Any error prints `error: ...` and exits
//! with status 2.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use wgpu_rnn::weights::save_safetensors;
use wgpu_rnn::{GpuContext, Input, Sequential, TensorFile};

const USAGE: &str = "\
usage: classify [--weights W.safetensors] [--input X.safetensors] [--output Y.safetensors]
                [--device gpu|cpu]

  --weights P   state_dict of the classifier (linear.*, rnn.*, fc.*)
                (default: examples/classify/weights.safetensors)
  --input P     tensor `input` (B, T, 30) and optionally `lengths` (B,)
                (default: examples/classify/input.safetensors)
  --output P    file to write `logits` (B, 2) to
  --device D    gpu (default) or cpu
  --help        print this help";

type BoxError = Box<dyn std::error::Error>;

struct Args {
    weights: PathBuf,
    input: PathBuf,
    output: Option<PathBuf>,
    gpu: bool,
}

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
}

fn run() -> Result<(), BoxError> {
    let Some(args) = parse_args(std::env::args().skip(1))? else {
        println!("{USAGE}");
        return Ok(());
    };
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

    let logits = if args.gpu {
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
        let device = if args.gpu { "gpu" } else { "cpu" };
        let metadata = HashMap::from([("device".to_string(), device.to_string())]);
        save_safetensors(output, &[("logits", &logits)], Some(metadata))?;
        eprintln!(
            "output:  logits {:?} -> {}",
            logits.shape(),
            output.display()
        );
    }
    Ok(())
}

/// Parses the arguments after the program name; `Ok(None)` means `--help`.
fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Option<Args>, BoxError> {
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/classify");
    let mut parsed = Args {
        weights: data.join("weights.safetensors"),
        input: data.join("input.safetensors"),
        output: None,
        gpu: true,
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        // Accept both `--flag value` and `--flag=value`.
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        if flag == "--help" || flag == "-h" {
            return Ok(None);
        }
        let value = match inline {
            Some(v) => v,
            None => args
                .next()
                .ok_or_else(|| format!("`{flag}` needs a value (see --help)"))?,
        };
        match flag.as_str() {
            "--weights" => parsed.weights = value.into(),
            "--input" => parsed.input = value.into(),
            "--output" => parsed.output = Some(value.into()),
            "--device" => {
                parsed.gpu = match value.as_str() {
                    "gpu" => true,
                    "cpu" => false,
                    other => {
                        return Err(format!("unknown device `{other}`; expected gpu or cpu").into())
                    }
                }
            }
            _ => return Err(format!("unknown argument `{arg}` (see --help)").into()),
        }
    }
    Ok(Some(parsed))
}

fn ms(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1e3
}
