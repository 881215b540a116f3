//! Hostile ONNX files: every committed fixture truncated, bit-flipped, with bytes overwritten
//! (varint lengths and tags become anything), slices duplicated or dropped. Loading must never
//! panic, and allocate at most `ALLOCATION_FACTOR * file length + ALLOCATION_SLACK` bytes;
//! a model that still loads must run its fixture's inputs to a value or an error, never a
//! panic (shapes computed from the file are bounded by the dry run before allocation).
//!
//! ```text
//! cargo test --test fuzz_onnx                                  # 600 cases
//! WGPU_RNN_FUZZ_CASES=100000 cargo test --release --test fuzz_onnx -- --nocapture
//! ```
//! `WGPU_RNN_FUZZ_SEED=<seed>` replays a run (the seed is printed); a failing file is written
//! to `target/fuzz_onnx_failure.onnx`.
#![cfg(feature = "onnx")]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use wgpu_rnn::onnx::{OnnxModel, Values};
use wgpu_rnn::TensorFile;

#[path = "common/peak_alloc.rs"]
mod peak_alloc;
use peak_alloc::peak_during;

#[global_allocator]
static ALLOCATOR: peak_alloc::Counting = peak_alloc::Counting;

/// Bytes loading may allocate per byte of file: protobuf copies every byte once, and a
/// 1-byte bool or uint8 element becomes an 8-byte `i64` (a 2-byte f16 a 4-byte `f32`).
const ALLOCATION_FACTOR: u64 = 24;
/// Names, node lists and error messages.
const ALLOCATION_SLACK: u64 = 1 << 20;

fn fixtures() -> Vec<(PathBuf, Vec<u8>, Values)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/onnx");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "onnx"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            let model = OnnxModel::from_bytes(&bytes).unwrap();
            let inputs = model
                .read_inputs(&TensorFile::open(p.with_extension("io.safetensors")).unwrap())
                .unwrap();
            (p, bytes, inputs)
        })
        .collect()
}

fn mutate(rng: &mut SmallRng, bytes: &[u8]) -> Vec<u8> {
    let mut b = bytes.to_vec();
    for _ in 0..rng.random_range(1..=4) {
        if b.is_empty() {
            break;
        }
        let at = rng.random_range(0..b.len());
        match rng.random_range(0..6) {
            0 => b.truncate(at),
            1 => b[at] ^= 1 << rng.random_range(0..8),
            2 => {
                b[at] = *[0x00, 0x7f, 0x80, 0xff, 0x08, 0x0a, 0x12]
                    .get(rng.random_range(0..7))
                    .unwrap()
            }
            3 => {
                let end = (at + rng.random_range(1..64)).min(b.len());
                let slice = b[at..end].to_vec();
                let to = rng.random_range(0..b.len());
                b.splice(to..to, slice);
            }
            4 => {
                let end = (at + rng.random_range(1..64)).min(b.len());
                b.drain(at..end);
            }
            _ => {
                // A varint that claims a huge length or dimension.
                b.splice(at..at, [0xff, 0xff, 0xff, 0xff, 0x0f]);
            }
        }
    }
    b
}

#[test]
fn hostile_onnx_files_are_errors_with_bounded_allocation() {
    let cases: usize = std::env::var("WGPU_RNN_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(600);
    let seed: u64 = std::env::var("WGPU_RNN_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_261_204);
    eprintln!("fuzz_onnx: {cases} cases, WGPU_RNN_FUZZ_SEED={seed}");
    let fixtures = fixtures();
    let mut rng = SmallRng::seed_from_u64(seed);
    let (mut loaded, mut ran) = (0, 0);
    for case in 0..cases {
        let (path, bytes, inputs) = &fixtures[case % fixtures.len()];
        let hostile = mutate(&mut rng, bytes);
        let fail = |what: String| -> ! {
            let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fuzz_onnx_failure.onnx");
            let _ = std::fs::write(&out, &hostile);
            panic!(
                "case {case} (from {}): {what}; the file is in {}",
                path.display(),
                out.display()
            );
        };
        let (result, peak) =
            peak_during(|| catch_unwind(AssertUnwindSafe(|| OnnxModel::from_bytes(&hostile))));
        let budget = ALLOCATION_FACTOR * hostile.len() as u64 + ALLOCATION_SLACK;
        if peak > budget {
            fail(format!(
                "loading allocated {peak} bytes, over the budget of {budget}"
            ));
        }
        let model = match result {
            Err(_) => fail("loading panicked".to_string()),
            Ok(Err(e)) => {
                assert!(!e.to_string().is_empty());
                continue;
            }
            Ok(Ok(model)) => model,
        };
        loaded += 1;
        match catch_unwind(AssertUnwindSafe(|| model.forward(inputs))) {
            Err(_) => fail("forward panicked".to_string()),
            Ok(Ok(_)) => ran += 1,
            Ok(Err(_)) => {}
        }
    }
    eprintln!("fuzz_onnx: {loaded} of {cases} mutated files still loaded; {ran} ran to outputs");
    assert!(
        loaded > 0 && loaded < cases,
        "the mutations should both break and keep files"
    );
}

#[test]
fn a_model_of_random_bytes_is_an_error() {
    let mut rng = SmallRng::seed_from_u64(7);
    for len in [0usize, 1, 2, 7, 100, 4096] {
        let bytes: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        assert!(
            OnnxModel::from_bytes(&bytes).is_err(),
            "{len} random bytes loaded"
        );
    }
}
