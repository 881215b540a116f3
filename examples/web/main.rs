//! A page that runs a PyTorch GRU/LSTM/RNN on the browser's WebGPU: `examples/web/index.html`
//! calls [`run`] with the bytes of two `.safetensors` files, or none for the built-in demo.
//! Build and serve with `bash examples/web/build.sh` (examples/web/README.md). Natively this
//! example is empty: it exists for `wasm32-unknown-unknown`.
#![cfg(target_arch = "wasm32")]

use wasm_bindgen::prelude::wasm_bindgen;
use wgpu_rnn::weights::SavedInput;
use wgpu_rnn::{AdapterChoice, GpuContext, Kind, LoadOptions, Rnn, TensorFile};

/// The built-in demo: a PyTorch `nn.LSTM` and its input, from the test fixtures.
const DEMO_WEIGHTS: &[u8] = include_bytes!("../../tests/fixtures/lstm_basic.weights.safetensors");
const DEMO_INPUT: &[u8] = include_bytes!("../../tests/fixtures/lstm_basic.io.safetensors");

/// Milliseconds on the page's clock.
fn now() -> f64 {
    js_sys::Date::now()
}

/// Runs the model in `weights` (a `state_dict` as `.safetensors`) on the `input` tensor of
/// `input` (with `h0`, `c0` and `lengths` where present) on WebGPU and on the CPU path, and
/// returns a report of `key: value` lines; without files, the built-in demo. Errors are the
/// crate's messages, which say what to fix.
#[wasm_bindgen]
pub async fn run(
    weights: Option<Vec<u8>>,
    input: Option<Vec<u8>>,
    batch_first: bool,
) -> Result<String, String> {
    report(weights, input, batch_first)
        .await
        .map_err(|e| e.to_string())
}

async fn report(
    weights: Option<Vec<u8>>,
    input: Option<Vec<u8>>,
    batch_first: bool,
) -> wgpu_rnn::Result<String> {
    let demo = weights.is_none();
    let weights = TensorFile::from_bytes(weights.unwrap_or_else(|| DEMO_WEIGHTS.to_vec()))?;
    let io = TensorFile::from_bytes(input.unwrap_or_else(|| DEMO_INPUT.to_vec()))?;
    // The demo says its kind; a user's file has it inferred (RNN weights read as tanh).
    let kind = if demo {
        weights
            .metadata()
            .get("kind")
            .and_then(|k| k.parse::<Kind>().ok())
    } else {
        None
    };
    let mut options = LoadOptions::default().batch_first(batch_first && !demo);
    options.kind = kind;
    let rnn = Rnn::from_file(&weights, &options)?;
    let saved = SavedInput::from_file(&io)?;
    let args = saved.input();
    rnn.check(&args)?; // a shape error before any GPU work

    let t0 = now();
    let ctx = GpuContext::with_adapter(AdapterChoice::Default).await?;
    let t1 = now();
    let gpu = rnn.to_gpu(&ctx)?;
    let t2 = now();
    let first = gpu.forward_async(&args).await?;
    let t3 = now();
    let mut times = Vec::new();
    for _ in 0..5 {
        let start = now();
        gpu.forward_async(&args).await?;
        times.push(now() - start);
    }
    times.sort_by(f64::total_cmp);
    let start = now();
    let cpu = rnn.forward(&args)?;
    let cpu_ms = now() - start;

    let diff = first
        .output
        .data()
        .iter()
        .zip(cpu.output.data())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    let info = ctx.adapter_info();
    let c = rnn.config();
    let values: Vec<String> = first
        .output
        .data()
        .iter()
        .take(6)
        .map(|v| format!("{v:.6}"))
        .collect();
    Ok([
        format!(
            "model: {}{}",
            c.kind,
            if demo { " (built-in demo)" } else { "" }
        ),
        format!(
            "config: input_size={} hidden_size={} num_layers={} bidirectional={} proj_size={}",
            c.input_size, c.hidden_size, c.num_layers, c.bidirectional, c.proj_size
        ),
        match &info {
            // Browsers may keep the adapter's name to themselves.
            Some(i) if i.name.is_empty() => {
                format!("adapter: unnamed ({:?}, {:?})", i.backend, i.device_type)
            }
            Some(i) => format!("adapter: {} ({:?}, {:?})", i.name, i.backend, i.device_type),
            None => format!("adapter: {}", ctx.adapter_name()),
        },
        format!("input shape: {:?}", saved.x.shape()),
        format!("output shape: {:?}", first.output.shape()),
        format!("h_n shape: {:?}", first.h_n.shape()),
        format!("first values: {}", values.join(", ")),
        format!("max |WebGPU - CPU|: {diff:.3e}"),
        format!("context: {:.0} ms", t1 - t0),
        format!("upload: {:.0} ms", t2 - t1),
        format!("first forward (compiles the kernels): {:.0} ms", t3 - t2),
        format!("forward (median of 5): {:.0} ms", times[2]),
        format!("CPU forward: {cpu_ms:.0} ms"),
    ]
    .join("\n"))
}
