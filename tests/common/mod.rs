//! Shared by the integration tests: the GPU context (or a loud skip), and one tolerance check.
#![allow(dead_code)]

use std::sync::OnceLock;

use wgpu_rnn::GpuContext;

/// Every fixture tests/fixtures/make_fixtures.py writes (PyTorch's outputs for one module).
pub const PYTORCH_FIXTURES: &[&str] = &[
    "gru_basic",
    "gru_bi2_batchfirst_h0",
    "gru_lengths",
    "lstm_basic",
    "lstm_2layer_h0c0",
    "lstm_proj_bi",
    "lstm_lengths_bi",
    "lstm_unbatched",
    "lstm_nobias",
    "rnn_tanh",
    "rnn_relu_lengths",
    "gru_unbatched_long",
    "gru_input_ne_hidden",
    "gru_long_4000",
    "lstm_long_4000",
];

/// The test GPU context, created once per test binary.
///
/// Without an adapter: when `CI` is set this fails the test (a GPU test that silently skips on
/// CI proves nothing); locally it prints a loud notice and returns `None`.
pub fn gpu() -> Option<&'static GpuContext> {
    static CONTEXT: OnceLock<Result<GpuContext, String>> = OnceLock::new();
    let ctx = CONTEXT.get_or_init(|| {
        let ctx = GpuContext::new()
            .or_else(|_| GpuContext::software())
            .map_err(|e| e.to_string())?;
        eprintln!("GPU tests run on: {}", ctx.adapter_name());
        Ok(ctx)
    });
    match ctx {
        Ok(ctx) => Some(ctx),
        Err(e) if std::env::var_os("CI").is_some() => {
            panic!("CI is set but no GPU adapter was found ({e}); install mesa-vulkan-drivers")
        }
        Err(e) => {
            eprintln!("!!! SKIPPING GPU TEST: no adapter ({e}). Install mesa-vulkan-drivers to run it. !!!");
            None
        }
    }
}

/// Whether `ctx` runs on a software adapter (lavapipe on CI), whose loop limit refuses some
/// widths that GPUs run.
pub fn is_software(ctx: &GpuContext) -> bool {
    ctx.adapter_info()
        .is_some_and(|i| i.device_type == wgpu::DeviceType::Cpu)
}

/// A context on the same kind of adapter as [`gpu`], on a device created without subgroups:
/// the kernels then take their plain inner loop. `None` (or a failure on CI) as [`gpu`].
pub fn gpu_without_subgroups() -> Option<&'static GpuContext> {
    static CONTEXT: OnceLock<Option<GpuContext>> = OnceLock::new();
    CONTEXT
        .get_or_init(|| {
            let reference = gpu()?;
            let mut descriptor = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
            if std::env::var_os("WGPU_BACKEND").is_none() {
                descriptor.backends = wgpu::Backends::PRIMARY; // as GpuContext::new
            }
            let instance = wgpu::Instance::new(descriptor);
            let adapter = pollster::block_on(instance.request_adapter(&Default::default()))
                .expect("an adapter (gpu() found one)");
            // The same adapter as gpu()'s, so that the two contexts differ only in subgroups.
            assert_eq!(
                Some(&adapter.get_info().name),
                reference.adapter_info().map(|i| &i.name)
            );
            let (device, queue) =
                pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
                    required_limits: adapter.limits(),
                    ..Default::default()
                }))
                .expect("a device without optional features");
            Some(GpuContext::from_device(device, queue).expect("a context on that device"))
        })
        .as_ref()
}

/// Asserts `|got - want| <= abs + rel * |want|` everywhere, reporting the worst element,
/// the count of failures, and treating NaN/Inf as equal only to the same value.
#[track_caller]
pub fn assert_close(what: &str, got: &[f32], want: &[f32], abs: f32, rel: f32) {
    assert_eq!(
        got.len(),
        want.len(),
        "{what}: {} values, expected {}",
        got.len(),
        want.len()
    );
    let mut worst = (0usize, 0.0f32);
    let mut failures = 0;
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let same_special = (g.is_nan() && w.is_nan()) || (g.is_infinite() && g == w);
        let err = if same_special { 0.0 } else { (g - w).abs() };
        let ok = same_special || err <= abs + rel * w.abs();
        if !ok {
            failures += 1;
        }
        if !ok && (err > worst.1 || err.is_nan()) || (failures == 0 && err > worst.1) {
            worst = (i, if err.is_nan() { f32::INFINITY } else { err });
        }
    }
    assert!(
        failures == 0,
        "{what}: {failures} of {} values differ by more than {abs} + {rel}*|want|; worst at index {}: got {}, want {} (|diff| = {})",
        got.len(),
        worst.0,
        got[worst.0],
        want[worst.0],
        worst.1
    );
}

/// The largest absolute difference, for reporting.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// A hand-built `.safetensors` file: the 8-byte little-endian header length, the JSON header
/// `{entries}` padded with spaces to a multiple of 8 (as the safetensors writers do), then
/// the data. Each entry is one `"name":{...}` member, written by the caller so that tests can
/// build files that are invalid in exactly the way they need.
pub fn safetensors_file<'a>(
    entries: &[String],
    data: impl IntoIterator<Item = &'a [u8]>,
) -> Vec<u8> {
    let mut header = format!("{{{}}}", entries.join(",")).into_bytes();
    while header.len() % 8 != 0 {
        header.push(b' ');
    }
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(&header);
    for d in data {
        bytes.extend_from_slice(d);
    }
    bytes
}

/// The arguments of a whole-model forward pass: `x` with optional lengths.
pub fn input<'a>(x: &'a wgpu_rnn::Tensor, lengths: Option<&'a [usize]>) -> wgpu_rnn::Input<'a> {
    let input = wgpu_rnn::Input::new(x);
    match lengths {
        Some(lengths) => input.lengths(lengths),
        None => input,
    }
}

/// The path of example `name`, built as `cargo test` built it: the same profile (dev, or
/// release for `cargo test --release`) and features, so a full `cargo test` has already built
/// it and this only checks that it is fresh (a different feature set would compile the whole
/// crate a second time).
pub fn example(name: &str) -> std::path::PathBuf {
    use std::path::Path;
    use std::process::Command;
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut build = Command::new(env!("CARGO"));
    build
        .args(["build", "--example", name, "--quiet", "--manifest-path"])
        .arg(manifest.join("Cargo.toml"));
    if cfg!(feature = "ndarray") {
        build.args(["--features", "ndarray"]);
    }
    let release = !cfg!(debug_assertions);
    if release {
        build.arg("--release");
    }
    let built = build
        .output()
        .expect("cannot run cargo to build an example");
    assert!(
        built.status.success(),
        "building the {name} example failed:\n{}",
        String::from_utf8_lossy(&built.stderr)
    );
    // A relative CARGO_TARGET_DIR is relative to where cargo runs: the package root here.
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(|dir| manifest.join(dir))
        .unwrap_or_else(|| manifest.join("target"));
    let bin = target
        .join(if release { "release" } else { "debug" })
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(bin.exists(), "{} was not built", bin.display());
    bin
}
