//! Structure-aware fuzzing: the committed fixtures decoded to protobuf messages, their
//! attributes, dimensions, integer constants, wiring and op types changed to arbitrary
//! values, re-encoded, loaded and run on the fixture's inputs. Nothing may panic: every
//! outcome is a value or an error.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use prost::Message;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::onnx::ops::SUPPORTED;
use crate::onnx::proto::{ModelProto, TensorProto};
use crate::onnx::OnnxModel;
use crate::weights::TensorFile;

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/onnx");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "onnx"))
        .collect();
    paths.sort();
    paths
}

fn wild(rng: &mut SmallRng) -> i64 {
    match rng.random_range(0..6) {
        0 => rng.random_range(-3..8),
        1 => -1,
        2 => 0,
        3 => i64::MAX - rng.random_range(0..3),
        4 => i64::MIN + rng.random_range(0..3),
        _ => rng.random_range(-1_000_000..1_000_000_000),
    }
}

fn mutate_tensor(rng: &mut SmallRng, t: &mut TensorProto) {
    match rng.random_range(0..4) {
        0 if !t.dims.is_empty() => {
            let i = rng.random_range(0..t.dims.len());
            t.dims[i] = wild(rng);
        }
        1 => t.dims.push(rng.random_range(0..4)),
        2 if !t.int64_data.is_empty() => {
            let i = rng.random_range(0..t.int64_data.len());
            t.int64_data[i] = wild(rng);
        }
        _ => {
            if let Some(raw) = t.raw_data.as_ref().filter(|r| r.len() >= 8) {
                let mut raw = raw.to_vec();
                let i = rng.random_range(0..raw.len() / 8) * 8;
                raw[i..i + 8].copy_from_slice(&wild(rng).to_le_bytes());
                t.raw_data = Some(raw.into());
            }
        }
    }
}

fn mutate(rng: &mut SmallRng, m: &mut ModelProto) {
    let Some(g) = m.graph.as_mut() else { return };
    for _ in 0..rng.random_range(1..=3) {
        match rng.random_range(0..7) {
            0 | 1 if !g.node.is_empty() => {
                let n = rng.random_range(0..g.node.len());
                let node = &mut g.node[n];
                if node.attribute.is_empty() {
                    continue;
                }
                let a = rng.random_range(0..node.attribute.len());
                let attr = &mut node.attribute[a];
                if !attr.ints.is_empty() {
                    let i = rng.random_range(0..attr.ints.len());
                    attr.ints[i] = wild(rng);
                } else if attr.i.is_some() {
                    attr.i = Some(wild(rng));
                } else if attr.f.is_some() {
                    attr.f =
                        Some([f32::NAN, -1.0, 0.0, 1e30, f32::INFINITY][rng.random_range(0..5)]);
                } else if let Some(t) = attr.t.as_mut() {
                    mutate_tensor(rng, t);
                } else if !attr.strings.is_empty() {
                    attr.strings.pop();
                }
            }
            2 if !g.initializer.is_empty() => {
                let i = rng.random_range(0..g.initializer.len());
                mutate_tensor(rng, &mut g.initializer[i]);
            }
            3 if !g.node.is_empty() => {
                let n = rng.random_range(0..g.node.len());
                g.node[n].op_type =
                    Some(SUPPORTED[rng.random_range(0..SUPPORTED.len())].to_string());
            }
            4 if g.node.len() > 1 => {
                // Rewire an input to another defined value (or drop it).
                let n = rng.random_range(1..g.node.len());
                let from = rng.random_range(0..n);
                let source = g.node[from].output.first().cloned().unwrap_or_default();
                let node = &mut g.node[n];
                if !node.input.is_empty() {
                    let i = rng.random_range(0..node.input.len());
                    node.input[i] = if rng.random_bool(0.3) {
                        String::new()
                    } else {
                        source
                    };
                }
            }
            5 if !g.node.is_empty() => {
                let n = rng.random_range(0..g.node.len());
                g.node[n].output.push(format!("extra{n}"));
                if rng.random_bool(0.5) {
                    let keep = rng.random_range(0..=g.node[n].input.len());
                    g.node[n].input.truncate(keep);
                }
            }
            _ => {
                if let Some(Some(t)) = g.input.first_mut().map(|i| i.r#type.as_mut()) {
                    t.value = None;
                }
            }
        }
    }
}

#[test]
fn structurally_mutated_models_are_values_or_errors_never_panics() {
    let cases: usize = std::env::var("WGPU_RNN_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1500);
    let seed: u64 = std::env::var("WGPU_RNN_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let mut rng = SmallRng::seed_from_u64(seed);
    let files: Vec<(PathBuf, ModelProto, crate::onnx::Values)> = fixtures()
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            let proto = ModelProto::decode(bytes.as_slice()).unwrap();
            let io = TensorFile::open(p.with_extension("io.safetensors")).unwrap();
            let inputs = OnnxModel::from_bytes(&bytes)
                .unwrap()
                .read_inputs(&io)
                .unwrap();
            (p, proto, inputs)
        })
        .collect();
    let (mut loaded, mut ran) = (0, 0);
    for case in 0..cases {
        let (path, proto, inputs) = &files[case % files.len()];
        let mut m = proto.clone();
        mutate(&mut rng, &mut m);
        let bytes = m.encode_to_vec();
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let model = OnnxModel::from_bytes(&bytes)?;
            loaded += 1;
            model.forward(inputs).map(|_| ran += 1)
        }));
        if outcome.is_err() {
            let out = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("target/fuzz_onnx_structure_failure.onnx");
            let _ = std::fs::write(&out, &bytes);
            panic!(
                "case {case} (seed {seed}, from {}) panicked; the model is in {}",
                path.display(),
                out.display()
            );
        }
    }
    eprintln!("structure fuzz: {loaded} of {cases} loaded, {ran} ran to outputs");
    assert!(loaded > 0);
}
