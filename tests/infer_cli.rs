//! The `infer` example as a user runs it: a subprocess reading PyTorch fixtures and writing
//! results, and the one-paragraph `error: ...` (exit status 2) for every kind of bad input.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use wgpu_rnn::TensorFile;

/// Absolute tolerance against PyTorch, as in tests/pytorch_parity.rs: float32 summation order
/// differs between PyTorch's BLAS and our loops/kernels, giving errors around 1e-6 here.
const TOLERANCE: f32 = 1e-4;

/// The infer example's binary, built (or found fresh) once per test binary.
fn infer_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| common::example("infer"))
}

fn infer(args: &[&str]) -> Output {
    Command::new(infer_bin())
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("cannot start the infer example")
}

fn fixture(name: &str, part: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(format!("{name}.{part}.safetensors"))
        .to_string_lossy()
        .into_owned()
}

/// A file under the temp dir, unique to this process and test, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str) -> Self {
        let path =
            std::env::temp_dir().join(format!("wgpu_rnn_infer_{}_{}", std::process::id(), name));
        let _ = std::fs::remove_file(&path);
        TempFile(path)
    }

    fn with_bytes(name: &str, bytes: &[u8]) -> Self {
        let file = Self::new(name);
        std::fs::write(&file.0, bytes).expect("cannot write a temp file");
        file
    }

    fn arg(&self) -> &str {
        self.0.to_str().expect("temp dir path is not UTF-8")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

// ---------------------------------------------------------------------------------------------
// Hand-built safetensors: 8-byte little-endian header length, JSON header, then the data.

/// One tensor of a hand-built file: name, safetensors dtype (`F32`, `I64`, ...), shape, bytes.
struct Raw<'a> {
    name: &'a str,
    dtype: &'a str,
    shape: &'a [usize],
    data: Vec<u8>,
}

fn safetensors_bytes(tensors: &[Raw<'_>]) -> Vec<u8> {
    let mut entries = Vec::new();
    let mut offset = 0;
    for t in tensors {
        let shape: Vec<String> = t.shape.iter().map(usize::to_string).collect();
        entries.push(format!(
            r#""{}":{{"dtype":"{}","shape":[{}],"data_offsets":[{},{}]}}"#,
            t.name,
            t.dtype,
            shape.join(","),
            offset,
            offset + t.data.len()
        ));
        offset += t.data.len();
    }
    common::safetensors_file(&entries, tensors.iter().map(|t| t.data.as_slice()))
}

fn f32_data(shape: &[usize]) -> Vec<u8> {
    let n: usize = shape.iter().product();
    (0..n)
        .flat_map(|i| (i as f32 * 0.01).to_le_bytes())
        .collect()
}

fn i64_data(values: &[i64]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

#[test]
fn hand_built_safetensors_are_valid() {
    let bytes = safetensors_bytes(&[
        Raw {
            name: "input",
            dtype: "F32",
            shape: &[2, 3],
            data: f32_data(&[2, 3]),
        },
        Raw {
            name: "lengths",
            dtype: "I64",
            shape: &[2],
            data: i64_data(&[3, 1]),
        },
    ]);
    let file = TensorFile::from_bytes(bytes).unwrap();
    assert_eq!(file.f32("input").unwrap().unwrap().shape(), &[2, 3]);
    assert_eq!(file.lengths("lengths").unwrap(), Some(vec![3, 1]));
}

// ---------------------------------------------------------------------------------------------
// Parity with PyTorch through the command line.

/// Runs the example on fixture `name` (its `.io` file is the input: the example ignores the
/// expected outputs stored there) and compares what it writes with PyTorch's results.
fn check_fixture(name: &str, device: &str) {
    let weights = TensorFile::open(fixture(name, "weights")).unwrap();
    let meta = weights.metadata();
    let out = TempFile::new(&format!("{name}_{device}.out.safetensors"));
    let io_path = fixture(name, "io");
    let weights_path = fixture(name, "weights");
    let mut args = vec![
        "--weights",
        &weights_path,
        "--input",
        &io_path,
        "--output",
        out.arg(),
        "--device",
        device,
    ];
    if meta["batch_first"] == "true" {
        args.push("--batch-first");
    }
    // GRU and LSTM are inferred from the weights; an RNN's nonlinearity is not stored.
    if meta["kind"].starts_with("rnn") {
        args.extend(["--kind", meta["kind"].as_str()]);
    }
    if !meta["prefix"].is_empty() {
        args.extend(["--prefix", meta["prefix"].as_str()]);
    }
    let run = infer(&args);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        run.status.success(),
        "{name} on {device}: {:?}\n{stderr}",
        run.status
    );
    assert!(
        run.stdout.is_empty(),
        "{name}: stdout should stay empty, got {:?}",
        String::from_utf8_lossy(&run.stdout)
    );

    let got = TensorFile::open(&out.0).unwrap();
    let want = TensorFile::open(&io_path).unwrap();
    for key in ["output", "h_n", "c_n"] {
        let (g, w) = (got.f32(key).unwrap(), want.f32(key).unwrap());
        assert_eq!(
            g.is_some(),
            w.is_some(),
            "{name} {device}: presence of {key}"
        );
        if let (Some(g), Some(w)) = (g, w) {
            assert_eq!(g.shape(), w.shape(), "{name} {device}: shape of {key}");
            common::assert_close(
                &format!("{name} {device} {key}"),
                g.data(),
                w.data(),
                TOLERANCE,
                0.0,
            );
        }
    }
    assert_eq!(
        got.names().len(),
        if meta["kind"] == "lstm" { 3 } else { 2 },
        "{name}: only output, h_n (and c_n) are written, got {:?}",
        got.names()
    );
}

const FIXTURES: &[&str] = &[
    "gru_lengths",
    "gru_bi2_batchfirst_h0",
    "lstm_proj_bi",
    "lstm_unbatched",
    "rnn_relu_lengths",
    "rnn_tanh",
];

#[test]
fn cpu_matches_pytorch() {
    for name in FIXTURES {
        check_fixture(name, "cpu");
    }
}

#[test]
fn gpu_matches_pytorch() {
    // In-process probe: without an adapter this fails on CI and skips loudly elsewhere.
    if common::gpu().is_none() {
        return;
    }
    for name in FIXTURES {
        check_fixture(name, "gpu");
    }
}

#[test]
fn help_prints_usage_and_succeeds() {
    let run = infer(&["--help"]);
    assert!(run.status.success(), "{:?}", run.status);
    let stdout = String::from_utf8_lossy(&run.stdout);
    for flag in [
        "--weights",
        "--input",
        "--output",
        "--kind",
        "--batch-first",
        "--device",
        "--prefix",
    ] {
        assert!(stdout.contains(flag), "usage lacks {flag}:\n{stdout}");
    }
}

// ---------------------------------------------------------------------------------------------
// Errors: status 2, one `error: ...` paragraph, no panic, and the facts needed to fix it.

/// Asserts a clean failure and returns the error message (without `error: `).
#[track_caller]
fn expect_error(args: &[&str]) -> String {
    let run = infer(args);
    let stderr = String::from_utf8_lossy(&run.stderr).into_owned();
    assert_eq!(
        run.status.code(),
        Some(2),
        "args {args:?}; stderr:\n{stderr}"
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "args {args:?} panicked:\n{stderr}"
    );
    // The summary lines may come first; the error is the last line.
    let last = stderr.trim_end().lines().last().unwrap_or_default();
    let message = last
        .strip_prefix("error: ")
        .unwrap_or_else(|| panic!("args {args:?}: last line is not `error: ...`:\n{stderr}"));
    message.to_string()
}

#[track_caller]
fn assert_mentions(message: &str, facts: &[&str]) {
    for fact in facts {
        assert!(message.contains(fact), "{fact:?} missing from: {message}");
    }
}

/// Runs the GRU fixture's weights (input_size=3, batch of 4, T=7) on a hand-built input file.
fn gru_with_input(test: &str, input: &[Raw<'_>]) -> String {
    let x = TempFile::with_bytes(&format!("{test}.in.safetensors"), &safetensors_bytes(input));
    let out = TempFile::new(&format!("{test}.out.safetensors"));
    let message = expect_error(&[
        "--weights",
        &fixture("gru_lengths", "weights"),
        "--input",
        x.arg(),
        "--output",
        out.arg(),
    ]);
    assert!(!out.0.exists(), "{test}: no output may be written on error");
    message
}

fn gru_args<'a>(weights: &'a str, out: &'a TempFile) -> Vec<&'a str> {
    vec!["--weights", weights, "--output", out.arg()]
}

#[test]
fn garbage_weights_file() {
    let w = TempFile::with_bytes(
        "garbage.weights.safetensors",
        b"this is not a safetensors file at all",
    );
    let out = TempFile::new("garbage.out.safetensors");
    let io = fixture("gru_lengths", "io");
    let mut args = gru_args(w.arg(), &out);
    args.extend(["--input", &io]);
    let message = expect_error(&args);
    assert_mentions(&message, &[w.arg(), "not a valid .safetensors file"]);
}

#[test]
fn truncated_weights_file() {
    let bytes = std::fs::read(fixture("gru_lengths", "weights")).unwrap();
    let w = TempFile::with_bytes("truncated.weights.safetensors", &bytes[..bytes.len() / 2]);
    let out = TempFile::new("truncated.out.safetensors");
    let io = fixture("gru_lengths", "io");
    let mut args = gru_args(w.arg(), &out);
    args.extend(["--input", &io]);
    let message = expect_error(&args);
    assert_mentions(&message, &[w.arg(), "not a valid .safetensors file"]);
}

#[test]
fn weights_file_that_does_not_exist() {
    let missing = TempFile::new("does_not_exist.weights.safetensors");
    let out = TempFile::new("does_not_exist.out.safetensors");
    let io = fixture("gru_lengths", "io");
    let mut args = gru_args(missing.arg(), &out);
    args.extend(["--input", &io]);
    let message = expect_error(&args);
    assert_mentions(&message, &[missing.arg(), "cannot access"]);
}

#[test]
fn input_with_integer_dtype() {
    let message = gru_with_input(
        "int_input",
        &[Raw {
            name: "input",
            dtype: "I64",
            shape: &[2, 3],
            data: i64_data(&[1, 2, 3, 4, 5, 6]),
        }],
    );
    assert_mentions(&message, &["`input`", "I64", "floating-point"]);
}

#[test]
fn input_with_wrong_feature_width() {
    let message = gru_with_input(
        "wide_input",
        &[Raw {
            name: "input",
            dtype: "F32",
            shape: &[7, 4, 9],
            data: f32_data(&[7, 4, 9]),
        }],
    );
    assert_mentions(&message, &["9 features", "input_size=3"]);
}

#[test]
fn negative_length() {
    let message = gru_with_input(
        "negative_length",
        &[
            Raw {
                name: "input",
                dtype: "F32",
                shape: &[7, 4, 3],
                data: f32_data(&[7, 4, 3]),
            },
            Raw {
                name: "lengths",
                dtype: "I64",
                shape: &[4],
                data: i64_data(&[7, -2, 5, 1]),
            },
        ],
    );
    assert_mentions(&message, &["lengths", "index 1", "-2"]);
}

#[test]
fn input_file_without_input_tensor() {
    let message = gru_with_input(
        "no_input",
        &[Raw {
            name: "x",
            dtype: "F32",
            shape: &[7, 4, 3],
            data: f32_data(&[7, 4, 3]),
        }],
    );
    assert_mentions(&message, &["no_input.in.safetensors", "`input`", "x"]);
}

#[test]
fn kind_that_contradicts_the_weights() {
    let out = TempFile::new("wrong_kind.out.safetensors");
    let (w, io) = (
        fixture("gru_lengths", "weights"),
        fixture("gru_lengths", "io"),
    );
    let mut args = gru_args(&w, &out);
    args.extend(["--input", &io, "--kind", "lstm", "--device", "cpu"]);
    let message = expect_error(&args);
    assert_mentions(&message, &["gru", "lstm"]);
}

#[test]
fn missing_weights_flag() {
    let message = expect_error(&["--input", "x.safetensors", "--output", "y.safetensors"]);
    assert_mentions(&message, &["--weights"]);
}

#[test]
fn flag_without_value() {
    let message = expect_error(&[
        "--input",
        "x.safetensors",
        "--output",
        "y.safetensors",
        "--weights",
    ]);
    assert_mentions(&message, &["--weights", "value"]);
}

#[test]
fn unknown_flag() {
    let message = expect_error(&[
        "--weights",
        "w",
        "--input",
        "x",
        "--output",
        "y",
        "--frobnicate",
    ]);
    assert_mentions(&message, &["--frobnicate"]);
}

#[test]
fn unknown_device_and_kind() {
    let base = ["--weights", "w", "--input", "x", "--output", "y"];
    let message = expect_error(&[&base[..], &["--device", "tpu"]].concat());
    assert_mentions(&message, &["tpu", "gpu", "cpu"]);
    let message = expect_error(&[&base[..], &["--kind", "transformer"]].concat());
    assert_mentions(&message, &["transformer", "rnn-relu"]);
}

#[test]
fn flag_given_twice() {
    let message = expect_error(&["--weights=w", "--input", "x", "--weights", "w2"]);
    // clap's wording.
    assert_mentions(&message, &["--weights", "multiple times"]);
}

/// `--precision f16`: the GPU and the CPU (weights rounded the same way) agree to float
/// rounding, both stay within tests/half_precision.rs's f16 bound of PyTorch's f32 results,
/// and the rounding shows (else f16 was silently ignored). The output file records it.
#[test]
fn f16_weights_on_the_gpu_and_cpu_agree_and_stay_near_pytorch() {
    let on_gpu = common::gpu().is_some();
    for name in ["gru_lengths", "lstm_proj_bi"] {
        let run = |device: &str| {
            let out = TempFile::new(&format!("{name}_{device}_f16.out.safetensors"));
            let (weights, io) = (fixture(name, "weights"), fixture(name, "io"));
            let mut args = vec!["--weights", &weights, "--input", &io, "--output", out.arg()];
            args.extend(["--device", device, "--precision", "f16"]);
            if name == "lstm_proj_bi" {
                args.push("--batch-first");
            }
            let run = infer(&args);
            assert!(
                run.status.success(),
                "{name} {device}: {}",
                String::from_utf8_lossy(&run.stderr)
            );
            let file = TensorFile::open(&out.0).unwrap();
            assert_eq!(file.metadata()["precision"], "f16");
            file.f32("output").unwrap().unwrap()
        };
        let want = TensorFile::open(fixture(name, "io")).unwrap();
        let want = want.f32("output").unwrap().unwrap();
        let cpu = run("cpu");
        common::assert_close(name, cpu.data(), want.data(), 2e-3, 2e-3);
        assert!(
            common::max_abs_diff(cpu.data(), want.data()) > 1e-6,
            "{name}: no rounding"
        );
        if on_gpu {
            let gpu = run("gpu");
            common::assert_close(name, gpu.data(), cpu.data(), TOLERANCE, 0.0);
        }
    }
}

#[test]
fn an_unknown_precision_says_what_to_use() {
    let base = ["--weights", "w", "--input", "x", "--output", "y"];
    let message = expect_error(&[&base[..], &["--precision", "bf16"]].concat());
    assert_mentions(&message, &["bf16", "f32", "f16"]);
}
