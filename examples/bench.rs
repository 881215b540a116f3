//! Times one forward pass (upload + compute + read back) and sets it against the adapter's
//! measured dependent-dispatch floor.
//!
//! ```text
//! cargo run --release --example bench -- [--kind lstm|gru|rnn-tanh|rnn-relu] [--batch B]
//!     [--seq T] [--input I] [--hidden H] [--layers L] [--bidirectional] [--device gpu|cpu]
//!     [--runs N] [--strategy auto|per-step|sequence|wavefront] [--precision f32|f16]
//!     [--plan gpu|current]
//! ```
//!
//! Defaults: an LSTM, B=8, T=64, I=64, H=128, one layer, on the GPU, 20 runs, `auto`
//! (`--help` lists them). The last line is `ms_per_forward=<median>`, for scripts. With
//! `--plan`, nothing runs: it prints the plan of the pass (kernel, dispatches, workgroups and
//! weight bytes per step, one line per layer and direction) for a generic GPU (`gpu`, on any
//! machine) or for the default adapter (`current`). A bad argument exits with status 2, as
//! any other error.

mod cli;

use std::time::Instant;

use clap::Parser;
use cli::Device;
use rand::{rngs::StdRng, Rng, SeedableRng};
use wgpu_rnn::gpu::{plan_lines, DeviceProfile};
use wgpu_rnn::{GpuContext, Input, Kind, Precision, Rnn, RnnConfig, Strategy, Tensor};

/// Times one forward pass of a random model and sets it against the adapter's dependent-dispatch
/// floor; the last line is `ms_per_forward=<median>`.
#[derive(Parser)]
#[command(name = "bench")]
struct Args {
    /// The cell: lstm, gru, rnn-tanh or rnn-relu
    #[arg(long, value_name = "KIND", default_value = "lstm")]
    kind: Kind,
    /// Sequences per forward (B)
    #[arg(long, value_name = "B", default_value_t = 8)]
    batch: usize,
    /// Timesteps per sequence (T)
    #[arg(long, value_name = "T", default_value_t = 64)]
    seq: usize,
    /// Input features (input_size)
    #[arg(long, value_name = "I", default_value_t = 64)]
    input: usize,
    /// Hidden units (hidden_size)
    #[arg(long, value_name = "H", default_value_t = 128)]
    hidden: usize,
    /// Stacked layers (num_layers)
    #[arg(long, value_name = "L", default_value_t = 1)]
    layers: usize,
    /// Both directions (bidirectional=True)
    #[arg(long)]
    bidirectional: bool,
    /// gpu (the default adapter) or cpu (the reference path)
    #[arg(long, value_name = "gpu|cpu", value_parser = cli::device, default_value = "gpu")]
    device: Device,
    /// Timed forwards after one warm-up
    #[arg(long, value_name = "N", value_parser = cli::at_least(1), default_value = "20")]
    runs: usize,
    /// The GPU strategy: auto, per-step, sequence or wavefront
    #[arg(long, value_name = "S", value_parser = cli::strategy, default_value = "auto")]
    strategy: Strategy,
    /// How the weight matrices are stored: f32, or f16 (f32 arithmetic); on the CPU the
    /// weights are rounded the same way
    #[arg(long, value_name = "f32|f16", value_parser = cli::precision, default_value = "f32")]
    precision: Precision,
    /// Print the plan of the pass instead of running it, for a generic GPU (`gpu`) or for the
    /// default adapter (`current`)
    #[arg(long, value_name = "gpu|current", value_parser = plan)]
    plan: Option<Plan>,
}

/// `--plan`: whose device profile the plan is for.
#[derive(Clone, Copy)]
enum Plan {
    GenericGpu,
    Current,
}

fn plan(s: &str) -> Result<Plan, String> {
    match s {
        "gpu" => Ok(Plan::GenericGpu),
        "current" => Ok(Plan::Current),
        other => Err(format!("unknown plan `{other}`; expected gpu or current")),
    }
}

fn random_rnn(config: RnnConfig, seed: u64) -> Result<Rnn, wgpu_rnn::Error> {
    let mut rng = StdRng::seed_from_u64(seed);
    let k = 1.0 / (config.hidden_size as f32).sqrt();
    Rnn::from_fn(config, |_, shape| {
        (0..shape.iter().product::<usize>())
            .map(|_| rng.random_range(-k..k))
            .collect()
    })
}

/// Median, min and max in milliseconds of `runs` calls after one warm-up.
fn time(
    runs: usize,
    mut f: impl FnMut() -> Result<(), wgpu_rnn::Error>,
) -> Result<(f64, f64, f64), wgpu_rnn::Error> {
    f()?;
    let mut ms: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f().map(|_| t.elapsed().as_secs_f64() * 1e3)
        })
        .collect::<Result<_, _>>()?;
    ms.sort_by(f64::total_cmp);
    Ok((ms[ms.len() / 2], ms[0], ms[ms.len() - 1]))
}

/// Cost of one dependent dispatch: a 1-unit RNN at T = 2N minus T = N, over N steps.
fn dispatch_floor_us(ctx: &GpuContext) -> Result<f64, wgpu_rnn::Error> {
    let mut rnn = random_rnn(RnnConfig::new(Kind::RnnTanh, 1, 1), 1)?.to_gpu(ctx)?;
    // One dispatch per timestep, each depending on the previous one's output.
    rnn.set_strategy(Strategy::PerStep)?;
    let n = 512;
    let run = |t: usize| {
        let x = Tensor::zeros([t, 1, 1])?;
        time(5, || rnn.forward(&Input::new(&x)).map(|_| ()))
    };
    let (short, _, _) = run(n)?;
    let (long, _, _) = run(2 * n)?;
    Ok((long - short) * 1e3 / n as f64)
}

fn main() {
    if let Err(e) = run(Args::parse()) {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
}

fn run(a: Args) -> Result<(), wgpu_rnn::Error> {
    let config = RnnConfig::new(a.kind, a.input, a.hidden)
        .num_layers(a.layers)
        .bidirectional(a.bidirectional);
    if let Some(plan) = a.plan {
        let profile = match plan {
            Plan::GenericGpu => DeviceProfile::GENERIC_GPU,
            Plan::Current => {
                let ctx = GpuContext::new()?;
                println!("adapter: {}", ctx.adapter_name());
                ctx.profile()
            }
        };
        println!(
            "{} B={} T={} I={} H={} L={} D={}",
            a.kind,
            a.batch,
            a.seq,
            a.input,
            a.hidden,
            a.layers,
            config.num_directions()
        );
        for line in plan_lines(&config, a.batch, a.seq, a.strategy, profile, a.precision) {
            println!("{line}");
        }
        return Ok(());
    }
    let rnn = random_rnn(config.clone(), 7)?.with_precision(a.precision)?;
    let mut rng = StdRng::seed_from_u64(8);
    let x = Tensor::new(
        [a.seq, a.batch, a.input],
        (0..a.seq * a.batch * a.input)
            .map(|_| rng.random_range(-1.0..1.0))
            .collect(),
    )?;
    let input = Input::new(&x);

    // Multiply-adds per forward: input projection plus recurrence, per layer and direction.
    let g = a.kind.gate_count();
    let macs: usize = (0..a.layers)
        .map(|l| a.seq * a.batch * g * a.hidden * (config.layer_input_size(l) + a.hidden))
        .sum::<usize>()
        * config.num_directions();
    let (median, min, max) = if a.device == Device::Gpu {
        let ctx = GpuContext::new()?;
        println!("adapter: {}", ctx.adapter_name());
        println!("subgroups: {}", ctx.uses_subgroups());
        let floor = dispatch_floor_us(&ctx)?;
        println!("dependent-dispatch floor: {floor:.1} us");
        let mut gpu = rnn.to_gpu_with(&ctx, a.precision)?;
        gpu.set_strategy(a.strategy)?;
        println!(
            "weights: {} ({} bytes on the device)",
            gpu.precision(),
            gpu.weight_bytes()
        );
        println!("strategy: {:?}", gpu.strategy_for(a.batch));
        let t = time(a.runs, || gpu.forward(&input).map(|_| ()))?;
        println!(
            "per step: {:.1} us = {:.2}x the floor",
            t.0 * 1e3 / a.seq as f64,
            t.0 * 1e3 / a.seq as f64 / floor
        );
        if !a.bidirectional {
            // Streaming: one timestep per call, state kept on the GPU between calls.
            let mut stream = gpu.stream(a.batch)?;
            let step = Tensor::new(
                [1, a.batch, a.input],
                x.data()[..a.batch * a.input].to_vec(),
            )?;
            let (median, min, _) = time(a.runs, || stream.push(&step).map(|_| ()))?;
            // Per layer the input projection plus one fused step; the wavefront runs the first
            // layer's projection, then one step of each layer per dispatch.
            let dispatches = match gpu.strategy_for(a.batch) {
                Strategy::Wavefront => 1 + a.layers,
                _ => 2 * a.layers,
            };
            println!(
                "stream, 1-step chunk: median {median:.3} ms, min {min:.3} ms ({dispatches} dispatches, 1 submit per chunk)"
            );
        }
        t
    } else {
        println!("device: CPU reference path");
        time(a.runs, || rnn.forward(&input).map(|_| ()))?
    };
    println!(
        "{} B={} T={} I={} H={} L={} D={} {}: median {median:.3} ms, min {min:.3} ms, max {max:.3} ms per forward ({} runs)",
        a.kind, a.batch, a.seq, a.input, a.hidden, a.layers, config.num_directions(), a.precision, a.runs
    );
    println!("GFLOP/s: {:.2}", 2.0 * macs as f64 / (median * 1e-3) / 1e9);
    println!("ms_per_forward={median:.3}");
    Ok(())
}
