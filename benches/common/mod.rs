//! Helpers shared by the criterion benches: random models and inputs, the GPU context.

#![allow(dead_code)]

use rand::{rngs::StdRng, Rng, SeedableRng};
use wgpu_rnn::{GpuContext, Kind, Rnn, RnnConfig, Strategy, Tensor};

/// A model with PyTorch's default initialisation, U(-1/sqrt(H), 1/sqrt(H)), from a fixed seed.
pub fn random_rnn(config: RnnConfig, seed: u64) -> Rnn {
    let mut rng = StdRng::seed_from_u64(seed);
    let k = 1.0 / (config.hidden_size as f32).sqrt();
    Rnn::from_fn(config, |_, shape| {
        (0..shape.iter().product::<usize>())
            .map(|_| rng.random_range(-k..k))
            .collect()
    })
    .expect("random weights of the right shapes")
}

/// A time-major input `(T, B, I)` with values in [-1, 1).
pub fn random_input(t: usize, b: usize, i: usize, seed: u64) -> Tensor {
    let mut rng = StdRng::seed_from_u64(seed);
    Tensor::new(
        [t, b, i],
        (0..t * b * i)
            .map(|_| rng.random_range(-1.0..1.0))
            .collect(),
    )
    .expect("input of the right size")
}

/// The default adapter (lavapipe on a machine without a GPU), or `None` with a message: the
/// benches then skip their GPU groups instead of failing.
pub fn gpu_context() -> Option<GpuContext> {
    match GpuContext::new() {
        Ok(ctx) => {
            eprintln!("adapter: {}", ctx.adapter_name());
            Some(ctx)
        }
        Err(e) => {
            eprintln!("no GPU adapter ({e}); skipping the GPU benchmarks");
            None
        }
    }
}

/// `gru`, `lstm`, `rnn-tanh`, `rnn-relu`.
pub fn parse_kind(s: &str) -> Kind {
    s.parse()
        .unwrap_or_else(|e| panic!("bad kind {s:?} in the bench configuration: {e}"))
}

/// `WGPU_RNN_BENCH_STRATEGY=auto|per-step|sequence|wavefront` (default `auto`).
pub fn strategy_from_env() -> Strategy {
    match std::env::var("WGPU_RNN_BENCH_STRATEGY").as_deref() {
        Err(_) | Ok("") | Ok("auto") => Strategy::Auto,
        Ok("per-step") => Strategy::PerStep,
        Ok("sequence") => Strategy::Sequence,
        Ok("wavefront") => Strategy::Wavefront,
        Ok(other) => panic!(
            "WGPU_RNN_BENCH_STRATEGY={other}: expected auto, per-step, sequence or wavefront"
        ),
    }
}

/// A positive integer from the environment, or `default`.
pub fn usize_from_env(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v
            .parse()
            .unwrap_or_else(|e| panic!("{name}={v}: not a positive integer ({e})")),
        _ => default,
    }
}
