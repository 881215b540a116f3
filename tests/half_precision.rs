//! f16 weights (`Precision::F16`): on the GPU against the CPU reference with the same rounding
//! of weights (tight: they differ only in summation order), and against PyTorch's f32 outputs
//! on every committed fixture, T = 4000 included (loose: the weights themselves differ by up
//! to 2^-11 relative). `cargo test --test half_precision -- --nocapture` prints the accuracy
//! table in BENCHMARKS.md.

mod common;

use std::path::PathBuf;

use wgpu_rnn::weights::SavedInput;
use wgpu_rnn::{
    Error, Input, Kind, LoadOptions, Output, Precision, Rnn, RnnConfig, Strategy, Tensor,
    TensorFile,
};

const FIXTURES: &[&str] = common::PYTORCH_FIXTURES;

/// GPU f16 against CPU f16, absolute: the same bound as the f32 paths against each other
/// (summation order and WGSL's `exp` only).
const SAME_WEIGHTS: f32 = 1e-4;

/// f16 weights against PyTorch's f32 outputs, absolute plus relative to the value. Rounding
/// each weight to 11 significant bits moves a pre-activation of K terms by about
/// 2^-12 sqrt(K) |w| |x|; the fixtures' worst, over 4000 steps, is in BENCHMARKS.md. The bound
/// leaves a margin of about 3x over it and is still 50x below a wrong gate or a lost state
/// (differences of order 0.1).
const AGAINST_F32: (f32, f32) = (2e-3, 2e-3);

fn path(name: &str, part: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(format!("{name}.{part}.safetensors"))
}

fn fixture(name: &str) -> (Rnn, TensorFile) {
    let weights = TensorFile::open(path(name, "weights")).unwrap();
    let meta = weights.metadata();
    let options = LoadOptions::default()
        .kind(meta["kind"].parse::<Kind>().unwrap())
        .batch_first(meta["batch_first"] == "true");
    let rnn = Rnn::from_file(&weights, &options).unwrap();
    (rnn, TensorFile::open(path(name, "io")).unwrap())
}

/// The results as `(name, values)`: output, h_n and, for LSTM, c_n.
fn parts(out: &Output) -> Vec<(&'static str, &[f32])> {
    let mut parts = vec![("output", out.output.data()), ("h_n", out.h_n.data())];
    if let Some(c_n) = &out.c_n {
        parts.push(("c_n", c_n.data()));
    }
    parts
}

/// Largest absolute and relative (to max(|want|, 1e-3)) differences.
fn errors(got: &[f32], want: &[f32]) -> (f32, f32) {
    got.iter()
        .zip(want)
        .fold((0.0f32, 0.0f32), |(a, r), (&g, &w)| {
            let d = (g - w).abs();
            (a.max(d), r.max(d / w.abs().max(1e-3)))
        })
}

/// The strategies a model of `config` can run as (Auto first).
fn strategies(config: &RnnConfig) -> Vec<Strategy> {
    let mut all = vec![Strategy::Auto, Strategy::PerStep];
    if config.hidden_size <= 1024 {
        all.push(Strategy::Sequence);
    }
    if config.num_layers > 1 && !config.bidirectional && config.proj_size == 0 {
        all.push(Strategy::Wavefront);
    }
    all
}

/// Both ways the kernels widen halves: `unpack2x16float` on a context from
/// `GpuContext::new` (lavapipe has wgpu's SHADER_F16_IN_F32), integer operations on one from
/// `GpuContext::from_device` (which cannot tell, and also runs without subgroups).
#[test]
fn f16_weights_on_the_gpu_match_the_cpu_with_the_same_rounding_on_every_fixture() {
    let Some(ctx) = common::gpu() else { return };
    let contexts = [Some(ctx), common::gpu_without_subgroups()];
    for name in FIXTURES {
        let (rnn, io) = fixture(name);
        let saved = SavedInput::from_file(&io).unwrap();
        let input = saved.input();
        let reference = rnn
            .with_precision(Precision::F16)
            .unwrap()
            .forward(&input)
            .unwrap();
        let unrounded = rnn.forward(&input).unwrap();
        // The long fixtures run on one context (each is 4000 dependent dispatches or more).
        let long = name.contains("4000");
        let widenings = ["unpack2x16float", "integer ops"];
        for (widening, ctx) in widenings
            .iter()
            .zip(contexts.iter().flatten())
            .take(if long { 1 } else { 2 })
        {
            let mut gpu = rnn.to_gpu_with(ctx, Precision::F16).unwrap();
            assert_eq!(gpu.precision(), Precision::F16);
            // The long fixtures run once, as Auto chooses; the short ones in every strategy.
            let all = strategies(rnn.config());
            let chosen = if name.contains("4000") {
                &all[..1]
            } else {
                &all[..]
            };
            for &strategy in chosen {
                gpu.set_strategy(strategy).unwrap();
                let out = gpu.forward(&input).unwrap();
                let what = format!("{name} {strategy:?} ({widening})");
                let (mut to_f16, mut to_f32) = (0.0f32, 0.0f32);
                for (((key, got), (_, want)), (_, full)) in parts(&out)
                    .into_iter()
                    .zip(parts(&reference))
                    .zip(parts(&unrounded))
                {
                    common::assert_close(
                        &format!("{what} {key}: GPU f16 vs CPU f16"),
                        got,
                        want,
                        SAME_WEIGHTS,
                        0.0,
                    );
                    to_f16 = to_f16.max(common::max_abs_diff(got, want));
                    to_f32 = to_f32.max(common::max_abs_diff(got, full));
                }
                // The GPU really used the rounded weights: it is nearer the CPU with them.
                assert!(
                    to_f16 < to_f32,
                    "{what}: {to_f16:e} to f16, {to_f32:e} to f32"
                );
            }
        }
    }
}

#[test]
fn f16_weights_stay_close_to_pytorch_f32_on_every_fixture_including_4000_steps() {
    println!("| fixture | f32 max abs | f16 max abs | f16 max rel |");
    println!("|---|---|---|---|");
    for name in FIXTURES {
        let (rnn, io) = fixture(name);
        let saved = SavedInput::from_file(&io).unwrap();
        let input = saved.input();
        let f32_out = rnn.forward(&input).unwrap();
        let f16_out = rnn
            .with_precision(Precision::F16)
            .unwrap()
            .forward(&input)
            .unwrap();
        let (mut f32_abs, mut f16_abs, mut f16_rel) = (0.0f32, 0.0f32, 0.0f32);
        for ((key, got32), (_, got16)) in parts(&f32_out).into_iter().zip(parts(&f16_out)) {
            let want = io.f32(key).unwrap().unwrap();
            let (a, r) = errors(got16, want.data());
            f16_abs = f16_abs.max(a);
            f16_rel = f16_rel.max(r);
            f32_abs = f32_abs.max(errors(got32, want.data()).0);
            common::assert_close(
                &format!("{name} {key}: f16 weights vs PyTorch f32"),
                got16,
                want.data(),
                AGAINST_F32.0,
                AGAINST_F32.1,
            );
        }
        // Rounding must show (else the f16 path silently ran in f32) and stay the larger.
        assert!(
            f16_abs > f32_abs,
            "{name}: f16 {f16_abs:e} vs f32 {f32_abs:e}"
        );
        println!("| {name} | {f32_abs:.1e} | {f16_abs:.1e} | {f16_rel:.1e} |");
    }
}

/// Random weights at PyTorch's initialisation, U(-1/sqrt(H), 1/sqrt(H)), deterministic.
fn random_model(kind: Kind, input: usize, hidden: usize) -> Rnn {
    let k = 1.0 / (hidden as f32).sqrt();
    Rnn::from_fn(RnnConfig::new(kind, input, hidden), |name, shape| {
        let salt = name.bytes().map(f32::from).sum::<f32>();
        (0..shape.iter().product::<usize>())
            .map(|i| ((i as f32 * 0.618_034 + salt).sin() * 43_758.547).fract() * k)
            .collect()
    })
    .unwrap()
}

#[test]
fn f16_error_against_f32_stays_bounded_as_layers_widen() {
    // The CPU f32 path matches PyTorch to ~1e-6 (tests/pytorch_parity.rs), so it stands in
    // for PyTorch at sizes too large to commit as fixtures.
    println!("| kind | H | T | f16 vs f32 max abs | max rel |");
    println!("|---|---|---|---|---|");
    for kind in [Kind::Gru, Kind::Lstm, Kind::RnnTanh] {
        for hidden in [64, 256, 1024] {
            let t = 32;
            let rnn = random_model(kind, 64, hidden);
            let x = Tensor::new(
                [t, 1, 64],
                (0..t * 64).map(|n| (n as f32 * 0.37).sin()).collect(),
            )
            .unwrap();
            let want = rnn.forward(&Input::new(&x)).unwrap();
            let got = rnn
                .with_precision(Precision::F16)
                .unwrap()
                .forward(&Input::new(&x))
                .unwrap();
            let (abs, rel) = errors(got.output.data(), want.output.data());
            println!("| {kind} | {hidden} | {t} | {abs:.1e} | {rel:.1e} |");
            common::assert_close(
                &format!("{kind} H={hidden}"),
                got.output.data(),
                want.output.data(),
                AGAINST_F32.0,
                AGAINST_F32.1,
            );
        }
    }
}

#[test]
fn a_weight_beyond_f16_range_is_refused_before_any_upload_and_f32_keeps_it() {
    let mut rnn = random_model(Kind::Gru, 3, 4);
    let config = rnn.config().clone();
    rnn = Rnn::from_fn(config, |name, shape| {
        let n = shape.iter().product::<usize>();
        let mut values = vec![0.1; n];
        if name == "weight_hh_l0" {
            values[5] = 7.0e4;
        }
        values
    })
    .unwrap();
    let check = |err: Error| match err {
        Error::WeightRange {
            name,
            index,
            value,
            precision,
            ..
        } => {
            assert_eq!(
                (name.as_str(), index, value, precision),
                ("weight_hh_l0", 5, 7.0e4, Precision::F16)
            );
        }
        other => panic!("expected WeightRange, got {other:?}"),
    };
    check(rnn.with_precision(Precision::F16).unwrap_err());
    assert!(rnn.with_precision(Precision::F32).is_ok());
    let Some(ctx) = common::gpu() else { return };
    check(rnn.to_gpu_with(ctx, Precision::F16).unwrap_err());
    assert_eq!(rnn.to_gpu(ctx).unwrap().precision(), Precision::F32);
}

#[test]
fn f16_halves_the_weight_matrices_on_the_device() {
    let Some(ctx) = common::gpu() else { return };
    let rnn = random_model(Kind::Lstm, 64, 256);
    let full = rnn.to_gpu(ctx).unwrap().weight_bytes();
    let half = rnn.to_gpu_with(ctx, Precision::F16).unwrap().weight_bytes();
    // Matrices halve; the biases (b_ih and b_hh, 4H f32 each) and the empty W_hr's
    // one-vec4 placeholder stay.
    let kept = 2 * 4 * 256 * 4 + 16;
    assert_eq!(
        (half - kept) * 2,
        full - kept,
        "f32 {full} bytes, f16 {half} bytes"
    );
}

/// Every way the kernels widen halves gives each stored weight exactly: an Elman RNN (relu)
/// with W_hh = 0 and no bias, fed the unit vector e_t at step t, outputs column t of W_ih, so
/// the output is the stored matrix itself. The values cover subnormal halves, ties (rounded
/// to even), the largest half and ordinary weights. The integer widening must be exact;
/// `unpack2x16float` may flush a subnormal half to zero on some devices (WGSL leaves it to
/// them), and nothing else.
#[test]
fn every_widening_of_halves_returns_the_stored_weight_exactly() {
    let Some(ctx) = common::gpu() else { return };
    let n = 8;
    let specials = [
        5.960_464_5e-8, // the smallest subnormal half
        3.0e-6,
        6.0e-5,                     // subnormal, just below the smallest normal half
        6.103_515_6e-5,             // the smallest normal half
        1.0 + 2f32.powi(-11),       // a tie: rounds to 1.0 (even)
        1.0 + 3.0 * 2f32.powi(-11), // a tie: rounds up to 1 + 2^-9
        0.1,
        1.0 / 3.0,
        2049.0, // a tie between 2048 and 2050: rounds to 2048
        60_000.0,
        65_504.0, // the largest half
    ];
    let w_ih: Vec<f32> = (0..n * n)
        .map(|i| {
            specials
                .get(i)
                .copied()
                .unwrap_or(((i as f32) * 0.731).sin().abs() * 3.0)
        })
        .collect();
    let config = RnnConfig::new(Kind::RnnRelu, n, n).bias(false);
    let rnn = Rnn::from_fn(config, |name, shape| match name {
        "weight_ih_l0" => w_ih.clone(),
        _ => vec![0.0; shape.iter().product()],
    })
    .unwrap();
    let x = Tensor::new(
        [n, 1, n],
        (0..n * n)
            .map(|i| f32::from(u8::from(i / n == i % n)))
            .collect(),
    )
    .unwrap();
    let want = rnn
        .with_precision(Precision::F16)
        .unwrap()
        .forward(&Input::new(&x))
        .unwrap();
    // output[t][j] = W_ih[j][t], rounded to a half; exactly, on the CPU.
    for t in 0..n {
        for j in 0..n {
            let stored = half_round(w_ih[j * n + t]);
            assert_eq!(want.output.data()[t * n + j], stored, "CPU, W_ih[{j}][{t}]");
        }
    }
    for (widening, ctx) in [
        ("unpack2x16float", Some(ctx)),
        ("integer ops", common::gpu_without_subgroups()),
    ] {
        let Some(ctx) = ctx else { continue };
        let got = rnn
            .to_gpu_with(ctx, Precision::F16)
            .unwrap()
            .forward(&Input::new(&x))
            .unwrap();
        for (i, (&g, &w)) in got.output.data().iter().zip(want.output.data()).enumerate() {
            let flushed = widening == "unpack2x16float" && w < 6.103_515_6e-5 && g == 0.0;
            assert!(
                g == w || flushed,
                "{widening}: element {i}: got {g:e}, stored {w:e}"
            );
        }
    }
}

/// `x` rounded to the nearest half (ties to even), by hand: the reference for the test above.
fn half_round(x: f32) -> f32 {
    let exponent = x.abs().log2().floor().max(-14.0);
    let step = 2f32.powf(exponent - 10.0);
    let q = x / step;
    let r = q.round();
    // Ties to even.
    let r = if (q - q.trunc() - 0.5).abs() == 0.0 && r % 2.0 != 0.0 {
        r - 1.0
    } else {
        r
    };
    r * step
}

/// A BF16 checkpoint (widened to f32 on load) stores as f16 exactly while every value lies in
/// f16's normal range: bf16's 8 significant bits fit in f16's 11, so rounding changes nothing
/// and the f16 model computes what the f32 one does, bit for bit on the CPU. A value beyond
/// f16's range is refused with its tensor's name.
#[test]
fn a_bf16_checkpoint_stores_as_f16_exactly_and_a_value_beyond_its_range_is_refused() {
    let config = RnnConfig::new(Kind::Gru, 3, 4);
    let file = |big: Option<f32>| {
        let tensors: Vec<(String, Vec<usize>, Vec<u8>)> =
            wgpu_rnn::weights::expected_tensors(&config)
                .unwrap()
                .into_iter()
                .map(|spec| {
                    let (name, shape) = (spec.name, spec.shape);
                    let n: usize = shape.iter().product();
                    let bytes = (0..n)
                        .map(|i| match (name.as_str(), big) {
                            ("weight_hh_l0", Some(big)) if i == 7 => big,
                            _ => ((i as f32 * 0.377 + name.len() as f32).sin()) * 0.8,
                        })
                        .flat_map(|x| half::bf16::from_f32(x).to_le_bytes())
                        .collect();
                    (name, shape, bytes)
                })
                .collect();
        let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = tensors
            .iter()
            .map(|(name, shape, bytes)| {
                let view = safetensors::tensor::TensorView::new(
                    safetensors::Dtype::BF16,
                    shape.clone(),
                    bytes,
                );
                (name.clone(), view.unwrap())
            })
            .collect();
        let bytes = safetensors::serialize(views, None).unwrap();
        TensorFile::from_bytes(bytes).unwrap()
    };
    let options = LoadOptions::default().kind(Kind::Gru);
    let rnn = Rnn::from_file(&file(None), &options).unwrap();
    let x = Tensor::new(
        [5, 2, 3],
        (0..30).map(|i| (i as f32 * 0.21).cos()).collect(),
    )
    .unwrap();
    let full = rnn.forward(&Input::new(&x)).unwrap();
    let half = rnn
        .with_precision(Precision::F16)
        .unwrap()
        .forward(&Input::new(&x))
        .unwrap();
    assert_eq!(
        full.output.data(),
        half.output.data(),
        "bf16 weights are halves already"
    );
    let big = Rnn::from_file(&file(Some(1.0e5)), &options).unwrap();
    match big.with_precision(Precision::F16) {
        Err(Error::WeightRange { name, index, .. }) => {
            assert_eq!((name.as_str(), index), ("weight_hh_l0", 7))
        }
        other => panic!("expected WeightRange, got {other:?}"),
    }
}
