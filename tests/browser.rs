//! The crate in a real browser: WebGPU in headless Chromium, driven by wasm-bindgen-test-runner
//! (`cargo test --target wasm32-unknown-unknown --test browser`; `.cargo/config.toml` and
//! `webdriver.json` say how). Every PyTorch fixture (GRU, LSTM with `proj_size`, RNN,
//! bidirectional, multi-layer, lengths, initial states, unbatched) runs through the async API
//! and is compared with PyTorch's outputs (1e-4 absolute, as in tests/pytorch_parity.rs) and
//! with the CPU reference; a stream fed in chunks must equal one call; ONNX graphs (PyTorch
//! exports and the general cell) match onnxruntime; f16 weights match the CPU with the same
//! rounding. Without a WebGPU
//! adapter the tests fail: they never pass vacuously.
#![cfg(target_arch = "wasm32")]

use wasm_bindgen_test::{console_log, wasm_bindgen_test, wasm_bindgen_test_configure};
use wgpu_rnn::weights::SavedInput;
use wgpu_rnn::{
    AdapterChoice, GpuContext, Input, Kind, LoadOptions, Precision, Rnn, Tensor, TensorFile,
};

wasm_bindgen_test_configure!(run_in_browser);

const TOLERANCE: f32 = 1e-4;

macro_rules! fixture {
    ($name:literal) => {
        (
            $name,
            include_bytes!(concat!("fixtures/", $name, ".weights.safetensors")).as_slice(),
            include_bytes!(concat!("fixtures/", $name, ".io.safetensors")).as_slice(),
        )
    };
}

/// (name, weights, inputs and PyTorch's outputs), as tests/fixtures/make_fixtures.py wrote them.
const FIXTURES: &[(&str, &[u8], &[u8])] = &[
    fixture!("gru_basic"),
    fixture!("gru_bi2_batchfirst_h0"),
    fixture!("gru_lengths"),
    fixture!("lstm_basic"),
    fixture!("lstm_2layer_h0c0"),
    fixture!("lstm_proj_bi"),
    fixture!("lstm_lengths_bi"),
    fixture!("lstm_unbatched"),
    fixture!("lstm_nobias"),
    fixture!("rnn_tanh"),
    fixture!("rnn_relu_lengths"),
    fixture!("gru_unbatched_long"),
    fixture!("gru_input_ne_hidden"),
];

/// The browser's WebGPU adapter; a test without one fails.
async fn context() -> GpuContext {
    match GpuContext::with_adapter(AdapterChoice::Default).await {
        Ok(ctx) => {
            console_log!("WebGPU adapter: {}", ctx.adapter_name());
            ctx
        }
        Err(e) => panic!("the browser tests need WebGPU: {e}"),
    }
}

fn load(weights: &[u8]) -> Rnn {
    let file = TensorFile::from_bytes(weights.to_vec()).unwrap();
    let meta = file.metadata();
    let options = LoadOptions::default()
        .kind(meta["kind"].parse::<Kind>().unwrap())
        .batch_first(meta["batch_first"] == "true");
    Rnn::from_file(&file, &options).unwrap()
}

/// A fixture's model, and its file of inputs and PyTorch's outputs.
fn fixture(weights: &[u8], io: &[u8]) -> (Rnn, TensorFile, SavedInput) {
    let io = TensorFile::from_bytes(io.to_vec()).unwrap();
    let saved = SavedInput::from_file(&io).unwrap();
    (load(weights), io, saved)
}

#[track_caller]
fn assert_close(what: &str, got: &Tensor, want: &Tensor) {
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    let worst = got
        .data()
        .iter()
        .zip(want.data())
        .map(|(g, w)| (g - w).abs())
        .fold(0.0f32, f32::max);
    assert!(
        worst <= TOLERANCE,
        "{what}: max |diff| {worst:e} > {TOLERANCE:e}"
    );
}

#[wasm_bindgen_test]
async fn every_fixture_matches_pytorch_and_the_cpu_on_webgpu() {
    let ctx = context().await;
    for (name, weights, io) in FIXTURES {
        let (rnn, io, saved) = fixture(weights, io);
        let input = saved.input();
        let got = rnn
            .to_gpu(&ctx)
            .unwrap()
            .forward_async(&input)
            .await
            .unwrap();
        let cpu = rnn.forward(&input).unwrap();
        for (key, got, cpu) in [
            ("output", Some(&got.output), Some(&cpu.output)),
            ("h_n", Some(&got.h_n), Some(&cpu.h_n)),
            ("c_n", got.c_n.as_ref(), cpu.c_n.as_ref()),
        ] {
            let want = io.f32(key).unwrap();
            assert_eq!(got.is_some(), want.is_some(), "{name}: presence of {key}");
            if let (Some(got), Some(cpu), Some(want)) = (got, cpu, want) {
                assert_close(&format!("{name} {key} vs PyTorch"), got, &want);
                assert_close(&format!("{name} {key} vs the CPU"), got, cpu);
            }
        }
    }
}

/// f16 weights (`Precision::F16`) on Chromium's WebGPU adapter, which has no `shader-f16`:
/// every fixture matches the CPU with the same rounding of weights.
#[wasm_bindgen_test]
async fn f16_weights_match_the_cpu_with_the_same_rounding_on_webgpu() {
    let ctx = context().await;
    for (name, weights, io) in FIXTURES {
        let (rnn, _, saved) = fixture(weights, io);
        let input = saved.input();
        let gpu = rnn.to_gpu_with(&ctx, Precision::F16).unwrap();
        let got = gpu.forward_async(&input).await.unwrap();
        let cpu = rnn
            .with_precision(Precision::F16)
            .unwrap()
            .forward(&input)
            .unwrap();
        assert_close(&format!("{name} output, f16"), &got.output, &cpu.output);
        assert_close(&format!("{name} h_n, f16"), &got.h_n, &cpu.h_n);
    }
    console_log!("f16 weights: {} fixtures match the CPU", FIXTURES.len());
}

#[wasm_bindgen_test]
async fn a_stream_fed_in_chunks_equals_one_call() {
    let ctx = context().await;
    let (_, weights, io) = FIXTURES[4]; // lstm_2layer_h0c0
    let rnn = load(weights);
    let io = TensorFile::from_bytes(io.to_vec()).unwrap();
    let x = io.f32("input").unwrap().unwrap();
    let (t, b, i) = (x.shape()[0], x.shape()[1], x.shape()[2]);
    let gpu = rnn.to_gpu(&ctx).unwrap();
    let whole = gpu.forward_async(&Input::new(&x)).await.unwrap();
    let width = whole.output.shape()[2];
    let mut stream = gpu.stream(b).unwrap();
    let mut at = 0;
    for len in [1, 2, t - 3] {
        let chunk = Tensor::new(
            [len, b, i],
            x.data()[at * b * i..(at + len) * b * i].to_vec(),
        )
        .unwrap();
        let out = stream.push_async(&chunk).await.unwrap();
        let want = Tensor::new(
            [len, b, width],
            whole.output.data()[at * b * width..(at + len) * b * width].to_vec(),
        )
        .unwrap();
        assert_close(&format!("chunk at {at}"), &out, &want);
        at += len;
    }
    let (h_n, c_n) = stream.state_async().await.unwrap();
    assert_close("h_n", &h_n, &whole.h_n);
    assert_close("c_n", &c_n.unwrap(), whole.c_n.as_ref().unwrap());
}

macro_rules! onnx_fixture {
    ($name:literal) => {
        (
            $name,
            include_bytes!(concat!("fixtures/onnx/", $name, ".onnx")).as_slice(),
            include_bytes!(concat!("fixtures/onnx/", $name, ".io.safetensors")).as_slice(),
        )
    };
}

/// ONNX graphs on WebGPU: PyTorch's exporters (glue on the host, recurrent nodes on the GPU),
/// and the general cell (peepholes, clip, activations), against onnxruntime's outputs.
#[wasm_bindgen_test]
async fn onnx_graphs_match_onnxruntime_on_webgpu() {
    use wgpu_rnn::onnx::OnnxModel;
    let ctx = context().await;
    for (name, model, io) in [
        onnx_fixture!("torch_script_classifier"),
        onnx_fixture!("torch_dynamo_lstm2_bidi"),
        onnx_fixture!("lstm_peepholes_bidi_lens"),
        onnx_fixture!("gru_clip_lbr1_bidi"),
        onnx_fixture!("rnn_acts_bidi"),
    ] {
        let model = OnnxModel::from_bytes(model).unwrap();
        let io = TensorFile::from_bytes(io.to_vec()).unwrap();
        let inputs = model.read_inputs(&io).unwrap();
        let gpu = model.to_gpu(&ctx).unwrap();
        let got = gpu.forward_async(&inputs).await.unwrap();
        for output in model.outputs() {
            let Some(want) = io.f32(&format!("expected/{}", output.name)).unwrap() else {
                continue;
            };
            let value = got.get(&output.name).and_then(|v| v.as_float()).unwrap();
            assert_close(&format!("{name} `{}`", output.name), value, &want);
        }
        console_log!("{name}: matches onnxruntime on WebGPU");
    }
}
