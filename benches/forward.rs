//! Forward-pass benchmarks over a grid of shapes.
//!
//! One iteration = one `GpuRnn::forward` call: upload the input, run every kernel, wait for the
//! GPU and read the output and `h_n` (`c_n`) back. Model upload and input creation happen once,
//! outside the timed loop; dropping the returned tensors is not timed. Throughput is reported
//! in elements = timesteps x sequences (`T * B`), so criterion prints sequence-steps per second.
//!
//! ```text
//! cargo bench --bench forward                                  # quick grid (default)
//! WGPU_RNN_BENCH_GRID=full cargo bench --bench forward         # kinds x B x H x T
//! WGPU_RNN_BENCH_POINTS=lstm:8:64:128,gru:1:512:64 cargo bench --bench forward
//! cargo bench --bench forward -- 'gpu/lstm/B8/'                # criterion's name filter
//! ```
//!
//! Environment:
//! - `WGPU_RNN_BENCH_GRID=quick|full` (default `quick`). `full` is
//!   {gru, lstm, rnn-tanh} x B {1, 8, 64} x H {64, 128, 512, 1024} x T {1, 64, 512}: 108 points,
//!   hours on a software adapter; filter it with a criterion name filter.
//! - `WGPU_RNN_BENCH_POINTS=kind:B:T:H,...` replaces the grid with these points.
//! - `WGPU_RNN_BENCH_INPUT=I` input size (default 64, the issue's goal shape).
//! - `WGPU_RNN_BENCH_STRATEGY=auto|per-step|sequence|wavefront` (default `auto`).
//! - `WGPU_RNN_BENCH_CPU=none|goal|all`: which points also run the CPU reference path
//!   (default `goal`: only B=8 T=64 H=128).
//! - `WGPU_RNN_BENCH_SAMPLES` (default 10, criterion's minimum) and
//!   `WGPU_RNN_BENCH_SECONDS` (measurement time per point, default 3).

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use wgpu_rnn::{Input, Kind, RnnConfig, Strategy};

use common::{
    gpu_context, parse_kind, random_input, random_rnn, strategy_from_env, usize_from_env,
};

#[derive(Clone, Copy, Debug)]
struct Point {
    kind: Kind,
    b: usize,
    t: usize,
    h: usize,
}

impl Point {
    fn id(&self, i: usize) -> String {
        format!("{}/B{}/T{}/I{}/H{}", self.kind, self.b, self.t, i, self.h)
    }

    /// The issue's goal shape: B=8 T=64 H=128 (I=64).
    fn is_goal(&self) -> bool {
        self.b == 8 && self.t == 64 && self.h == 128
    }
}

fn p(kind: Kind, b: usize, t: usize, h: usize) -> Point {
    Point { kind, b, t, h }
}

fn grid() -> Vec<Point> {
    if let Ok(points) = std::env::var("WGPU_RNN_BENCH_POINTS") {
        if !points.is_empty() {
            return points
                .split(',')
                .map(|s| {
                    let f: Vec<&str> = s.trim().split(':').collect();
                    let n = |x: &str| {
                        x.parse::<usize>().unwrap_or_else(|e| {
                            panic!("WGPU_RNN_BENCH_POINTS: {s:?}: expected kind:B:T:H ({e})")
                        })
                    };
                    assert_eq!(
                        f.len(),
                        4,
                        "WGPU_RNN_BENCH_POINTS: {s:?}: expected kind:B:T:H"
                    );
                    p(parse_kind(f[0]), n(f[1]), n(f[2]), n(f[3]))
                })
                .collect();
        }
    }
    match std::env::var("WGPU_RNN_BENCH_GRID").as_deref() {
        Ok("full") => {
            let mut points = Vec::new();
            for kind in [Kind::Gru, Kind::Lstm, Kind::RnnTanh] {
                for b in [1, 8, 64] {
                    for h in [64, 128, 512, 1024] {
                        for t in [1, 64, 512] {
                            points.push(p(kind, b, t, h));
                        }
                    }
                }
            }
            points
        }
        Err(_) | Ok("") | Ok("quick") => vec![
            // The goal shape, every kind.
            p(Kind::Gru, 8, 64, 128),
            p(Kind::Lstm, 8, 64, 128),
            p(Kind::RnnTanh, 8, 64, 128),
            // Batch: 1 (workgroup-per-sequence regime on CPU adapters) and 64.
            p(Kind::Lstm, 1, 64, 128),
            p(Kind::Lstm, 64, 64, 128),
            // Length: T=1 is the fixed cost of a forward; T=512 the per-step cost.
            p(Kind::Lstm, 8, 1, 128),
            p(Kind::Lstm, 8, 512, 128),
            // Width.
            p(Kind::Gru, 8, 64, 512),
            p(Kind::Gru, 1, 64, 1024),
        ],
        Ok(other) => panic!("WGPU_RNN_BENCH_GRID={other}: expected quick or full"),
    }
}

/// Times `iters` calls of `f`, each measured on its own, so that dropping what `f` returns
/// (the output tensors) is not counted.
fn time_calls<T>(iters: u64, mut f: impl FnMut() -> T) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let start = Instant::now();
        let out = black_box(f());
        total += start.elapsed();
        drop(out);
    }
    total
}

fn forward(c: &mut Criterion) {
    let input_size = usize_from_env("WGPU_RNN_BENCH_INPUT", 64);
    let samples = usize_from_env("WGPU_RNN_BENCH_SAMPLES", 10).max(10);
    let seconds = usize_from_env("WGPU_RNN_BENCH_SECONDS", 3) as u64;
    let strategy = strategy_from_env();
    let cpu_mode = std::env::var("WGPU_RNN_BENCH_CPU").unwrap_or_else(|_| "goal".into());
    let points = grid();
    let ctx = gpu_context();

    let mut group = c.benchmark_group("gpu");
    group
        .sample_size(samples)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(seconds))
        .sampling_mode(SamplingMode::Flat);
    for (n, point) in points.iter().enumerate() {
        let Some(ctx) = &ctx else { break };
        let config = RnnConfig::new(point.kind, input_size, point.h);
        let mut gpu = random_rnn(config, 7 + n as u64)
            .to_gpu(ctx)
            .expect("weights upload");
        if let Err(e) = gpu.set_strategy(strategy) {
            eprintln!("skipping {}: {e}", point.id(input_size));
            continue;
        }
        let resolved: Strategy = gpu.strategy_for(point.b);
        let x = random_input(point.t, point.b, input_size, 8);
        let input = Input::new(&x);
        group.throughput(Throughput::Elements((point.t * point.b) as u64));
        group.bench_with_input(
            BenchmarkId::from_parameter(format!("{}/{resolved:?}", point.id(input_size))),
            &input,
            |bench, input| {
                bench.iter_custom(|iters| {
                    time_calls(iters, || gpu.forward(input).expect("GPU forward"))
                })
            },
        );
    }
    group.finish();

    let mut group = c.benchmark_group("cpu");
    group
        .sample_size(samples)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(seconds))
        .sampling_mode(SamplingMode::Flat);
    for (n, point) in points.iter().enumerate() {
        let run = match cpu_mode.as_str() {
            "none" => false,
            "all" => true,
            "goal" | "" => point.is_goal(),
            other => panic!("WGPU_RNN_BENCH_CPU={other}: expected none, goal or all"),
        };
        if !run {
            continue;
        }
        let rnn = random_rnn(
            RnnConfig::new(point.kind, input_size, point.h),
            7 + n as u64,
        );
        let x = random_input(point.t, point.b, input_size, 8);
        let input = Input::new(&x);
        group.throughput(Throughput::Elements((point.t * point.b) as u64));
        group.bench_with_input(
            BenchmarkId::from_parameter(point.id(input_size)),
            &input,
            |bench, input| {
                bench.iter_custom(|iters| {
                    time_calls(iters, || rnn.forward(input).expect("CPU forward"))
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, forward);
criterion_main!(benches);
