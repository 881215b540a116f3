//! Every error a user can run into, with the facts needed to fix it: each test asserts the
//! variant, its fields, and the key facts in the message (numbers, argument names, the hint).
//!
//! Shape errors come from the dry run (`RnnConfig::check`, `Rnn::check`), and the same errors
//! from the CPU and GPU forward passes, before any GPU work.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;

use wgpu_rnn::weights::save_safetensors;
use wgpu_rnn::{
    Error, Input, InputShapes, Kind, LoadOptions, OutputShapes, Rnn, RnnConfig, Strategy, Tensor,
    TensorFile,
};

/// Asserts that every fact appears in the message.
#[track_caller]
fn assert_mentions(message: &str, facts: &[&str]) {
    for fact in facts {
        assert!(
            message.contains(fact),
            "{fact:?} missing from the message:\n{message}"
        );
    }
}

/// Asserts that none of these appear in the message.
#[track_caller]
fn assert_omits(message: &str, facts: &[&str]) {
    for fact in facts {
        assert!(
            !message.contains(fact),
            "{fact:?} should not be in the message:\n{message}"
        );
    }
}

/// The dry run on shapes alone.
fn dry(
    config: &RnnConfig,
    input: &[usize],
    h0: Option<&[usize]>,
    c0: Option<&[usize]>,
    lengths: Option<&[usize]>,
) -> Result<OutputShapes, Error> {
    let mut shapes = InputShapes::new(input);
    shapes.h0 = h0;
    shapes.c0 = c0;
    shapes.lengths = lengths;
    config.check(&shapes)
}

#[track_caller]
fn dry_err(
    config: &RnnConfig,
    input: &[usize],
    h0: Option<&[usize]>,
    c0: Option<&[usize]>,
    lengths: Option<&[usize]>,
) -> Error {
    match dry(config, input, h0, c0, lengths) {
        Ok(shapes) => panic!("expected an error for input {input:?}, got {shapes:?}"),
        Err(e) => e,
    }
}

/// A model with small deterministic weights.
fn model(config: RnnConfig) -> Rnn {
    Rnn::from_fn(config, |_, shape| {
        let n: usize = shape.iter().product();
        (0..n).map(|i| ((i % 7) as f32 - 3.0) * 0.05).collect()
    })
    .unwrap()
}

/// A tensor of the given shape with small distinct values.
fn tensor(shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    Tensor::new(shape, (0..n).map(|i| (i % 11) as f32 * 0.1 - 0.5).collect()).unwrap()
}

fn gru(input_size: usize, hidden_size: usize) -> RnnConfig {
    RnnConfig::new(Kind::Gru, input_size, hidden_size)
}

// ---------------------------------------------------------------------------------------------
// The error type itself.

#[test]
fn error_is_a_std_error_that_crosses_threads() {
    fn assert_bounds<E: std::error::Error + Send + Sync + 'static>() {}
    assert_bounds::<Error>();
    // It converts into the usual boxed error.
    let err = RnnConfig::new(Kind::Gru, 3, 0).validate().unwrap_err();
    let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(err);
    assert_mentions(&boxed.to_string(), &["`hidden_size` is 0", "positive"]);
}

#[test]
fn zero_sizes_and_unknown_kind() {
    for (config, field) in [
        (gru(0, 4), "input_size"),
        (gru(3, 0), "hidden_size"),
        (gru(3, 4).num_layers(0), "num_layers"),
    ] {
        let err = config.validate().unwrap_err();
        assert!(
            matches!(err, Error::ZeroSize { field: f, .. } if f == field),
            "{err:?}"
        );
        assert_mentions(&err.to_string(), &[&format!("`{field}` is 0"), "positive"]);
        // The dry run reports the configuration error first.
        let err = dry_err(&config, &[5, 3], None, None, None);
        assert!(matches!(err, Error::ZeroSize { .. }), "{err:?}");
    }
    let err = "transformer".parse::<Kind>().unwrap_err();
    assert!(matches!(&err, Error::UnknownKind { given, .. } if given == "transformer"));
    assert_mentions(
        &err.to_string(),
        &["transformer", "gru", "lstm", "rnn-tanh", "rnn-relu"],
    );
}

// ---------------------------------------------------------------------------------------------
// Input feature width.

#[test]
fn feature_width_mismatch_names_both_numbers_and_the_fixes() {
    // nn.GRU(input_size=50, hidden_size=20) fed (B=4, T=10, 3) batch-first.
    let config = gru(50, 20).batch_first(true);
    let err = dry_err(&config, &[4, 10, 3], None, None, None);
    match &err {
        Error::InputSize {
            expected,
            got,
            shape,
            ..
        } => {
            assert_eq!((*expected, *got), (50, 3));
            assert_eq!(shape, &[4, 10, 3]);
        }
        other => panic!("expected InputSize, got {other:?}"),
    }
    let message = err.to_string();
    println!("feature width mismatch: {message}");
    assert_mentions(
        &message,
        &[
            "3 features per timestep",
            "(4, 10, 3)",
            "input_size=50",
            "need not equal hidden_size",
            "Build the model with input_size=3",
            "linear layer",
        ],
    );
    // A 3-D input is not read as unbatched, and no reshape is suggested for it.
    assert_omits(&message, &["unbatched", "reshape"]);
}

#[test]
fn input_size_need_not_equal_hidden_size() {
    // The myth: input_size must equal hidden_size. It need not, in PyTorch or here.
    let config = gru(3, 20).num_layers(2).batch_first(true);
    let shapes = dry(&config, &[4, 50, 3], None, None, None).unwrap();
    assert_eq!(shapes.output, vec![4, 50, 20]);
    assert_eq!(shapes.h_n, vec![2, 4, 20]);
    assert_eq!(shapes.c_n, None);
    // Feeding hidden_size features instead is the error, with both numbers.
    let err = dry_err(&config, &[4, 50, 20], None, None, None);
    assert!(
        matches!(
            err,
            Error::InputSize {
                expected: 3,
                got: 20,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn unbatched_1600_by_3_into_input_size_50() {
    // (1600, 3) is one unbatched sequence of 1600 steps of 3 features, as in PyTorch.
    let config = gru(50, 20).batch_first(true);
    let err = dry_err(&config, &[1600, 3], None, None, None);
    assert!(
        matches!(
            err,
            Error::InputSize {
                expected: 50,
                got: 3,
                ..
            }
        ),
        "{err:?}"
    );
    let message = err.to_string();
    println!("(1600, 3) into input_size=50: {message}");
    assert_mentions(
        &message,
        &[
            "3 features per timestep",
            "(1600, 3)",
            "read as one unbatched sequence (T, input_size)",
            "input_size=50",
            "need not equal hidden_size",
            // 1600 * 3 = 4800 = 96 rows of 50 features.
            "4800 values",
            "reshape to (96, 50)",
        ],
    );
    // Same on the CPU forward pass.
    let x = tensor(&[1600, 3]);
    let cpu = model(config).forward(&Input::new(&x)).unwrap_err();
    assert_eq!(cpu.to_string(), message);
}

#[test]
fn unbatched_1600_by_3_is_fine_when_input_size_is_3() {
    let config = gru(3, 20).batch_first(true);
    let shapes = dry(&config, &[1600, 3], None, None, None).unwrap();
    assert_eq!(shapes.output, vec![1600, 20]);
    assert_eq!(shapes.h_n, vec![1, 20]);
}

// ---------------------------------------------------------------------------------------------
// Rank and layout.

#[test]
fn flattened_batch_revealed_by_h0() {
    // nn.GRU(3, 20, batch_first=True) fed (1600, 3) with h0 for 32 sequences: the batch of
    // 32 sequences of 50 steps was flattened into rows.
    let config = gru(3, 20).batch_first(true);
    let err = dry_err(&config, &[1600, 3], Some(&[1, 32, 20]), None, None);
    match &err {
        Error::FlattenedBatch {
            shape,
            arg,
            batch,
            batch_first,
            ..
        } => {
            assert_eq!(shape, &[1600, 3]);
            assert_eq!((*arg, *batch, *batch_first), ("h0", 32, true));
        }
        other => panic!("expected FlattenedBatch, got {other:?}"),
    }
    let message = err.to_string();
    println!("flattened batch: {message}");
    assert_mentions(
        &message,
        &[
            "(1600, 3)",
            "one unbatched sequence (T=1600, input_size=3)",
            "`h0` is for a batch of 32",
            "(T, B, input_size)",
            "(B, T, input_size) with batch_first=true",
            "1600 = 32 x 50",
            "reshape the input to (32, 50, 3)",
        ],
    );

    // Time-major model: the reshape is (T, B, I).
    let err = dry_err(&gru(3, 20), &[1600, 3], Some(&[1, 32, 20]), None, None);
    assert!(matches!(
        err,
        Error::FlattenedBatch {
            batch: 32,
            batch_first: false,
            ..
        }
    ));
    assert_mentions(
        &err.to_string(),
        &["reshape the input to (50, 32, 3)", "time-major"],
    );
}

#[test]
fn flattened_batch_revealed_by_c0_or_lengths() {
    let lstm = RnnConfig::new(Kind::Lstm, 3, 20).batch_first(true);
    let err = dry_err(&lstm, &[1600, 3], None, Some(&[1, 32, 20]), None);
    assert!(
        matches!(
            err,
            Error::FlattenedBatch {
                arg: "c0",
                batch: 32,
                ..
            }
        ),
        "{err:?}"
    );
    let lengths = vec![50; 32];
    let err = dry_err(&lstm, &[1600, 3], None, None, Some(&lengths));
    assert!(
        matches!(
            err,
            Error::FlattenedBatch {
                arg: "lengths",
                batch: 32,
                ..
            }
        ),
        "{err:?}"
    );
    assert_mentions(
        &err.to_string(),
        &["`lengths` is for a batch of 32", "(32, 50, 3)"],
    );

    // Rows that do not split evenly: no reshape to suggest, only the 3-D layouts.
    let err = dry_err(&lstm, &[1601, 3], Some(&[1, 32, 20]), None, None);
    assert!(matches!(err, Error::FlattenedBatch { .. }), "{err:?}");
    let message = err.to_string();
    assert_mentions(
        &message,
        &["1601 rows do not split into 32 equal sequences", "3-D"],
    );
    assert_omits(&message, &["reshape the input to"]);
}

#[test]
fn wrong_rank_explains_both_layouts() {
    let config = gru(3, 20).batch_first(true);
    // 1-D: the flat values of one sequence.
    let err = dry_err(&config, &[4800], None, None, None);
    match &err {
        Error::InputRank {
            shape,
            input_size,
            batch_first,
            ..
        } => {
            assert_eq!(shape, &[4800]);
            assert_eq!((*input_size, *batch_first), (3, true));
        }
        other => panic!("expected InputRank, got {other:?}"),
    }
    let message = err.to_string();
    println!("1-D input: {message}");
    assert_mentions(
        &message,
        &[
            "(4800,)",
            "(1 dimension)",
            "3-D batched input (batch, T, input_size=3) (batch_first=true)",
            "2-D unbatched input (T, input_size=3)",
            "reshape to (1600, 3)",
        ],
    );

    // 4-D: merge the leading dimensions into the batch.
    let err = dry_err(&gru(3, 20), &[2, 8, 10, 3], None, None, None);
    assert!(matches!(err, Error::InputRank { .. }), "{err:?}");
    let message = err.to_string();
    assert_mentions(
        &message,
        &[
            "(2, 8, 10, 3)",
            "4 dimensions",
            "(T, batch, input_size=3) (batch_first=false)",
            "Merge the extra leading dimensions into the batch dimension",
        ],
    );

    // 0-D.
    let err = dry_err(&gru(3, 20), &[], None, None, None);
    assert!(matches!(err, Error::InputRank { .. }), "{err:?}");
    assert_mentions(&err.to_string(), &["()", "0 dimensions"]);
}

#[test]
fn batch_and_time_swapped() {
    // Time-major model fed (B=32, T=50, I) with h0 for 32 sequences.
    let config = gru(3, 20);
    let err = dry_err(&config, &[32, 50, 3], Some(&[1, 32, 20]), None, None);
    match &err {
        Error::BatchTimeSwapped {
            shape,
            arg,
            batch,
            batch_first,
            ..
        } => {
            assert_eq!(shape, &[32, 50, 3]);
            assert_eq!((*arg, *batch, *batch_first), ("h0", 32, false));
        }
        other => panic!("expected BatchTimeSwapped, got {other:?}"),
    }
    let message = err.to_string();
    println!("batch/time swapped: {message}");
    assert_mentions(
        &message,
        &[
            "(32, 50, 3)",
            "batch_first=false",
            "read as 50 sequences of 32 steps",
            "`h0` is for a batch of 32",
            "swapped",
            "Set batch_first=true",
            "transpose",
        ],
    );

    // The reverse: a batch-first model fed (T, B, I), caught by lengths.
    let config = gru(3, 20).batch_first(true);
    let lengths = vec![50; 32];
    let err = dry_err(&config, &[50, 32, 3], None, None, Some(&lengths));
    assert!(
        matches!(
            err,
            Error::BatchTimeSwapped {
                arg: "lengths",
                batch: 32,
                batch_first: true,
                ..
            }
        ),
        "{err:?}"
    );
    assert_mentions(&err.to_string(), &["Set batch_first=false"]);

    // And by c0 of an LSTM.
    let lstm = RnnConfig::new(Kind::Lstm, 3, 20);
    let err = dry_err(&lstm, &[32, 50, 3], None, Some(&[1, 32, 20]), None);
    assert!(
        matches!(err, Error::BatchTimeSwapped { arg: "c0", .. }),
        "{err:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Initial states.

#[test]
fn short_last_batch_h0() {
    // A 2-layer bidirectional GRU: h0 is (L*D = 4, B, H). The state was kept from the full
    // batches of 32, and the last batch holds 8 sequences.
    let config = gru(3, 20)
        .num_layers(2)
        .bidirectional(true)
        .batch_first(true);
    let err = dry_err(&config, &[8, 50, 3], Some(&[4, 32, 20]), None, None);
    match &err {
        Error::StateShape {
            arg,
            expected,
            got,
            width_name,
            ..
        } => {
            assert_eq!(*arg, "h0");
            assert_eq!(expected, &[4, 8, 20]);
            assert_eq!(got, &[4, 32, 20]);
            assert_eq!(*width_name, "hidden_size");
        }
        other => panic!("expected StateShape, got {other:?}"),
    }
    let message = err.to_string();
    println!("short last batch: {message}");
    assert_mentions(
        &message,
        &[
            "`h0` has shape (4, 32, 20)",
            "expected (4, 8, 20)",
            "(num_layers * num_directions, batch, hidden_size)",
            "made for a batch of 32",
            "holds 8 sequences",
            "short last batch",
            "slice the state",
            "pass none",
        ],
    );
}

#[test]
fn short_last_batch_c0_and_projected_h0() {
    // LSTM with proj_size: h0 is (L*D, B, proj_size), c0 is (L*D, B, hidden_size).
    let config = RnnConfig::new(Kind::Lstm, 3, 20).proj_size(5);
    let err = dry_err(&config, &[50, 8, 3], Some(&[1, 32, 5]), None, None);
    assert!(
        matches!(&err, Error::StateShape { arg: "h0", width_name: "proj_size", expected, .. } if expected == &[1, 8, 5]),
        "{err:?}"
    );
    assert_mentions(&err.to_string(), &["proj_size)", "slice the state"]);
    let err = dry_err(
        &config,
        &[50, 8, 3],
        Some(&[1, 8, 5]),
        Some(&[1, 32, 20]),
        None,
    );
    assert!(
        matches!(&err, Error::StateShape { arg: "c0", width_name: "hidden_size", expected, .. } if expected == &[1, 8, 20]),
        "{err:?}"
    );
    assert_mentions(
        &err.to_string(),
        &[
            "`c0` has shape (1, 32, 20)",
            "expected (1, 8, 20)",
            "slice the state",
        ],
    );
    // h0 with hidden_size instead of proj_size.
    let err = dry_err(&config, &[50, 8, 3], Some(&[1, 8, 20]), None, None);
    assert!(
        matches!(err, Error::StateShape { arg: "h0", .. }),
        "{err:?}"
    );
    assert_mentions(
        &err.to_string(),
        &["(1, 8, 20)", "expected (1, 8, 5)", "proj_size"],
    );
}

#[test]
fn c0_given_to_gru_or_rnn() {
    for kind in [Kind::Gru, Kind::RnnTanh, Kind::RnnRelu] {
        let config = RnnConfig::new(kind, 3, 20);
        let err = dry_err(&config, &[50, 8, 3], None, Some(&[1, 8, 20]), None);
        assert!(
            matches!(err, Error::UnexpectedState { arg: "c0", kind: k, .. } if k == kind),
            "{err:?}"
        );
        assert_mentions(
            &err.to_string(),
            &[
                kind.torch_name(),
                "no cell state",
                "only LSTM takes `c0`",
                "h0",
            ],
        );
    }
}

#[test]
fn unbatched_input_with_batched_state_and_the_reverse() {
    let config = gru(3, 20).num_layers(2);
    // Unbatched (T, I) input: the state is (L*D, H).
    assert_eq!(
        dry(&config, &[50, 3], Some(&[2, 20]), None, None)
            .unwrap()
            .h_n,
        vec![2, 20]
    );
    // Unbatched input with a state for one sequence in a batch.
    let err = dry_err(&config, &[50, 3], Some(&[2, 1, 20]), None, None);
    assert!(
        matches!(err, Error::StateShape { arg: "h0", .. }),
        "{err:?}"
    );
    let message = err.to_string();
    println!("unbatched input, batched state: {message}");
    assert_mentions(
        &message,
        &[
            "`h0` has shape (2, 1, 20)",
            "expected (2, 20) = (num_layers * num_directions, hidden_size)",
            "unbatched (2-D)",
            "drop the batch dimension",
        ],
    );
    // No batch at all in the state (batch 0), and c0 for one sequence: the same advice.
    let err = dry_err(&config, &[50, 3], Some(&[2, 0, 20]), None, None);
    assert!(
        matches!(err, Error::StateShape { arg: "h0", .. }),
        "{err:?}"
    );
    assert_mentions(&err.to_string(), &["drop the batch dimension"]);
    let lstm = RnnConfig::new(Kind::Lstm, 3, 20);
    let err = dry_err(&lstm, &[50, 3], Some(&[1, 20]), Some(&[1, 1, 20]), None);
    assert!(
        matches!(err, Error::StateShape { arg: "c0", .. }),
        "{err:?}"
    );
    assert_mentions(
        &err.to_string(),
        &["`c0` has shape (1, 1, 20)", "drop the batch dimension"],
    );
    // Batched input with an unbatched state.
    let err = dry_err(&config, &[50, 1, 3], Some(&[2, 20]), None, None);
    assert!(
        matches!(err, Error::StateShape { arg: "h0", .. }),
        "{err:?}"
    );
    let message = err.to_string();
    println!("batched input, unbatched state: {message}");
    assert_mentions(
        &message,
        &[
            "`h0` has shape (2, 20)",
            "expected (2, 1, 20) = (num_layers * num_directions, batch, hidden_size)",
            "batched (3-D)",
            "add the batch dimension",
        ],
    );
    // The same for c0.
    let lstm = RnnConfig::new(Kind::Lstm, 3, 20);
    let err = dry_err(&lstm, &[50, 4, 3], None, Some(&[1, 20]), None);
    assert!(
        matches!(err, Error::StateShape { arg: "c0", .. }),
        "{err:?}"
    );
    assert_mentions(&err.to_string(), &["add the batch dimension"]);
    // Wrong number of layers in the state.
    let err = dry_err(&config, &[50, 4, 3], Some(&[1, 4, 20]), None, None);
    assert!(matches!(err, Error::StateShape { .. }), "{err:?}");
    assert_mentions(&err.to_string(), &["(1, 4, 20)", "expected (2, 4, 20)"]);
}

// ---------------------------------------------------------------------------------------------
// Lengths.

#[test]
fn lengths_count() {
    let config = gru(3, 20).batch_first(true);
    let err = dry_err(&config, &[4, 10, 3], None, None, Some(&[10, 5, 3]));
    assert!(
        matches!(
            err,
            Error::LengthsCount {
                expected: 4,
                got: 3,
                ..
            }
        ),
        "{err:?}"
    );
    assert_mentions(
        &err.to_string(),
        &[
            "`lengths` has 3 entries",
            "holds 4 sequences",
            "one length per sequence",
        ],
    );
}

#[test]
fn length_zero_and_length_beyond_t() {
    let config = gru(3, 20).batch_first(true);
    let err = dry_err(&config, &[4, 10, 3], None, None, Some(&[10, 0, 3, 1]));
    assert!(
        matches!(
            err,
            Error::LengthOutOfRange {
                index: 1,
                length: 0,
                max: 10,
                ..
            }
        ),
        "{err:?}"
    );
    assert_mentions(
        &err.to_string(),
        &[
            "`lengths[1]` is 0",
            "between 1 and T=10",
            "drop empty sequences",
        ],
    );
    let err = dry_err(&config, &[4, 10, 3], None, None, Some(&[10, 5, 11, 1]));
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
    assert_mentions(
        &err.to_string(),
        &[
            "`lengths[2]` is 11",
            "between 1 and T=10",
            "longer than the input's time axis",
        ],
    );
    // Unbatched input takes one length.
    let err = dry_err(&config, &[10, 3], None, None, Some(&[12]));
    assert!(
        matches!(err, Error::LengthOutOfRange { length: 12, .. }),
        "{err:?}"
    );
}

/// An 8-byte little-endian header length, the JSON header, then the data.
fn raw_safetensors(tensors: &[(&str, &str, &[usize], Vec<u8>)]) -> Vec<u8> {
    let mut entries = Vec::new();
    let mut offset = 0;
    for (name, dtype, shape, data) in tensors {
        let shape: Vec<String> = shape.iter().map(usize::to_string).collect();
        entries.push(format!(
            r#""{name}":{{"dtype":"{dtype}","shape":[{}],"data_offsets":[{offset},{}]}}"#,
            shape.join(","),
            offset + data.len()
        ));
        offset += data.len();
    }
    common::safetensors_file(&entries, tensors.iter().map(|t| t.3.as_slice()))
}

#[test]
fn lengths_in_files_must_be_non_negative_integers() {
    let i64s = |v: &[i64]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let i32s = |v: &[i32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let f32s = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let file = TensorFile::from_bytes(raw_safetensors(&[
        ("good", "I64", &[3], i64s(&[5, 1, 3])),
        ("good32", "I32", &[2], i32s(&[7, 2])),
        ("negative", "I64", &[4], i64s(&[7, -2, 5, 1])),
        ("negative32", "I32", &[2], i32s(&[1, -9])),
        ("floats", "F32", &[2], f32s(&[5.0, 2.5])),
        ("matrix", "I64", &[2, 2], i64s(&[1, 2, 3, 4])),
    ]))
    .unwrap();
    assert_eq!(file.lengths("good").unwrap(), Some(vec![5, 1, 3]));
    assert_eq!(file.lengths("good32").unwrap(), Some(vec![7, 2]));
    assert_eq!(file.lengths("absent").unwrap(), None);

    let err = file.lengths("negative").unwrap_err();
    assert!(matches!(err, Error::LengthsType { .. }), "{err:?}");
    assert_mentions(
        &err.to_string(),
        &["`lengths`", "-2", "index 1", "positive"],
    );
    let err = file.lengths("negative32").unwrap_err();
    assert_mentions(&err.to_string(), &["-9", "index 1"]);

    let err = file.lengths("floats").unwrap_err();
    match &err {
        Error::Dtype { name, dtype, .. } => {
            assert_eq!(name, "floats");
            assert_eq!(dtype, "F32");
        }
        other => panic!("expected Dtype, got {other:?}"),
    }
    assert_mentions(&err.to_string(), &["`floats`", "F32", "integer", "int64"]);

    let err = file.lengths("matrix").unwrap_err();
    assert!(matches!(err, Error::LengthsType { .. }), "{err:?}");
    assert_mentions(&err.to_string(), &["1-D", "`matrix`", "[2, 2]"]);
}

// ---------------------------------------------------------------------------------------------
// Weights given as tensors.

/// Every tensor of `config`, with small values, as owned `(name, shape, data)`.
fn tensors_of(config: &RnnConfig) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    wgpu_rnn::weights::expected_tensors(config)
        .unwrap()
        .into_iter()
        .map(|s| {
            let n: usize = s.shape.iter().product();
            (s.name, s.shape, vec![0.1; n])
        })
        .collect()
}

fn from_owned(config: RnnConfig, tensors: &[(String, Vec<usize>, Vec<f32>)]) -> Result<Rnn, Error> {
    Rnn::from_tensors(
        config,
        tensors
            .iter()
            .map(|(n, s, d)| (n.as_str(), s.as_slice(), d.as_slice())),
    )
}

#[test]
fn from_tensors_accepts_the_expected_tensors() {
    let config = gru(3, 4).num_layers(2).bidirectional(true);
    let rnn = from_owned(config.clone(), &tensors_of(&config)).unwrap();
    assert_eq!(rnn.config(), &config);
}

#[test]
fn from_tensors_missing_tensor() {
    let config = gru(3, 4);
    let mut tensors = tensors_of(&config);
    tensors.retain(|(n, _, _)| n != "bias_hh_l0");
    let err = from_owned(config, &tensors).unwrap_err();
    match &err {
        Error::MissingWeight {
            name,
            kind,
            expected,
            ..
        } => {
            assert_eq!(name, "bias_hh_l0");
            assert_eq!(*kind, Kind::Gru);
            assert_eq!(expected, &[12]);
        }
        other => panic!("expected MissingWeight, got {other:?}"),
    }
    assert_mentions(
        &err.to_string(),
        &["`bias_hh_l0` is missing", "gru", "(12,)"],
    );
}

#[test]
fn from_tensors_unexpected_tensor() {
    let config = gru(3, 4);
    let mut tensors = tensors_of(&config);
    tensors.push(("weight_hr_l0".into(), vec![2, 4], vec![0.0; 8]));
    let err = from_owned(config.clone(), &tensors).unwrap_err();
    assert!(
        matches!(&err, Error::UnexpectedWeight { name, kind: Kind::Gru, num_layers: 1, bidirectional: false, .. } if name == "weight_hr_l0"),
        "{err:?}"
    );
    assert_mentions(
        &err.to_string(),
        &[
            "`weight_hr_l0` is not part of a gru with 1 layer(s)",
            "num_layers/bidirectional/bias/proj_size",
        ],
    );
    // A reverse direction on a unidirectional stack.
    let mut tensors = tensors_of(&config);
    tensors.push(("weight_ih_l0_reverse".into(), vec![12, 3], vec![0.0; 36]));
    let err = from_owned(config, &tensors).unwrap_err();
    assert!(matches!(err, Error::UnexpectedWeight { .. }), "{err:?}");
    assert_mentions(&err.to_string(), &["weight_ih_l0_reverse"]);
}

#[test]
fn from_tensors_wrong_shape() {
    let config = gru(3, 4);
    let mut tensors = tensors_of(&config);
    tensors[0] = ("weight_ih_l0".into(), vec![12, 5], vec![0.0; 60]);
    let err = from_owned(config, &tensors).unwrap_err();
    match &err {
        Error::WeightShape {
            name,
            expected,
            got,
            meaning,
            ..
        } => {
            assert_eq!(name, "weight_ih_l0");
            assert_eq!(expected, &[12, 3]);
            assert_eq!(got, &[12, 5]);
            assert_mentions(meaning, &["input_size"]);
        }
        other => panic!("expected WeightShape, got {other:?}"),
    }
    assert_mentions(
        &err.to_string(),
        &[
            "`weight_ih_l0` has shape (12, 5), expected (12, 3)",
            "3*hidden_size rows",
            "input_size columns",
            "hidden_size=4",
        ],
    );
}

#[test]
fn from_tensors_inconsistent_hidden_size_between_layers() {
    let config = gru(3, 4).num_layers(2);
    let mut tensors = tensors_of(&config);
    let at = tensors
        .iter()
        .position(|(n, _, _)| n == "weight_hh_l1")
        .unwrap();
    tensors[at] = ("weight_hh_l1".into(), vec![15, 5], vec![0.0; 75]);
    let err = from_owned(config, &tensors).unwrap_err();
    assert!(
        matches!(&err, Error::WeightShape { name, expected, got, .. } if name == "weight_hh_l1" && expected == &[12, 4] && got == &[15, 5]),
        "{err:?}"
    );
    assert_mentions(
        &err.to_string(),
        &[
            "(15, 5)",
            "expected (12, 4)",
            "hidden_size=4",
            "every layer and direction",
        ],
    );
}

#[test]
fn from_tensors_data_length() {
    let config = gru(3, 4);
    let mut tensors = tensors_of(&config);
    tensors[1].2.pop();
    let err = from_owned(config, &tensors).unwrap_err();
    assert!(
        matches!(
            err,
            Error::DataLength {
                expected: 48,
                got: 47,
                ..
            }
        ),
        "{err:?}"
    );
    assert_mentions(&err.to_string(), &["(12, 4)", "48 elements", "47 values"]);
}

#[test]
fn from_tensors_non_finite_weights_say_where() {
    let config = gru(3, 4).num_layers(2);
    let mut tensors = tensors_of(&config);
    // weight_hh_l1 is (12, 4): row 2, column 1 is flat index 9.
    let at = tensors
        .iter()
        .position(|(n, _, _)| n == "weight_hh_l1")
        .unwrap();
    tensors[at].2[9] = f32::NAN;
    let err = from_owned(config.clone(), &tensors).unwrap_err();
    match &err {
        Error::NonFiniteWeight {
            name,
            index,
            row,
            col,
            value,
            ..
        } => {
            assert_eq!(name, "weight_hh_l1");
            assert_eq!((*index, *row, *col), (9, 2, 1));
            assert!(value.is_nan());
        }
        other => panic!("expected NonFiniteWeight, got {other:?}"),
    }
    assert_mentions(
        &err.to_string(),
        &[
            "`weight_hh_l1`",
            "NaN",
            "flat index 9",
            "row 2, column 1",
            "finite",
        ],
    );

    let mut tensors = tensors_of(&config);
    let at = tensors
        .iter()
        .position(|(n, _, _)| n == "bias_ih_l0")
        .unwrap();
    tensors[at].2[7] = f32::NEG_INFINITY;
    let err = from_owned(config, &tensors).unwrap_err();
    assert!(
        matches!(&err, Error::NonFiniteWeight { name, index: 7, value, .. } if name == "bias_ih_l0" && *value == f32::NEG_INFINITY),
        "{err:?}"
    );
    assert_mentions(&err.to_string(), &["-inf", "flat index 7"]);
    // from_fn checks the same way.
    let err = Rnn::from_fn(gru(2, 2), |name, shape| {
        let n = shape.iter().product();
        let mut v = vec![0.0; n];
        if name == "weight_ih_l0" {
            v[3] = f32::INFINITY;
        }
        v
    })
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::NonFiniteWeight {
                index: 3,
                row: 1,
                col: 1,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn proj_size_rules() {
    // proj_size must be smaller than hidden_size.
    for proj in [4, 9] {
        let err = RnnConfig::new(Kind::Lstm, 3, 4)
            .proj_size(proj)
            .validate()
            .unwrap_err();
        assert!(
            matches!(err, Error::ProjSize { kind: Kind::Lstm, proj_size: p, hidden_size: 4, .. } if p == proj),
            "{err:?}"
        );
        assert_mentions(
            &err.to_string(),
            &[&format!("proj_size={proj}"), "smaller than hidden_size=4"],
        );
    }
    // Only LSTM has proj_size.
    for kind in [Kind::Gru, Kind::RnnTanh, Kind::RnnRelu] {
        let config = RnnConfig::new(kind, 3, 4).proj_size(2);
        let err = config.validate().unwrap_err();
        assert!(
            matches!(err, Error::ProjSize { kind: k, proj_size: 2, .. } if k == kind),
            "{err:?}"
        );
        assert_mentions(
            &err.to_string(),
            &[
                "proj_size=2",
                kind.torch_name(),
                "only LSTM supports proj_size",
            ],
        );
        // Building a model reports it too, before looking at any tensor.
        let err = Rnn::from_tensors(config, []).unwrap_err();
        assert!(matches!(err, Error::ProjSize { .. }), "{err:?}");
    }
}

#[test]
fn configurations_too_large_to_index() {
    let err = gru(1 << 20, 1 << 20).validate().unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err:?}");
    assert_mentions(&err.to_string(), &["a weight matrix", "reduce the sizes"]);
    // A batch too large for the kernels' u32 indexing, caught by the dry run.
    let err = dry_err(&gru(3, 4), &[1 << 16, 1 << 16, 3], None, None, None);
    assert!(matches!(err, Error::TooLarge { .. }), "{err:?}");
    assert_mentions(
        &err.to_string(),
        &["the sequence batch", "reduce the sizes"],
    );
    // Tensors whose element count overflows.
    let err = Tensor::zeros([usize::MAX, 2]).unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err:?}");
    let err = Tensor::new([2, 3], vec![0.0; 5]).unwrap_err();
    assert!(
        matches!(
            err,
            Error::DataLength {
                expected: 6,
                got: 5,
                ..
            }
        ),
        "{err:?}"
    );
    assert_mentions(
        &err.to_string(),
        &["(2, 3)", "6 elements", "5 values", "row-major"],
    );
}

// ---------------------------------------------------------------------------------------------
// Weights loaded from .safetensors files.

/// A file under the temp dir, unique to this process and test, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "wgpu_rnn_errors_{}_{name}.safetensors",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&path);
        TempFile(path)
    }

    /// Writes `(name, shape)` tensors with small values (NaN where `nan` names the tensor).
    fn with(name: &str, tensors: &[(&str, &[usize])]) -> Self {
        let owned: Vec<(&str, Tensor)> = tensors.iter().map(|(n, s)| (*n, tensor(s))).collect();
        Self::with_tensors(name, &owned)
    }

    fn with_tensors(name: &str, tensors: &[(&str, Tensor)]) -> Self {
        let file = Self::new(name);
        let refs: Vec<(&str, &Tensor)> = tensors.iter().map(|(n, t)| (*n, t)).collect();
        save_safetensors(&file.0, &refs, None).unwrap();
        file
    }

    fn load(&self, options: &LoadOptions) -> Result<Rnn, Error> {
        Rnn::load(&self.0, options)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn default_load() -> LoadOptions {
    LoadOptions::default()
}

/// The tensors of a 1-layer GRU state_dict (input_size=3, hidden_size=4) under `prefix`.
fn gru_state_dict(prefix: &str) -> Vec<(String, Vec<usize>)> {
    ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]
        .iter()
        .zip([vec![12, 3], vec![12, 4], vec![12], vec![12]])
        .map(|(n, s)| (format!("{prefix}{n}"), s))
        .collect()
}

fn file_of(name: &str, tensors: &[(String, Vec<usize>)]) -> TempFile {
    let refs: Vec<(&str, &[usize])> = tensors
        .iter()
        .map(|(n, s)| (n.as_str(), s.as_slice()))
        .collect();
    TempFile::with(name, &refs)
}

#[test]
fn file_loads_with_inferred_configuration() {
    let file = file_of("good", &gru_state_dict("rnn."));
    let rnn = file.load(&default_load()).unwrap();
    assert_eq!(rnn.config(), &gru(3, 4));
}

#[test]
fn file_with_inconsistent_hidden_size_between_layers() {
    // A 2-layer GRU state_dict whose weight_hh_l1 has hidden size 5 instead of 4.
    let mut tensors = gru_state_dict("rnn.");
    tensors.extend([
        ("rnn.weight_ih_l1".to_string(), vec![12, 4]),
        ("rnn.weight_hh_l1".to_string(), vec![15, 5]),
        ("rnn.bias_ih_l1".to_string(), vec![12]),
        ("rnn.bias_hh_l1".to_string(), vec![12]),
    ]);
    let file = file_of("hidden_l1", &tensors);
    let err = file.load(&default_load()).unwrap_err();
    match &err {
        Error::WeightShape {
            name,
            expected,
            got,
            ..
        } => {
            assert_eq!(name, "rnn.weight_hh_l1");
            assert_eq!(
                (expected.as_slice(), got.as_slice()),
                (&[12, 4][..], &[15, 5][..])
            );
        }
        other => panic!("expected WeightShape, got {other:?}"),
    }
    assert_mentions(
        &err.to_string(),
        &[
            "`rnn.weight_hh_l1` has shape (15, 5), expected (12, 4)",
            "hidden_size=4",
            "every layer and direction of a stack shares these sizes",
        ],
    );
}

#[test]
fn file_with_weight_hr_on_a_gru() {
    // A GRU state_dict (3*hidden_size gate rows) with an LSTM projection tensor.
    let mut tensors = gru_state_dict("");
    tensors[1].1 = vec![12, 2];
    tensors.push(("weight_hr_l0".into(), vec![2, 4]));
    let file = file_of("gru_hr", &tensors);
    let err = file.load(&default_load()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::ProjSize {
                kind: Kind::Gru,
                proj_size: 2,
                hidden_size: 4,
                ..
            }
        ),
        "{err:?}"
    );
    assert_mentions(
        &err.to_string(),
        &["proj_size=2", "nn.GRU", "only LSTM supports proj_size"],
    );
}

#[test]
fn file_with_lstm_proj_size_not_below_hidden_size() {
    let file = TempFile::with(
        "lstm_big_proj",
        &[
            ("weight_ih_l0", &[16, 3]),
            ("weight_hh_l0", &[16, 6]),
            ("weight_hr_l0", &[6, 4]),
        ],
    );
    let err = file.load(&default_load()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::ProjSize {
                kind: Kind::Lstm,
                proj_size: 6,
                hidden_size: 4,
                ..
            }
        ),
        "{err:?}"
    );
    assert_mentions(
        &err.to_string(),
        &["proj_size=6", "smaller than hidden_size=4"],
    );
}

#[test]
fn file_with_two_recurrent_modules_needs_a_prefix() {
    let mut tensors = gru_state_dict("encoder.rnn.");
    tensors.extend(gru_state_dict("decoder.rnn."));
    let file = file_of("two_modules", &tensors);
    let err = file.load(&default_load()).unwrap_err();
    match &err {
        Error::InferConfig { reason, .. } => {
            assert_mentions(
                reason,
                &[
                    "several recurrent modules",
                    "`decoder.rnn.`",
                    "`encoder.rnn.`",
                    "prefix",
                ],
            );
        }
        other => panic!("expected InferConfig, got {other:?}"),
    }
    assert_mentions(
        &err.to_string(),
        &["cannot infer the recurrent configuration"],
    );
    // Naming one works, with or without the trailing dot.
    for prefix in ["decoder.rnn", "decoder.rnn."] {
        let options = LoadOptions::default().prefix(prefix);
        assert_eq!(file.load(&options).unwrap().config(), &gru(3, 4));
    }
}

#[test]
fn file_with_wrong_prefix() {
    let file = file_of("wrong_prefix", &gru_state_dict("rnn."));
    let options = LoadOptions::default().prefix("lstm");
    let err = file.load(&options).unwrap_err();
    assert!(matches!(err, Error::InferConfig { .. }), "{err:?}");
    assert_mentions(
        &err.to_string(),
        &["no tensor named `lstm.weight_ih_l0`", "prefixes `rnn.`"],
    );
}

#[test]
fn file_without_a_recurrent_module() {
    let file = TempFile::with("no_rnn", &[("fc.weight", &[2, 3]), ("fc.bias", &[2])]);
    let err = file.load(&default_load()).unwrap_err();
    assert!(matches!(err, Error::InferConfig { .. }), "{err:?}");
    assert_mentions(
        &err.to_string(),
        &["no tensor ends in `weight_ih_l0`", "2 tensors", "`fc.bias`"],
    );
}

#[test]
fn file_with_missing_and_unexpected_tensors() {
    let mut tensors = gru_state_dict("rnn.");
    tensors.retain(|(n, _)| n != "rnn.bias_hh_l0");
    let err = file_of("missing", &tensors)
        .load(&default_load())
        .unwrap_err();
    assert!(
        matches!(&err, Error::MissingWeight { name, expected, .. } if name == "rnn.bias_hh_l0" && expected == &[12]),
        "{err:?}"
    );
    assert_mentions(&err.to_string(), &["`rnn.bias_hh_l0` is missing", "(12,)"]);

    let mut tensors = gru_state_dict("rnn.");
    tensors.push(("rnn.bias_ih_l1".into(), vec![12]));
    let err = file_of("unexpected", &tensors)
        .load(&default_load())
        .unwrap_err();
    assert!(
        matches!(&err, Error::UnexpectedWeight { name, num_layers: 1, .. } if name == "rnn.bias_ih_l1"),
        "{err:?}"
    );
    assert_mentions(&err.to_string(), &["`rnn.bias_ih_l1`", "1 layer(s)"]);

    // Tensors of other modules under other prefixes are not ours and are ignored.
    let mut tensors = gru_state_dict("rnn.");
    tensors.push(("fc.weight".into(), vec![2, 4]));
    tensors.push(("rnn.extra.weight".into(), vec![2, 4]));
    file_of("other_modules", &tensors)
        .load(&default_load())
        .unwrap();
}

#[test]
fn file_with_non_finite_weight_says_where() {
    let mut tensors: Vec<(&str, Tensor)> = gru_state_dict("rnn.")
        .iter()
        .map(|(n, s)| (Box::leak(n.clone().into_boxed_str()) as &str, tensor(s)))
        .collect();
    // weight_hh_l0 is (12, 4): row 5, column 2 is flat index 22.
    let mut data = tensors[1].1.clone().into_data();
    data[22] = f32::INFINITY;
    tensors[1].1 = Tensor::new([12, 4], data).unwrap();
    let file = TempFile::with_tensors("inf", &tensors);
    let err = file.load(&default_load()).unwrap_err();
    assert!(
        matches!(&err, Error::NonFiniteWeight { name, index: 22, row: 5, col: 2, .. } if name == "rnn.weight_hh_l0"),
        "{err:?}"
    );
    assert_mentions(
        &err.to_string(),
        &["`rnn.weight_hh_l0`", "inf", "row 5, column 2"],
    );
}

#[test]
fn file_kind_that_contradicts_the_weights() {
    let file = file_of("kind", &gru_state_dict(""));
    let options = LoadOptions::default().kind(Kind::Lstm);
    let err = file.load(&options).unwrap_err();
    assert!(matches!(err, Error::InferConfig { .. }), "{err:?}");
    assert_mentions(&err.to_string(), &["3*hidden_size", "gru", "lstm"]);
}

#[test]
fn unreadable_and_invalid_files() {
    let missing = TempFile::new("does_not_exist");
    let err = missing.load(&default_load()).unwrap_err();
    assert!(
        matches!(&err, Error::Io { path, .. } if path == &missing.0),
        "{err:?}"
    );
    assert_mentions(
        &err.to_string(),
        &["cannot access", &missing.0.display().to_string()],
    );

    let garbage = TempFile::new("garbage");
    std::fs::write(&garbage.0, b"not a safetensors file").unwrap();
    let err = garbage.load(&default_load()).unwrap_err();
    assert!(
        matches!(&err, Error::Safetensors { path: Some(p), .. } if p == &garbage.0),
        "{err:?}"
    );
    assert_mentions(&err.to_string(), &["is not a valid .safetensors file"]);

    let err = TensorFile::from_bytes(vec![1, 2, 3]).unwrap_err();
    assert!(
        matches!(err, Error::Safetensors { path: None, .. }),
        "{err:?}"
    );
    assert_mentions(
        &err.to_string(),
        &["the data is not a valid .safetensors file"],
    );
}

#[test]
fn tensors_that_cannot_form_one_file_are_refused_before_writing() {
    let file = TempFile::new("unsaveable");
    let path = file.0.display().to_string();
    let (a, b) = (tensor(&[2, 3]), tensor(&[4]));

    // A repeated name (the safetensors library panics on it).
    let err = save_safetensors(&file.0, &[("h", &a), ("x", &b), ("h", &b)], None).unwrap_err();
    assert!(
        matches!(&err, Error::Serialize { path, tensor: Some(t), .. } if path == &file.0 && t == "h"),
        "{err:?}"
    );
    assert_mentions(
        &err.to_string(),
        &[
            &path,
            "`h`",
            "tensors 0 and 2",
            "give each tensor its own name",
            "nothing was written",
        ],
    );
    assert!(!file.0.exists());

    // The metadata's key as a tensor name: the file would not load.
    let err = save_safetensors(&file.0, &[("x", &b), ("__metadata__", &a)], None).unwrap_err();
    assert!(
        matches!(&err, Error::Serialize { tensor: Some(t), .. } if t == "__metadata__"),
        "{err:?}"
    );
    assert_mentions(&err.to_string(), &[&path, "tensor 1", "rename that tensor"]);
    assert!(!file.0.exists());

    // A header over the format's limit: the library's own refusal.
    let metadata = HashMap::from([("notes".to_string(), "n".repeat(100_000_000))]);
    let err = save_safetensors(&file.0, &[("h", &a)], Some(metadata)).unwrap_err();
    assert!(
        matches!(&err, Error::Serialize { tensor: None, .. }),
        "{err:?}"
    );
    assert_mentions(
        &err.to_string(),
        &[&path, "100000000 bytes", "shorten the metadata"],
    );
    assert!(!file.0.exists());

    // Failing to write stays `Error::Io`, naming the file.
    let nowhere = file.0.with_extension("no_such_dir").join("out.safetensors");
    let err = save_safetensors(&nowhere, &[("h", &a)], None).unwrap_err();
    assert!(
        matches!(&err, Error::Io { path, .. } if path == &nowhere),
        "{err:?}"
    );
    // And what can be written reads back.
    save_safetensors(&file.0, &[("h", &a), ("x", &b)], None).unwrap();
    let back = TensorFile::open(&file.0).unwrap();
    assert_eq!(back.f32("h").unwrap().unwrap(), a);
}

// ---------------------------------------------------------------------------------------------
// The same errors from every path, before any GPU work.

#[test]
fn check_cpu_and_gpu_agree_on_every_shape_error() {
    let config = RnnConfig::new(Kind::Lstm, 3, 6)
        .num_layers(2)
        .batch_first(true);
    let rnn = model(config);
    let x = tensor(&[4, 5, 3]);
    let x_wide = tensor(&[4, 5, 7]);
    let x_flat = tensor(&[20, 3]);
    let h_short = tensor(&[2, 2, 6]);
    let h_ok = tensor(&[2, 4, 6]);
    let c_2d = tensor(&[2, 6]);
    let cases: Vec<(&str, Input<'_>)> = vec![
        ("feature width", Input::new(&x_wide)),
        ("flattened", Input::new(&x_flat).h0(&h_ok)),
        ("short batch", Input::new(&x).h0(&h_short)),
        ("unbatched c0", Input::new(&x).h0(&h_ok).c0(&c_2d)),
        ("lengths count", Input::new(&x).lengths(&[5, 5])),
        ("length 0", Input::new(&x).lengths(&[5, 0, 1, 2])),
        ("length > T", Input::new(&x).lengths(&[5, 6, 1, 2])),
    ];
    let gpu = common::gpu().map(|ctx| rnn.to_gpu(ctx).unwrap());
    for (what, input) in &cases {
        let checked = rnn.check(input).unwrap_err().to_string();
        let cpu = rnn.forward(input).unwrap_err().to_string();
        assert_eq!(cpu, checked, "{what}");
        if let Some(gpu) = &gpu {
            let err = gpu.forward(input).unwrap_err().to_string();
            assert_eq!(err, checked, "{what} on the GPU");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Device limits.

/// Host bytes a test may allocate for one oversized model.
const HOST_BUDGET: u64 = 3 << 30;

/// The most bytes one buffer the kernels bind may hold on `ctx`'s device.
fn binding_limit(ctx: &wgpu_rnn::GpuContext) -> u64 {
    let limits = ctx.device().limits();
    limits
        .max_storage_buffer_binding_size
        .min(limits.max_buffer_size)
}

#[test]
fn weight_larger_than_the_device_binding_limit() {
    let Some(ctx) = common::gpu() else { return };
    let limit = binding_limit(ctx);
    // An Elman RNN with hidden_size=1: weight_ih_l0 is (1, input_size); on the GPU its rows are
    // padded to 4, so input_size = limit / 16 + 1 makes it just too large to bind while the
    // host holds only 4 * input_size bytes (twice, while the model is built).
    let input_size = limit / 16 + 1;
    let host = 2 * 4 * input_size;
    if host > HOST_BUDGET || input_size > u32::MAX as u64 / 4 {
        eprintln!(
            "note: skipping the weight size limit test: the device binds {limit} bytes, so the \
             weight would need {host} bytes of host memory"
        );
        return;
    }
    let config = RnnConfig::new(Kind::RnnTanh, input_size as usize, 1).bias(false);
    let rnn = Rnn::from_fn(config, |_, shape| vec![0.0; shape.iter().product()]).unwrap();
    let err = rnn.to_gpu(ctx).unwrap_err();
    match &err {
        Error::DeviceLimit {
            what,
            limit_name,
            limit: l,
            needed,
            ..
        } => {
            assert_mentions(what, &["weight_ih_l0"]);
            assert!(
                *limit_name == "max_storage_buffer_binding_size"
                    || *limit_name == "max_buffer_size",
                "{limit_name}"
            );
            assert_eq!(*l, limit);
            assert!(*needed > limit, "{needed} <= {limit}");
        }
        other => panic!("expected DeviceLimit, got {other:?}"),
    }
    let message = err.to_string();
    println!("weight too large: {message}");
    assert_mentions(
        &message,
        &[
            "weight_ih_l0",
            &format!("at most {limit}"),
            "(limit `max_",
            "reduce hidden_size or input_size",
        ],
    );
}

/// `Strategy::Wavefront` binds every layer's recurrent weights as one buffer, which can exceed
/// the binding limit where each layer's alone does not: a typed error on the first forward,
/// and the per-step kernel still runs the model.
#[test]
fn wavefront_weights_larger_than_the_device_binding_limit() {
    let Some(ctx) = common::gpu() else { return };
    let limit = binding_limit(ctx);
    // Two Elman RNN layers: W_hh packs to 16 H^2 bytes (a vec4 column block per unit) and the
    // second layer's W_ih to 4 H^2, so H^2 = limit / 32 gives 36 H^2 = 1.125 x the limit in
    // all, with each matrix at half of it.
    let hidden = ((limit as f64 / 32.0).sqrt() as u64).next_multiple_of(4);
    let host = 4 * 4 * hidden * hidden; // two layers of two H x H matrices, f32
    if host > HOST_BUDGET {
        eprintln!(
            "note: skipping the wavefront weight limit test: the device binds {limit} bytes, \
             so the model would need {host} bytes of host memory"
        );
        return;
    }
    let config = RnnConfig::new(Kind::RnnTanh, 4, hidden as usize)
        .num_layers(2)
        .bias(false);
    let rnn = Rnn::from_fn(config, |_, shape| vec![0.0; shape.iter().product()]).unwrap();
    let mut gpu = rnn.to_gpu(ctx).unwrap();
    gpu.set_strategy(Strategy::Wavefront).unwrap();
    let x = Tensor::zeros([2, 1, 4]).unwrap();
    let err = gpu.forward(&Input::new(&x)).unwrap_err();
    match &err {
        Error::DeviceLimit {
            limit: l, needed, ..
        } => {
            assert_eq!(*l, limit);
            assert!(*needed > limit, "{needed} <= {limit}");
        }
        other => panic!("expected DeviceLimit, got {other:?}"),
    }
    let message = err.to_string();
    println!("wavefront weights too large: {message}");
    assert_mentions(
        &message,
        &["every layer's recurrent weights", "Strategy::PerStep"],
    );
    gpu.set_strategy(Strategy::PerStep).unwrap();
    let out = gpu.forward(&Input::new(&x)).unwrap();
    assert!(out.output.data().iter().all(|&v| v == 0.0), "zero weights");
}

#[test]
fn input_larger_than_the_device_binding_limit() {
    let Some(ctx) = common::gpu() else { return };
    let limit = binding_limit(ctx);
    // A narrow model fed one long sequence of wide timesteps: (T, 1, 4096) with T just large
    // enough that the input buffer exceeds the limit.
    let width = 4096u64;
    let t = limit / (4 * width) + 1;
    let host = 2 * 4 * t * width;
    if host > HOST_BUDGET {
        eprintln!(
            "note: skipping the input size limit test: it would need {host} bytes of host memory"
        );
        return;
    }
    let rnn = model(RnnConfig::new(Kind::RnnTanh, width as usize, 1));
    let gpu = rnn.to_gpu(ctx).unwrap();
    let x = Tensor::zeros([t as usize, 1, width as usize]).unwrap();
    let err = gpu.forward(&Input::new(&x)).unwrap_err();
    match &err {
        Error::DeviceLimit {
            limit: l, needed, ..
        } => {
            assert_eq!(*l, limit);
            assert_eq!(*needed, 4 * t * width);
        }
        other => panic!("expected DeviceLimit, got {other:?}"),
    }
    let message = err.to_string();
    println!("input too large: {message}");
    assert_mentions(
        &message,
        &[
            &format!("the input (T={t}, B=1)"),
            &format!("at most {limit}"),
            "pass h_n back as h0",
        ],
    );
    // The dry run has no device: it accepts the shapes.
    assert!(rnn.check(&Input::new(&x)).is_ok());
}

// ---------------------------------------------------------------------------------------------
// Empty work: B = 0 or T = 0 is not an error.

#[test]
fn empty_batch_and_empty_sequence() {
    let lstm = model(
        RnnConfig::new(Kind::Lstm, 3, 4)
            .num_layers(2)
            .bidirectional(true),
    );
    let gru_bf = model(gru(3, 4).batch_first(true));
    let gpu_lstm = common::gpu().map(|ctx| lstm.to_gpu(ctx).unwrap());
    let gpu_gru = common::gpu().map(|ctx| gru_bf.to_gpu(ctx).unwrap());

    struct Case {
        what: &'static str,
        lstm: bool,
        x: Vec<usize>,
        h0: Option<Vec<usize>>,
        c0: Option<Vec<usize>>,
        lengths: Option<Vec<usize>>,
        output: Vec<usize>,
        h_n: Vec<usize>,
    }
    let cases = [
        Case {
            what: "T=0 time-major",
            lstm: true,
            x: vec![0, 3, 3],
            h0: None,
            c0: None,
            lengths: None,
            output: vec![0, 3, 8],
            h_n: vec![4, 3, 4],
        },
        Case {
            what: "B=0 time-major",
            lstm: true,
            x: vec![5, 0, 3],
            h0: None,
            c0: None,
            lengths: None,
            output: vec![5, 0, 8],
            h_n: vec![4, 0, 4],
        },
        Case {
            what: "B=0 with lengths",
            lstm: true,
            x: vec![5, 0, 3],
            h0: Some(vec![4, 0, 4]),
            c0: Some(vec![4, 0, 4]),
            lengths: Some(vec![]),
            output: vec![5, 0, 8],
            h_n: vec![4, 0, 4],
        },
        Case {
            what: "T=0 with states",
            lstm: true,
            x: vec![0, 2, 3],
            h0: Some(vec![4, 2, 4]),
            c0: Some(vec![4, 2, 4]),
            lengths: None,
            output: vec![0, 2, 8],
            h_n: vec![4, 2, 4],
        },
        Case {
            what: "T=0 unbatched",
            lstm: true,
            x: vec![0, 3],
            h0: Some(vec![4, 4]),
            c0: None,
            lengths: None,
            output: vec![0, 8],
            h_n: vec![4, 4],
        },
        Case {
            what: "B=0 batch-first",
            lstm: false,
            x: vec![0, 5, 3],
            h0: None,
            c0: None,
            lengths: None,
            output: vec![0, 5, 4],
            h_n: vec![1, 0, 4],
        },
        Case {
            what: "T=0 batch-first with h0",
            lstm: false,
            x: vec![2, 0, 3],
            h0: Some(vec![1, 2, 4]),
            c0: None,
            lengths: None,
            output: vec![2, 0, 4],
            h_n: vec![1, 2, 4],
        },
    ];
    for case in &cases {
        let x = tensor(&case.x);
        let h0 = case.h0.as_deref().map(tensor);
        let c0 = case.c0.as_deref().map(tensor);
        let mut input = Input::new(&x);
        if let Some(h0) = &h0 {
            input = input.h0(h0);
        }
        if let Some(c0) = &c0 {
            input = input.c0(c0);
        }
        if let Some(lengths) = &case.lengths {
            input = input.lengths(lengths);
        }
        let (rnn, gpu) = if case.lstm {
            (&lstm, gpu_lstm.as_ref())
        } else {
            (&gru_bf, gpu_gru.as_ref())
        };
        let shapes = rnn.check(&input).unwrap();
        assert_eq!(shapes.output, case.output, "{}", case.what);
        assert_eq!(shapes.h_n, case.h_n, "{}", case.what);
        let mut results = vec![("cpu", rnn.forward(&input).unwrap())];
        if let Some(gpu) = gpu {
            results.push(("gpu", gpu.forward(&input).unwrap()));
        }
        for (device, out) in results {
            let what = format!("{} on the {device}", case.what);
            assert_eq!(out.output.shape(), case.output.as_slice(), "{what}");
            assert!(out.output.data().is_empty(), "{what}");
            // h_n is h0 when given, else zeros: no step ran.
            assert_eq!(out.h_n.shape(), case.h_n.as_slice(), "{what}");
            match &h0 {
                Some(h0) => assert_eq!(out.h_n.data(), h0.data(), "{what}"),
                None => assert!(out.h_n.data().iter().all(|&v| v == 0.0), "{what}"),
            }
            match (case.lstm, &out.c_n, &c0) {
                (false, None, _) => {}
                (true, Some(c_n), Some(c0)) => assert_eq!(c_n, c0, "{what}"),
                (true, Some(c_n), None) => {
                    assert_eq!(c_n.shape(), case.h_n.as_slice(), "{what}");
                    assert!(c_n.data().iter().all(|&v| v == 0.0), "{what}");
                }
                other => panic!("{what}: unexpected c_n {other:?}"),
            }
        }
    }
}

#[test]
fn empty_work_still_checks_shapes() {
    // T = 0 does not excuse a wrong feature width or state.
    let config = gru(3, 4);
    let err = dry_err(&config, &[0, 2, 5], None, None, None);
    assert!(matches!(err, Error::InputSize { .. }), "{err:?}");
    let err = dry_err(&config, &[0, 2, 3], Some(&[1, 3, 4]), None, None);
    assert!(matches!(err, Error::StateShape { .. }), "{err:?}");
    // With T = 0 no length is valid (each must be in 1..=T).
    let err = dry_err(&config, &[0, 2, 3], None, None, Some(&[1, 1]));
    assert!(
        matches!(err, Error::LengthOutOfRange { max: 0, .. }),
        "{err:?}"
    );
}

#[test]
fn saved_arguments_without_input_name_what_the_file_holds() {
    let entry = r#""h0":{"dtype":"F32","shape":[1,2],"data_offsets":[0,8]}"#.to_string();
    let bytes = common::safetensors_file(&[entry], [&[0u8; 8][..]]);
    let file = TensorFile::from_bytes(bytes).unwrap();
    let err = wgpu_rnn::weights::SavedInput::from_file(&file).unwrap_err();
    assert!(matches!(&err, Error::MissingInput { held, .. } if held == &["h0"]));
    assert_mentions(
        &err.to_string(),
        &["`input`", "it holds: h0", "save the input"],
    );
}
