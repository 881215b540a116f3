//! Sharing one model across threads: every type a caller shares is `Send + Sync`, and
//! concurrent forward passes (blocking, async and streaming) give exactly, bit for bit, the
//! results of the same calls made one at a time. Also: the same input gives bit-identical
//! output run after run, on the GPU (both strategies) and on the CPU.

mod common;

use std::sync::Arc;

use wgpu_rnn::{
    GpuContext, GpuRnn, GpuStream, Input, Kind, Output, Rnn, RnnConfig, Strategy, Tensor,
    TensorFile,
};

const THREADS: usize = 8;
const RUNS_PER_THREAD: usize = 100;
/// Distinct inputs per thread; each is run `RUNS_PER_THREAD / INPUTS_PER_THREAD` times.
const INPUTS_PER_THREAD: usize = 4;

// Compile-time: everything a caller may hold across threads is Send + Sync.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<GpuRnn>();
    send_sync::<GpuContext>();
    send_sync::<Rnn>();
    send_sync::<Output>();
    send_sync::<Tensor>();
    send_sync::<Input<'static>>();
    send_sync::<TensorFile>();
    send_sync::<wgpu_rnn::Error>();
    send_sync::<wgpu_rnn::GpuOutput>();
    send_sync::<wgpu_rnn::Sequential>();
    send_sync::<wgpu_rnn::GpuSequential>();
    send_sync::<wgpu_rnn::SequentialModel>();
    send_sync::<wgpu_rnn::Linear>();
    // A stream borrows its model; it moves to (and is used from) one thread at a time.
    send_sync::<GpuStream>();
};

fn model(kind: Kind, input: usize, hidden: usize) -> Rnn {
    model_of(RnnConfig::new(kind, input, hidden).num_layers(2))
}

/// Deterministic weights of PyTorch's scale, different per tensor.
fn model_of(config: RnnConfig) -> Rnn {
    let k = 1.0 / (config.hidden_size as f32).sqrt();
    Rnn::from_fn(config, |name, shape| {
        let salt = name.bytes().map(f32::from).sum::<f32>();
        (0..shape.iter().product::<usize>())
            .map(|i| (i as f32 * 0.618 + salt).sin() * k)
            .collect()
    })
    .unwrap()
}

/// One call's arguments, distinct per `(thread, which)`: the batch size varies so that the
/// per-step kernels run blocks of several sizes, and the lengths vary so that masking runs too.
struct Case {
    x: Tensor,
    lengths: Vec<usize>,
}

impl Case {
    fn new(thread: usize, which: usize, input: usize) -> Case {
        let (t, b) = (3 + (thread + which) % 5, 1 + (thread * 3 + which) % 6);
        let seed = (thread * INPUTS_PER_THREAD + which) as f32;
        let x = (0..t * b * input)
            .map(|n| ((n as f32 * 0.37 + seed * 1.7).cos()) * 0.9)
            .collect();
        let lengths = (0..b).map(|s| 1 + (s * 7 + thread) % t).collect();
        Case {
            x: Tensor::new([t, b, input], x).unwrap(),
            lengths,
        }
    }

    fn input(&self) -> Input<'_> {
        Input::new(&self.x).lengths(&self.lengths)
    }
}

fn cases(input: usize) -> Vec<Vec<Case>> {
    (0..THREADS)
        .map(|thread| {
            (0..INPUTS_PER_THREAD)
                .map(|which| Case::new(thread, which, input))
                .collect()
        })
        .collect()
}

fn bits(t: &Tensor) -> Vec<u32> {
    t.data().iter().map(|v| v.to_bits()).collect()
}

/// 17 steps of O(1) values through sums of at most 100 products of O(0.3) weights: a
/// different summation order moves a value by a few ulp a step.
#[track_caller]
fn assert_same_to_rounding(what: &str, got: &Output, want: &Output) {
    let (abs, rel) = (1e-5, 1e-5);
    let pairs = [
        ("output", Some(&got.output), Some(&want.output)),
        ("h_n", Some(&got.h_n), Some(&want.h_n)),
        ("c_n", got.c_n.as_ref(), want.c_n.as_ref()),
    ];
    for (name, g, w) in pairs {
        if let (Some(g), Some(w)) = (g, w) {
            common::assert_close(&format!("{what}: {name}"), g.data(), w.data(), abs, rel);
        }
    }
}

#[track_caller]
fn assert_bit_identical(what: &str, got: &Output, want: &Output) {
    assert_eq!(
        got.output.shape(),
        want.output.shape(),
        "{what}: output shape"
    );
    assert_eq!(bits(&got.output), bits(&want.output), "{what}: output bits");
    assert_eq!(bits(&got.h_n), bits(&want.h_n), "{what}: h_n bits");
    assert_eq!(
        got.c_n.as_ref().map(bits),
        want.c_n.as_ref().map(bits),
        "{what}: c_n bits"
    );
}

#[test]
fn eight_threads_share_one_model_and_get_the_single_threaded_bits() {
    let Some(ctx) = common::gpu() else { return };
    for kind in [Kind::Gru, Kind::Lstm] {
        let gpu = model(kind, 3, 8).to_gpu(ctx).unwrap();
        let cases = cases(3);
        // The reference: every input once, on this thread, before any concurrency.
        let reference: Vec<Vec<Output>> = cases
            .iter()
            .map(|mine| {
                mine.iter()
                    .map(|c| gpu.forward(&c.input()).unwrap())
                    .collect()
            })
            .collect();

        let gpu = &gpu;
        std::thread::scope(|scope| {
            for (thread, (mine, want)) in cases.iter().zip(&reference).enumerate() {
                scope.spawn(move || {
                    for run in 0..RUNS_PER_THREAD {
                        let which = run % INPUTS_PER_THREAD;
                        let got = gpu.forward(&mine[which].input()).unwrap();
                        assert_bit_identical(
                            &format!("{kind} thread {thread} run {run}"),
                            &got,
                            &want[which],
                        );
                    }
                });
            }
        });
    }
}

/// `GpuSequential` keeps one call's buffers for the next call of its shape; threads that call
/// it at once must each get their own, and the bits of the same calls made one at a time.
#[test]
fn threads_share_one_sequential_model_and_get_the_single_threaded_bits() {
    let Some(ctx) = common::gpu() else { return };
    let weights = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/classify/weights.safetensors");
    // The classify example's model: Linear(30 -> 20) -> LSTM(20, 20) -> last step -> Linear.
    let model = wgpu_rnn::Sequential::new()
        .batch_first(true)
        .linear("linear", 30, 20)
        .recurrent("rnn")
        .last_step()
        .linear("fc", 20, 2)
        .load(weights)
        .unwrap();
    let gpu = model.to_gpu(ctx).unwrap();
    // Per thread: inputs of one shape (B=3, T=6) and, every other one, lengths.
    let inputs: Vec<Vec<(Tensor, Option<Vec<usize>>)>> = (0..THREADS)
        .map(|thread| {
            (0..INPUTS_PER_THREAD)
                .map(|which| {
                    let salt = (thread * INPUTS_PER_THREAD + which) as f32;
                    let x = (0..3 * 6 * 30)
                        .map(|i| (i as f32 * 0.37 + salt).sin())
                        .collect();
                    let lengths = (which % 2 == 1).then(|| vec![6, 1 + thread % 6, 3]);
                    (Tensor::new([3, 6, 30], x).unwrap(), lengths)
                })
                .collect()
        })
        .collect();
    let reference: Vec<Vec<Tensor>> = inputs
        .iter()
        .map(|mine| {
            mine.iter()
                .map(|(x, l)| gpu.forward(&common::input(x, l.as_deref())).unwrap())
                .collect()
        })
        .collect();
    let gpu = &gpu;
    std::thread::scope(|scope| {
        for (thread, (mine, want)) in inputs.iter().zip(&reference).enumerate() {
            scope.spawn(move || {
                for run in 0..RUNS_PER_THREAD / 4 {
                    let which = run % INPUTS_PER_THREAD;
                    let (x, lengths) = &mine[which];
                    let got = gpu.forward(&common::input(x, lengths.as_deref())).unwrap();
                    assert_eq!(bits(&got), bits(&want[which]), "thread {thread} run {run}");
                }
            });
        }
    });
}

#[test]
fn async_forward_passes_from_several_threads_and_interleaved_on_one() {
    let Some(ctx) = common::gpu() else { return };
    let gpu = model(Kind::Gru, 3, 8).to_gpu(ctx).unwrap();
    let cases = cases(3);
    let reference: Vec<Vec<Output>> = cases
        .iter()
        .map(|mine| {
            mine.iter()
                .map(|c| gpu.forward(&c.input()).unwrap())
                .collect()
        })
        .collect();

    let gpu = &gpu;
    std::thread::scope(|scope| {
        for (thread, (mine, want)) in cases.iter().zip(&reference).enumerate().take(4) {
            scope.spawn(move || {
                let inputs: Vec<Input<'_>> = mine.iter().map(Case::input).collect();
                for round in 0..5 {
                    // All of this thread's inputs in flight at once on one executor: the
                    // futures interleave between polls.
                    let outs = futures::executor::block_on(futures::future::join_all(
                        inputs.iter().map(|input| gpu.forward_async(input)),
                    ));
                    for (which, out) in outs.into_iter().enumerate() {
                        assert_bit_identical(
                            &format!("async thread {thread} round {round} input {which}"),
                            &out.unwrap(),
                            &want[which],
                        );
                    }
                }
            });
        }
    });
}

#[test]
fn one_stream_per_thread_on_a_shared_model() {
    let Some(ctx) = common::gpu() else { return };
    let gpu = model(Kind::Lstm, 3, 8).to_gpu(ctx).unwrap();
    let (b, i) = (2, 3);
    let chunk = |thread: usize, k: usize| {
        let t = 1 + (thread + k) % 3;
        let data = (0..t * b * i)
            .map(|n| ((n + 11 * k) as f32 * 0.29 + thread as f32).sin())
            .collect();
        Tensor::new([t, b, i], data).unwrap()
    };
    let chunks_per_thread = 12;
    let run = |gpu: &GpuRnn, thread: usize| -> Vec<Vec<u32>> {
        let mut stream = gpu.stream(b).unwrap();
        (0..chunks_per_thread)
            .map(|k| bits(&stream.push(&chunk(thread, k)).unwrap()))
            .collect()
    };
    let reference: Vec<_> = (0..THREADS).map(|thread| run(&gpu, thread)).collect();
    let gpu = &gpu;
    std::thread::scope(|scope| {
        for (thread, want) in reference.iter().enumerate() {
            scope.spawn(move || {
                assert_eq!(&run(gpu, thread), want, "stream of thread {thread}");
            });
        }
    });
}

#[test]
fn a_context_and_models_shared_through_arc_on_spawned_threads() {
    let Some(ctx) = common::gpu() else { return };
    // 'static sharing: the context is a cheap clone (an Arc inside); the model goes in an Arc.
    let rnn = model(Kind::Gru, 3, 8);
    let gpu = Arc::new(rnn.to_gpu(ctx).unwrap());
    let case = Arc::new(Case::new(0, 0, 3));
    let want = gpu.forward(&case.input()).unwrap();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let (gpu, case, ctx) = (Arc::clone(&gpu), Arc::clone(&case), ctx.clone());
            std::thread::spawn(move || {
                // Uploading on another thread to the shared context works too.
                let own = rnn_for_thread().to_gpu(&ctx).unwrap();
                (
                    gpu.forward(&case.input()).unwrap(),
                    own.forward(&case.input()).unwrap(),
                )
            })
        })
        .collect();
    for h in handles {
        let (shared, own) = h.join().unwrap();
        assert_bit_identical("Arc-shared model", &shared, &want);
        assert_bit_identical("model uploaded on another thread", &own, &want);
    }
}

fn rnn_for_thread() -> Rnn {
    model(Kind::Gru, 3, 8)
}

// ---------------------------------------------------------------------------------------------
// Determinism: the same input on the same adapter, run after run.

const REPEATS: usize = 20;

/// Every strategy: the models of these tests stack two unidirectional layers, which
/// `Strategy::Wavefront` runs too.
const STRATEGIES: [Strategy; 3] = [Strategy::PerStep, Strategy::Sequence, Strategy::Wavefront];

#[test]
fn the_same_input_gives_bit_identical_output_run_after_run() {
    let rnn = model(Kind::Lstm, 5, 24);
    let case = Case::new(3, 1, 5);
    let x = Tensor::new(
        [40, 5, 5],
        (0..40 * 5 * 5).map(|n| (n as f32 * 0.123).sin()).collect(),
    )
    .unwrap();
    let lengths = [40, 17, 1, 33, 40];
    let inputs = [case.input(), Input::new(&x).lengths(&lengths)];

    // The CPU reference path.
    for (n, input) in inputs.iter().enumerate() {
        let first = rnn.forward(input).unwrap();
        for run in 1..REPEATS {
            assert_bit_identical(
                &format!("cpu input {n} run {run}"),
                &rnn.forward(input).unwrap(),
                &first,
            );
        }
    }

    let Some(ctx) = common::gpu() else { return };
    for strategy in STRATEGIES {
        let mut gpu = rnn.to_gpu(ctx).unwrap();
        gpu.set_strategy(strategy).unwrap();
        for (n, input) in inputs.iter().enumerate() {
            let first = gpu.forward(input).unwrap();
            for run in 1..REPEATS {
                assert_bit_identical(
                    &format!("{strategy:?} input {n} run {run}"),
                    &gpu.forward(input).unwrap(),
                    &first,
                );
            }
            // A second upload of the same weights computes the same bits.
            let mut again = rnn.to_gpu(ctx).unwrap();
            again.set_strategy(strategy).unwrap();
            assert_bit_identical(
                &format!("{strategy:?} input {n}, second upload"),
                &again.forward(input).unwrap(),
                &first,
            );
        }
    }
}

#[test]
fn chunking_does_not_change_the_bits() {
    // Chunk boundaries (where the input projection is recomputed and, for the sequence
    // kernel, where h goes from workgroup memory to the state buffer and back) depend on T
    // and B. A run split by streaming into chunks of different lengths must give the same
    // bits as one call: every value is computed by the same arithmetic, in the same order,
    // whatever chunk it falls in.
    let Some(ctx) = common::gpu() else { return };
    let rnn = model(Kind::Gru, 3, 8);
    let (t, b, i) = (1_100, 2, 3);
    let data: Vec<f32> = (0..t * b * i).map(|n| (n as f32 * 0.41).cos()).collect();
    for strategy in STRATEGIES {
        let mut gpu = rnn.to_gpu(ctx).unwrap();
        gpu.set_strategy(strategy).unwrap();
        let whole = gpu
            .forward(&Input::new(&Tensor::new([t, b, i], data.clone()).unwrap()))
            .unwrap();
        let mut stream = gpu.stream(b).unwrap();
        let mut got = Vec::new();
        let mut at = 0;
        for len in [1, 511, 2, 513, 73] {
            let chunk =
                Tensor::new([len, b, i], data[at * b * i..(at + len) * b * i].to_vec()).unwrap();
            got.extend(stream.push(&chunk).unwrap().into_data());
            at += len;
        }
        assert_eq!(at, t);
        let want: Vec<u32> = bits(&whole.output);
        let got: Vec<u32> = got.iter().map(|v| v.to_bits()).collect();
        assert_eq!(got, want, "{strategy:?}: chunked stream vs one call");
    }
}

#[test]
fn a_sequence_gets_the_same_bits_whatever_batch_it_is_in_for_a_fixed_strategy() {
    // Every kernel computes each sequence with the same arithmetic whatever its neighbours:
    // both recurrent kernels give each sequence of their block its own accumulators, summed in
    // the same order whatever the block, and the input projection works row by row. (Under `Strategy::Auto` the kernel itself can change with the batch size: see
    // every_strategy_gives_the_same_bits.)
    let rnn = model(Kind::Gru, 3, 8);
    let (t, b, i, h) = (9, 11, 3, 8);
    let data: Vec<f32> = (0..t * b * i).map(|n| (n as f32 * 0.29).sin()).collect();
    let sub_batch = |from: usize, to: usize| {
        let mut x = Vec::new();
        for step in 0..t {
            x.extend_from_slice(&data[(step * b + from) * i..(step * b + to) * i]);
        }
        Tensor::new([t, to - from, i], x).unwrap()
    };
    let sequence = |out: &Output, s: usize, width: usize| -> Vec<u32> {
        (0..t)
            .flat_map(|step| out.output.data()[(step * width + s) * h..][..h].to_vec())
            .map(f32::to_bits)
            .collect()
    };
    let check = |what: &str, run: &dyn Fn(&Tensor) -> Output| {
        let whole = run(&sub_batch(0, b));
        for (from, to) in [(4, 5), (3, 7), (0, 9), (2, 11)] {
            let part = run(&sub_batch(from, to));
            for s in from..to {
                assert_eq!(
                    sequence(&part, s - from, to - from),
                    sequence(&whole, s, b),
                    "{what}: sequence {s} alone in a batch of {} vs in the batch of {b}",
                    to - from
                );
            }
        }
    };
    check("cpu", &|x| rnn.forward(&Input::new(x)).unwrap());
    let Some(ctx) = common::gpu() else { return };
    for strategy in STRATEGIES {
        let mut gpu = rnn.to_gpu(ctx).unwrap();
        gpu.set_strategy(strategy).unwrap();
        check(&format!("{strategy:?}"), &|x| {
            gpu.forward(&Input::new(x)).unwrap()
        });
    }
}

/// `Strategy::Auto` picks the kernel by shape and batch size, so the strategies must agree.
/// They agree to rounding, not bit for bit: the per-step kernel splits each row's sum over K
/// between a workgroup's invocations and reduces the parts (recurrent.wesl), while the
/// sequence kernel and the wavefront sum each row serially (dot.wesl). One strategy is exact
/// whatever the batch (`a_sequence_gets_the_same_bits_whatever_batch_it_is_in_for_a_fixed_strategy`). Every kind, both
/// directions, widths on and off whole vec4s, a projection, lengths, blocks of 1 to 8
/// sequences.
#[test]
fn every_strategy_gives_the_same_results_to_rounding() {
    let Some(ctx) = common::gpu() else { return };
    for (n, (kind, input, hidden, proj, batch)) in [
        (Kind::Gru, 5, 8, 0, 3),
        (Kind::Gru, 7, 33, 0, 9),
        (Kind::Lstm, 8, 64, 0, 8),
        (Kind::Lstm, 6, 16, 5, 2),
        (Kind::RnnTanh, 9, 12, 0, 5),
        (Kind::RnnRelu, 4, 100, 0, 1),
    ]
    .into_iter()
    .enumerate()
    {
        // Both directions, and one only, where the wavefront runs too (without a projection).
        for bidirectional in [true, false] {
            let config = RnnConfig::new(kind, input, hidden)
                .proj_size(proj)
                .bidirectional(bidirectional)
                .num_layers(2);
            let rnn = model_of(config.clone());
            let t = 17;
            let x = Tensor::new(
                [t, batch, input],
                (0..t * batch * input)
                    .map(|k| (k as f32 * 0.113 + n as f32).cos())
                    .collect(),
            )
            .unwrap();
            let lengths: Vec<usize> = (0..batch).map(|b| t - (b * 5) % t).collect();
            let input = Input::new(&x).lengths(&lengths);
            let mut gpu = rnn.to_gpu(ctx).unwrap();
            let mut run = |strategy| {
                gpu.set_strategy(strategy).unwrap();
                gpu.forward(&input).unwrap()
            };
            let per_step = run(Strategy::PerStep);
            let sequence = run(Strategy::Sequence);
            assert_same_to_rounding(
                &format!("{config:?} B={batch}: Sequence vs PerStep"),
                &sequence,
                &per_step,
            );
            if !bidirectional && proj == 0 {
                assert_same_to_rounding(
                    &format!("{config:?} B={batch}: Wavefront vs PerStep"),
                    &run(Strategy::Wavefront),
                    &per_step,
                );
            }
        }
    }
}
