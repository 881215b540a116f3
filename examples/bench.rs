//! Times one forward pass (upload + compute + read back) and sets it against the adapter's
//! measured dependent-dispatch floor.
//!
//! `cargo run --release --example bench -- --kind lstm|gru|rnn-tanh|rnn-relu --batch B --seq T
//!  --input I --hidden H [--layers L] [--bidirectional] [--device gpu|cpu] [--runs N]
//!  [--strategy auto|per-step|sequence|wavefront] [--plan gpu|current]`
//!
//! The last line is `ms_per_forward=<median>`, for scripts. With `--plan`, nothing runs: it
//! prints the plan of the pass (kernel, dispatches, workgroups and weight bytes per step, one
//! line per layer and direction) for a generic GPU (`gpu`, on any machine) or for the
//! default adapter (`current`).

use std::time::Instant;

use rand::{rngs::StdRng, Rng, SeedableRng};
use wgpu_rnn::gpu::{plan_lines, DeviceProfile};
use wgpu_rnn::{GpuContext, Input, Kind, Rnn, RnnConfig, Strategy, Tensor};

struct Args {
    kind: Kind,
    batch: usize,
    seq: usize,
    input: usize,
    hidden: usize,
    layers: usize,
    bidirectional: bool,
    gpu: bool,
    runs: usize,
    strategy: Strategy,
    /// `--plan`: print the plan for this profile (`None` for the current adapter's).
    plan: Option<Option<DeviceProfile>>,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        kind: Kind::Lstm,
        batch: 8,
        seq: 64,
        input: 64,
        hidden: 128,
        layers: 1,
        bidirectional: false,
        gpu: true,
        runs: 20,
        strategy: Strategy::Auto,
        plan: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        let number = |v: String| v.parse::<usize>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--kind" => a.kind = value()?.parse().map_err(|e| format!("{e}"))?,
            "--batch" => a.batch = number(value()?)?,
            "--seq" => a.seq = number(value()?)?,
            "--input" => a.input = number(value()?)?,
            "--hidden" => a.hidden = number(value()?)?,
            "--layers" => a.layers = number(value()?)?,
            "--runs" => a.runs = number(value()?)?.max(1),
            "--bidirectional" => a.bidirectional = true,
            "--strategy" => {
                a.strategy = match value()?.as_str() {
                    "auto" => Strategy::Auto,
                    "per-step" => Strategy::PerStep,
                    "sequence" => Strategy::Sequence,
                    "wavefront" => Strategy::Wavefront,
                    s => {
                        return Err(format!(
                            "--strategy {s}: expected auto, per-step, sequence or wavefront"
                        ))
                    }
                }
            }
            "--device" => {
                a.gpu = match value()?.as_str() {
                    "gpu" => true,
                    "cpu" => false,
                    d => return Err(format!("--device {d}: expected gpu or cpu")),
                }
            }
            "--plan" => {
                a.plan = match value()?.as_str() {
                    "gpu" => Some(Some(DeviceProfile::GENERIC_GPU)),
                    "current" => Some(None),
                    p => return Err(format!("--plan {p}: expected gpu or current")),
                }
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(a)
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
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(args) {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
}

fn run(a: Args) -> Result<(), wgpu_rnn::Error> {
    let config = RnnConfig::new(a.kind, a.input, a.hidden)
        .num_layers(a.layers)
        .bidirectional(a.bidirectional);
    if let Some(profile) = a.plan {
        let profile = match profile {
            Some(profile) => profile,
            None => {
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
        for line in plan_lines(&config, a.batch, a.seq, a.strategy, profile) {
            println!("{line}");
        }
        return Ok(());
    }
    let rnn = random_rnn(config.clone(), 7)?;
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
    let (median, min, max) = if a.gpu {
        let ctx = GpuContext::new()?;
        println!("adapter: {}", ctx.adapter_name());
        println!("subgroups: {}", ctx.uses_subgroups());
        let floor = dispatch_floor_us(&ctx)?;
        println!("dependent-dispatch floor: {floor:.1} us");
        let mut gpu = rnn.to_gpu(&ctx)?;
        gpu.set_strategy(a.strategy)?;
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
        "{} B={} T={} I={} H={} L={} D={}: median {median:.3} ms, min {min:.3} ms, max {max:.3} ms per forward ({} runs)",
        a.kind, a.batch, a.seq, a.input, a.hidden, a.layers, config.num_directions(), a.runs
    );
    println!("GFLOP/s: {:.2}", 2.0 * macs as f64 / (median * 1e-3) / 1e9);
    println!("ms_per_forward={median:.3}");
    Ok(())
}
