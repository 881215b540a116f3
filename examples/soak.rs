//! Runs a small GPU forward pass many times and checks that process memory stays flat.
//!
//! ```text
//! cargo run --release --example soak -- [--runs N] [--max-growth-kib K]
//!     [--leak-one-buffer-per-run]
//! ```
//!
//! Reads the resident set size (`VmRSS` in `/proc/self/status`, Linux) after run 100 and after
//! the last run (`--runs`, default 10 000, at least 200), prints both, the difference and the
//! growth per run, and exits with status 1 when the difference exceeds `--max-growth-kib`
//! (default 8 MiB; see below), 2 on any error, a bad argument included.
//! `--leak-one-buffer-per-run` leaks a buffer on purpose, to show the check failing.
//!
//! Each run creates and drops every per-call GPU object of the crate (input, state, scratch,
//! parameter and read-back buffers, bind groups, command buffers) and reads the results back,
//! which polls the device; a leak of any of them grows the RSS run after run. Between run 100
//! and the last, the pipelines and the timestep table are long built, the allocator's arenas
//! have reached their working size, so the RSS should stop moving. The default threshold,
//! 8 MiB over 9 900 runs (about 850 bytes a run), is far above the few hundred KiB of allocator
//! noise measured (RELIABILITY.md) and far below what leaking anything per run gives: one of
//! the run's buffers (the smallest holds 16 bytes, but every wgpu buffer carries well over
//! 1 KiB of bookkeeping in wgpu-core and the driver) leaked per run is over 10 MiB.
//!
//! Also runs the same loop through a stream (`GpuStream::push`) and `forward_async` in turn,
//! so every public per-call path is measured.

mod cli;

use std::time::Instant;

use clap::Parser;
use wgpu_rnn::{GpuContext, Input, Kind, Rnn, RnnConfig, Tensor};

/// Runs a small GPU forward pass many times and checks that process memory (VmRSS) stays
/// flat: exit status 1 when it grows by more than --max-growth-kib, 2 on any error.
#[derive(Parser)]
#[command(name = "soak")]
struct Args {
    /// Forward passes (RSS is compared between run 100 and the last)
    #[arg(long, value_name = "N", value_parser = cli::at_least(200), default_value = "10000")]
    runs: usize,
    /// Growth of VmRSS, in KiB, above which the check fails
    #[arg(long, value_name = "K", default_value_t = 8_192)]
    max_growth_kib: u64,
    /// Leak one 16-byte buffer per run, to show the check failing
    #[arg(long)]
    leak_one_buffer_per_run: bool,
}

fn main() {
    match run(Args::parse()) {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    }
}

/// `VmRSS` in KiB.
fn rss_kib() -> Result<u64, String> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| format!("cannot read /proc/self/status (Linux only): {e}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| "no VmRSS line in /proc/self/status".to_string())
}

fn run(args: Args) -> Result<bool, Box<dyn std::error::Error>> {
    let Args {
        runs,
        max_growth_kib,
        leak_one_buffer_per_run: leak,
    } = args;
    let ctx = GpuContext::new().or_else(|_| GpuContext::software())?;
    eprintln!("device: {}", ctx.adapter_name());
    let rnn = Rnn::from_fn(RnnConfig::new(Kind::Lstm, 8, 32).num_layers(2), |_, s| {
        (0..s.iter().product::<usize>())
            .map(|i| (i as f32 * 0.37).sin() * 0.2)
            .collect()
    })?;
    let gpu = rnn.to_gpu(&ctx)?;
    let mut stream = gpu.stream(2)?;
    // Inputs of a few shapes (both kernels on a software adapter: B < 4 and B >= 4).
    let inputs: Vec<Tensor> = [(16, 2), (7, 5), (1, 1), (12, 8)]
        .iter()
        .map(|&(t, b)| {
            Tensor::new(
                [t, b, 8],
                (0..t * b * 8).map(|n| (n as f32 * 0.1).cos()).collect(),
            )
        })
        .collect::<Result<_, _>>()?;
    let chunk = Tensor::new([3, 2, 8], vec![0.25; 48])?;
    let reference = gpu.forward(&Input::new(&inputs[0]))?;

    let start = Instant::now();
    let mut at_100 = 0;
    for run in 1..=runs {
        let x = &inputs[run % inputs.len()];
        match run % 3 {
            0 => {
                stream.push(&chunk)?;
            }
            1 => {
                let out = gpu.forward(&Input::new(x))?;
                if run % inputs.len() == 0 && out != reference {
                    return Err(format!("run {run}: the result changed").into());
                }
            }
            _ => {
                pollster::block_on(gpu.forward_async(&Input::new(x)))?;
            }
        }
        if leak {
            // The smallest buffer the crate creates, never dropped.
            std::mem::forget(ctx.device().create_buffer(&wgpu::BufferDescriptor {
                label: Some("deliberately leaked"),
                size: 16,
                usage: wgpu::BufferUsages::STORAGE,
                mapped_at_creation: false,
            }));
        }
        if run == 100 {
            at_100 = rss_kib()?;
            eprintln!("run {run}: VmRSS {at_100} KiB");
        } else if run % 1_000 == 0 {
            eprintln!(
                "run {run}: VmRSS {} KiB ({:.1} s)",
                rss_kib()?,
                start.elapsed().as_secs_f64()
            );
        }
    }
    let at_end = rss_kib()?;
    let growth = at_end as i64 - at_100 as i64;
    let per_run = growth as f64 * 1024.0 / (runs - 100) as f64;
    println!(
        "runs:             {runs} ({:.1} s)",
        start.elapsed().as_secs_f64()
    );
    println!("VmRSS at run 100: {at_100} KiB");
    println!("VmRSS at run {runs}: {at_end} KiB");
    println!("difference:       {growth} KiB ({per_run:.1} bytes per run)");
    let ok = growth <= max_growth_kib as i64;
    println!(
        "{}: growth {} the {max_growth_kib} KiB threshold",
        if ok { "PASS" } else { "FAIL" },
        if ok { "within" } else { "exceeds" }
    );
    Ok(ok)
}
