//! wgpu-rnn next to burn (wgpu backend) and candle (CPU), on the same shapes, the same weights
//! and the same inputs, in one process run.
//!
//! ```text
//! cd compare && cargo run --release -- [--kinds lstm,gru] [--shape B:T:I:H]... [--runs N]
//!     [--warmup W] [--burn-runs N] [--strategy auto|per-step|sequence] [--no-burn] [--no-candle]
//! ```
//!
//! Defaults: kinds lstm and gru, shape 8:64:64:128 (the issue's goal shape), 10 timed runs
//! after 3 warm-up runs each (burn: 5 timed runs; its autotuner runs during warm-up).
//!
//! One "forward" for every implementation = host input in, host output (B, T, H) out:
//! - wgpu-rnn GPU: `GpuRnn::forward` (upload, input-projection GEMM, recurrence, read back
//!   output, h_n and c_n), default adapter (lavapipe on a machine without a GPU).
//! - wgpu-rnn CPU: `Rnn::forward`, the crate's reference loops (single-threaded).
//! - burn: `Tensor::from_data` (upload) + `Lstm::forward`/`Gru::forward` + `into_data` (wait
//!   and read back), `Device::wgpu(DefaultDevice)`, burn's default features (fusion, autotune);
//!   `cargo run --release --no-default-features` builds burn-wgpu without fusion and autotune.
//! - candle: `Tensor::from_vec` + `RNN::seq` + `states_to_tensor` + `to_vec1`, CPU device.
//!
//! The weights are PyTorch-layout tensors drawn once (U(-1/sqrt(H), 1/sqrt(H)), seed 7) and
//! copied into all three: candle loads them by their PyTorch names, burn gets each gate's
//! `W_ih`/`W_hh` slice transposed into its `Linear`s (burn's GRU uses `reset_after = true`, which
//! is PyTorch's GRU). Outputs are compared against the wgpu-rnn CPU reference.

use std::collections::HashMap;
use std::time::Instant;

use burn::module::Param;
use burn::nn::{GateController, Gru, GruConfig, Linear, Lstm, LstmConfig};
use burn::prelude::{Device as BurnDevice, DeviceKind, Tensor as BurnTensor, TensorData};
use candle_core::{DType, Device as CandleDevice, Tensor as CandleTensor};
use candle_nn::rnn::{GRUConfig, LSTMConfig, RNN};
use rand::{rngs::StdRng, Rng, SeedableRng};
use wgpu_rnn::{GpuContext, Input, Kind, Rnn, RnnConfig, Strategy, Tensor};

const BURN_VERSION: &str = "0.22.1";
const CANDLE_VERSION: &str = "0.11.1";

type AnyError = Box<dyn std::error::Error>;

#[derive(Clone, Copy)]
struct Shape {
    b: usize,
    t: usize,
    i: usize,
    h: usize,
}

struct Args {
    kinds: Vec<Kind>,
    shapes: Vec<Shape>,
    runs: usize,
    burn_runs: usize,
    warmup: usize,
    strategy: Strategy,
    burn: bool,
    candle: bool,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        kinds: vec![Kind::Lstm, Kind::Gru],
        shapes: Vec::new(),
        runs: 10,
        burn_runs: 5,
        warmup: 3,
        strategy: Strategy::Auto,
        burn: true,
        candle: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        let number = |v: &str| v.parse::<usize>().map_err(|e| format!("{flag} {v}: {e}"));
        match flag.as_str() {
            "--kinds" => {
                a.kinds = value()?
                    .split(',')
                    .map(|k| k.parse().map_err(|e| format!("{e}")))
                    .collect::<Result<_, _>>()?
            }
            "--shape" => {
                let v = value()?;
                let f: Vec<usize> = v.split(':').map(number).collect::<Result<_, _>>()?;
                if f.len() != 4 || f.contains(&0) {
                    return Err(format!("--shape {v}: expected B:T:I:H, all positive"));
                }
                a.shapes.push(Shape {
                    b: f[0],
                    t: f[1],
                    i: f[2],
                    h: f[3],
                });
            }
            "--runs" => a.runs = number(&value()?)?.max(1),
            "--burn-runs" => a.burn_runs = number(&value()?)?.max(1),
            "--warmup" => a.warmup = number(&value()?)?,
            "--strategy" => {
                a.strategy = match value()?.as_str() {
                    "auto" => Strategy::Auto,
                    "per-step" => Strategy::PerStep,
                    "sequence" => Strategy::Sequence,
                    s => {
                        return Err(format!(
                            "--strategy {s}: expected auto, per-step or sequence"
                        ))
                    }
                }
            }
            "--no-burn" => a.burn = false,
            "--no-candle" => a.candle = false,
            "--help" | "-h" => {
                println!(
                    "{}",
                    include_str!("main.rs")
                        .lines()
                        .take(7)
                        .collect::<Vec<_>>()
                        .join("\n")
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if a.shapes.is_empty() {
        a.shapes.push(Shape {
            b: 8,
            t: 64,
            i: 64,
            h: 128,
        });
    }
    Ok(a)
}

/// Median and min in milliseconds of `runs` calls after `warmup` calls; returns the last result.
fn time<T>(
    warmup: usize,
    runs: usize,
    mut f: impl FnMut() -> Result<T, AnyError>,
) -> Result<(f64, f64, T), AnyError> {
    for _ in 0..warmup {
        f()?;
    }
    let mut ms = Vec::with_capacity(runs);
    let mut last = None;
    for _ in 0..runs {
        let start = Instant::now();
        let out = f()?;
        ms.push(start.elapsed().as_secs_f64() * 1e3);
        last = Some(out);
    }
    ms.sort_by(f64::total_cmp);
    Ok((ms[ms.len() / 2], ms[0], last.expect("runs >= 1")))
}

/// PyTorch-named tensors: name -> (shape, row-major values).
type Weights = HashMap<String, (Vec<usize>, Vec<f32>)>;

fn random_weights(config: &RnnConfig, seed: u64) -> Result<(Rnn, Weights), AnyError> {
    let mut rng = StdRng::seed_from_u64(seed);
    let k = 1.0 / (config.hidden_size as f32).sqrt();
    let mut weights = Weights::new();
    let rnn = Rnn::from_fn(config.clone(), |name, shape| {
        let v: Vec<f32> = (0..shape.iter().product::<usize>())
            .map(|_| rng.random_range(-k..k))
            .collect();
        weights.insert(name.to_string(), (shape.to_vec(), v.clone()));
        v
    })?;
    Ok((rnn, weights))
}

/// Rows `[gate*H, (gate+1)*H)` of a `(G*H, K)` matrix, transposed to `(K, H)` as burn's
/// `Linear` stores it (`y = x W + b`).
fn burn_linear(
    w: &(Vec<usize>, Vec<f32>),
    b: &(Vec<usize>, Vec<f32>),
    gate: usize,
    h: usize,
    device: &BurnDevice,
) -> Linear {
    let k = w.0[1];
    let mut wt = vec![0.0f32; k * h];
    for r in 0..h {
        for c in 0..k {
            wt[c * h + r] = w.1[(gate * h + r) * k + c];
        }
    }
    let bias = b.1[gate * h..(gate + 1) * h].to_vec();
    Linear {
        weight: Param::from_data(TensorData::new(wt, [k, h]), device),
        bias: Some(Param::from_data(TensorData::new(bias, [h]), device)),
    }
}

fn burn_gate(w: &Weights, gate: usize, h: usize, device: &BurnDevice) -> GateController {
    GateController {
        input_transform: burn_linear(&w["weight_ih_l0"], &w["bias_ih_l0"], gate, h, device),
        hidden_transform: burn_linear(&w["weight_hh_l0"], &w["bias_hh_l0"], gate, h, device),
    }
}

enum BurnModel {
    Lstm(Lstm),
    Gru(Gru),
}

fn burn_model(kind: Kind, s: Shape, w: &Weights, device: &BurnDevice) -> BurnModel {
    match kind {
        Kind::Lstm => {
            let mut m = LstmConfig::new(s.i, s.h, true).init(device);
            // PyTorch rows [i | f | g | o].
            m.input_gate = burn_gate(w, 0, s.h, device);
            m.forget_gate = Some(burn_gate(w, 1, s.h, device));
            m.cell_gate = burn_gate(w, 2, s.h, device);
            m.output_gate = burn_gate(w, 3, s.h, device);
            BurnModel::Lstm(m)
        }
        Kind::Gru => {
            let mut m = GruConfig::new(s.i, s.h, true).init(device);
            assert!(
                m.reset_after,
                "burn's GRU must use reset_after = true (PyTorch's GRU)"
            );
            // PyTorch rows [r | z | n].
            m.reset_gate = burn_gate(w, 0, s.h, device);
            m.update_gate = burn_gate(w, 1, s.h, device);
            m.new_gate = burn_gate(w, 2, s.h, device);
            BurnModel::Gru(m)
        }
        other => panic!("burn comparison covers lstm and gru, not {other}"),
    }
}

fn burn_forward(
    model: &BurnModel,
    x: &[f32],
    s: Shape,
    device: &BurnDevice,
) -> Result<Vec<f32>, AnyError> {
    let input = BurnTensor::<3>::from_data(TensorData::new(x.to_vec(), [s.b, s.t, s.i]), device);
    let output = match model {
        BurnModel::Lstm(m) => m.forward(input, None).0,
        BurnModel::Gru(m) => m.forward(input, None),
    };
    Ok(output
        .into_data()
        .try_into_vec::<f32>()
        .map_err(|e| format!("{e:?}"))?)
}

enum CandleModel {
    Lstm(candle_nn::rnn::LSTM),
    Gru(candle_nn::rnn::GRU),
}

fn candle_model(kind: Kind, s: Shape, w: &Weights) -> Result<CandleModel, AnyError> {
    let dev = CandleDevice::Cpu;
    let mut map = HashMap::new();
    for (name, (shape, values)) in w {
        map.insert(
            name.clone(),
            CandleTensor::from_vec(values.clone(), shape.as_slice(), &dev)?,
        );
    }
    let vb = candle_nn::VarBuilder::from_tensors(map, DType::F32, &dev);
    Ok(match kind {
        Kind::Lstm => CandleModel::Lstm(candle_nn::rnn::lstm(s.i, s.h, LSTMConfig::default(), vb)?),
        Kind::Gru => CandleModel::Gru(candle_nn::rnn::gru(s.i, s.h, GRUConfig::default(), vb)?),
        other => panic!("candle comparison covers lstm and gru, not {other}"),
    })
}

fn candle_forward(model: &CandleModel, x: &[f32], s: Shape) -> Result<Vec<f32>, AnyError> {
    let input = CandleTensor::from_vec(x.to_vec(), (s.b, s.t, s.i), &CandleDevice::Cpu)?;
    // Both stack the per-step h into (B, T, H) memory order (GRU's as (B, T*H)).
    let output = match model {
        CandleModel::Lstm(m) => m.states_to_tensor(&m.seq(&input)?)?,
        CandleModel::Gru(m) => m.states_to_tensor(&m.seq(&input)?)?,
    };
    Ok(output.flatten_all()?.to_vec1::<f32>()?)
}

/// The version in the parent crate's Cargo.toml (this crate depends on it by path).
fn wgpu_rnn_version() -> &'static str {
    include_str!("../../Cargo.toml")
        .lines()
        .find_map(|l| l.strip_prefix("version = \""))
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or("?")
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "outputs of different sizes");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

struct Row {
    kind: Kind,
    shape: Shape,
    strategy: Strategy,
    ours_gpu: f64,
    ours_cpu: f64,
    burn: Option<f64>,
    candle: Option<f64>,
}

fn main() {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(&args) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run(a: &Args) -> Result<(), AnyError> {
    let ctx = GpuContext::new()?;
    println!(
        "wgpu-rnn {} adapter: {}",
        wgpu_rnn_version(),
        ctx.adapter_name()
    );
    let burn_features = if cfg!(feature = "burn-default") {
        "default features (fusion, autotune)"
    } else {
        "built with --no-default-features: no fusion, no autotune"
    };
    println!("burn {BURN_VERSION}: Device::wgpu(DefaultDevice), {burn_features}");
    println!("candle {CANDLE_VERSION}: Device::Cpu");
    let burn_device = BurnDevice::wgpu(DeviceKind::DefaultDevice);
    let mut rows = Vec::new();
    let mut mismatches = 0;

    for &s in &a.shapes {
        for &kind in &a.kinds {
            let label = format!("{kind} B={} T={} I={} H={}", s.b, s.t, s.i, s.h);
            let config = RnnConfig::new(kind, s.i, s.h).batch_first(true);
            let (rnn, weights) = random_weights(&config, 7)?;
            let mut rng = StdRng::seed_from_u64(8);
            let x: Vec<f32> = (0..s.b * s.t * s.i)
                .map(|_| rng.random_range(-1.0..1.0))
                .collect();
            let xt = Tensor::new([s.b, s.t, s.i], x.clone())?;
            let input = Input::new(&xt);

            let (ours_cpu, _, reference) = time(1, a.runs.min(5), || Ok(rnn.forward(&input)?))?;
            let reference = reference.output.into_data();

            let mut gpu = rnn.to_gpu(&ctx)?;
            gpu.set_strategy(a.strategy)?;
            let strategy = gpu.strategy_for(s.b);
            let (ours_gpu, ours_gpu_min, out) =
                time(a.warmup, a.runs, || Ok(gpu.forward(&input)?))?;
            let d = max_abs_diff(&out.output.into_data(), &reference);
            println!("{label}: wgpu-rnn GPU ({strategy:?}) median {ours_gpu:.3} ms (min {ours_gpu_min:.3}); max |GPU - CPU ref| = {d:.2e}");
            mismatches += usize::from(d > 1e-3);
            println!("{label}: wgpu-rnn CPU reference median {ours_cpu:.3} ms");

            let burn = if a.burn {
                let model = burn_model(kind, s, &weights, &burn_device);
                let (ms, min, out) = time(a.warmup, a.burn_runs, || {
                    burn_forward(&model, &x, s, &burn_device)
                })?;
                let d = max_abs_diff(&out, &reference);
                println!("{label}: burn-wgpu median {ms:.3} ms (min {min:.3}); max |burn - ours| = {d:.2e}");
                mismatches += usize::from(d > 1e-3);
                Some(ms)
            } else {
                None
            };

            let candle = if a.candle {
                let model = candle_model(kind, s, &weights)?;
                let (ms, min, out) = time(a.warmup, a.runs, || candle_forward(&model, &x, s))?;
                let d = max_abs_diff(&out, &reference);
                println!("{label}: candle-cpu median {ms:.3} ms (min {min:.3}); max |candle - ours| = {d:.2e}");
                mismatches += usize::from(d > 1e-3);
                Some(ms)
            } else {
                None
            };
            rows.push(Row {
                kind,
                shape: s,
                strategy,
                ours_gpu,
                ours_cpu,
                burn,
                candle,
            });
        }
    }

    let opt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2}"));
    let ratio =
        |v: Option<f64>, ours: f64| v.map_or("-".to_string(), |v| format!("{:.2}x", v / ours));
    println!();
    println!("ms per forward (median); ratio = their time / our GPU time (> 1: we are faster)");
    println!("| kind | B | T | I | H | strategy | wgpu-rnn GPU | wgpu-rnn CPU | burn-wgpu | candle-cpu | burn/ours | candle/ours |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in &rows {
        let s = r.shape;
        println!(
            "| {} | {} | {} | {} | {} | {:?} | {:.2} | {:.2} | {} | {} | {} | {} |",
            r.kind,
            s.b,
            s.t,
            s.i,
            s.h,
            r.strategy,
            r.ours_gpu,
            r.ours_cpu,
            opt(r.burn),
            opt(r.candle),
            ratio(r.burn, r.ours_gpu),
            ratio(r.candle, r.ours_gpu),
        );
    }
    if mismatches > 0 {
        return Err(format!(
            "{mismatches} output(s) differ from the CPU reference by more than 1e-3"
        )
        .into());
    }
    println!("all outputs agree with the wgpu-rnn CPU reference within 1e-3");
    Ok(())
}
