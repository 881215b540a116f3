//! Long sequences on the GPU path match the CPU reference.
//!
//! A forward pass over `T` timesteps is encoded in chunks and goes to the GPU as several
//! command buffers (src/gpu/encode.rs: a submit whenever at least `STEPS_PER_SUBMIT` = 1024
//! timesteps have been encoded since the last one, checked at chunk boundaries; chunks are at
//! most 512 timesteps for `Strategy::Sequence` and at most 16 384 / B for `Strategy::PerStep`),
//! with the recurrent state kept in GPU buffers between them. Submits cannot be observed from
//! outside; what is tested is that the split run equals the CPU reference.
//!
//! T = 100 000 with B = 1 and B = 2, both strategies: about 6 s on Mesa's lavapipe (2 cores,
//! `cargo test`), so it runs by default. Timings and differences are printed with
//! `cargo test --test long_runs -- --nocapture`.

mod common;

use std::time::Instant;

use wgpu_rnn::{Input, Kind, Rnn, RnnConfig, Strategy, Tensor};

fn model() -> Rnn {
    // PyTorch's default initialisation range, U(-1/sqrt(H), 1/sqrt(H)), deterministic.
    let k = 1.0 / 2.0;
    Rnn::from_fn(RnnConfig::new(Kind::Gru, 2, 4), |name, shape| {
        let salt = name.bytes().map(f32::from).sum::<f32>();
        (0..shape.iter().product::<usize>())
            .map(|i| (i as f32 * 0.618 + salt).sin() * k)
            .collect()
    })
    .unwrap()
}

/// Absolute tolerance after `t` timesteps.
///
/// Each step adds a rounding difference of a few ulp of values of magnitude <= 1 (the GPU
/// sums the same products in a different order, and `exp` in WGSL is not correctly rounded);
/// a difference in `h_{t-1}` is carried into `h_t` scaled by the step's Jacobian. For a GRU
/// that Jacobian is a convex mix of `1` (the `z * h` path) and bounded gate terms, so in the
/// worst case (`z` near 1, as in long-memory units) differences add up instead of decaying:
/// the bound grows linearly with `t`. With ~16 ulp (2e-6) per 1 000 steps of budget on top of
/// a base of 1e-5 this is still far below any real error (a wrong carried state or a wrong
/// chunk offset gives differences of order 0.1).
fn tolerance(t: usize) -> f32 {
    1e-5 + 2e-6 * (t as f32 / 1_000.0)
}

fn run(t: usize, b: usize, strategy: Strategy) {
    let Some(ctx) = common::gpu() else { return };
    let rnn = model();
    let i = rnn.config().input_size;
    let x = Tensor::new(
        [t, b, i],
        (0..t * b * i)
            .map(|n| ((n as f32 * 0.0137).sin() + (n as f32 * 0.31).cos()) * 0.7)
            .collect(),
    )
    .unwrap();
    // Unequal lengths when batched: one sequence stops early, so masking runs too.
    let lengths: Vec<usize> = (0..b).map(|s| t - s * (t / 3)).collect();
    let input = Input::new(&x).lengths(&lengths);

    let start = Instant::now();
    let want = rnn.forward(&input).unwrap();
    let cpu_time = start.elapsed();

    let mut gpu = rnn.to_gpu(ctx).unwrap();
    gpu.set_strategy(strategy).unwrap();
    let start = Instant::now();
    let got = gpu.forward(&input).unwrap();
    let gpu_time = start.elapsed();

    let diff = common::max_abs_diff(got.output.data(), want.output.data());
    let diff_h = common::max_abs_diff(got.h_n.data(), want.h_n.data());
    eprintln!(
        "T={t} B={b} {strategy:?}: gpu {:.2} s, cpu {:.2} s, max |gpu - cpu| output {diff:e}, h_n {diff_h:e} (tolerance {:e})",
        gpu_time.as_secs_f64(),
        cpu_time.as_secs_f64(),
        tolerance(t)
    );
    let what = format!("T={t} B={b} {strategy:?}");
    common::assert_close(
        &format!("{what} output"),
        got.output.data(),
        want.output.data(),
        tolerance(t),
        0.0,
    );
    common::assert_close(
        &format!("{what} h_n"),
        got.h_n.data(),
        want.h_n.data(),
        tolerance(t),
        0.0,
    );
    // The state at each sequence's end is its output at its last valid step.
    let h = rnn.config().hidden_size;
    for (s, &len) in lengths.iter().enumerate() {
        let last = &got.output.data()[((len - 1) * b + s) * h..][..h];
        assert_eq!(
            last,
            &got.h_n.data()[s * h..][..h],
            "{what}: h_n of sequence {s}"
        );
    }
}

#[test]
fn one_hundred_thousand_steps_match_the_cpu() {
    for strategy in [Strategy::Sequence, Strategy::PerStep] {
        run(100_000, 1, strategy);
        run(100_000, 2, strategy);
    }
}
