//! Runs a small GPU forward pass many times and checks that process memory stays flat.
//!
//! ```text
//! cargo run --release --example soak -- [--runs 10000] [--max-growth-kib 8192]
//! ```
//!
//! Reads the resident set size (`VmRSS` in `/proc/self/status`, Linux) after run 100 and after
//! the last run, prints both, the difference and the growth per run, and exits with status 1
//! when the difference exceeds `--max-growth-kib` (default 8 MiB; see below), 2 on any error.
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

use std::time::Instant;

use wgpu_rnn::{GpuContext, Input, Kind, Rnn, RnnConfig, Tensor};

const USAGE: &str =
    "usage: soak [--runs N (default 10000, at least 200)] [--max-growth-kib K (default 8192)]";

fn main() {
    match run() {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    }
}

struct Args {
    runs: usize,
    max_growth_kib: u64,
    leak: bool,
}

fn parse() -> Result<Args, String> {
    let (mut runs, mut max_growth_kib, mut leak) = (10_000usize, 8_192u64, false);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .ok_or_else(|| format!("`{name}` needs a value\n{USAGE}"))
        };
        match arg.as_str() {
            "--runs" => {
                runs = value("--runs")?
                    .parse()
                    .map_err(|e| format!("--runs: {e}"))?
            }
            "--max-growth-kib" => {
                max_growth_kib = value("--max-growth-kib")?
                    .parse()
                    .map_err(|e| format!("--max-growth-kib: {e}"))?
            }
            "--leak-one-buffer-per-run" => leak = true,
            "--help" | "-h" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument `{other}`\n{USAGE}")),
        }
    }
    if runs < 200 {
        return Err(format!("--runs must be at least 200\n{USAGE}"));
    }
    Ok(Args {
        runs,
        max_growth_kib,
        leak,
    })
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

fn run() -> Result<bool, Box<dyn std::error::Error>> {
    let Args {
        runs,
        max_growth_kib,
        leak,
    } = parse()?;
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
