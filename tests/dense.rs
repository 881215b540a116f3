//! The dense stages: `Linear`, the activations and the last-step selection, GPU against the
//! CPU reference (and the CPU against plain definitions), at extremes, for bidirectional
//! layers, and the errors of loading and running a `Sequential` model.

mod common;

use safetensors::tensor::{Dtype, TensorView};
use wgpu_rnn::dense::{Activation, Linear, Stage};
use wgpu_rnn::weights::expected_tensors;
use wgpu_rnn::{
    Error, Input, InputShapes, Kind, LoadOptions, Rnn, RnnConfig, Sequential, Tensor, TensorFile,
};

/// GPU against CPU: float32 summation order only (sums of at most ~40 terms of size ~1).
const TOLERANCE: f32 = 1e-5;

/// A `.safetensors` file in memory holding `tensors`.
fn file(tensors: &[(String, Tensor)]) -> TensorFile {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, t)| bytemuck::cast_slice(t.data()).to_vec())
        .collect();
    let views: Vec<(&str, TensorView<'_>)> = tensors
        .iter()
        .zip(&bytes)
        .map(|((name, t), b)| {
            (
                name.as_str(),
                TensorView::new(Dtype::F32, t.shape().to_vec(), b).unwrap(),
            )
        })
        .collect();
    TensorFile::from_bytes(safetensors::tensor::serialize(views, None).unwrap()).unwrap()
}

/// Deterministic values in about [-scale, scale].
fn values(n: usize, salt: f32, scale: f32) -> Vec<f32> {
    (0..n)
        .map(|i| ((i as f32 * 0.731 + salt).sin()) * scale)
        .collect()
}

fn tensor(shape: &[usize], salt: f32, scale: f32) -> Tensor {
    Tensor::new(shape, values(shape.iter().product(), salt, scale)).unwrap()
}

/// `prefix.weight` (out, in) and, when `bias`, `prefix.bias`.
fn linear_tensors(
    prefix: &str,
    k: usize,
    n: usize,
    bias: bool,
    salt: f32,
) -> Vec<(String, Tensor)> {
    let scale = 1.0 / (k as f32).sqrt();
    let mut t = vec![(format!("{prefix}.weight"), tensor(&[n, k], salt, scale))];
    if bias {
        t.push((format!("{prefix}.bias"), tensor(&[n], salt + 1.0, scale)));
    }
    t
}

/// Every tensor of a recurrent stack under `prefix`.
fn rnn_tensors(prefix: &str, config: &RnnConfig, salt: f32) -> Vec<(String, Tensor)> {
    let scale = 1.0 / (config.hidden_size as f32).sqrt();
    expected_tensors(config)
        .unwrap()
        .into_iter()
        .enumerate()
        .map(|(i, spec)| {
            (
                format!("{prefix}.{}", spec.name),
                tensor(&spec.shape, salt + i as f32, scale),
            )
        })
        .collect()
}

#[test]
fn linear_on_the_cpu_is_x_times_w_transposed_plus_b_on_any_rank() {
    let (w, b) = (tensor(&[3, 4], 0.2, 0.5), tensor(&[3], 0.9, 0.5));
    let fc = Linear::from_tensors(4, 3, &w, Some(&b)).unwrap();
    let x = tensor(&[2, 5, 4], 0.4, 1.0);
    let y = fc.forward(&x).unwrap();
    assert_eq!(y.shape(), &[2, 5, 3]);
    for r in 0..10 {
        for n in 0..3 {
            let want: f64 = (0..4)
                .map(|k| x.data()[r * 4 + k] as f64 * w.data()[n * 4 + k] as f64)
                .sum::<f64>()
                + b.data()[n] as f64;
            assert!((y.data()[r * 3 + n] as f64 - want).abs() < 1e-6);
        }
    }
    let err = fc.forward(&tensor(&[2, 5], 0.0, 1.0)).unwrap_err();
    assert!(
        matches!(
            err,
            Error::FeatureWidth {
                expected: 4,
                got: 5,
                ..
            }
        ),
        "{err:?}"
    );
    let err = Linear::from_tensors(3, 4, &w, None).unwrap_err();
    assert!(
        matches!(&err, Error::WeightShape { expected, got, .. } if expected == &[4, 3] && got == &[3, 4]),
        "{err:?}"
    );
    assert!(
        err.to_string().contains(
            "(out_features, in_features); this tensor is the weight of nn.Linear(in_features=4, out_features=3)"
        ),
        "{err}"
    );
}

#[test]
fn linear_on_the_gpu_matches_the_cpu_for_odd_widths_and_fused_activations() {
    let Some(ctx) = common::gpu() else { return };
    // Widths around the 4-wide output blocks, row counts around the 8-row blocks; and on CPU
    // adapters, where `linear` reads src and the weight from 64 KiB uniform windows where both
    // fit, each just inside and just past a window: src 256 x 64 = 16384 floats, the weight
    // 64 x 256 / 4 = 4096 vec4s.
    for (i, &(k, n, rows, bias)) in [
        (1, 1, 1, true),
        (3, 2, 7, false),
        (5, 3, 8, true),
        (30, 20, 9, true),
        (17, 33, 65, false),
        (64, 5, 130, true),
        (64, 256, 256, true),
        (64, 257, 256, false),
        (64, 5, 257, true),
    ]
    .iter()
    .enumerate()
    {
        for activation in Activation::ALL {
            let model = Sequential::new()
                .linear("fc", k, n)
                .activation(activation)
                .from_file(&file(&linear_tensors("fc", k, n, bias, i as f32)))
                .unwrap();
            let x = tensor(&[rows, k], 0.3 + i as f32, 2.0);
            let cpu = model.forward(&Input::new(&x)).unwrap();
            let gpu = model.to_gpu(ctx).unwrap().forward(&Input::new(&x)).unwrap();
            assert_eq!(gpu.shape(), &[rows, n]);
            let what = format!("Linear({k} -> {n}) over {rows} rows, {activation}");
            common::assert_close(&what, gpu.data(), cpu.data(), TOLERANCE, TOLERANCE);
        }
    }
}

/// One invocation loops once per input feature. llvmpipe stops every loop of an invocation
/// after 65,535 iterations in all, silently (Linear(70000 -> 2) came back as zeros), so a
/// software adapter refuses such a layer with `DeviceLimit`; below that, and on GPUs, it runs.
#[test]
fn linear_over_wide_inputs() {
    let Some(ctx) = common::gpu() else { return };
    let software = common::is_software(ctx);
    for (i, &(k, n, rows)) in [(8_000, 4, 9), (65_000, 3, 2), (70_000, 2, 2)]
        .iter()
        .enumerate()
    {
        let model = Sequential::new()
            .linear("fc", k, n)
            .from_file(&file(&linear_tensors("fc", k, n, true, i as f32)))
            .unwrap();
        let x = tensor(&[rows, k], 0.7 + i as f32, 1.0);
        let what = format!("Linear({k} -> {n}) over {rows} rows");
        match model.to_gpu(ctx) {
            Err(Error::DeviceLimit { needed, limit, .. }) if software && k > 65_000 => {
                assert!(needed > limit, "{what}: {needed} <= {limit}");
            }
            Ok(gpu) if !software || k <= 65_000 => {
                let cpu = model.forward(&Input::new(&x)).unwrap();
                let gpu = gpu.forward(&Input::new(&x)).unwrap();
                // Sums of 70000 terms of O(1/sqrt(k)) products: float32 rounding ~1e-4.
                common::assert_close(&what, gpu.data(), cpu.data(), 1e-3, 1e-3);
            }
            other => panic!(
                "{what} on {} (software: {software}): {other:?}",
                ctx.adapter_name()
            ),
        }
    }
}

#[test]
fn activations_are_exact_at_plus_minus_100_on_both_paths() {
    let Some(ctx) = common::gpu() else { return };
    let x = Tensor::new([8], vec![-100.0, -30.0, -1.0, -0.0, 0.5, 30.0, 100.0, 1e30]).unwrap();
    let eye: Vec<f32> = (0..64)
        .map(|i| if i % 9 == 0 { 1.0 } else { 0.0 })
        .collect();
    let identity = file(&[("id.weight".into(), Tensor::new([8, 8], eye).unwrap())]);
    for activation in Activation::ALL {
        // Standalone (the `activate` kernel) and fused into an identity `linear`.
        let alone = Sequential::new()
            .activation(activation)
            .from_file(&identity);
        assert!(matches!(alone, Err(Error::UnusedTensors { .. })));
        let alone = Sequential::new()
            .activation(activation)
            .strict(false)
            .from_file(&identity)
            .unwrap();
        let fused = Sequential::new()
            .linear("id", 8, 8)
            .activation(activation)
            .from_file(&identity)
            .unwrap();
        let cpu = alone.forward(&Input::new(&x)).unwrap();
        assert_eq!(cpu, fused.forward(&Input::new(&x)).unwrap());
        for model in [&alone, &fused] {
            let gpu = model.to_gpu(ctx).unwrap().forward(&Input::new(&x)).unwrap();
            assert!(
                gpu.data().iter().all(|v| v.is_finite()),
                "{activation}: {gpu:?}"
            );
            common::assert_close(&format!("{activation}"), gpu.data(), cpu.data(), 1e-6, 1e-6);
            let (lo, hi) = (gpu.data()[0], gpu.data()[6]);
            match activation {
                Activation::Sigmoid => assert!(hi == 1.0 && (0.0..1e-30).contains(&lo)),
                Activation::Tanh => assert!(hi == 1.0 && lo == -1.0),
                Activation::Relu => assert!(hi == 100.0 && lo == 0.0),
                _ => assert!(hi == 100.0 && lo == -100.0),
            }
        }
    }
}

#[test]
fn relu_keeps_nan_and_minus_zero_on_both_paths() {
    // torch.relu(nan) is nan; `max(x, 0)` gives 0, and a driver may fold a comparison into
    // `max` (Mesa's GLSL compiler did): the GPU's relu decides on the bits (shaders/common.wesl).
    let x = Tensor::new([5], vec![f32::NAN, f32::NEG_INFINITY, -2.0, -0.0, 1.5]).unwrap();
    let model = Sequential::new()
        .activation(Activation::Relu)
        .from_file(&file(&[]))
        .unwrap();
    let check = |path: &str, out: &[f32]| {
        assert!(out[0].is_nan(), "{path}: {out:?}");
        let bits: Vec<u32> = out[1..].iter().map(|v| v.to_bits()).collect();
        let expected: Vec<u32> = [0.0f32, 0.0, -0.0, 1.5]
            .iter()
            .map(|v| v.to_bits())
            .collect();
        assert_eq!(bits, expected, "{path}: {out:?}");
    };
    check("cpu", model.forward(&Input::new(&x)).unwrap().data());
    if let Some(ctx) = common::gpu() {
        check(
            "gpu",
            model
                .to_gpu(ctx)
                .unwrap()
                .forward(&Input::new(&x))
                .unwrap()
                .data(),
        );
    }
}

#[test]
fn activations_cover_more_than_65535_workgroups() {
    let Some(ctx) = common::gpu() else { return };
    // 64 * 65535 = 4_194_240 invocations fit one dispatch row; this needs a second one.
    let n = 1_048_600;
    let x = Tensor::new([n, 4], values(4 * n, 0.1, 3.0)).unwrap();
    let model = Sequential::new()
        .activation(Activation::Relu)
        .from_file(&file(&[]))
        .unwrap();
    let gpu = model.to_gpu(ctx).unwrap().forward(&Input::new(&x)).unwrap();
    assert_eq!(gpu, model.forward(&Input::new(&x)).unwrap());
}

/// Loads `recurrent -> last step` for `config` and checks both paths against the output of the
/// `Rnn` itself: forward half at `lengths - 1`, reverse half at step 0 — and `h_n`.
fn check_last_step(config: RnnConfig, b: usize, t: usize, lengths: Option<&[usize]>) {
    let tensors = rnn_tensors("rnn", &config, 0.7);
    let f = file(&tensors);
    let model = Sequential::new()
        .batch_first(true)
        .recurrent("rnn")
        .last_step()
        .from_file(&f)
        .unwrap();
    let options = LoadOptions::default().batch_first(true);
    let rnn = Rnn::from_file(&f, &options).unwrap();
    let x = tensor(&[b, t, config.input_size], 0.5, 1.0);
    let mut input = Input::new(&x);
    if let Some(l) = lengths {
        input = input.lengths(l);
    }
    let out = rnn.forward(&input).unwrap();
    let (h, w) = (config.state_width(), config.output_width());
    let mut want = Vec::new();
    for s in 0..b {
        let last = lengths.map_or(t, |l| l[s]) - 1;
        for j in 0..w {
            let step = if j < h { last } else { 0 };
            want.push(out.output.data()[(s * t + step) * w + j]);
        }
    }
    // The same as torch.cat([h_n[-2], h_n[-1]], dim=1) (or h_n[-1]) for one layer.
    let mut from_h_n = Vec::new();
    for s in 0..b {
        for d in 0..config.num_directions() {
            let at = (d * b + s) * h;
            from_h_n.extend_from_slice(&out.h_n.data()[at..at + h]);
        }
    }
    let what = format!("{config:?}, lengths {lengths:?}");
    let cpu = model.forward(&common::input(&x, lengths)).unwrap();
    assert_eq!(cpu.shape(), &[b, w]);
    assert_eq!(cpu.data(), want.as_slice(), "{what}: cpu vs output");
    assert_eq!(cpu.data(), from_h_n.as_slice(), "{what}: cpu vs h_n");
    let Some(ctx) = common::gpu() else { return };
    let gpu = model
        .to_gpu(ctx)
        .unwrap()
        .forward(&common::input(&x, lengths))
        .unwrap();
    common::assert_close(&what, gpu.data(), cpu.data(), TOLERANCE, 0.0);
}

#[test]
fn last_step_takes_each_sequence_at_its_length_and_both_directions_at_their_ends() {
    let gru = RnnConfig::new(Kind::Gru, 3, 4);
    check_last_step(gru.clone(), 3, 5, None);
    check_last_step(gru.clone(), 3, 5, Some(&[5, 1, 3]));
    check_last_step(gru.bidirectional(true), 4, 6, Some(&[2, 6, 1, 4]));
    let lstm = RnnConfig::new(Kind::Lstm, 2, 5).bidirectional(true);
    check_last_step(lstm.clone(), 2, 4, None);
    check_last_step(lstm.proj_size(3), 9, 3, Some(&[3, 1, 2, 3, 3, 1, 2, 2, 1]));
}

#[test]
fn sequences_without_a_last_step_and_unbatched_inputs_keep_their_layout() {
    let config = RnnConfig::new(Kind::RnnRelu, 4, 3).bidirectional(true);
    let mut tensors = linear_tensors("enc", 5, 4, true, 0.1);
    tensors.extend(rnn_tensors("rnn", &config, 0.2));
    tensors.extend(linear_tensors("head", 6, 2, false, 0.3));
    let f = file(&tensors);
    let describe = |batch_first: bool| {
        Sequential::new()
            .batch_first(batch_first)
            .linear("enc", 5, 4)
            .activation(Activation::Tanh)
            .push(Stage::Recurrent {
                prefix: "rnn".into(),
                kind: Some(Kind::RnnRelu),
            })
            .activation(Activation::Sigmoid)
            .linear("head", 6, 2)
    };
    let bf = describe(true).from_file(&f).unwrap();
    let tm = describe(false).from_file(&f).unwrap();
    let x = tensor(&[3, 7, 5], 0.9, 1.0); // (B, T, F)
    let lengths = [7, 2, 5];
    let out = bf.forward(&Input::new(&x).lengths(&lengths)).unwrap();
    assert_eq!(out.shape(), &[3, 7, 2]);
    // The same sequences time-major give the same values, transposed.
    let mut xt = vec![0.0; x.data().len()];
    for b in 0..3 {
        for t in 0..7 {
            let (src, dst) = ((b * 7 + t) * 5, (t * 3 + b) * 5);
            xt[dst..dst + 5].copy_from_slice(&x.data()[src..src + 5]);
        }
    }
    let xt = Tensor::new([7, 3, 5], xt).unwrap();
    let out_tm = tm.forward(&Input::new(&xt).lengths(&lengths)).unwrap();
    assert_eq!(out_tm.shape(), &[7, 3, 2]);
    assert_eq!(out.data()[(2 * 7 + 4) * 2], out_tm.data()[(4 * 3 + 2) * 2]);
    // One unbatched sequence: (T, F) in, (T, out) out; with a last step, (out,).
    let single = tensor(&[6, 5], 0.4, 1.0);
    assert_eq!(bf.forward(&Input::new(&single)).unwrap().shape(), &[6, 2]);

    let Some(ctx) = common::gpu() else { return };
    for (model, x) in [(&bf, &x), (&tm, &xt)] {
        let gpu = model.to_gpu(ctx).unwrap();
        let cpu = model.forward(&Input::new(x).lengths(&lengths)).unwrap();
        let got = gpu.forward(&Input::new(x).lengths(&lengths)).unwrap();
        assert_eq!(got.shape(), cpu.shape());
        common::assert_close("sequence output", got.data(), cpu.data(), TOLERANCE, 0.0);
        let cpu = model.forward(&Input::new(&single)).unwrap();
        let got = gpu.forward(&Input::new(&single)).unwrap();
        common::assert_close("unbatched", got.data(), cpu.data(), TOLERANCE, 0.0);
    }
    let stepped = Sequential::new()
        .recurrent("rnn")
        .last_step()
        .strict(false)
        .from_file(&f)
        .unwrap();
    let one = tensor(&[6, 4], 0.6, 1.0);
    let cpu = stepped.forward(&Input::new(&one)).unwrap();
    assert_eq!(cpu.shape(), &[6]);
    let gpu = stepped
        .to_gpu(ctx)
        .unwrap()
        .forward(&Input::new(&one))
        .unwrap();
    common::assert_close(
        "unbatched last step",
        gpu.data(),
        cpu.data(),
        TOLERANCE,
        0.0,
    );
}

#[test]
fn empty_batches_give_empty_outputs_on_both_paths() {
    let mut tensors = linear_tensors("linear", 3, 4, true, 0.0);
    tensors.extend(rnn_tensors("rnn", &RnnConfig::new(Kind::Gru, 4, 2), 0.1));
    let model = Sequential::new()
        .batch_first(true)
        .linear("linear", 3, 4)
        .recurrent("rnn")
        .last_step()
        .from_file(&file(&tensors))
        .unwrap();
    let x = Tensor::zeros([0, 5, 3]).unwrap();
    assert_eq!(model.forward(&Input::new(&x)).unwrap().shape(), &[0, 2]);
    let err = model
        .forward(&Input::new(&Tensor::zeros([2, 0, 3]).unwrap()))
        .unwrap_err();
    assert!(matches!(err, Error::Unsupported { .. }), "{err:?}");
    let Some(ctx) = common::gpu() else { return };
    let gpu = model.to_gpu(ctx).unwrap();
    assert_eq!(gpu.forward(&Input::new(&x)).unwrap().shape(), &[0, 2]);
}

/// The classifier's tensors, with `rnn` of the given input size.
fn classifier_file(rnn_input: usize) -> TensorFile {
    let mut tensors = linear_tensors("linear", 30, 20, true, 0.0);
    tensors.extend(rnn_tensors(
        "rnn",
        &RnnConfig::new(Kind::Lstm, rnn_input, 20),
        0.1,
    ));
    tensors.extend(linear_tensors("fc", 20, 2, true, 0.2));
    file(&tensors)
}

fn classifier() -> Sequential {
    Sequential::new()
        .batch_first(true)
        .linear("linear", 30, 20)
        .recurrent("rnn")
        .last_step()
        .linear("fc", 20, 2)
}

#[test]
fn loading_errors_name_the_tensor_the_stage_and_both_sizes() {
    let err = classifier().from_file(&classifier_file(25)).unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(
            err,
            Error::FeatureWidth {
                field: "input_size",
                expected: 25,
                got: 20,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        message.contains("`rnn` (nn.LSTM(25, 20)) expects input_size=25")
            && message.contains(
                "`linear` (nn.Linear(in_features=30, out_features=20)) outputs 20 features"
            ),
        "{message}"
    );

    let f = classifier_file(20);
    let err = Sequential::new()
        .batch_first(true)
        .linear("linear", 25, 20)
        .from_file(&f)
        .unwrap_err();
    assert!(
        matches!(&err, Error::WeightShape { name, expected, got, .. }
            if name == "linear.weight" && expected == &[20, 25] && got == &[20, 30]),
        "{err:?}"
    );

    let err = classifier().linear("head", 2, 2).from_file(&f).unwrap_err();
    assert!(
        matches!(&err, Error::MissingTensor { name, expected, .. } if name == "head.weight" && expected == &[2, 2]),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("`fc.`, `linear.`, `rnn.`"),
        "{err}"
    );

    let err = classifier().linear("fc", 20, 2).from_file(&f).unwrap_err();
    assert!(
        matches!(
            err,
            Error::FeatureWidth {
                expected: 20,
                got: 2,
                ..
            }
        ),
        "{err:?}"
    );

    let err = Sequential::new()
        .batch_first(true)
        .recurrent("rnn")
        .from_file(&f)
        .unwrap_err();
    assert!(
        matches!(&err, Error::UnusedTensors { names, .. } if names == &["fc.bias", "fc.weight", "linear.bias", "linear.weight"]),
        "{err:?}"
    );
    assert!(err.to_string().contains("strict(false)"), "{err}");

    let err = Sequential::new()
        .recurrent("lstm")
        .from_file(&f)
        .unwrap_err();
    assert!(matches!(err, Error::InferConfig { .. }), "{err:?}");
    assert!(err.to_string().contains("`rnn.`"), "{err}");

    let err = Sequential::new()
        .linear("linear", 30, 20)
        .last_step()
        .recurrent("rnn")
        .from_file(&f)
        .unwrap_err();
    assert!(matches!(err, Error::StageOrder { index: 2, .. }), "{err:?}");
    assert!(matches!(
        Sequential::new().from_file(&f),
        Err(Error::Unsupported { .. })
    ));

    let mut bad = linear_tensors("fc", 2, 2, true, 0.0);
    bad[1].1 = Tensor::new([2], vec![0.0, f32::NAN]).unwrap();
    let err = Sequential::new()
        .linear("fc", 2, 2)
        .from_file(&file(&bad))
        .unwrap_err();
    assert!(
        matches!(&err, Error::NonFiniteWeight { name, index: 1, .. } if name == "fc.bias"),
        "{err:?}"
    );
}

#[test]
fn input_errors_are_found_before_any_work() {
    let model = classifier().from_file(&classifier_file(20)).unwrap();
    let err = model
        .forward(&Input::new(&Tensor::zeros([4, 10, 25]).unwrap()))
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::FeatureWidth {
                field: "in_features",
                expected: 30,
                got: 25,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("`input` of shape (4, 10, 25) has 25 features"),
        "{err}"
    );
    let err = model.check(&InputShapes::new(&[2, 4, 10, 30])).unwrap_err();
    assert!(matches!(err, Error::InputRank { .. }), "{err:?}");
    let err = model
        .check(&InputShapes::new(&[4, 10, 30]).lengths(&[10, 3]))
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::LengthsCount {
                expected: 4,
                got: 2,
                ..
            }
        ),
        "{err:?}"
    );
    let err = model
        .check(&InputShapes::new(&[4, 10, 30]).lengths(&[10, 3, 11, 1]))
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::LengthOutOfRange {
                index: 2,
                length: 11,
                max: 10,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        model
            .check(&InputShapes::new(&[4, 10, 30]).lengths(&[10, 3, 9, 1]))
            .unwrap(),
        vec![4, 2]
    );
    let Some(ctx) = common::gpu() else { return };
    let gpu = model.to_gpu(ctx).unwrap();
    let err = gpu
        .forward(&Input::new(&Tensor::zeros([4, 10, 29]).unwrap()))
        .unwrap_err();
    assert!(
        matches!(err, Error::FeatureWidth { got: 29, .. }),
        "{err:?}"
    );
}

/// A `GpuSequential` keeps its buffers for the next call of the same T and B and rewrites
/// only the input, the lengths and the recurrent stages' zero state. Calls alternating
/// inputs, lengths and shapes (and unbatched input, which shares B=1's buffers) must each
/// give what the CPU path gives for that call alone.
#[test]
fn repeated_calls_reuse_buffers_and_still_match_the_cpu() {
    let Some(ctx) = common::gpu() else { return };
    let lstm = RnnConfig::new(Kind::Lstm, 6, 5).num_layers(2);
    let gru = RnnConfig::new(Kind::Gru, 5, 3).bidirectional(true);
    let mut tensors = linear_tensors("enc", 4, 6, true, 0.1);
    tensors.extend(rnn_tensors("lstm", &lstm, 0.2));
    tensors.extend(rnn_tensors("gru", &gru, 0.3));
    tensors.extend(linear_tensors("head", 6, 3, true, 0.4));
    let model = Sequential::new()
        .batch_first(true)
        .linear("enc", 4, 6)
        .activation(Activation::Tanh)
        .recurrent("lstm")
        .recurrent_kind("gru", Kind::Gru)
        .last_step()
        .linear("head", 6, 3)
        .activation(Activation::Relu)
        .from_file(&file(&tensors))
        .unwrap();
    let gpu = model.to_gpu(ctx).unwrap();
    let (a, b) = (tensor(&[3, 7, 4], 1.0, 1.5), tensor(&[3, 7, 4], 2.0, 1.5));
    let c = tensor(&[2, 4, 4], 3.0, 1.5);
    let (one, unbatched) = (tensor(&[1, 7, 4], 4.0, 1.5), tensor(&[7, 4], 4.0, 1.5));
    let calls: [(&str, &Tensor, Option<&[usize]>); 8] = [
        ("a", &a, None),
        ("b", &b, None),
        ("a with lengths", &a, Some(&[7, 2, 5])),
        ("b with other lengths", &b, Some(&[1, 7, 3])),
        ("c, another shape", &c, Some(&[4, 1])),
        ("a again", &a, None),
        ("one sequence", &one, None),
        ("the same sequence unbatched", &unbatched, None),
    ];
    for round in 0..2 {
        for (what, x, lengths) in calls {
            let want = model.forward(&common::input(x, lengths)).unwrap();
            let got = gpu.forward(&common::input(x, lengths)).unwrap();
            assert_eq!(got.shape(), want.shape(), "{what}");
            let what = format!("round {round}, {what}");
            common::assert_close(&what, got.data(), want.data(), 1e-4, 1e-4);
        }
    }
}
