//! Builds a GRU with random weights, runs it on the default GPU adapter and on the CPU
//! reference, and prints the output shape, the largest |GPU - CPU| difference and the times
//! an application pays: once at start-up (creating the context, uploading the weights, the
//! first forward, which compiles the pipelines), then for every forward after that.
//! Without an adapter it says so and runs on the CPU alone.
//!
//! ```text
//! cargo run --release --example quickstart
//! ```
//!
//! It takes no options (`--help` says so).

use std::time::Instant;

use clap::Parser;
use rand::{rngs::StdRng, Rng, SeedableRng};
use wgpu_rnn::{GpuContext, Input, Kind, Rnn, RnnConfig, Tensor};

/// Runs nn.GRU(64, 128, batch_first=True) with random weights on the default GPU adapter and
/// on the CPU reference, and prints the difference, the start-up costs and the time per forward.
#[derive(Parser)]
#[command(name = "quickstart")]
struct Args {}

/// Steady-state forwards timed after the first; the median is printed.
const RUNS: usize = 5;

fn main() -> Result<(), wgpu_rnn::Error> {
    Args::parse();
    // nn.GRU(input_size=64, hidden_size=128, batch_first=True); input_size need not equal hidden_size.
    let config = RnnConfig::new(Kind::Gru, 64, 128).batch_first(true);
    let (batch, seq_len) = (8, 64);

    // PyTorch's default initialisation: uniform in +-1/sqrt(hidden_size).
    let mut rng = StdRng::seed_from_u64(7);
    let k = 1.0 / (config.hidden_size as f32).sqrt();
    let rnn = Rnn::from_fn(config.clone(), |_name, shape| {
        (0..shape.iter().product::<usize>())
            .map(|_| rng.random_range(-k..k))
            .collect()
    })?;
    let x: Vec<f32> = (0..batch * seq_len * config.input_size)
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    let x = Tensor::new([batch, seq_len, config.input_size], x)?; // (B, T, input_size)
    let input = Input::new(&x);

    let started = Instant::now();
    let cpu = rnn.forward(&input)?;
    let cpu_ms = ms(started);

    let started = Instant::now();
    match GpuContext::new() {
        Ok(ctx) => {
            let context_ms = ms(started);
            println!("adapter: {}", ctx.adapter_name());
            let started = Instant::now();
            let gpu_rnn = rnn.to_gpu(&ctx)?; // weights uploaded once
            let upload_ms = ms(started);
            let started = Instant::now();
            let out = gpu_rnn.forward(&input)?; // compiles the pipelines this shape needs
            let first_ms = ms(started);
            let mut steady = (0..RUNS)
                .map(|_| {
                    let started = Instant::now();
                    gpu_rnn.forward(&input).map(|_| ms(started))
                })
                .collect::<Result<Vec<f64>, _>>()?;
            steady.sort_by(f64::total_cmp);
            let max_diff = out
                .output
                .data()
                .iter()
                .zip(cpu.output.data())
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            println!(
                "output shape: {:?}   h_n shape: {:?}",
                out.output.shape(),
                out.h_n.shape()
            );
            println!("max |GPU - CPU|: {max_diff:.3e}");
            println!("start-up, once per application:");
            println!("  create the context (GpuContext::new):       {context_ms:8.2} ms");
            println!("  upload the weights (Rnn::to_gpu):           {upload_ms:8.2} ms");
            println!("  first forward (compiles the pipelines):     {first_ms:8.2} ms");
            println!("every forward after that:");
            println!(
                "  GPU forward (upload + compute + read back): {:8.2} ms (median of {RUNS})",
                steady[RUNS / 2]
            );
            println!("  CPU reference forward:                      {cpu_ms:8.2} ms");
        }
        Err(e) => {
            println!("notice: no GPU adapter ({e}); running on the CPU reference path only");
            println!(
                "output shape: {:?}   h_n shape: {:?}",
                cpu.output.shape(),
                cpu.h_n.shape()
            );
            println!("time per forward: CPU reference {cpu_ms:.2} ms");
        }
    }
    Ok(())
}

fn ms(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1e3
}
