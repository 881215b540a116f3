//! The GPU path against the CPU reference path on a wide, randomised spread of configurations:
//! every kind, layer count, direction and layout, odd sizes, long sequences (several submits
//! and input-projection chunks), padded lengths, initial states, projections and no bias.
//!
//! Weights are drawn as PyTorch initialises them, uniform in [-k, k] with k = 1/sqrt(H), and
//! inputs uniform in [-1, 1]; every case is seeded, and its seed and configuration are part of
//! every failure message.

mod common;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use wgpu_rnn::{Error, GpuContext, GpuRnn, Input, Kind, Output, Rnn, RnnConfig, Strategy, Tensor};

const KINDS: [Kind; 4] = [Kind::Gru, Kind::Lstm, Kind::RnnTanh, Kind::RnnRelu];

/// Every case runs every way of dispatching the recurrence: `Auto` picks one of them by
/// shape and device, so each would otherwise go untested for the shapes it does not get.
const STRATEGIES: [Strategy; 2] = [Strategy::PerStep, Strategy::Sequence];

/// [`STRATEGIES`], and [`Strategy::Wavefront`] for the stacks it runs: two or more
/// unidirectional layers without a projection.
fn strategies_for(config: &RnnConfig) -> Vec<Strategy> {
    let mut all = STRATEGIES.to_vec();
    if config.num_layers > 1 && !config.bidirectional && config.proj_size == 0 {
        all.push(Strategy::Wavefront);
    }
    all
}

/// Short sequences: both paths compute the same float32 formulas, differing only in the
/// summation order of the dot products and in exp/tanh (a few ulp), so a handful of steps of
/// O(1) activations stays far below 1e-4.
const ABS: f32 = 1e-4;
const REL: f32 = 1e-4;

/// One forward pass to compare: a configuration plus the shape of the arguments.
#[derive(Clone, Debug)]
struct Case {
    seed: u64,
    config: RnnConfig,
    t: usize,
    /// `None`: unbatched `(T, I)` input.
    b: Option<usize>,
    lengths: Option<Vec<usize>>,
    h0: bool,
    c0: bool,
}

impl Case {
    fn new(seed: u64, config: RnnConfig, t: usize, b: usize) -> Self {
        Case {
            seed,
            config,
            t,
            b: Some(b),
            lengths: None,
            h0: false,
            c0: false,
        }
    }

    fn batch(&self) -> usize {
        self.b.unwrap_or(1)
    }
}

fn uniform(rng: &mut StdRng, n: usize, k: f32) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-k..=k)).collect()
}

/// A model initialised as PyTorch does: every tensor uniform in [-1/sqrt(H), 1/sqrt(H)].
fn random_rnn(config: &RnnConfig, rng: &mut StdRng) -> Rnn {
    let k = 1.0 / (config.hidden_size as f32).sqrt();
    Rnn::from_fn(config.clone(), |_, shape| {
        uniform(rng, shape.iter().product(), k)
    })
    .unwrap()
}

/// Lengths in 1..=T in no particular order, containing 1 and T when B allows.
fn random_lengths(rng: &mut StdRng, t: usize, b: usize) -> Vec<usize> {
    let mut lengths: Vec<usize> = (0..b).map(|_| rng.random_range(1..=t)).collect();
    lengths[0] = 1;
    if b > 1 {
        lengths[b - 1] = t;
    }
    // Unsorted: swap the extremes into the middle when possible.
    if b > 2 {
        lengths.swap(0, b / 2);
    }
    lengths
}

/// Runs `case` on both paths, asserts the shapes agree, every value is within
/// `abs + rel*|cpu|`, and the GPU output is exactly 0.0 past each sequence's length.
/// Returns the largest absolute difference seen.
fn check(ctx: &GpuContext, case: &Case, abs: f32, rel: f32) -> f32 {
    let mut rng = StdRng::seed_from_u64(case.seed);
    let config = &case.config;
    let rnn = random_rnn(config, &mut rng);
    let (t, b) = (case.t, case.batch());
    let stacked = config.num_layers * config.num_directions();
    let x_shape = match (case.b, config.batch_first) {
        (None, _) => vec![t, config.input_size],
        (Some(b), true) => vec![b, t, config.input_size],
        (Some(b), false) => vec![t, b, config.input_size],
    };
    let state_shape = |width: usize| match case.b {
        None => vec![stacked, width],
        Some(b) => vec![stacked, b, width],
    };
    let x = Tensor::new(
        x_shape.clone(),
        uniform(&mut rng, t * b * config.input_size, 1.0),
    )
    .unwrap();
    let h0 = case.h0.then(|| {
        let shape = state_shape(config.state_width());
        let n = shape.iter().product();
        Tensor::new(shape, uniform(&mut rng, n, 1.0)).unwrap()
    });
    let c0 = case.c0.then(|| {
        let shape = state_shape(config.hidden_size);
        let n = shape.iter().product();
        Tensor::new(shape, uniform(&mut rng, n, 1.0)).unwrap()
    });
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

    let what = format!("{case:?} x{x_shape:?}");
    let cpu = rnn
        .forward(&input)
        .unwrap_or_else(|e| panic!("{what}: cpu: {e}"));
    let mut gpu = rnn
        .to_gpu(ctx)
        .unwrap_or_else(|e| panic!("{what}: upload: {e}"));
    let mut worst = 0.0f32;
    for strategy in strategies_for(config) {
        let what = format!("{what} {strategy:?}");
        gpu.set_strategy(strategy)
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let out = gpu
            .forward(&input)
            .unwrap_or_else(|e| panic!("{what}: gpu: {e}"));
        worst = worst.max(compare(&what, case, &out, &cpu, abs, rel));
    }
    worst
}

fn compare(what: &str, case: &Case, gpu: &Output, cpu: &Output, abs: f32, rel: f32) -> f32 {
    assert_eq!(
        gpu.output.shape(),
        cpu.output.shape(),
        "{what}: output shape"
    );
    assert_eq!(gpu.h_n.shape(), cpu.h_n.shape(), "{what}: h_n shape");
    assert_eq!(
        gpu.c_n.as_ref().map(Tensor::shape),
        cpu.c_n.as_ref().map(Tensor::shape),
        "{what}: c_n shape"
    );
    let mut worst = 0.0f32;
    for (key, g, c) in [
        ("output", Some(&gpu.output), Some(&cpu.output)),
        ("h_n", Some(&gpu.h_n), Some(&cpu.h_n)),
        ("c_n", gpu.c_n.as_ref(), cpu.c_n.as_ref()),
    ] {
        if let (Some(g), Some(c)) = (g, c) {
            common::assert_close(&format!("{what} {key}"), g.data(), c.data(), abs, rel);
            worst = worst.max(common::max_abs_diff(g.data(), c.data()));
        }
    }
    if let Some(lengths) = &case.lengths {
        assert_padding_is_zero(what, case, lengths, &gpu.output);
    }
    worst
}

/// Every output value at `t >= lengths[b]` must be exactly 0.0, as `pad_packed_sequence` gives.
fn assert_padding_is_zero(what: &str, case: &Case, lengths: &[usize], output: &Tensor) {
    let width = case.config.output_width();
    let (t_len, b_len) = (case.t, case.batch());
    for (b, &length) in lengths.iter().enumerate() {
        for t in length..t_len {
            let at = if case.b.is_some() && case.config.batch_first {
                (b * t_len + t) * width
            } else {
                (t * b_len + b) * width
            };
            let row = &output.data()[at..at + width];
            assert!(
                row.iter().all(|&v| v == 0.0),
                "{what}: GPU output at t={t}, b={b} (length {length}) is not zero: {row:?}"
            );
        }
    }
}

#[test]
fn every_kind_layers_directions_and_layouts() {
    let Some(ctx) = common::gpu() else { return };
    let mut seed = 100;
    for kind in KINDS {
        for layers in 1..=3 {
            for bidirectional in [false, true] {
                for batch_first in [false, true] {
                    seed += 1;
                    let config = RnnConfig::new(kind, 5, 6)
                        .num_layers(layers)
                        .bidirectional(bidirectional)
                        .batch_first(batch_first);
                    let mut case = Case::new(seed, config, 7, 3);
                    case.h0 = seed % 2 == 0;
                    case.c0 = kind == Kind::Lstm && seed % 3 == 0;
                    check(ctx, &case, ABS, REL);
                }
                // Unbatched (T, I) input, with and without its (D*L, H) states.
                seed += 1;
                let config = RnnConfig::new(kind, 4, 9)
                    .num_layers(layers)
                    .bidirectional(bidirectional);
                let mut case = Case::new(seed, config, 6, 1);
                case.b = None;
                case.h0 = layers != 2;
                case.c0 = kind == Kind::Lstm && layers != 1;
                check(ctx, &case, ABS, REL);
            }
        }
    }
}

#[test]
fn odd_sizes_and_single_steps() {
    let Some(ctx) = common::gpu() else { return };
    let mut seed = 1000;
    for kind in KINDS {
        // Sizes around the kernels' tile and workgroup edges (16 and 64), and 1.
        for (input_size, hidden_size) in [(1, 1), (1, 7), (7, 1), (7, 33), (33, 7), (33, 33)] {
            for (t, b) in [(1, 1), (1, 4), (9, 5)] {
                seed += 1;
                let config = RnnConfig::new(kind, input_size, hidden_size)
                    .bidirectional(seed % 2 == 0)
                    .num_layers(1 + (seed % 3) as usize);
                let mut case = Case::new(seed, config, t, b);
                case.lengths =
                    (b > 2).then(|| random_lengths(&mut StdRng::seed_from_u64(seed), t, b));
                case.h0 = seed % 3 == 0;
                check(ctx, &case, ABS, REL);
            }
        }
        // 257: just past a multiple of both the GEMM tile and the step workgroup; small T, B.
        for (input_size, hidden_size) in [(257, 7), (7, 257), (257, 257)] {
            seed += 1;
            let config = RnnConfig::new(kind, input_size, hidden_size).bidirectional(true);
            let mut case = Case::new(seed, config, 3, 2);
            case.lengths = Some(vec![1, 3]);
            case.h0 = true;
            case.c0 = kind == Kind::Lstm;
            // A dot product over 257 terms of O(1/16) values: summation order alone moves the
            // result by a few 1e-7; 2e-4 leaves room for the larger gate pre-activations.
            check(ctx, &case, 2e-4, REL);
        }
    }
}

/// Widths that are multiples of 4 take the vec4 inner loop, with subgroups where the device
/// has them and without: around one block of shared rows (8 vec4s on lavapipe, 32 or 64 on
/// GPUs), a partial last block, a batch just past one block of 8 sequences, and layers whose
/// input is the previous layer's (2H wide) output. Both loops against the CPU.
#[test]
fn vec4_inner_loops_with_and_without_subgroups() {
    let Some(with) = common::gpu() else { return };
    let Some(without) = common::gpu_without_subgroups() else {
        return;
    };
    assert!(!without.uses_subgroups());
    let has_subgroups = with.device().features().contains(wgpu::Features::SUBGROUP);
    assert_eq!(with.uses_subgroups(), has_subgroups);
    eprintln!("subgroups on {}: {has_subgroups}", with.adapter_name());
    let mut seed = 3000;
    for ctx in [with, without] {
        for kind in KINDS {
            for (input_size, hidden_size) in [(4, 32), (36, 100), (132, 4), (260, 36)] {
                seed += 1;
                let config = RnnConfig::new(kind, input_size, hidden_size)
                    .num_layers(2)
                    .bidirectional(seed % 2 == 0);
                let mut case = Case::new(seed, config, 5, 9);
                case.lengths = Some(random_lengths(&mut StdRng::seed_from_u64(seed), 5, 9));
                case.h0 = true;
                case.c0 = kind == Kind::Lstm;
                // Dot products over up to 260 terms: summation order moves them by ~1e-6.
                check(ctx, &case, 2e-4, REL);
            }
        }
    }
}

#[test]
fn lengths_states_projection_and_no_bias() {
    let Some(ctx) = common::gpu() else { return };
    let mut seed = 2000;
    for kind in KINDS {
        for bias in [true, false] {
            for with_state in [false, true] {
                for batch_first in [false, true] {
                    seed += 1;
                    let mut rng = StdRng::seed_from_u64(seed);
                    let (t, b) = (11, 6);
                    let config = RnnConfig::new(kind, 8, 12)
                        .num_layers(2)
                        .bidirectional(true)
                        .batch_first(batch_first)
                        .bias(bias);
                    let mut case = Case::new(seed, config, t, b);
                    case.lengths = Some(random_lengths(&mut rng, t, b));
                    case.h0 = with_state;
                    case.c0 = with_state && kind == Kind::Lstm;
                    check(ctx, &case, ABS, REL);
                }
            }
        }
    }
    // LSTM with proj_size: narrow, odd and H-1 projections, with lengths and states, no bias.
    for (hidden, proj) in [(12, 1), (12, 5), (12, 11), (33, 7), (257, 33)] {
        for bias in [true, false] {
            seed += 1;
            let mut rng = StdRng::seed_from_u64(seed);
            let (t, b) = if hidden > 64 { (3, 2) } else { (9, 4) };
            let config = RnnConfig::new(Kind::Lstm, 6, hidden)
                .proj_size(proj)
                .num_layers(2)
                .bidirectional(true)
                .batch_first(seed % 2 == 0)
                .bias(bias);
            let mut case = Case::new(seed, config, t, b);
            case.lengths = Some(random_lengths(&mut rng, t, b));
            case.h0 = true;
            case.c0 = seed % 3 != 0;
            // As the short-sequence tolerance; 2e-4 for H = 257 (long dot products).
            check(ctx, &case, if hidden > 64 { 2e-4 } else { ABS }, REL);
        }
    }
    // Lengths on unbatched input: one sequence, its length below T.
    seed += 1;
    let mut case = Case::new(
        seed,
        RnnConfig::new(Kind::Gru, 3, 5).bidirectional(true),
        8,
        1,
    );
    case.b = None;
    case.lengths = Some(vec![5]);
    check(ctx, &case, ABS, REL);
}

/// Batches past 8 sequences: on CPU adapters the per-step kernels then take blocks of 16
/// (`gpu::kernels::step_block`), whose last block is partly past the batch, and read the
/// block's lengths a vec4 at a time. B=19 and 40 at H=128 leave two blocks each, so both kinds
/// of block run, with lengths, states, both directions and a projection.
#[test]
fn batches_in_blocks_of_sixteen() {
    let Some(ctx) = common::gpu() else { return };
    let mut seed = 2500;
    for kind in KINDS {
        for (b, bidirectional) in [(19, false), (40, true)] {
            seed += 1;
            let mut rng = StdRng::seed_from_u64(seed);
            let t = 7;
            let mut config = RnnConfig::new(kind, 16, 128).bidirectional(bidirectional);
            if kind == Kind::Lstm && bidirectional {
                config = config.proj_size(40);
            }
            let mut case = Case::new(seed, config, t, b);
            case.lengths = Some(random_lengths(&mut rng, t, b));
            case.h0 = true;
            case.c0 = kind == Kind::Lstm;
            check(ctx, &case, ABS, REL);
        }
    }
}

/// Shapes at the edges of the buffers' layouts: W_hh exactly 64 KiB per part at H=128, odd
/// input widths (132, and 61, which the input projection reads a float at a time), two
/// bidirectional layers with an input of 256, batches of 3, 33, 64, 65 and 130 in two
/// directions, and T=100 cut into input-projection chunks. (Until stop 17 these sat on both
/// sides of the uniform and texture limits of the CPU adapters' memory modes; the cases stay
/// as edges of the storage layouts.)
#[test]
fn operands_on_both_sides_of_the_uniform_binding_limit() {
    let Some(ctx) = common::gpu() else { return };
    let mut seed = 2600;
    for kind in KINDS {
        for (input, bidirectional, layers, b, t) in [
            (64, false, 1, 3, 5),
            (132, false, 1, 3, 5),
            (64, true, 2, 3, 5),
            (64, true, 1, 64, 5),
            (64, false, 1, 130, 5),
            (61, true, 2, 5, 100),
            (132, true, 2, 33, 9),
            (61, true, 1, 65, 5),
        ] {
            seed += 1;
            let mut rng = StdRng::seed_from_u64(seed);
            let config = RnnConfig::new(kind, input, 128)
                .bidirectional(bidirectional)
                .num_layers(layers);
            let mut case = Case::new(seed, config, t, b);
            case.lengths = Some(random_lengths(&mut rng, t, b));
            case.h0 = true;
            case.c0 = kind == Kind::Lstm;
            check(ctx, &case, ABS, REL);
        }
    }
}

/// Tolerance for a sequence of `t` steps. The per-step difference between the two paths is a
/// few float32 ulp (summation order, exp/tanh); it is carried into the next step through the
/// recurrence, whose gain is below 1 for PyTorch-initialised weights (|W_hh| entries at most
/// 1/sqrt(H), squashing activations, forget/update gates < 1), so the error accumulates at
/// worst linearly and in practice like a random walk. We allow 1e-4 plus 1e-7 per step: at
/// T = 3000 that is 4e-4, still ~1000x below the O(0.1) activations.
fn long_tolerance(t: usize) -> f32 {
    1e-4 + 1e-7 * t as f32
}

#[test]
fn long_sequences() {
    let Some(ctx) = common::gpu() else { return };
    // T = 3000: three submits (1024 steps each); one input-projection chunk per-step, six
    // (512 steps each, the sequence kernel's cap) with Strategy::Sequence.
    for (seed, kind) in [(3001, Kind::Gru), (3002, Kind::Lstm), (3003, Kind::RnnTanh)] {
        let config = RnnConfig::new(kind, 4, 8).bidirectional(kind == Kind::Lstm);
        let mut case = Case::new(seed, config, 3000, 2);
        case.lengths = Some(vec![3000, 1777]);
        case.h0 = true;
        case.c0 = kind == Kind::Lstm;
        let worst = check(ctx, &case, long_tolerance(case.t), REL);
        println!("{kind} T=3000: max |gpu - cpu| = {worst:.2e}");
    }
    // B = 8, T = 2500: 20000 rows > 16384, so per-step runs two input-projection chunks of
    // 2048 and 452 steps (the reverse direction walks them from the end), across three
    // submits; Sequence runs 512-step chunks, the last of 452. Two bidirectional layers,
    // unsorted lengths including 1 and T.
    for (seed, kind, batch_first) in [(3011, Kind::Gru, false), (3012, Kind::Lstm, true)] {
        let mut rng = StdRng::seed_from_u64(seed);
        let config = RnnConfig::new(kind, 5, 8)
            .num_layers(2)
            .bidirectional(true)
            .batch_first(batch_first);
        let mut case = Case::new(seed, config, 2500, 8);
        case.lengths = Some(random_lengths(&mut rng, 2500, 8));
        case.h0 = true;
        let worst = check(ctx, &case, long_tolerance(case.t), REL);
        println!("{kind} B=8 T=2500: max |gpu - cpu| = {worst:.2e}");
    }
}

/// Wide and long enough that one sequence-kernel invocation would loop well past 65,535
/// iterations in a 512-step dispatch. llvmpipe ends all loops of an invocation there, silently
/// (GRU B=1 T=64 H=1024 came back wrong from step 15 on, with the kernel of before), so the
/// kernel's chunks must stay short of it on software adapters. Blocks of 1, 2, 4 and 8
/// sequences, with lengths and a projection.
#[test]
fn sequence_kernel_wide_and_long() {
    let Some(ctx) = common::gpu() else { return };
    for (seed, config, t, b) in [
        (3201, RnnConfig::new(Kind::Gru, 16, 1024), 64, 1),
        (
            3202,
            RnnConfig::new(Kind::Lstm, 8, 128).bidirectional(true),
            300,
            3,
        ),
        (3203, RnnConfig::new(Kind::RnnTanh, 8, 256), 200, 9),
        (
            3204,
            RnnConfig::new(Kind::Lstm, 8, 256).proj_size(64),
            100,
            5,
        ),
        (
            3205,
            RnnConfig::new(Kind::Gru, 8, 64).num_layers(2),
            700,
            16,
        ),
    ] {
        let mut case = Case::new(seed, config, t, b);
        case.lengths = (b > 2).then(|| random_lengths(&mut StdRng::seed_from_u64(seed), t, b));
        case.h0 = true;
        let worst = check(ctx, &case, long_tolerance(t), REL);
        println!(
            "{:?} B={b} T={t}: max |gpu - cpu| = {worst:.2e}",
            case.config
        );
    }
}

/// One uploaded model answers a run of calls whose shapes change and repeat: a repeated shape
/// reuses the previous call's buffers (`GpuRnn::forward` keeps them), so each call must
/// rewrite its input, lengths, h0 and c0 and leave nothing of the previous call in the result.
/// Two bidirectional layers (the input projection reads copies of each layer's rows), every
/// call against the CPU path.
#[test]
fn repeated_shapes_reuse_buffers_without_leaking_the_previous_call() {
    let Some(ctx) = common::gpu() else { return };
    // (T, B, lengths, h0 and c0): a shape, the same shape with other lengths and no initial
    // state, another T, the first shape again with state, and another B.
    let calls: [(usize, usize, Option<Vec<usize>>, bool); 6] = [
        (6, 3, Some(vec![6, 2, 4]), true),
        (6, 3, Some(vec![1, 6, 3]), false),
        (6, 3, None, false),
        (9, 3, Some(vec![9, 5, 7]), true),
        (6, 3, Some(vec![4, 6, 2]), true),
        (6, 2, None, true),
    ];
    for kind in [Kind::Gru, Kind::Lstm] {
        let config = RnnConfig::new(kind, 6, 12)
            .num_layers(2)
            .bidirectional(true);
        let mut rng = StdRng::seed_from_u64(41);
        let rnn = random_rnn(&config, &mut rng);
        let mut gpu = rnn.to_gpu(ctx).unwrap();
        for strategy in STRATEGIES {
            gpu.set_strategy(strategy).unwrap();
            for (call, (t, b, lengths, state)) in calls.iter().cloned().enumerate() {
                let case = Case {
                    lengths: lengths.clone(),
                    h0: state,
                    c0: state && kind == Kind::Lstm,
                    ..Case::new(call as u64, config.clone(), t, b)
                };
                let x = Tensor::new([t, b, 6], uniform(&mut rng, t * b * 6, 1.0)).unwrap();
                let h0 = Tensor::new([4, b, 12], uniform(&mut rng, 4 * b * 12, 1.0)).unwrap();
                let c0 = Tensor::new([4, b, 12], uniform(&mut rng, 4 * b * 12, 1.0)).unwrap();
                let mut input = Input::new(&x);
                if case.h0 {
                    input = input.h0(&h0);
                }
                if case.c0 {
                    input = input.c0(&c0);
                }
                if let Some(lengths) = &lengths {
                    input = input.lengths(lengths);
                }
                let what = format!(
                    "{kind:?} {strategy:?} call {call}: T={t} B={b} {lengths:?} state {state}"
                );
                let cpu = rnn.forward(&input).unwrap();
                let out = gpu
                    .forward(&input)
                    .unwrap_or_else(|e| panic!("{what}: {e}"));
                compare(&what, &case, &out, &cpu, ABS, REL);
            }
        }
    }
}
/// kind, a partial last group of units (H = 36: 9 vec4s of units over 8 lanes), blocks partly
/// The sequence kernel on narrow workgroups (on lavapipe one SIMD vector from H = 32): every
/// kind, a partial last group of units (H = 36: 9 vec4s of units over 8 lanes), blocks partly
/// past the batch, two bidirectional layers, lengths, h0 and c0, and chunks (H = 96, T = 120:
/// at most 87 steps per dispatch) that hand h and c from one dispatch to the next.
#[test]
fn sequence_kernel_with_the_state_in_registers() {
    let Some(ctx) = common::gpu() else { return };
    let mut seed = 3300;
    for kind in KINDS {
        for (hidden, t, b) in [(32, 9, 1), (36, 13, 5), (96, 120, 9)] {
            seed += 1;
            let mut rng = StdRng::seed_from_u64(seed);
            let config = RnnConfig::new(kind, 7, hidden)
                .num_layers(2)
                .bidirectional(true);
            let mut case = Case::new(seed, config, t, b);
            case.lengths = (b > 1).then(|| random_lengths(&mut rng, t, b));
            case.h0 = true;
            case.c0 = kind == Kind::Lstm;
            check(ctx, &case, long_tolerance(t), REL);
        }
    }
}

/// The inner loops run once per four input features. llvmpipe stops every loop of an
/// invocation after 65,535 iterations in all, silently, so a software adapter refuses an
/// input that wide with `DeviceLimit`, before any GPU work; a GPU runs it.
#[test]
fn inputs_too_wide_for_a_software_adapter() {
    let Some(ctx) = common::gpu() else { return };
    let software = common::is_software(ctx);
    let config = RnnConfig::new(Kind::Gru, 250_000, 2);
    let rnn = random_rnn(&config, &mut StdRng::seed_from_u64(3301));
    match rnn.to_gpu(ctx) {
        Err(Error::DeviceLimit {
            what,
            needed,
            limit,
            ..
        }) if software => {
            assert!(needed > limit, "{what}: {needed} <= {limit}");
            assert!(what.contains("250000"), "{what}");
        }
        Ok(_) if !software => {
            let case = Case::new(3301, config, 2, 1);
            check(ctx, &case, 1e-3, 1e-3);
        }
        other => panic!("I = 250000 on {}: {other:?}", ctx.adapter_name()),
    }
}

/// Chunk geometry at its edges: a chunk holds 16384 / B timesteps (at least 1).
#[test]
fn input_projection_chunk_edges() {
    let Some(ctx) = common::gpu() else { return };
    // (B, T): a last chunk of exactly one step (2048 + 1 per-step; 4 * 512 + 1 Sequence);
    // a ragged 5 + 2 split; B > 16384 rows, so every timestep is its own chunk.
    for (seed, kind, b, t) in [
        (3101, Kind::Gru, 8, 2049),
        (3102, Kind::Lstm, 3000, 7),
        (3103, Kind::RnnTanh, 17000, 3),
    ] {
        let mut rng = StdRng::seed_from_u64(seed);
        let config = RnnConfig::new(kind, 3, 2).bidirectional(true).num_layers(2);
        let mut case = Case::new(seed, config, t, b);
        case.lengths = Some(random_lengths(&mut rng, t, b));
        case.h0 = true;
        let worst = check(ctx, &case, long_tolerance(t), REL);
        println!("{kind} B={b} T={t}: max |gpu - cpu| = {worst:.2e}");
    }
}

/// Property-style sweep: random configurations from a seeded RNG, each GPU ~ CPU.
#[test]
fn randomized_sweep() {
    let Some(ctx) = common::gpu() else { return };
    const SEED: u64 = 0x5eed_2024;
    let mut rng = StdRng::seed_from_u64(SEED);
    let mut worst = 0.0f32;
    for i in 0..40 {
        let kind = KINDS[rng.random_range(0..KINDS.len())];
        let hidden = rng.random_range(1..=40);
        let proj = if kind == Kind::Lstm && hidden > 1 && rng.random_bool(0.4) {
            rng.random_range(1..hidden)
        } else {
            0
        };
        let config = RnnConfig::new(kind, rng.random_range(1..=40), hidden)
            .num_layers(rng.random_range(1..=3))
            .bidirectional(rng.random_bool(0.5))
            .batch_first(rng.random_bool(0.5))
            .bias(rng.random_bool(0.8))
            .proj_size(proj);
        let t = rng.random_range(1..=20);
        let unbatched = rng.random_bool(0.15);
        let b = if unbatched {
            1
        } else {
            rng.random_range(1..=5)
        };
        let mut case = Case::new(SEED + i, config, t, b);
        if unbatched {
            case.b = None;
        }
        if rng.random_bool(0.5) {
            case.lengths = Some((0..b).map(|_| rng.random_range(1..=t)).collect());
        }
        case.h0 = rng.random_bool(0.5);
        case.c0 = kind == Kind::Lstm && rng.random_bool(0.5);
        // Short sequences (T <= 20) of width <= 40: the short-sequence tolerance.
        worst = worst.max(check(ctx, &case, ABS, REL));
    }
    println!("randomized sweep (seed {SEED:#x}): max |gpu - cpu| = {worst:.2e}");
}

/// `forward_async` gives the same result as `forward`, and its future can move across threads.
#[test]
fn forward_async_matches_and_is_send() {
    fn assert_send<T: Send>(_: &T) {}
    let Some(ctx) = common::gpu() else { return };
    let mut rng = StdRng::seed_from_u64(4000);
    let config = RnnConfig::new(Kind::Lstm, 3, 10).bidirectional(true);
    let rnn = random_rnn(&config, &mut rng);
    let gpu = rnn.to_gpu(ctx).unwrap();
    let x = Tensor::new([5, 2, 3], uniform(&mut rng, 30, 1.0)).unwrap();
    let lengths = [2, 5];
    let input = Input::new(&x).lengths(&lengths);
    let future = gpu.forward_async(&input);
    assert_send(&future);
    let got = block_on(future).unwrap();
    let want = gpu.forward(&input).unwrap();
    assert_eq!(got, want, "forward_async vs forward on the same GPU");
    let case = Case {
        lengths: Some(lengths.to_vec()),
        ..Case::new(4000, config, 5, 2)
    };
    compare(
        "forward_async",
        &case,
        &got,
        &rnn.forward(&input).unwrap(),
        ABS,
        REL,
    );
}

/// A minimal executor: polls `future` on this thread and sleeps (parks) until its waker is
/// called, so a future that never wakes it hangs here rather than passing by being re-polled.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    counting_block_on(future).0
}

/// [`block_on`], also returning how many times the future was polled.
fn counting_block_on<F: std::future::Future>(future: F) -> (F::Output, usize) {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::task::Waker::from(std::sync::Arc::new(Unpark(std::thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    let mut polls = 0;
    loop {
        polls += 1;
        if let std::task::Poll::Ready(v) = future.as_mut().poll(&mut cx) {
            return (v, polls);
        }
        std::thread::park();
    }
}

/// Awaiting the GPU sleeps: `forward_async` is polled a handful of times for a pass of tens of
/// steps, not once per spin of a busy loop (which re-woke itself until the results were
/// mapped: thousands of polls, one executor thread at 100%).
#[test]
fn forward_async_sleeps_while_the_gpu_works() {
    let Some(ctx) = common::gpu() else { return };
    let mut rng = StdRng::seed_from_u64(4100);
    let config = RnnConfig::new(Kind::Lstm, 64, 128);
    let gpu = random_rnn(&config, &mut rng).to_gpu(ctx).unwrap();
    let x = Tensor::new([64, 8, 64], uniform(&mut rng, 64 * 8 * 64, 1.0)).unwrap();
    let input = Input::new(&x);
    gpu.forward(&input).unwrap(); // compile the pipelines first
    for _ in 0..3 {
        let (out, polls) = counting_block_on(gpu.forward_async(&input));
        out.unwrap();
        // The first poll, one wake-up for the results, and a few spurious unparks at most.
        assert!(polls <= 8, "forward_async was polled {polls} times");
    }
}

/// The public handles can be shared across threads.
#[test]
fn handles_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<GpuRnn>();
    assert_send_sync::<GpuContext>();
    assert_send_sync::<Rnn>();
    assert_send_sync::<Output>();
}

/// `Strategy::Sequence` holds the state in workgroup memory of 1024 floats: H = 1024 fits,
/// H = 1025 is refused with `Error::Unsupported`, and `Auto` then falls back to `PerStep`.
#[test]
fn sequence_strategy_width_limit() {
    let Some(ctx) = common::gpu() else { return };
    // At the limit, both strategies run (the helper sets each in turn).
    let mut case = Case::new(5001, RnnConfig::new(Kind::RnnTanh, 3, 1024), 2, 2);
    case.h0 = true;
    case.lengths = Some(vec![1, 2]);
    // Dot products over 1024 terms of O(1/32) weights: summation order moves them by ~1e-6.
    check(ctx, &case, 2e-4, REL);

    let config = RnnConfig::new(Kind::RnnTanh, 3, 1025);
    let rnn = random_rnn(&config, &mut StdRng::seed_from_u64(5002));
    let mut gpu = rnn.to_gpu(ctx).unwrap();
    assert_eq!(gpu.strategy_for(1), Strategy::PerStep, "Auto with H = 1025");
    let err = gpu.set_strategy(Strategy::Sequence).unwrap_err();
    assert!(matches!(err, Error::Unsupported { .. }), "{err}");
    assert_eq!(
        gpu.strategy(),
        Strategy::Auto,
        "a refused strategy is not kept"
    );
    let x = Tensor::new([2, 3], vec![0.5, -0.25, 1.0, -1.0, 0.0, 0.75]).unwrap();
    let input = Input::new(&x);
    let case = Case {
        b: None,
        ..Case::new(5002, config, 2, 1)
    };
    compare(
        "H = 1025, Auto",
        &case,
        &gpu.forward(&input).unwrap(),
        &rnn.forward(&input).unwrap(),
        2e-4,
        REL,
    );
}

/// `Strategy::Wavefront` where its own geometry has edges: layer l's last step runs L - 1
/// dispatches after the input ends, past the last chunk and submit; every layer starts from
/// its own half of the ping-pong state; batches span several blocks; and it gathers the
/// weights of layers from H = 128 up.
#[test]
fn wavefront_across_chunks_submits_blocks_and_weight_memories() {
    let Some(ctx) = common::gpu() else { return };
    // T = 2500, B = 8: two input-projection chunks (2048 + 452 steps) and three submits.
    for (seed, kind, layers) in [
        (6001, Kind::Gru, 3),
        (6002, Kind::Lstm, 2),
        (6003, Kind::RnnRelu, 4),
    ] {
        let mut rng = StdRng::seed_from_u64(seed);
        let config = RnnConfig::new(kind, 5, 8).num_layers(layers);
        let mut case = Case::new(seed, config, 2500, 8);
        case.lengths = Some(random_lengths(&mut rng, 2500, 8));
        case.h0 = true;
        case.c0 = kind == Kind::Lstm;
        let worst = check(ctx, &case, long_tolerance(case.t), REL);
        println!("{kind} L={layers} B=8 T=2500: max |gpu - cpu| = {worst:.2e}");
    }
    // H = 128 and 160 on both sides of the uniform-buffer limit; B = 17 and 40 span two and
    // three blocks of sequences.
    let mut seed = 6100;
    for kind in KINDS {
        for (input, hidden, b) in [(61, 128, 17), (64, 160, 3), (3, 33, 40)] {
            seed += 1;
            let mut rng = StdRng::seed_from_u64(seed);
            let config = RnnConfig::new(kind, input, hidden).num_layers(2);
            let mut case = Case::new(seed, config, 6, b);
            case.lengths = Some(random_lengths(&mut rng, 6, b));
            case.h0 = true;
            case.c0 = kind == Kind::Lstm;
            // Dot products over up to 160 terms of O(1/13) weights, two layers deep.
            check(ctx, &case, 2e-4, REL);
        }
    }
}

/// The wavefront runs stacks of unidirectional layers without a projection; anything else is
/// refused with the reason and the alternative, and `Auto` picks it only where it can run it.
#[test]
fn wavefront_refuses_what_it_cannot_pipeline() {
    let Some(ctx) = common::gpu() else { return };
    for (config, reason) in [
        (RnnConfig::new(Kind::Gru, 3, 4), "single layer"),
        (
            RnnConfig::new(Kind::Gru, 3, 4)
                .num_layers(2)
                .bidirectional(true),
            "reverse direction",
        ),
        (
            RnnConfig::new(Kind::Lstm, 3, 4).num_layers(2).proj_size(2),
            "proj_size",
        ),
    ] {
        let rnn = random_rnn(&config, &mut StdRng::seed_from_u64(6200));
        let mut gpu = rnn.to_gpu(ctx).unwrap();
        let err = gpu.set_strategy(Strategy::Wavefront).unwrap_err();
        let message = err.to_string();
        assert!(
            matches!(err, Error::Unsupported { .. }) && message.contains(reason),
            "{config:?}: {message}"
        );
        assert!(message.contains("Strategy::PerStep"), "{message}");
        assert_eq!(
            gpu.strategy(),
            Strategy::Auto,
            "a refused strategy is not kept"
        );
        for batch in [1, 8, 64] {
            assert_ne!(gpu.strategy_for(batch), Strategy::Wavefront, "{config:?}");
        }
    }
    // Wider than the sequence kernel's layers on every adapter.
    let config = RnnConfig::new(Kind::Gru, 3, 512).num_layers(2);
    let gpu = random_rnn(&config, &mut StdRng::seed_from_u64(6201))
        .to_gpu(ctx)
        .unwrap();
    // Where a step costs more than a dispatch (CPU adapters, large batches), Auto keeps the
    // per-layer input projection.
    let cpu = ctx
        .adapter_info()
        .is_some_and(|i| i.device_type == wgpu::DeviceType::Cpu);
    let want = |batch: usize| match (cpu, batch <= 8) {
        (false, true) => Strategy::Wavefront,
        _ => Strategy::PerStep,
    };
    for batch in [1, 8, 9, 64] {
        assert_eq!(
            gpu.strategy_for(batch),
            want(batch),
            "GRU L=2 H=512 B={batch}"
        );
    }
}

/// The plan a GPU gets, run on whatever adapter the tests have (`GpuContext::with_gpu_plan`):
/// on CI that is lavapipe, which otherwise takes the software profile's kernels. This is where
/// the tiled input projection (tiles of x in workgroup memory: inputs narrower and wider than a
/// tile, with and without whole vec4s, several blocks of rows) and the GPU's per-step cuts
/// (many units per workgroup, blocks of sequences) meet the CPU reference.
#[test]
fn the_plan_for_gpus_on_this_adapter() {
    let Some(ctx) = common::gpu() else { return };
    let ctx = ctx.with_gpu_plan();
    assert!(!ctx.profile().is_software(), "the plan is a GPU's");
    let mut seed = 3000;
    for kind in KINDS {
        for (input, hidden, t, b) in [
            (5, 6, 7, 3),
            (37, 20, 9, 5),
            (64, 130, 5, 2),
            (16, 33, 20, 1),
        ] {
            for (layers, bidirectional) in [(1, false), (2, true), (2, false)] {
                seed += 1;
                let config = RnnConfig::new(kind, input, hidden)
                    .num_layers(layers)
                    .bidirectional(bidirectional);
                let mut case = Case::new(seed, config, t, b);
                case.h0 = seed % 2 == 0;
                case.c0 = kind == Kind::Lstm && seed % 3 == 0;
                if b > 1 {
                    case.lengths = Some((0..b).map(|i| t - i % t).collect());
                }
                check(&ctx, &case, ABS, REL);
            }
        }
    }
}
