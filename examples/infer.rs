//! Runs a PyTorch `nn.GRU` / `nn.LSTM` / `nn.RNN` checkpoint on the tensors of one file and
//! writes what PyTorch's forward pass returns.
//!
//! ```text
//! cargo run --release --example infer -- --weights W.safetensors --input X.safetensors \
//!     --output Y.safetensors [--kind gru|lstm|rnn-tanh|rnn-relu] [--batch-first] \
//!     [--device gpu|cpu] [--precision f32|f16] [--prefix P]
//! ```
//!
//! - `W.safetensors`: the module's `state_dict()`, saved with `safetensors.torch.save_file`.
//! - `X.safetensors`: `input` (float), optional `h0`, `c0` (float) and `lengths` (int64/int32,
//!   one per sequence, as `pack_padded_sequence(..., enforce_sorted=False)`). Other tensors
//!   in the file are ignored.
//! - `Y.safetensors` receives `output`, `h_n` and, for an LSTM, `c_n` (float32), shaped as
//!   PyTorch returns them.
//!
//! An ONNX model runs instead with `--onnx`:
//!
//! ```text
//! cargo run --release --example infer -- --onnx MODEL.onnx --input X.safetensors \
//!     --output Y.safetensors [--device gpu|cpu] [--precision f32|f16]
//! ```
//!
//! - `X.safetensors` holds every runtime input of the graph under its graph-input name
//!   (float inputs as any float dtype, `sequence_lens` as I32 or I64).
//! - `Y.safetensors` receives every graph output under its ONNX name (float as F32, integer
//!   as I64).
//!
//! `--precision f16` stores the weight matrices as f16 on the GPU (arithmetic stays f32); on
//! the CPU they are rounded the same way (an ONNX model's recurrent `W` and `R`), so both
//! devices give the numbers the f16 GPU path computes.
//!
//! `--help` describes every option. The summary goes to stderr. Any error, a bad argument
//! included, prints one `error: ...` line and exits with status 2.

mod cli;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use cli::Device;
use wgpu_rnn::onnx::{OnnxModel, Values};
use wgpu_rnn::weights::{save_safetensors, SavedInput};
use wgpu_rnn::{GpuContext, Kind, LoadOptions, Output, Precision, Rnn, RnnConfig, TensorFile};

type BoxError = Box<dyn std::error::Error>;

/// Runs a PyTorch nn.GRU / nn.LSTM / nn.RNN checkpoint on the tensors of one file and writes
/// what PyTorch's forward pass returns.
#[derive(Parser, Debug)]
#[command(name = "infer")]
struct Args {
    /// PyTorch state_dict of an nn.GRU/nn.LSTM/nn.RNN (safetensors)
    #[arg(
        long,
        value_name = "W.safetensors",
        required_unless_present = "onnx",
        conflicts_with = "onnx"
    )]
    weights: Option<PathBuf>,
    /// An ONNX model to run instead of a state_dict; --input then holds the graph's inputs
    /// by name and --output receives its outputs by name
    #[arg(long, value_name = "MODEL.onnx", conflicts_with_all = ["kind", "batch_first", "prefix"])]
    onnx: Option<PathBuf>,
    /// Tensors `input` and optionally `h0`, `c0`, `lengths` (with --onnx: the graph's inputs)
    #[arg(long, value_name = "X.safetensors")]
    input: PathBuf,
    /// File to write `output`, `h_n` (and `c_n` for LSTM) to
    #[arg(long, value_name = "Y.safetensors")]
    output: PathBuf,
    /// gru, lstm, rnn-tanh or rnn-relu; inferred from the weights when omitted (plain RNN
    /// weights default to rnn-tanh)
    #[arg(long, value_name = "gru|lstm|rnn-tanh|rnn-relu")]
    kind: Option<Kind>,
    /// Input and output are (batch, T, features), as batch_first=True
    #[arg(long)]
    batch_first: bool,
    /// gpu or cpu (the reference path)
    #[arg(long, value_name = "gpu|cpu", value_parser = cli::device, default_value = "gpu")]
    device: Device,
    /// How the weight matrices are stored: f32, or f16 (half the memory; arithmetic stays f32).
    /// On the CPU the weights are rounded as the GPU stores them
    #[arg(long, value_name = "f32|f16", value_parser = cli::precision, default_value = "f32")]
    precision: Precision,
    /// Name prefix of the recurrent module in the weights (e.g. `encoder.lstm.`); found
    /// automatically when the file holds one module
    #[arg(long, value_name = "P")]
    prefix: Option<String>,
}

fn main() {
    if let Err(e) = run(parse_args()) {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
}

/// The command line; `--help` prints clap's help and exits with status 0. A bad argument
/// prints clap's message as one `error: ...` line, the form every other error of this program
/// takes (tests/infer_cli.rs reads the last line), without the usage `--help` shows, and exits
/// with status 2.
fn parse_args() -> Args {
    Args::try_parse().unwrap_or_else(|e| {
        if !e.use_stderr() {
            e.exit();
        }
        let rendered = e.render().to_string();
        let mut message = String::new();
        let lines = rendered
            .lines()
            .map(str::trim)
            .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
            .filter(|l| !l.is_empty());
        for line in lines {
            // `...not provided:` goes on with its list; a `tip:` or value list is a clause.
            if !message.is_empty() {
                message.push_str(if message.ends_with(':') { " " } else { "; " });
            }
            message.push_str(line.strip_prefix("error: ").unwrap_or(line));
        }
        eprintln!("error: {message} (see --help)");
        std::process::exit(2);
    })
}

fn gpu_context() -> Result<GpuContext, BoxError> {
    GpuContext::new().map_err(|e| match e {
        wgpu_rnn::Error::NoAdapter { .. } | wgpu_rnn::Error::RequestDevice { .. } => {
            format!("{e}. To run without a GPU, pass `--device cpu`").into()
        }
        other => BoxError::from(other),
    })
}

fn run(args: Args) -> Result<(), BoxError> {
    let Some(weights) = args.weights.clone() else {
        return run_onnx(&args);
    };
    let mut options = LoadOptions::default().batch_first(args.batch_first);
    options.prefix = args.prefix.clone();
    options.kind = args.kind;
    let rnn = Rnn::load(&weights, &options)?;
    eprintln!(
        "model:   {} from {} ({} weights)",
        describe(rnn.config()),
        weights.display(),
        args.precision
    );

    let file = TensorFile::open(&args.input)?;
    let saved =
        SavedInput::from_file(&file).map_err(|e| format!("{}: {e}", args.input.display()))?;
    let input = saved.input();
    // Dry run first: shape errors surface before any GPU is touched.
    rnn.check(&input)?;
    eprintln!(
        "input:   input {:?}{}{}{}",
        saved.x.shape(),
        saved
            .h0
            .as_ref()
            .map(|t| format!(", h0 {:?}", t.shape()))
            .unwrap_or_default(),
        saved
            .c0
            .as_ref()
            .map(|t| format!(", c0 {:?}", t.shape()))
            .unwrap_or_default(),
        saved
            .lengths
            .as_ref()
            .map(|l| format!(", lengths {l:?}"))
            .unwrap_or_default(),
    );

    let out = match args.device {
        Device::Cpu => {
            eprintln!("device:  cpu (reference path)");
            let start = Instant::now();
            let out = rnn.with_precision(args.precision)?.forward(&input)?;
            eprintln!("forward: {:.2} ms", ms(start));
            out
        }
        Device::Gpu => {
            let ctx = gpu_context()?;
            eprintln!("device:  {}", ctx.adapter_name());
            let start = Instant::now();
            let gpu = rnn.to_gpu_with(&ctx, args.precision)?;
            eprintln!(
                "upload:  {:.2} ms ({} bytes of weights on the device)",
                ms(start),
                gpu.weight_bytes()
            );
            let start = Instant::now();
            let out = gpu.forward(&input)?;
            eprintln!(
                "forward: {:.2} ms (first run, includes pipeline warm-up)",
                ms(start)
            );
            out
        }
    };

    write_output(&args, &out)?;
    eprintln!(
        "output:  output {:?}, h_n {:?}{} -> {}",
        out.output.shape(),
        out.h_n.shape(),
        out.c_n
            .as_ref()
            .map(|t| format!(", c_n {:?}", t.shape()))
            .unwrap_or_default(),
        args.output.display()
    );
    Ok(())
}

/// `--onnx`: the graph's inputs from the file by name, its outputs to the file by name.
fn run_onnx(args: &Args) -> Result<(), BoxError> {
    let path = args
        .onnx
        .as_ref()
        .expect("clap requires --weights or --onnx");
    let start = Instant::now();
    let model = OnnxModel::load(path)?;
    eprintln!("model:   {} ({:.2} ms to load)", path.display(), ms(start));
    let file = TensorFile::open(&args.input)?;
    let inputs = model
        .read_inputs(&file)
        .map_err(|e| format!("{}: {e}", args.input.display()))?;
    let shapes: Vec<(&str, &[usize])> = inputs.iter().map(|(n, v)| (n, v.shape())).collect();
    // Dry run first: shape errors surface before any GPU is touched.
    model.check(&shapes)?;
    let list = |values: &Values| {
        values
            .iter()
            .map(|(n, v)| format!("{n} {:?}", v.shape()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    eprintln!("input:   {}", list(&inputs));
    let outputs = match args.device {
        Device::Cpu => {
            eprintln!("device:  cpu");
            let start = Instant::now();
            let out = model.with_precision(args.precision)?.forward(&inputs)?;
            eprintln!("forward: {:.2} ms", ms(start));
            out
        }
        Device::Gpu => {
            let ctx = gpu_context()?;
            eprintln!("device:  {}", ctx.adapter_name());
            let start = Instant::now();
            let gpu = model
                .to_gpu_with(&ctx, args.precision)
                .map_err(|e| match e {
                    wgpu_rnn::Error::Unsupported { .. } => {
                        format!("{e} (here: pass `--device cpu`)").into()
                    }
                    other => BoxError::from(other),
                })?;
            eprintln!("upload:  {:.2} ms", ms(start));
            let start = Instant::now();
            let out = gpu.forward(&inputs)?;
            eprintln!(
                "forward: {:.2} ms (first run, includes pipeline warm-up)",
                ms(start)
            );
            out
        }
    };
    outputs.save_safetensors(&args.output)?;
    eprintln!("output:  {} -> {}", list(&outputs), args.output.display());
    Ok(())
}

fn write_output(args: &Args, out: &Output) -> Result<(), BoxError> {
    let mut tensors = vec![("output", &out.output), ("h_n", &out.h_n)];
    if let Some(c_n) = &out.c_n {
        tensors.push(("c_n", c_n));
    }
    let metadata = HashMap::from([
        ("device".to_string(), args.device.name().to_string()),
        ("batch_first".to_string(), args.batch_first.to_string()),
        ("precision".to_string(), args.precision.to_string()),
    ]);
    save_safetensors(&args.output, &tensors, Some(metadata))?;
    Ok(())
}

/// `lstm input_size=4 hidden_size=8 proj_size=3 num_layers=2 bidirectional batch_first`.
fn describe(c: &RnnConfig) -> String {
    let proj = match c.proj_size {
        0 => String::new(),
        p => format!(" proj_size={p}"),
    };
    let flags: String = [
        (c.bidirectional, " bidirectional"),
        (!c.bias, " no-bias"),
        (c.batch_first, " batch_first"),
    ]
    .iter()
    .filter_map(|&(on, name)| on.then_some(name))
    .collect();
    format!(
        "{} input_size={} hidden_size={}{proj} num_layers={}{flags}",
        c.kind, c.input_size, c.hidden_size, c.num_layers
    )
}

fn ms(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1e3
}
