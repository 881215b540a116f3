//! Every single-node fixture's recurrent node on each kernel family the GPU layer has for
//! one layer (the per-step kernels and the sequence kernel), PyTorch's cell and the general
//! one alike, against onnxruntime's outputs (1e-4 absolute, as tests/onnx_parity.rs).
//! `GpuOnnxModel` picks one strategy per shape; this pins each.

use std::path::Path;

use crate::gpu::resident_tests::context;
use crate::gpu::Strategy;
use crate::onnx::array::Val;
use crate::onnx::lower::lower;
use crate::onnx::ops::Op;
use crate::onnx::OnnxModel;
use crate::weights::TensorFile;

#[test]
fn every_single_node_fixture_matches_on_each_kernel_family() {
    let Some(ctx) = context() else { return };
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/onnx");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "onnx"))
        .collect();
    paths.sort();
    let mut checked = 0;
    for path in paths {
        let model = OnnxModel::load(&path).unwrap();
        let [node] = model.graph.nodes.as_slice() else {
            continue;
        };
        let Op::Recurrent(rec) = &node.op else {
            continue;
        };
        let io = TensorFile::open(path.with_extension("io.safetensors")).unwrap();
        let given: Vec<(String, Val)> = model
            .read_inputs(&io)
            .unwrap()
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_val()))
            .collect();
        let lookup = |name: &String| {
            given
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v)
                .or_else(|| model.graph.initializers.get(name))
        };
        let inputs: Vec<Option<&Val>> = node
            .inputs
            .iter()
            .map(|n| if n.is_empty() { None } else { lookup(n) })
            .collect();
        let lowered = lower(rec, &node.label, &inputs).unwrap();
        let mut gpu = lowered.upload(&ctx, crate::Precision::F32).unwrap();
        for strategy in [Strategy::PerStep, Strategy::Sequence] {
            if gpu.set_strategy(strategy).is_err() {
                continue;
            }
            let p = lowered.prepare(&inputs).unwrap();
            let outputs = lowered.finish(&p, gpu.forward(&p.input()).unwrap());
            for (name, got) in node.outputs.iter().zip(&outputs) {
                let Some(want) = io.f32(&format!("expected/{name}")).unwrap() else {
                    continue;
                };
                let Val::F(got) = got else {
                    panic!("float output")
                };
                assert_eq!(got.shape, want.shape(), "{}: {name}", path.display());
                let worst = got
                    .data
                    .iter()
                    .zip(want.data())
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0f32, f32::max);
                assert!(
                    worst <= 1e-4,
                    "{} `{name}` with {strategy:?}: off by {worst}",
                    path.display()
                );
            }
            checked += 1;
        }
    }
    eprintln!("{checked} (fixture, strategy) pairs match");
    assert!(checked >= 100, "only {checked} pairs ran");
}

/// PyTorch's two-layer exports put `Transpose -> Reshape` (and `Shape` for the zero states)
/// between the layers: the first layer's `Y` must stay on the GPU and feed the second layer
/// there. What is read back: each layer's `Y_h` and `Y_c`, and the graph output `y`.
#[test]
fn stacked_exports_keep_the_first_layers_output_on_the_gpu() {
    let Some(ctx) = context() else { return };
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/onnx");
    for name in ["torch_script_lstm2_bidi", "torch_dynamo_lstm2_bidi"] {
        let path = dir.join(format!("{name}.onnx"));
        let model = OnnxModel::load(&path).unwrap();
        let io = TensorFile::open(path.with_extension("io.safetensors")).unwrap();
        let gpu = model.to_gpu(&ctx).unwrap();
        let out = gpu.forward(&model.read_inputs(&io).unwrap()).unwrap();
        let want = io.f32("expected/y").unwrap().unwrap();
        let got = out.get("y").and_then(|v| v.as_float()).unwrap();
        let worst = got
            .data()
            .iter()
            .zip(want.data())
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst <= 1e-4, "{name}: off by {worst}");
        let downloads = gpu.downloads.load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(
            downloads, 5,
            "{name}: read-backs (2 layers x (Y_h, Y_c), then y)"
        );
    }
}
