//! Streaming sessions: chunks of any length give exactly the outputs of one call over the
//! concatenated sequence, state stays on the GPU, slots reset independently.

mod common;

use wgpu_rnn::{Error, Input, Kind, Rnn, RnnConfig, Strategy, Tensor};

fn rnn(config: RnnConfig) -> Rnn {
    let k = 1.0 / (config.hidden_size as f32).sqrt();
    Rnn::from_fn(config, |name, shape| {
        let salt = name.bytes().map(|b| b as f32).sum::<f32>();
        (0..shape.iter().product::<usize>())
            .map(|i| ((i as f32 * 0.618 + salt).sin()) * k)
            .collect()
    })
    .unwrap()
}

/// `(T, B, I)` time-major data, deterministic.
fn sequence(t: usize, b: usize, i: usize, seed: f32) -> Vec<f32> {
    (0..t * b * i)
        .map(|n| ((n as f32 * 0.37 + seed).cos()) * 0.8)
        .collect()
}

/// Timesteps `from..to` of a time-major `(T, B, W)` buffer.
fn steps(data: &[f32], b: usize, w: usize, from: usize, to: usize) -> Vec<f32> {
    data[from * b * w..to * b * w].to_vec()
}

// Chunked and whole runs execute the same kernels on the same values: the state between
// chunks round-trips through the same buffer, so agreement is to float rounding (1e-5).
const TOLERANCE: f32 = 1e-5;

#[test]
fn chunks_of_any_length_equal_one_call_over_the_whole_sequence() {
    let Some(ctx) = common::gpu() else { return };
    for (kind, layers, proj, b) in [
        (Kind::Gru, 2, 0, 3),
        (Kind::Lstm, 1, 0, 1),
        (Kind::Lstm, 2, 3, 5),
        (Kind::RnnTanh, 1, 0, 9),
        (Kind::RnnRelu, 3, 0, 2),
    ] {
        let (t, i, h) = (12, 4, 6);
        let model = rnn(RnnConfig::new(kind, i, h)
            .num_layers(layers)
            .proj_size(proj));
        // The wavefront too where it runs: its chunks start each layer from h_n and c_n.
        let strategies = match (layers, proj) {
            (1, _) | (_, 1..) => vec![Strategy::Auto],
            _ => vec![Strategy::Auto, Strategy::Wavefront],
        };
        for strategy in strategies {
            let mut gpu = model.to_gpu(ctx).unwrap();
            gpu.set_strategy(strategy).unwrap();
            let kind = format!("{kind} {strategy:?}");
            let x = sequence(t, b, i, 0.5);
            let whole = gpu
                .forward(&Input::new(&Tensor::new([t, b, i], x.clone()).unwrap()))
                .unwrap();
            let w = model.config().output_width();

            let mut stream = gpu.stream(b).unwrap();
            let mut at = 0;
            // Repeated lengths: a chunk as long as the one before reuses its buffers.
            for len in [1, 1, 3, 3, 2, 2] {
                let chunk = Tensor::new([len, b, i], steps(&x, b, i, at, at + len)).unwrap();
                let out = stream.push(&chunk).unwrap();
                assert_eq!(out.shape(), &[len, b, w]);
                let want = steps(whole.output.data(), b, w, at, at + len);
                common::assert_close(
                    &format!("{kind} L={layers} chunk at {at}"),
                    out.data(),
                    &want,
                    TOLERANCE,
                    TOLERANCE,
                );
                at += len;
            }
            assert_eq!(at, t);
            let (h_n, c_n) = stream.state().unwrap();
            common::assert_close(
                &format!("{kind} h_n"),
                h_n.data(),
                whole.h_n.data(),
                TOLERANCE,
                TOLERANCE,
            );
            if let (Some(c), Some(want)) = (c_n, whole.c_n) {
                common::assert_close(
                    &format!("{kind} c_n"),
                    c.data(),
                    want.data(),
                    TOLERANCE,
                    TOLERANCE,
                );
            }
        }
    }
}

#[test]
fn batch_first_chunks_and_single_slot_unbatched_chunks() {
    let Some(ctx) = common::gpu() else { return };
    let model = rnn(RnnConfig::new(Kind::Gru, 3, 5).batch_first(true));
    let gpu = model.to_gpu(ctx).unwrap();
    // (B=2, T=4, I=3) batch-first whole, then two (2, 2, 3) chunks.
    let x: Vec<f32> = (0..24).map(|n| (n as f32 * 0.3).sin()).collect();
    let whole = gpu
        .forward(&Input::new(&Tensor::new([2, 4, 3], x.clone()).unwrap()))
        .unwrap();
    let mut stream = gpu.stream(2).unwrap();
    for half in 0..2 {
        let chunk: Vec<f32> = (0..2)
            .flat_map(|b| x[(b * 4 + half * 2) * 3..][..6].to_vec())
            .collect();
        let out = stream
            .push(&Tensor::new([2, 2, 3], chunk).unwrap())
            .unwrap();
        let want: Vec<f32> = (0..2)
            .flat_map(|b| whole.output.data()[(b * 4 + half * 2) * 5..][..10].to_vec())
            .collect();
        common::assert_close("batch-first chunk", out.data(), &want, TOLERANCE, TOLERANCE);
    }
    // One slot: unbatched (T, I) chunks are accepted.
    let mut single = gpu.stream(1).unwrap();
    let out = single
        .push(&Tensor::new([4, 3], x[..12].to_vec()).unwrap())
        .unwrap();
    assert_eq!(out.shape(), &[4, 5]);
}

#[test]
fn resetting_one_slot_restarts_it_and_leaves_the_others_running() {
    let Some(ctx) = common::gpu() else { return };
    let (b, i) = (3, 4);
    let model = rnn(RnnConfig::new(Kind::Lstm, i, 7));
    let gpu = model.to_gpu(ctx).unwrap();
    let first = sequence(5, b, i, 1.0);
    let second = sequence(4, b, i, 2.0);
    let mut stream = gpu.stream(b).unwrap();
    stream
        .push(&Tensor::new([5, b, i], first.clone()).unwrap())
        .unwrap();
    stream.reset_slot(1).unwrap();
    let out = stream
        .push(&Tensor::new([4, b, i], second.clone()).unwrap())
        .unwrap();

    // Slot 1 equals a fresh run of `second`; slots 0 and 2 equal the uninterrupted run.
    let fresh = gpu
        .forward(&Input::new(
            &Tensor::new([4, b, i], second.clone()).unwrap(),
        ))
        .unwrap();
    let joined: Vec<f32> = first.iter().chain(&second).copied().collect();
    let straight = gpu
        .forward(&Input::new(&Tensor::new([9, b, i], joined).unwrap()))
        .unwrap();
    let w = 7;
    for t in 0..4 {
        for slot in 0..b {
            let got = &out.data()[(t * b + slot) * w..][..w];
            let want = if slot == 1 {
                &fresh.output.data()[(t * b + slot) * w..][..w]
            } else {
                &straight.output.data()[((t + 5) * b + slot) * w..][..w]
            };
            common::assert_close(
                &format!("t={t} slot={slot}"),
                got,
                want,
                TOLERANCE,
                TOLERANCE,
            );
        }
    }
    // reset() zeroes everything.
    stream.reset().unwrap();
    let (h, c) = stream.state().unwrap();
    assert!(h.data().iter().chain(c.unwrap().data()).all(|&v| v == 0.0));
}

#[test]
fn state_can_be_read_and_set_from_the_host() {
    let Some(ctx) = common::gpu() else { return };
    let (b, i, h) = (2, 3, 4);
    let model = rnn(RnnConfig::new(Kind::Lstm, i, h).num_layers(2));
    let gpu = model.to_gpu(ctx).unwrap();
    let x = Tensor::new([3, b, i], sequence(3, b, i, 3.0)).unwrap();
    let h0 = Tensor::new([2, b, h], (0..16).map(|n| n as f32 * 0.05 - 0.4).collect()).unwrap();
    let c0 = Tensor::new([2, b, h], (0..16).map(|n| 0.3 - n as f32 * 0.02).collect()).unwrap();
    let want = gpu.forward(&Input::new(&x).h0(&h0).c0(&c0)).unwrap();

    let mut stream = gpu.stream(b).unwrap();
    stream.set_state(&h0, Some(&c0)).unwrap();
    let (h_read, c_read) = stream.state().unwrap();
    assert_eq!(h_read, h0);
    assert_eq!(c_read.unwrap(), c0);
    let out = stream.push(&x).unwrap();
    common::assert_close(
        "output after set_state",
        out.data(),
        want.output.data(),
        TOLERANCE,
        TOLERANCE,
    );
}

#[test]
fn misuse_is_a_typed_error() {
    let Some(ctx) = common::gpu() else { return };
    let bi = rnn(RnnConfig::new(Kind::Gru, 3, 4).bidirectional(true))
        .to_gpu(ctx)
        .unwrap();
    assert!(matches!(bi.stream(2), Err(Error::Unsupported { .. })));
    let gru = rnn(RnnConfig::new(Kind::Gru, 3, 4)).to_gpu(ctx).unwrap();
    assert!(matches!(gru.stream(0), Err(Error::Unsupported { .. })));
    let mut stream = gru.stream(2).unwrap();
    let err = stream.push(&Tensor::zeros([1, 3, 3]).unwrap()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::StreamBatch {
                expected: 2,
                got: 3,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("batch of 2"), "{err}");
    assert!(matches!(
        stream.push(&Tensor::zeros([1, 2, 5]).unwrap()),
        Err(Error::InputSize { .. })
    ));
    assert!(matches!(
        stream.reset_slot(2),
        Err(Error::SlotOutOfRange {
            slot: 2,
            batch: 2,
            ..
        })
    ));
    let c = Tensor::zeros([1, 2, 4]).unwrap();
    assert!(matches!(
        stream.set_state(&c, Some(&c)),
        Err(Error::UnexpectedState { .. })
    ));
    assert!(matches!(
        stream.set_state(&Tensor::zeros([1, 3, 4]).unwrap(), None),
        Err(Error::StateShape { .. })
    ));
    // An empty chunk is not an error: no step runs.
    assert_eq!(
        stream
            .push(&Tensor::zeros([0, 2, 3]).unwrap())
            .unwrap()
            .shape(),
        &[0, 2, 4]
    );
}

fn assert_send<T: Send>(t: T) -> T {
    t
}

#[test]
fn async_forms_are_send_and_give_the_same_results() {
    let Some(ctx) = common::gpu() else { return };
    let model = rnn(RnnConfig::new(Kind::Gru, 3, 4));
    let gpu = model.to_gpu(ctx).unwrap();
    let chunk = Tensor::new([2, 2, 3], sequence(2, 2, 3, 4.0)).unwrap();
    let mut blocking = gpu.stream(2).unwrap();
    let want = blocking.push(&chunk).unwrap();
    let (want_h, _) = blocking.state().unwrap();

    let mut stream = gpu.stream(2).unwrap();
    // The futures can move to another thread's executor (no blocking poll inside).
    let got = futures::executor::block_on(assert_send(stream.push_async(&chunk))).unwrap();
    let (h, c) = futures::executor::block_on(assert_send(stream.state_async())).unwrap();
    assert_eq!(got, want);
    assert_eq!(h, want_h);
    assert!(c.is_none());
}

/// What an application keeps: a model and the streams it serves, in one struct that can move
/// to another thread, with the model dropped before its streams at the end.
struct Recognizer {
    streams: Vec<wgpu_rnn::GpuStream>,
    model: wgpu_rnn::GpuRnn,
}

#[test]
fn an_application_keeps_a_model_and_its_streams_in_one_struct() {
    let Some(ctx) = common::gpu() else { return };
    let (t, i) = (5, 3);
    let host = rnn(RnnConfig::new(Kind::Lstm, i, 6).proj_size(4));
    let model = host.to_gpu(ctx).unwrap();
    let mut app = Recognizer {
        streams: vec![model.stream(1).unwrap(), model.stream(2).unwrap()],
        model,
    };
    // Both streams see their whole sequence in chunks, on another thread.
    let (first, second) = (sequence(t, 1, i, 1.0), sequence(t, 2, i, 2.0));
    let (a, b) = (first.clone(), second.clone());
    let app = std::thread::spawn(move || {
        let (first, second) = (a, b);
        let mut outputs = (Vec::new(), Vec::new());
        for s in 0..t {
            let x = Tensor::new([1, 1, i], steps(&first, 1, i, s, s + 1)).unwrap();
            outputs
                .0
                .extend(app.streams[0].push(&x).unwrap().into_data());
            let x = Tensor::new([1, 2, i], steps(&second, 2, i, s, s + 1)).unwrap();
            outputs
                .1
                .extend(app.streams[1].push(&x).unwrap().into_data());
        }
        (app, outputs)
    });
    let (app, (got_first, got_second)) = app.join().unwrap();
    for (b, data, got) in [(1, first, got_first), (2, second, got_second)] {
        let x = Tensor::new([t, b, i], data).unwrap();
        let want = app.model.forward(&Input::new(&x)).unwrap();
        common::assert_close(
            "stream in a struct",
            &got,
            want.output.data(),
            TOLERANCE,
            0.0,
        );
    }
    // The streams own what they need: they outlive the model.
    let Recognizer { mut streams, model } = app;
    drop(model);
    let x = Tensor::new([1, 2, i], vec![0.5; 2 * i]).unwrap();
    assert_eq!(streams[1].push(&x).unwrap().shape(), &[1, 2, 4]);
}
