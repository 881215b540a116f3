//! Whole PyTorch models loaded from their `state_dict` with `Sequential`, against the logits
//! PyTorch computed (examples/classify/make_classify.py writes every file used here):
//!
//! - the `classify` example's `Linear(30 -> 20) -> LSTM(20, 20, batch_first) -> last step ->
//!   Linear(20 -> 2)` on a batch of 32 sequences of 10 steps, with `out[:, -1, :]` and with
//!   lengths and `out[torch.arange(B), lengths - 1]`;
//! - `Linear(6 -> 5) -> ReLU -> bidirectional GRU(5, 4) -> last step -> Tanh -> Linear(8 -> 3)`,
//!   whose last step takes the forward half at `lengths - 1` and the reverse half at 0;
//! - the example binary itself, writing `logits`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use wgpu_rnn::dense::Activation;
use wgpu_rnn::{Input, Sequential, SequentialModel, Tensor, TensorFile};

/// Absolute tolerance against PyTorch, as in tests/pytorch_parity.rs: float32 summation order
/// differs between PyTorch's BLAS and our loops/kernels. Over 10 LSTM steps and three matrix
/// products the logits differ by about 1e-7; 1e-4 leaves room for other drivers.
const TOLERANCE: f32 = 1e-4;

fn root(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn open(path: &str) -> TensorFile {
    TensorFile::open(root(path)).unwrap()
}

fn tensor(file: &TensorFile, name: &str) -> Tensor {
    file.f32(name)
        .unwrap()
        .unwrap_or_else(|| panic!("no `{name}`"))
}

/// Exactly the PyTorch `Classifier` of the example.
fn classifier() -> SequentialModel {
    Sequential::new()
        .batch_first(true)
        .linear("linear", 30, 20)
        .recurrent("rnn")
        .last_step()
        .linear("fc", 20, 2)
        .load(root("examples/classify/weights.safetensors"))
        .unwrap()
}

/// `BiClassifier` of make_classify.py.
fn bi_classifier() -> SequentialModel {
    Sequential::new()
        .batch_first(true)
        .linear("linear", 6, 5)
        .activation(Activation::Relu)
        .recurrent("rnn")
        .last_step()
        .activation(Activation::Tanh)
        .linear("fc", 8, 3)
        .load(root("tests/fixtures/sequential_bigru.weights.safetensors"))
        .unwrap()
}

/// (input, lengths, logits without lengths, logits with lengths)
fn classify_case() -> (Tensor, Vec<usize>, Tensor, Tensor) {
    let expected = open("tests/fixtures/classify_expected.safetensors");
    let input = tensor(&open("examples/classify/input.safetensors"), "input");
    assert_eq!(input.shape(), &[32, 10, 30]);
    let lengths = expected.lengths("lengths").unwrap().unwrap();
    (
        input,
        lengths,
        tensor(&expected, "logits"),
        tensor(&expected, "logits_lengths"),
    )
}

#[test]
fn classifier_on_the_cpu_matches_pytorch() {
    let model = classifier();
    let (x, lengths, logits, logits_lengths) = classify_case();
    let got = model.forward(&Input::new(&x)).unwrap();
    assert_eq!(got.shape(), &[32, 2]);
    common::assert_close("cpu logits", got.data(), logits.data(), TOLERANCE, 0.0);
    let got = model.forward(&Input::new(&x).lengths(&lengths)).unwrap();
    common::assert_close(
        "cpu logits with lengths",
        got.data(),
        logits_lengths.data(),
        TOLERANCE,
        0.0,
    );
}

#[test]
fn classifier_on_the_gpu_matches_pytorch() {
    let Some(ctx) = common::gpu() else { return };
    let gpu = classifier().to_gpu(ctx).unwrap();
    let (x, lengths, logits, logits_lengths) = classify_case();
    let got = gpu.forward(&Input::new(&x)).unwrap();
    assert_eq!(got.shape(), &[32, 2]);
    common::assert_close("gpu logits", got.data(), logits.data(), TOLERANCE, 0.0);
    let got = gpu.forward(&Input::new(&x).lengths(&lengths)).unwrap();
    common::assert_close(
        "gpu logits with lengths",
        got.data(),
        logits_lengths.data(),
        TOLERANCE,
        0.0,
    );
}

#[test]
fn bidirectional_model_with_activations_matches_pytorch_on_both_paths() {
    let model = bi_classifier();
    let io = open("tests/fixtures/sequential_bigru.io.safetensors");
    let x = tensor(&io, "input");
    let lengths = io.lengths("lengths").unwrap().unwrap();
    let (with_lengths, full) = (tensor(&io, "logits"), tensor(&io, "logits_full"));
    let cpu = model.forward(&Input::new(&x).lengths(&lengths)).unwrap();
    assert_eq!(cpu.shape(), &[5, 3]);
    common::assert_close(
        "cpu, lengths",
        cpu.data(),
        with_lengths.data(),
        TOLERANCE,
        0.0,
    );
    let cpu = model.forward(&Input::new(&x)).unwrap();
    common::assert_close("cpu, full", cpu.data(), full.data(), TOLERANCE, 0.0);

    let Some(ctx) = common::gpu() else { return };
    let gpu = model.to_gpu(ctx).unwrap();
    let got = gpu.forward(&Input::new(&x).lengths(&lengths)).unwrap();
    common::assert_close(
        "gpu, lengths",
        got.data(),
        with_lengths.data(),
        TOLERANCE,
        0.0,
    );
    let got = gpu.forward(&Input::new(&x)).unwrap();
    common::assert_close("gpu, full", got.data(), full.data(), TOLERANCE, 0.0);
}

/// The classify example's binary.
fn example() -> PathBuf {
    common::example("classify")
}

#[test]
fn example_prints_and_writes_the_pytorch_logits() {
    let bin = example();
    let (_, _, logits, _) = classify_case();
    let mut devices = vec!["cpu"];
    if common::gpu().is_some() {
        devices.push("gpu");
    }
    for device in devices {
        let out = std::env::temp_dir().join(format!(
            "wgpu-rnn-classify-{}-{device}.safetensors",
            std::process::id()
        ));
        // Without --weights/--input: the committed files, from any working directory.
        let run = Command::new(&bin)
            .args(["--device", device, "--output"])
            .arg(&out)
            .current_dir(std::env::temp_dir())
            .output()
            .expect("cannot start the classify example");
        let stdout = String::from_utf8_lossy(&run.stdout);
        assert!(
            run.status.success(),
            "{device}: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        assert_eq!(
            stdout.lines().count(),
            32,
            "{device}: one line per sequence"
        );
        assert!(stdout.starts_with("  0: [ -0.1327"), "{device}: {stdout}");
        let written = TensorFile::open(&out).unwrap();
        let _ = std::fs::remove_file(&out);
        let got = tensor(&written, "logits");
        assert_eq!(got.shape(), &[32, 2]);
        common::assert_close(device, got.data(), logits.data(), TOLERANCE, 0.0);
    }

    let bad = Command::new(&bin)
        .args(["--device", "tpu"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown device `tpu`"));
}

/// Whole models with f16 weights (every `Linear` and the recurrent stack): the GPU matches the
/// CPU with the same rounding, and both stay near PyTorch's f32 logits (the f16 bound of
/// tests/half_precision.rs).
#[test]
fn whole_models_with_f16_weights_match_the_cpu_with_the_same_rounding() {
    let Some(ctx) = common::gpu() else { return };
    let (x, lengths, _, logits_lengths) = classify_case();
    let io = open("tests/fixtures/sequential_bigru.io.safetensors");
    let bi_x = tensor(&io, "input");
    let bi_lengths = io.lengths("lengths").unwrap().unwrap();
    for (name, model, x, lengths, want) in [
        ("classifier", classifier(), &x, &lengths, logits_lengths),
        (
            "bi_classifier",
            bi_classifier(),
            &bi_x,
            &bi_lengths,
            tensor(&io, "logits"),
        ),
    ] {
        let input = Input::new(x).lengths(lengths);
        let cpu = model
            .with_precision(wgpu_rnn::Precision::F16)
            .unwrap()
            .forward(&input)
            .unwrap();
        let gpu = model.to_gpu_with(ctx, wgpu_rnn::Precision::F16).unwrap();
        let got = gpu.forward(&input).unwrap();
        common::assert_close(
            &format!("{name}: GPU f16 vs CPU f16"),
            got.data(),
            cpu.data(),
            TOLERANCE,
            0.0,
        );
        common::assert_close(
            &format!("{name}: f16 vs PyTorch"),
            cpu.data(),
            want.data(),
            2e-3,
            2e-3,
        );
        assert!(
            common::max_abs_diff(cpu.data(), want.data()) > 0.0,
            "{name}: no rounding"
        );
    }
}
