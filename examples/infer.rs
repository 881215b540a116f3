//! Runs a PyTorch `nn.GRU` / `nn.LSTM` / `nn.RNN` checkpoint on the tensors of one file and
//! writes what PyTorch's forward pass returns.
//!
//! ```text
//! cargo run --release --example infer -- --weights W.safetensors --input X.safetensors \
//!     --output Y.safetensors [--kind gru|lstm|rnn-tanh|rnn-relu] [--batch-first] \
//!     [--device gpu|cpu] [--prefix P]
//! ```
//!
//! - `W.safetensors`: the module's `state_dict()`, saved with `safetensors.torch.save_file`.
//! - `X.safetensors`: `input` (float), optional `h0`, `c0` (float) and `lengths` (int64/int32,
//!   one per sequence, as `pack_padded_sequence(..., enforce_sorted=False)`). Other tensors
//!   in the file are ignored.
//! - `Y.safetensors` receives `output`, `h_n` and, for an LSTM, `c_n` (float32), shaped as
//!   PyTorch returns them.
//!
//! The summary goes to stderr. Any error prints `error: ...` and exits with status 2.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use wgpu_rnn::weights::save_safetensors;
use wgpu_rnn::{GpuContext, Input, Kind, LoadOptions, Output, Rnn, RnnConfig, TensorFile};

const USAGE: &str = "\
usage: infer --weights W.safetensors --input X.safetensors --output Y.safetensors
             [--kind gru|lstm|rnn-tanh|rnn-relu] [--batch-first] [--device gpu|cpu] [--prefix P]

  --weights P      PyTorch state_dict of an nn.GRU/nn.LSTM/nn.RNN (safetensors)
  --input P        tensors `input` and optionally `h0`, `c0`, `lengths`
  --output P       file to write `output`, `h_n` (and `c_n` for LSTM) to
  --kind K         gru, lstm, rnn-tanh or rnn-relu; inferred from the weights when omitted
                   (plain RNN weights default to rnn-tanh)
  --batch-first    input and output are (batch, T, features), as batch_first=True
  --device D       gpu (default) or cpu
  --prefix P       name prefix of the recurrent module in the weights (e.g. `encoder.lstm.`);
                   found automatically when the file holds one module
  --help           print this help";

type BoxError = Box<dyn std::error::Error>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Device {
    Gpu,
    Cpu,
}

#[derive(Debug)]
struct Args {
    weights: PathBuf,
    input: PathBuf,
    output: PathBuf,
    kind: Option<Kind>,
    batch_first: bool,
    device: Device,
    prefix: Option<String>,
}

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
}

fn run() -> Result<(), BoxError> {
    let argv = std::env::args_os().skip(1).map(|a| {
        a.into_string()
            .map_err(|a| format!("argument {a:?} is not valid UTF-8"))
    });
    let Some(args) = parse_args(argv.collect::<Result<Vec<_>, _>>()?)? else {
        println!("{USAGE}");
        return Ok(());
    };

    let mut options = LoadOptions::default().batch_first(args.batch_first);
    options.prefix = args.prefix.clone();
    options.kind = args.kind;
    let rnn = Rnn::load(&args.weights, &options)?;
    eprintln!(
        "model:   {} from {}",
        describe(rnn.config()),
        args.weights.display()
    );

    let file = TensorFile::open(&args.input)?;
    let Some(x) = file.f32("input")? else {
        let names = file.names();
        let held = if names.is_empty() {
            "no tensors".to_string()
        } else {
            names.join(", ")
        };
        return Err(format!(
            "{} has no tensor named `input` (it holds: {held}); save the input sequence(s) as `input`",
            args.input.display()
        )
        .into());
    };
    let h0 = file.f32("h0")?;
    let c0 = file.f32("c0")?;
    let lengths = file.lengths("lengths")?;
    let mut input = Input::new(&x);
    if let Some(h0) = &h0 {
        input = input.h0(h0);
    }
    if let Some(c0) = &c0 {
        input = input.c0(c0);
    }
    if let Some(lengths) = &lengths {
        input = input.lengths(lengths);
    }
    // Dry run first: shape errors surface before any GPU is touched.
    rnn.check(&input)?;
    eprintln!(
        "input:   input {:?}{}{}{}",
        x.shape(),
        h0.as_ref()
            .map(|t| format!(", h0 {:?}", t.shape()))
            .unwrap_or_default(),
        c0.as_ref()
            .map(|t| format!(", c0 {:?}", t.shape()))
            .unwrap_or_default(),
        lengths
            .as_ref()
            .map(|l| format!(", lengths {l:?}"))
            .unwrap_or_default(),
    );

    let out = match args.device {
        Device::Cpu => {
            eprintln!("device:  cpu (reference path)");
            let start = Instant::now();
            let out = rnn.forward(&input)?;
            eprintln!("forward: {:.2} ms", ms(start));
            out
        }
        Device::Gpu => {
            let ctx = GpuContext::new().map_err(|e| match e {
                wgpu_rnn::Error::NoAdapter { .. } | wgpu_rnn::Error::RequestDevice { .. } => {
                    format!("{e}. To run without a GPU, pass `--device cpu`").into()
                }
                other => BoxError::from(other),
            })?;
            eprintln!("device:  {}", ctx.adapter_name());
            let start = Instant::now();
            let gpu = rnn.to_gpu(&ctx)?;
            eprintln!("upload:  {:.2} ms", ms(start));
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

/// Parses the arguments after the program name; `Ok(None)` means `--help`.
fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Option<Args>, BoxError> {
    let (mut weights, mut input, mut output, mut kind, mut device, mut prefix) =
        (None, None, None, None, None, None);
    let mut batch_first = false;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        // Accept both `--flag value` and `--flag=value`.
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = |slot: &mut Option<String>| -> Result<(), BoxError> {
            if slot.is_some() {
                return Err(format!("`{flag}` was given twice").into());
            }
            let v = match inline.clone() {
                Some(v) => v,
                None => args
                    .next()
                    .ok_or_else(|| format!("`{flag}` needs a value (see --help)"))?,
            };
            *slot = Some(v);
            Ok(())
        };
        match flag.as_str() {
            "--help" | "-h" => return Ok(None),
            "--weights" => value(&mut weights)?,
            "--input" => value(&mut input)?,
            "--output" => value(&mut output)?,
            "--kind" => value(&mut kind)?,
            "--device" => value(&mut device)?,
            "--prefix" => value(&mut prefix)?,
            "--batch-first" if inline.is_none() => batch_first = true,
            _ => return Err(format!("unknown argument `{arg}` (see --help)").into()),
        }
    }
    let required = |slot: Option<String>, flag: &str| {
        slot.map(PathBuf::from)
            .ok_or_else(|| format!("missing required flag `{flag}` (see --help)"))
    };
    let device = match device.as_deref() {
        None | Some("gpu") => Device::Gpu,
        Some("cpu") => Device::Cpu,
        Some(other) => return Err(format!("unknown device `{other}`; expected gpu or cpu").into()),
    };
    Ok(Some(Args {
        weights: required(weights, "--weights")?,
        input: required(input, "--input")?,
        output: required(output, "--output")?,
        kind: kind.map(|k| k.parse()).transpose()?,
        batch_first,
        device,
        prefix,
    }))
}

fn write_output(args: &Args, out: &Output) -> Result<(), BoxError> {
    let mut tensors = vec![("output", &out.output), ("h_n", &out.h_n)];
    if let Some(c_n) = &out.c_n {
        tensors.push(("c_n", c_n));
    }
    let device = match args.device {
        Device::Gpu => "gpu",
        Device::Cpu => "cpu",
    };
    let metadata = HashMap::from([
        ("device".to_string(), device.to_string()),
        ("batch_first".to_string(), args.batch_first.to_string()),
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
