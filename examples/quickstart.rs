//! Builds a GRU with random weights, runs it on the default GPU adapter and on the CPU
//! reference, and prints the output shape, the largest |GPU - CPU| difference and the times.
//! Without an adapter it says so and runs on the CPU alone.
//!
//! `cargo run --release --example quickstart`

use std::time::Instant;

use rand::{rngs::StdRng, Rng, SeedableRng};
use wgpu_rnn::{GpuContext, Input, Kind, Rnn, RnnConfig, Tensor};

fn main() -> Result<(), wgpu_rnn::Error> {
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
    let cpu_ms = started.elapsed().as_secs_f64() * 1e3;

    match GpuContext::new() {
        Ok(ctx) => {
            println!("adapter: {}", ctx.adapter_name());
            let gpu_rnn = rnn.to_gpu(&ctx)?; // weights uploaded once
            gpu_rnn.forward(&input)?; // first run compiles pipelines and warms caches
            let started = Instant::now();
            let out = gpu_rnn.forward(&input)?;
            let gpu_ms = started.elapsed().as_secs_f64() * 1e3;
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
            println!("time per forward: GPU {gpu_ms:.2} ms (upload + compute + read back), CPU reference {cpu_ms:.2} ms");
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
