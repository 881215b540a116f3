//! Which strategy is faster for one shape on this adapter: times `Strategy::PerStep`,
//! `Strategy::Sequence` and, for a stack of two or more layers, `Strategy::Wavefront` in turns
//! within one process (so all see the same machine load) and prints what `Strategy::Auto`
//! picks.
//!
//! ```text
//! cargo run --release --example strategies -- --kind lstm|gru|rnn-tanh|rnn-relu --batch B
//!     --hidden H [--seq T] [--input I] [--rounds R] [--layers L]
//! ```
//!
//! T and I default to 64, R to 6, L to 1. Each round runs every strategy, in turns whose
//! order reverses every round, for about the same time; each ratio printed is the median over
//! rounds of that strategy / per-step. A bad argument exits with status 2, as any other error.

mod cli;

use std::time::Instant;

use clap::Parser;
use cli::median;
use wgpu_rnn::{GpuContext, GpuRnn, Input, RnnConfig, Strategy};

/// Times every strategy that can run one shape, in turns within one process, and prints what
/// `Strategy::Auto` picks.
#[derive(Parser)]
#[command(name = "strategies")]
struct Args {
    #[command(flatten)]
    shape: cli::Shape,
    /// Stacked layers (num_layers); from 2 the wavefront runs too
    #[arg(long, value_name = "L", value_parser = cli::at_least(1), default_value = "1")]
    layers: usize,
}

fn main() {
    if let Err(e) = run(Args::parse()) {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let Args { shape, layers } = args;
    let (kind, batch, hidden, seq, rounds) = (
        shape.kind,
        shape.batch,
        shape.hidden,
        shape.seq,
        shape.rounds,
    );
    let config = RnnConfig::new(kind, shape.input, hidden).num_layers(layers);
    let (rnn, x) = shape.model_and_input(config)?;
    let input = Input::new(&x);

    let ctx = GpuContext::new()?;
    let mut gpu = rnn.to_gpu(&ctx)?;
    println!("adapter: {}", ctx.adapter_name());
    println!(
        "{kind:?} L={layers} B={batch} T={seq} I={} H={hidden}: Auto picks {:?}",
        x.shape()[2],
        gpu.strategy_for(batch)
    );
    // Every strategy this model can run (PerStep first: the others are compared with it).
    let strategies: Vec<Strategy> = [Strategy::PerStep, Strategy::Sequence, Strategy::Wavefront]
        .into_iter()
        .filter(|&s| gpu.set_strategy(s).is_ok())
        .collect();
    // Forwards per turn: about a quarter of a second of the fastest strategy (the first
    // forward of each builds its pipelines).
    let mut runs = 1;
    for &strategy in &strategies {
        let ms = time(&mut gpu, strategy, &input, 1)?;
        runs = runs.max((250.0 / ms).ceil() as usize);
    }
    let mut ms = vec![Vec::new(); strategies.len()];
    let mut ratios = vec![Vec::new(); strategies.len()];
    for round in 0..rounds {
        let mut order: Vec<usize> = (0..strategies.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for i in order {
            ms[i].push(time(&mut gpu, strategies[i], &input, runs)?);
        }
        for i in 1..strategies.len() {
            ratios[i].push(ms[i][round] / ms[0][round]);
        }
    }
    let medians: Vec<String> = strategies
        .iter()
        .zip(&mut ms)
        .map(|(s, ms)| format!("{s:?} {:.3} ms", median(ms)))
        .collect();
    println!(
        "{} (medians of {rounds} turns of {runs} forwards)",
        medians.join(", ")
    );
    for i in 1..strategies.len() {
        let per_round: Vec<String> = ratios[i].iter().map(|r| format!("{r:.2}")).collect();
        println!(
            "{:?} / PerStep: {:.2} (per round: {})",
            strategies[i],
            median(&mut ratios[i]),
            per_round.join(" ")
        );
    }
    Ok(())
}

/// Mean milliseconds per forward over `runs` forwards with `strategy`, after one warm-up.
fn time(
    gpu: &mut GpuRnn,
    strategy: Strategy,
    input: &Input<'_>,
    runs: usize,
) -> wgpu_rnn::Result<f64> {
    gpu.set_strategy(strategy)?;
    gpu.forward(input)?;
    let t = Instant::now();
    for _ in 0..runs {
        gpu.forward(input)?;
    }
    Ok(t.elapsed().as_secs_f64() * 1e3 / runs as f64)
}
