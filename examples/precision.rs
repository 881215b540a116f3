//! f16 weights against f32 for one shape on this adapter: times `Precision::F32` and
//! `Precision::F16` uploads of the same model in turns within one process (so both see the
//! same machine load), and prints the weights' device memory and bytes per step of each.
//!
//! ```text
//! cargo run --release --example precision -- --kind lstm|gru|rnn-tanh|rnn-relu --batch B
//!     --hidden H [--seq T] [--input I] [--rounds R] [--strategy S]
//! ```
//!
//! T and I default to 64, R to 6, S to auto. Each round times both, in an order that reverses
//! every round, for about the same time; the ratio printed is the median over rounds of
//! f16 / f32 time per forward. A bad argument exits with status 2, as any other error.

mod cli;

use std::time::Instant;

use clap::Parser;
use cli::median;
use wgpu_rnn::gpu::plan_lines;
use wgpu_rnn::{GpuContext, GpuRnn, Input, Precision, RnnConfig, Strategy};

/// Times f32 and f16 weights for one shape in turns within one process.
#[derive(Parser)]
#[command(name = "precision")]
struct Args {
    #[command(flatten)]
    shape: cli::Shape,
    /// The GPU strategy: auto, per-step, sequence or wavefront
    #[arg(long, value_name = "S", value_parser = cli::strategy, default_value = "auto")]
    strategy: Strategy,
}

fn main() {
    if let Err(e) = run(Args::parse()) {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let a = &args.shape;
    let config = RnnConfig::new(a.kind, a.input, a.hidden);
    let (rnn, x) = a.model_and_input(config.clone())?;
    let input = Input::new(&x);

    let ctx = GpuContext::new()?;
    println!("adapter: {}", ctx.adapter_name());
    let precisions = [Precision::F32, Precision::F16];
    let mut models = Vec::new();
    for precision in precisions {
        let mut gpu = rnn.to_gpu_with(&ctx, precision)?;
        gpu.set_strategy(args.strategy)?;
        let plan = plan_lines(
            &config,
            a.batch,
            a.seq,
            args.strategy,
            ctx.profile(),
            precision,
        );
        let per_step = plan[0]
            .split(' ')
            .find_map(|kv| kv.strip_prefix("weight_bytes_per_step="))
            .unwrap_or("?")
            .to_string();
        println!(
            "{} B={} T={} I={} H={} {precision}: {:?}, weights {} bytes on the device, weight_bytes_per_step={per_step}",
            a.kind, a.batch, a.seq, a.input, a.hidden, gpu.strategy_for(a.batch), gpu.weight_bytes()
        );
        models.push(gpu);
    }
    // Forwards per turn: about a quarter of a second (the first forward builds pipelines).
    let mut runs = 1;
    for gpu in &models {
        runs = runs.max((250.0 / time(gpu, &input, 1)?).ceil() as usize);
    }
    let mut ms = [Vec::new(), Vec::new()];
    let mut ratios = Vec::new();
    for round in 0..a.rounds {
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for i in order {
            ms[i].push(time(&models[i], &input, runs)?);
        }
        ratios.push(ms[1][round] / ms[0][round]);
    }
    let per_round: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
    println!(
        "f32 {:.3} ms, f16 {:.3} ms per forward (medians of {} turns of {runs} forwards)",
        median(&mut ms[0]),
        median(&mut ms[1]),
        a.rounds
    );
    println!(
        "f16 / f32: {:.2} (per round: {})",
        median(&mut ratios),
        per_round.join(" ")
    );
    Ok(())
}

/// Mean milliseconds per forward over `runs` forwards, after one warm-up.
fn time(gpu: &GpuRnn, input: &Input<'_>, runs: usize) -> wgpu_rnn::Result<f64> {
    gpu.forward(input)?;
    let t = Instant::now();
    for _ in 0..runs {
        gpu.forward(input)?;
    }
    Ok(t.elapsed().as_secs_f64() * 1e3 / runs as f64)
}
