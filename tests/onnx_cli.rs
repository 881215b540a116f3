//! `infer --onnx` as a user runs it: the graph's inputs read by name, every output written
//! under its ONNX name, and one `error: ...` line (exit status 2) for what cannot run.
#![cfg(feature = "onnx")]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use wgpu_rnn::TensorFile;

/// As tests/onnx_parity.rs: onnxruntime's float32 rounding differs from ours in the last bits.
const TOLERANCE: f32 = 1e-4;

fn fixture(name: &str, ext: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/onnx")
        .join(format!("{name}.{ext}"))
        .to_string_lossy()
        .into_owned()
}

fn out_path(test: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "wgpu_rnn_onnx_cli_{}_{test}.safetensors",
        std::process::id()
    ))
}

fn infer(args: &[&str]) -> Output {
    Command::new(common::example("infer"))
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("cannot start the infer example")
}

fn last_error_line(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(2),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let line = stderr.lines().last().unwrap_or_default().to_string();
    assert!(line.starts_with("error: "), "{stderr}");
    line
}

/// Runs fixture `name` on `device` with the weight matrices as `precision`, checks every
/// expected output (within [`TOLERANCE`] in f32, tests/half_precision.rs's bound in f16) and
/// returns them by name.
fn run_fixture(name: &str, device: &str, precision: &str) -> Vec<(String, wgpu_rnn::Tensor)> {
    let out = out_path(&format!("{name}_{device}_{precision}"));
    let result = infer(&[
        "--onnx",
        &fixture(name, "onnx"),
        "--input",
        &fixture(name, "io.safetensors"),
        "--output",
        out.to_str().unwrap(),
        "--device",
        device,
        "--precision",
        precision,
    ]);
    assert!(
        result.status.success(),
        "{name} on {device}: {}",
        String::from_utf8_lossy(&result.stderr)
    );
    let written = TensorFile::open(&out).unwrap();
    let io = TensorFile::open(fixture(name, "io.safetensors")).unwrap();
    let expected: Vec<String> = io
        .names()
        .into_iter()
        .filter_map(|n| n.strip_prefix("expected/").map(str::to_string))
        .collect();
    assert!(!expected.is_empty());
    let (abs, rel) = match precision {
        "f16" => (2e-3, 2e-3),
        _ => (TOLERANCE, 0.0),
    };
    let mut outputs = Vec::new();
    for n in &expected {
        let want = io.f32(&format!("expected/{n}")).unwrap().unwrap();
        let got = written
            .f32(n)
            .unwrap()
            .unwrap_or_else(|| panic!("{name}: `{n}` not written"));
        assert_eq!(got.shape(), want.shape(), "{name}: `{n}`");
        common::assert_close(
            &format!("{name} `{n}` ({device}, {precision})"),
            got.data(),
            want.data(),
            abs,
            rel,
        );
        outputs.push((n.clone(), got));
    }
    let _ = std::fs::remove_file(out);
    outputs
}

#[test]
fn infer_onnx_writes_every_output_by_its_graph_name_on_the_cpu() {
    for name in [
        "torch_script_classifier",
        "lstm_clip",
        "gru_layout1_bidi_lens",
        "keras_like_gru_lbr0",
    ] {
        run_fixture(name, "cpu", "f32");
    }
}

#[test]
fn infer_onnx_runs_exporter_graphs_on_the_gpu() {
    if common::gpu().is_none() {
        return;
    }
    for name in [
        "torch_script_classifier",
        "torch_dynamo_lstm2_bidi",
        "lstm_lens_bidi_h0c0",
        "lstm_clip",
    ] {
        run_fixture(name, "gpu", "f32");
    }
}

/// `--precision f16`: the CPU rounds the recurrent weights as the GPU stores them, so both
/// agree to f32 rounding, both stay near onnxruntime's f32 results, and the rounding shows.
#[test]
fn infer_onnx_with_f16_weights_agrees_on_the_gpu_and_the_cpu() {
    for name in [
        "torch_script_classifier",
        "keras_like_gru_lbr0",
        "lstm_peepholes_bidi_lens",
        "backend_test_lstm_with_peepholes",
    ] {
        let cpu = run_fixture(name, "cpu", "f16");
        let exact = run_fixture(name, "cpu", "f32");
        let moved = cpu
            .iter()
            .zip(&exact)
            .map(|((_, a), (_, b))| common::max_abs_diff(a.data(), b.data()));
        assert!(
            moved.fold(0.0, f32::max) > 1e-6,
            "{name}: f16 rounded nothing"
        );
        if common::gpu().is_none() {
            continue;
        }
        for ((n, gpu), (_, cpu)) in run_fixture(name, "gpu", "f16").iter().zip(&cpu) {
            let label = format!("{name} `{n}`: GPU f16 vs CPU f16");
            common::assert_close(&label, gpu.data(), cpu.data(), TOLERANCE, 0.0);
        }
    }
}

#[test]
fn a_node_the_gpu_cannot_run_names_the_reason_and_the_cpu_option() {
    if common::gpu().is_none() {
        return;
    }
    // An LSTM whose R holds a NaN (tests/fixtures/onnx/invalid): the CPU path runs it as
    // onnxruntime would, the GPU refuses its weights.
    let out = out_path("nan_gpu");
    let line = last_error_line(&infer(&[
        "--onnx",
        &fixture("invalid/lstm_nan_weight", "onnx"),
        "--input",
        &fixture("invalid/lstm_nan_weight", "io.safetensors"),
        "--output",
        out.to_str().unwrap(),
    ]));
    for fact in ["node 0 (LSTM \"lstm\")", "R holds NaN", "--device cpu"] {
        assert!(line.contains(fact), "{line}");
    }
    assert!(!out.exists(), "nothing is written on an error");
}

#[test]
fn an_input_file_without_the_graph_inputs_names_them() {
    // A PyTorch fixture's io file holds `input`, not the graph's `X`.
    let pytorch_io =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lstm_basic.io.safetensors");
    let line = last_error_line(&infer(&[
        "--onnx",
        &fixture("lstm_clip", "onnx"),
        "--input",
        pytorch_io.to_str().unwrap(),
        "--output",
        out_path("missing").to_str().unwrap(),
        "--device",
        "cpu",
    ]));
    assert!(
        line.contains("graph input `X` was not given") && line.contains("`initial_h`"),
        "{line}"
    );
}

#[test]
fn onnx_and_weights_together_are_refused_by_the_parser() {
    let line = last_error_line(&infer(&[
        "--onnx",
        &fixture("lstm_clip", "onnx"),
        "--weights",
        &fixture("lstm_clip", "onnx"),
        "--input",
        &fixture("lstm_clip", "io.safetensors"),
        "--output",
        out_path("both").to_str().unwrap(),
    ]));
    assert!(
        line.contains("--weights") && line.contains("--onnx"),
        "{line}"
    );
}
