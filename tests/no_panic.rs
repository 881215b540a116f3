//! No panic is reachable from the public API, whatever the input: property tests throw random
//! configurations, shapes, states and lengths at the dry run and at real runs on the software
//! adapter, and random or corrupted `.safetensors` bytes at the loaders. Every call must give
//! `Ok` with the right shapes (and, on the GPU, the CPU's values) or a typed `Err` — never a
//! panic, and never a wgpu validation error.

mod common;

use std::sync::{Arc, Mutex, OnceLock};

use proptest::prelude::{any, prop_assert, prop_assert_eq, prop_oneof, proptest, Just};
use proptest::strategy::Strategy as _;
use proptest::test_runner::{Config, TestCaseError};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use wgpu_rnn::{
    Error, GpuContext, Input, InputShapes, Kind, LoadOptions, OutputShapes, Rnn, RnnConfig,
    Strategy as Dispatch, Tensor, TensorFile,
};

/// Cases of the dry-run property (shapes only: fast).
const DRY_CASES: u32 = 20_000;
/// Cases of real runs on the CPU and the software adapter (tiny sizes).
const GPU_CASES: u32 = 1_500;
/// Cases of random and corrupted `.safetensors` bytes.
const FILE_CASES: u32 = 10_000;

/// Element counts the kernels' u32 indexing allows (as documented by `Error::TooLarge`).
const INDEX_LIMIT: u128 = (u32::MAX / 4) as u128;

fn config(cases: u32) -> Config {
    Config {
        cases,
        // Failures print their minimal case; no regression files are written into the tree.
        failure_persistence: None,
        ..Config::default()
    }
}

const KINDS: [Kind; 4] = [Kind::Gru, Kind::Lstm, Kind::RnnTanh, Kind::RnnRelu];

fn kind() -> impl proptest::strategy::Strategy<Value = Kind> {
    proptest::sample::select(KINDS.to_vec())
}

// ---------------------------------------------------------------------------------------------
// What a forward pass must accept, written independently of the crate.

/// The output shapes PyTorch gives for these arguments, or `None` where it raises.
/// The shapes PyTorch gives: `output`, `h_n` and `c_n`.
type Shapes = (Vec<usize>, Vec<usize>, Option<Vec<usize>>);

fn oracle(c: &RnnConfig, s: &InputShapes<'_>) -> Option<Shapes> {
    if c.input_size == 0 || c.hidden_size == 0 || c.num_layers == 0 {
        return None;
    }
    if c.proj_size > 0 && (c.kind != Kind::Lstm || c.proj_size >= c.hidden_size) {
        return None;
    }
    let d = if c.bidirectional { 2 } else { 1 };
    let h_out = if c.proj_size > 0 {
        c.proj_size
    } else {
        c.hidden_size
    };
    let stacked = c.num_layers.checked_mul(d)?;
    let width = h_out.checked_mul(d)?;
    let (t, b, batched) = match *s.input {
        [t, i] if i == c.input_size => (t, 1, false),
        [d0, d1, i] if i == c.input_size => {
            if c.batch_first {
                (d1, d0, true)
            } else {
                (d0, d1, true)
            }
        }
        _ => return None,
    };
    let state = |w: usize| {
        if batched {
            vec![stacked, b, w]
        } else {
            vec![stacked, w]
        }
    };
    if s.h0.is_some_and(|h0| h0 != state(h_out).as_slice()) {
        return None;
    }
    if let Some(c0) = s.c0 {
        if c.kind != Kind::Lstm || c0 != state(c.hidden_size).as_slice() {
            return None;
        }
    }
    if let Some(lengths) = s.lengths {
        if lengths.len() != b || lengths.iter().any(|&l| l == 0 || l > t) {
            return None;
        }
    }
    Some((
        match (batched, c.batch_first) {
            (false, _) => vec![t, width],
            (true, true) => vec![b, t, width],
            (true, false) => vec![t, b, width],
        },
        state(h_out),
        (c.kind == Kind::Lstm).then(|| state(c.hidden_size)),
    ))
}

/// Whether any size is beyond what the kernels can index, so `Error::TooLarge` is legitimate.
fn too_large(c: &RnnConfig, input: &[usize]) -> bool {
    let gates = [3u128, 4, 1, 1][KINDS.iter().position(|&k| k == c.kind).unwrap()];
    let d = if c.bidirectional { 2 } else { 1 };
    let h_out = if c.proj_size > 0 {
        c.proj_size
    } else {
        c.hidden_size
    } as u128;
    let rows = gates * c.hidden_size as u128;
    let widest = (c.input_size as u128).max(d * h_out);
    // Timesteps times sequences, as the layout reads them.
    // At least one timestep: with T = 0 the states still hold B rows.
    let elements: u128 = match *input {
        [t, _] => (t as u128).max(1),
        [d0, d1, _] => {
            let (t, b) = if c.batch_first { (d1, d0) } else { (d0, d1) };
            (t as u128).max(1) * b as u128
        }
        _ => 0,
    };
    rows.saturating_mul(widest) > INDEX_LIMIT
        || elements.saturating_mul(widest.max(rows)) > INDEX_LIMIT
        || c.num_layers as u128 * d > usize::MAX as u128
}

/// The errors a dry run may give: about the configuration or the shapes, nothing else.
fn is_shape_error(e: &Error) -> bool {
    matches!(
        e,
        Error::ZeroSize { .. }
            | Error::ProjSize { .. }
            | Error::TooLarge { .. }
            | Error::InputRank { .. }
            | Error::InputSize { .. }
            | Error::FlattenedBatch { .. }
            | Error::BatchTimeSwapped { .. }
            | Error::StateShape { .. }
            | Error::UnexpectedState { .. }
            | Error::LengthsCount { .. }
            | Error::LengthOutOfRange { .. }
    )
}

/// Checks one result against the oracle.
fn judge(
    c: &RnnConfig,
    s: &InputShapes<'_>,
    got: &Result<OutputShapes, Error>,
) -> Result<(), TestCaseError> {
    let want = oracle(c, s);
    match got {
        Ok(shapes) => {
            let got = (
                shapes.output.clone(),
                shapes.h_n.clone(),
                shapes.c_n.clone(),
            );
            prop_assert_eq!(Some(got), want, "accepted, but PyTorch would not");
        }
        Err(e) => {
            // Every message renders, and says something.
            let message = e.to_string();
            let debug = format!("{e:?}");
            prop_assert!(!message.is_empty() && !debug.is_empty());
            prop_assert!(is_shape_error(e), "not a shape error: {message}");
            if matches!(e, Error::TooLarge { .. }) {
                prop_assert!(too_large(c, s.input), "TooLarge for small sizes: {message}");
            } else {
                prop_assert!(want.is_none(), "rejected a valid call: {message}");
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The dry run: thousands of shapes, valid and not, small and absurd.

/// A dimension: mostly small, sometimes large, zero or absurd.
fn dim() -> impl proptest::strategy::Strategy<Value = usize> {
    prop_oneof![
        12 => 0usize..=8,
        2 => 9usize..=5_000,
        1 => (1usize << 20)..(1usize << 34),
        1 => Just(1usize << 32),
        1 => (usize::MAX - 3)..=usize::MAX,
    ]
}

/// A size of the configuration: mostly a small positive number.
fn size() -> impl proptest::strategy::Strategy<Value = usize> {
    prop_oneof![12 => 1usize..=8, 1 => Just(0usize), 2 => dim()]
}

fn any_config() -> impl proptest::strategy::Strategy<Value = RnnConfig> {
    (
        kind(),
        size(),
        size(),
        prop_oneof![10 => 1usize..=3, 1 => Just(0usize), 1 => dim()],
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        prop_oneof![6 => Just(0usize), 3 => 1usize..=9, 1 => dim()],
    )
        .prop_map(|(k, i, h, l, bidirectional, bias, batch_first, proj)| {
            RnnConfig::new(k, i, h)
                .num_layers(l)
                .bidirectional(bidirectional)
                .bias(bias)
                .batch_first(batch_first)
                .proj_size(proj)
        })
}

/// How a well-formed call is spoilt.
#[derive(Clone, Debug)]
enum Spoil {
    Nothing,
    /// Replace dimension `at` of the input.
    InputDim(usize, usize),
    /// Remove an input dimension.
    DropDim(usize),
    /// Insert an input dimension.
    AddDim(usize, usize),
    /// Swap the input's first two axes.
    SwapAxes,
    /// Replace a dimension of h0 or c0.
    StateDim(bool, usize, usize),
    /// Remove the batch dimension of a state (or add one).
    StateRank(bool),
    /// c0 on any kind.
    ForceC0,
    /// Lengths of any count and values.
    Lengths(Vec<usize>),
    /// One length set to a value.
    Length(usize, usize),
}

fn spoil() -> impl proptest::strategy::Strategy<Value = Spoil> {
    prop_oneof![
        8 => Just(Spoil::Nothing),
        2 => (0usize..4, dim()).prop_map(|(a, v)| Spoil::InputDim(a, v)),
        1 => (0usize..4).prop_map(Spoil::DropDim),
        1 => (0usize..4, dim()).prop_map(|(a, v)| Spoil::AddDim(a, v)),
        1 => Just(Spoil::SwapAxes),
        2 => (any::<bool>(), 0usize..4, dim()).prop_map(|(h, a, v)| Spoil::StateDim(h, a, v)),
        1 => any::<bool>().prop_map(Spoil::StateRank),
        1 => Just(Spoil::ForceC0),
        1 => proptest::collection::vec(dim(), 0..10).prop_map(Spoil::Lengths),
        2 => (0usize..8, dim()).prop_map(|(i, v)| Spoil::Length(i, v)),
    ]
}

/// The arguments of a call: shapes only.
#[derive(Clone, Debug)]
struct Call {
    input: Vec<usize>,
    h0: Option<Vec<usize>>,
    c0: Option<Vec<usize>>,
    lengths: Option<Vec<usize>>,
}

impl Call {
    fn shapes(&self) -> InputShapes<'_> {
        let mut shapes = InputShapes::new(&self.input);
        shapes.h0 = self.h0.as_deref();
        shapes.c0 = self.c0.as_deref();
        shapes.lengths = self.lengths.as_deref();
        shapes
    }
}

/// A well-formed call for `c` (where one exists), then spoilt.
fn make_call(
    c: &RnnConfig,
    t: usize,
    b: Option<usize>,
    h0: bool,
    c0: bool,
    lengths: Option<&[usize]>,
    spoil: &Spoil,
) -> Call {
    let d = if c.bidirectional { 2 } else { 1 };
    let stacked = c.num_layers.saturating_mul(d);
    let h_out = if c.proj_size > 0 {
        c.proj_size
    } else {
        c.hidden_size
    };
    let input = match b {
        None => vec![t, c.input_size],
        Some(b) if c.batch_first => vec![b, t, c.input_size],
        Some(b) => vec![t, b, c.input_size],
    };
    // States: (L*D, B, width), or (L*D, width) for unbatched input.
    let state = |w: usize| match b {
        None => vec![stacked, w],
        Some(b) => vec![stacked, b, w],
    };
    let batch = b.unwrap_or(1);
    let mut call = Call {
        input,
        h0: h0.then(|| state(h_out)),
        c0: (c0 && c.kind == Kind::Lstm).then(|| state(c.hidden_size)),
        // Lengths in 1..=T, one per sequence (for batches small enough to list).
        lengths: lengths.filter(|_| batch <= 64).map(|l| {
            (0..batch)
                .map(|i| 1 + l.get(i).copied().unwrap_or(0) % t.max(1))
                .collect()
        }),
    };
    let clamp = |at: usize, len: usize| if len == 0 { 0 } else { at % len };
    match spoil.clone() {
        Spoil::Nothing => {}
        Spoil::InputDim(at, v) => {
            let at = clamp(at, call.input.len());
            call.input[at] = v;
        }
        Spoil::DropDim(at) => {
            let at = clamp(at, call.input.len());
            call.input.remove(at);
        }
        Spoil::AddDim(at, v) => {
            let at = at % (call.input.len() + 1);
            call.input.insert(at, v);
        }
        Spoil::SwapAxes => call.input.swap(0, 1),
        Spoil::StateDim(h, at, v) => {
            let state = if h { &mut call.h0 } else { &mut call.c0 };
            let s = state.get_or_insert_with(|| vec![stacked, batch, h_out]);
            let at = clamp(at, s.len());
            s[at] = v;
        }
        Spoil::StateRank(h) => {
            let state = if h { &mut call.h0 } else { &mut call.c0 };
            let s = state.get_or_insert_with(|| vec![stacked, batch, h_out]);
            if s.len() == 3 {
                s.remove(1);
            } else {
                s.insert(1, 1);
            }
        }
        Spoil::ForceC0 => call.c0 = Some(state(c.hidden_size)),
        Spoil::Lengths(l) => call.lengths = Some(l),
        Spoil::Length(i, v) => {
            let l = call
                .lengths
                .get_or_insert_with(|| vec![t.max(1); batch.min(64)]);
            if !l.is_empty() {
                let i = i % l.len();
                l[i] = v;
            }
        }
    }
    call
}

fn call_strategy(c: RnnConfig) -> impl proptest::strategy::Strategy<Value = (RnnConfig, Call)> {
    (
        dim(),
        prop_oneof![1 => Just(None), 4 => dim().prop_map(Some)],
        any::<bool>(),
        any::<bool>(),
        proptest::option::of(proptest::collection::vec(0usize..64, 0..8)),
        spoil(),
    )
        .prop_map(move |(t, b, h0, c0, lengths, spoil)| {
            let call = make_call(&c, t, b, h0, c0, lengths.as_deref(), &spoil);
            (c.clone(), call)
        })
}

proptest! {
    #![proptest_config(config(DRY_CASES))]

    /// The dry run on any configuration and any shapes: the right shapes or a shape error.
    #[test]
    fn dry_run_never_panics((c, call) in any_config().prop_flat_map(call_strategy)) {
        let shapes = call.shapes();
        let got = c.check(&shapes);
        judge(&c, &shapes, &got)?;
        // The configuration's own checks and accessors never panic either.
        let _ = c.validate();
        let _ = (c.output_width(), c.gate_rows(), c.state_width(), c.layer_input_size(1));
        // (Listing the tensors allocates per layer: only for stacks that fit in memory.)
        if c.num_layers <= 8 {
            let _ = wgpu_rnn::weights::expected_tensors(&c).map(|t| t.len());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Real runs: the CPU path and the software adapter, tiny sizes.

/// Errors wgpu reported outside any error scope (validation errors the crate did not catch).
static UNCAPTURED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Records an uncaptured wgpu error (the handler's argument is `wgpu::Error`).
fn record_uncaptured<E: std::fmt::Display>(e: E) {
    UNCAPTURED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(e.to_string());
}

/// The software adapter with a handler that records every uncaptured error, or `None` (a
/// loud skip; a failure when `CI` is set).
fn software() -> Option<&'static GpuContext> {
    static CONTEXT: OnceLock<Result<GpuContext, String>> = OnceLock::new();
    let ctx = CONTEXT.get_or_init(|| {
        let ctx = GpuContext::software().map_err(|e| e.to_string())?;
        ctx.device()
            .on_uncaptured_error(Arc::new(record_uncaptured));
        eprintln!("no_panic runs on: {}", ctx.adapter_name());
        Ok(ctx)
    });
    match ctx {
        Ok(ctx) => Some(ctx),
        Err(e) if std::env::var_os("CI").is_some() => {
            panic!("CI is set but no software adapter was found ({e}); install mesa-vulkan-drivers")
        }
        Err(e) => {
            eprintln!("!!! SKIPPING GPU PROPERTY TEST: no software adapter ({e}). Install mesa-vulkan-drivers to run it. !!!");
            None
        }
    }
}

fn take_uncaptured() -> Vec<String> {
    std::mem::take(&mut *UNCAPTURED.lock().unwrap_or_else(|e| e.into_inner()))
}

/// A tiny valid configuration.
fn tiny_config() -> impl proptest::strategy::Strategy<Value = RnnConfig> {
    (
        kind(),
        1usize..=6,
        1usize..=6,
        1usize..=2,
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        0usize..6,
    )
        .prop_map(|(k, i, h, l, bidirectional, bias, batch_first, proj)| {
            let proj = if k == Kind::Lstm && proj < h && proj % 2 == 1 {
                proj
            } else {
                0
            };
            RnnConfig::new(k, i, h)
                .num_layers(l)
                .bidirectional(bidirectional)
                .bias(bias)
                .batch_first(batch_first)
                .proj_size(proj)
        })
}

/// Small spoilers only: every tensor stays tiny.
fn tiny_spoil() -> impl proptest::strategy::Strategy<Value = Spoil> {
    prop_oneof![
        12 => Just(Spoil::Nothing),
        1 => (0usize..4, 0usize..=7).prop_map(|(a, v)| Spoil::InputDim(a, v)),
        1 => (0usize..4).prop_map(Spoil::DropDim),
        1 => (0usize..4, 0usize..=3).prop_map(|(a, v)| Spoil::AddDim(a, v)),
        1 => Just(Spoil::SwapAxes),
        1 => (any::<bool>(), 0usize..4, 0usize..=7).prop_map(|(h, a, v)| Spoil::StateDim(h, a, v)),
        1 => any::<bool>().prop_map(Spoil::StateRank),
        1 => Just(Spoil::ForceC0),
        1 => proptest::collection::vec(0usize..=7, 0..8).prop_map(Spoil::Lengths),
        1 => (0usize..8, 0usize..=7).prop_map(|(i, v)| Spoil::Length(i, v)),
    ]
}

#[derive(Clone, Debug)]
struct Run {
    config: RnnConfig,
    call: Call,
    strategy: Dispatch,
    seed: u64,
}

fn run_strategy() -> impl proptest::strategy::Strategy<Value = Run> {
    (
        tiny_config(),
        0usize..=6,
        prop_oneof![1 => Just(None), 4 => (0usize..=6).prop_map(Some)],
        any::<bool>(),
        any::<bool>(),
        proptest::option::of(proptest::collection::vec(0usize..64, 0..8)),
        tiny_spoil(),
        proptest::sample::select(vec![Dispatch::Auto, Dispatch::PerStep, Dispatch::Sequence]),
        any::<u64>(),
    )
        .prop_map(|(config, t, b, h0, c0, lengths, spoil, strategy, seed)| {
            let call = make_call(&config, t, b, h0, c0, lengths.as_deref(), &spoil);
            Run {
                config,
                call,
                strategy,
                seed,
            }
        })
}

fn random_tensor(rng: &mut SmallRng, shape: &[usize], k: f32) -> Tensor {
    let n: usize = shape.iter().product();
    Tensor::new(shape, (0..n).map(|_| rng.random_range(-k..=k)).collect()).unwrap()
}

#[track_caller]
fn close(what: &str, got: &Tensor, want: &Tensor) -> Result<(), TestCaseError> {
    prop_assert_eq!(got.shape(), want.shape(), "{} shape", what);
    for (i, (&g, &w)) in got.data().iter().zip(want.data()).enumerate() {
        prop_assert!(
            (g - w).abs() <= 1e-4 + 1e-4 * w.abs(),
            "{} differs at {}: gpu {} cpu {}",
            what,
            i,
            g,
            w
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(GPU_CASES))]

    /// Real runs agree with the dry run: the same error everywhere, or the dry run's shapes
    /// with the CPU's values on the GPU.
    #[test]
    fn real_runs_match_the_dry_run(run in run_strategy()) {
        let mut rng = SmallRng::seed_from_u64(run.seed);
        let k = 1.0 / (run.config.hidden_size as f32).sqrt();
        let rnn = Rnn::from_fn(run.config.clone(), |_, shape| {
            (0..shape.iter().product::<usize>()).map(|_| rng.random_range(-k..=k)).collect()
        })
        .unwrap();
        let x = random_tensor(&mut rng, &run.call.input, 1.0);
        let h0 = run.call.h0.as_deref().map(|s| random_tensor(&mut rng, s, 1.0));
        let c0 = run.call.c0.as_deref().map(|s| random_tensor(&mut rng, s, 1.0));
        let mut input = Input::new(&x);
        if let Some(h0) = &h0 {
            input = input.h0(h0);
        }
        if let Some(c0) = &c0 {
            input = input.c0(c0);
        }
        if let Some(lengths) = &run.call.lengths {
            input = input.lengths(lengths);
        }

        let shapes = input.shapes();
        let dry = rnn.check(&input);
        judge(&run.config, &shapes, &dry)?;
        let cpu = rnn.forward(&input);
        match (&dry, &cpu) {
            (Ok(s), Ok(out)) => {
                prop_assert_eq!(out.output.shape(), s.output.as_slice());
                prop_assert_eq!(out.h_n.shape(), s.h_n.as_slice());
                prop_assert_eq!(out.c_n.as_ref().map(|c| c.shape().to_vec()), s.c_n.clone());
            }
            (Err(a), Err(b)) => prop_assert_eq!(a.to_string(), b.to_string()),
            _ => prop_assert!(false, "dry run {:?} but CPU {:?}", dry, cpu.as_ref().map(|_| ())),
        }

        let Some(ctx) = software() else { return Ok(()) };
        let mut gpu_rnn = rnn.to_gpu(ctx).unwrap();
        gpu_rnn.set_strategy(run.strategy).unwrap();
        let gpu = gpu_rnn.forward(&input);
        let uncaptured = take_uncaptured();
        prop_assert!(uncaptured.is_empty(), "wgpu reported: {:?}", uncaptured);
        match (&cpu, &gpu) {
            (Ok(want), Ok(got)) => {
                close("output", &got.output, &want.output)?;
                close("h_n", &got.h_n, &want.h_n)?;
                prop_assert_eq!(got.c_n.is_some(), want.c_n.is_some());
                if let (Some(g), Some(w)) = (&got.c_n, &want.c_n) {
                    close("c_n", g, w)?;
                }
            }
            (Err(a), Err(b)) => prop_assert_eq!(a.to_string(), b.to_string()),
            _ => prop_assert!(
                false,
                "CPU {:?} but GPU {:?}",
                cpu.as_ref().map(|_| ()),
                gpu.as_ref().map(|_| ()).map_err(|e| e.to_string())
            ),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Files: random bytes, truncated and corrupted `.safetensors`, absurd headers.

/// A valid file: a 2-layer GRU state_dict under `rnn.`, an input and lengths.
fn valid_file() -> Vec<u8> {
    let f32s = |n: usize| -> Vec<u8> {
        (0..n)
            .flat_map(|i| (i as f32 * 0.01).to_le_bytes())
            .collect()
    };
    let mut tensors: Vec<(String, String, Vec<u64>, Vec<u8>)> = Vec::new();
    for l in 0..2 {
        let input = if l == 0 { 3 } else { 4 };
        tensors.push((
            format!("rnn.weight_ih_l{l}"),
            "F32".into(),
            vec![12, input],
            f32s(12 * input as usize),
        ));
        tensors.push((
            format!("rnn.weight_hh_l{l}"),
            "F32".into(),
            vec![12, 4],
            f32s(48),
        ));
        tensors.push((
            format!("rnn.bias_ih_l{l}"),
            "F32".into(),
            vec![12],
            f32s(12),
        ));
        tensors.push((
            format!("rnn.bias_hh_l{l}"),
            "F32".into(),
            vec![12],
            f32s(12),
        ));
    }
    tensors.push(("input".into(), "F32".into(), vec![5, 2, 3], f32s(30)));
    tensors.push((
        "lengths".into(),
        "I64".into(),
        vec![2],
        [5i64, 2].iter().flat_map(|v| v.to_le_bytes()).collect(),
    ));
    build_file(&tensors, "")
}

/// 8-byte little-endian header length, the JSON header, the data. Offsets are consecutive.
fn build_file(tensors: &[(String, String, Vec<u64>, Vec<u8>)], extra_header: &str) -> Vec<u8> {
    let mut entries = Vec::new();
    let mut offset = 0;
    for (name, dtype, shape, data) in tensors {
        let shape: Vec<String> = shape.iter().map(u64::to_string).collect();
        entries.push(format!(
            r#""{name}":{{"dtype":"{dtype}","shape":[{}],"data_offsets":[{offset},{}]}}"#,
            shape.join(","),
            offset + data.len()
        ));
        offset += data.len();
    }
    // `extra_header` ends in a comma: dropped when tensors follow (the join adds one), kept
    // when none do, so the header is byte for byte `{extra_header}{tensors}`.
    if !extra_header.is_empty() {
        let extra = if entries.is_empty() {
            extra_header
        } else {
            extra_header.trim_end_matches(',')
        };
        entries.insert(0, extra.to_string());
    }
    common::safetensors_file(&entries, tensors.iter().map(|t| t.3.as_slice()))
}

/// A header declaring anything: dtypes of every kind, absurd shapes and offsets.
fn absurd_file() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
    let name = proptest::sample::select(vec![
        "weight_ih_l0",
        "weight_hh_l0",
        "bias_ih_l0",
        "bias_hh_l0",
        "weight_hr_l0",
        "weight_ih_l1",
        "weight_hh_l1",
        "weight_ih_l0_reverse",
        "weight_hh_l0_reverse",
        "rnn.weight_ih_l0",
        "rnn.weight_hh_l0",
        "rnn.weight_hr_l0",
        "input",
        "lengths",
        "",
        "rnn.",
    ]);
    let dtype = proptest::sample::select(vec![
        "F32", "F64", "F16", "BF16", "I64", "I32", "U64", "U32", "U8", "I8", "BOOL", "F8_E4M3",
        "F8_E5M2", "F4", "F6_E2M3", "E8M0", "C64", "X99",
    ]);
    let axis = prop_oneof![
        6 => 0u64..=16,
        1 => Just(u64::MAX),
        1 => Just(1u64 << 32),
        1 => Just(1u64 << 62),
        1 => (1u64 << 20)..(1u64 << 40),
    ];
    let tensor = (
        name,
        dtype,
        proptest::collection::vec(axis, 0..4),
        prop_oneof![3 => Just(None), 1 => (0usize..300).prop_map(Some)],
        any::<u8>(),
    )
        .prop_map(|(n, d, shape, len, fill)| {
            // Mostly as many bytes as the shape declares (when that is small), else any count.
            let len = len.unwrap_or_else(|| data_bytes(d, &shape).unwrap_or(64));
            (n.to_string(), d.to_string(), shape, vec![fill; len])
        });
    (
        proptest::collection::vec(tensor, 0..5),
        prop_oneof![
            8 => Just(""),
            1 => Just(r#""__metadata__":{"format":"pt"},"#),
            1 => Just(r#""__metadata__":{"a":1},"#),
            1 => Just(r#""__metadata__":null,"#),
            1 => Just(r#""x":{"dtype":"F32","shape":[2],"data_offsets":[8,0]},"#),
            1 => Just(r#""y":{"dtype":"F32","shape":[18446744073709551615,2],"data_offsets":[0,0]},"#),
            1 => Just(r#""z":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,16]},"#),
            1 => Just(r#""w":{"dtype":"F32","shape":[1],"data_offsets":[18446744073709551612,18446744073709551615]},"#),
        ],
    )
        .prop_map(|(tensors, extra)| build_file(&tensors, extra))
}

/// The bytes a tensor of this dtype and shape holds, when small enough to write.
fn data_bytes(dtype: &str, shape: &[u64]) -> Option<usize> {
    let bits: u64 = match dtype {
        "F64" | "I64" | "U64" | "C64" => 64,
        "F32" | "I32" | "U32" => 32,
        "F16" | "BF16" => 16,
        "U8" | "I8" | "BOOL" | "F8_E4M3" | "F8_E5M2" | "E8M0" => 8,
        "F6_E2M3" => 6,
        "F4" => 4,
        _ => return None,
    };
    let elements = shape.iter().try_fold(1u64, |n, &d| n.checked_mul(d))?;
    let bytes = elements.checked_mul(bits)?.div_ceil(8);
    (bytes <= 4096).then_some(bytes as usize)
}

/// How a well-formed `state_dict` is spoilt.
#[derive(Clone, Debug)]
enum FileEdit {
    /// Remove tensor `i`.
    Drop(usize),
    /// Set dimension `at` of tensor `i` (the data follows the shape).
    Dim(usize, usize, u64),
    /// Store tensor `i` with another dtype (the data follows).
    Dtype(usize, &'static str),
    /// Put a NaN, an infinity or any bits at element `at` of tensor `i`.
    Value(usize, usize, u32),
    /// Add a tensor of the same module that does not belong.
    Extra(&'static str, Vec<u64>),
}

/// A PyTorch `state_dict` of any kind and size under a prefix, then spoilt a little: reaches
/// the configuration inference and the weight checks with consistent files.
fn plausible_file() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
    let edit = prop_oneof![
        (0usize..64).prop_map(FileEdit::Drop),
        (
            0usize..64,
            0usize..3,
            prop_oneof![4 => 0u64..=9, 1 => Just(1u64 << 40)]
        )
            .prop_map(|(i, at, v)| FileEdit::Dim(i, at, v)),
        (
            0usize..64,
            proptest::sample::select(vec!["F64", "F16", "BF16", "I64", "U8", "F4", "X99"])
        )
            .prop_map(|(i, d)| FileEdit::Dtype(i, d)),
        (
            0usize..64,
            0usize..64,
            prop_oneof![
                Just(f32::NAN.to_bits()),
                Just(f32::INFINITY.to_bits()),
                Just(f32::NEG_INFINITY.to_bits()),
                any::<u32>()
            ]
        )
            .prop_map(|(i, at, v)| FileEdit::Value(i, at, v)),
        (
            proptest::sample::select(vec![
                "weight_hr_l0",
                "weight_ih_l5",
                "bias_ih_l0",
                "weight_ih_l0_reverse",
                "bias_hh_l1_reverse",
                "weight_xx_l0",
                "extra.weight",
            ]),
            proptest::collection::vec(0u64..=9, 0..3)
        )
            .prop_map(|(n, s)| FileEdit::Extra(n, s)),
    ];
    (
        proptest::sample::select(vec![1u64, 3, 4]),
        1u64..=4,
        1u64..=4,
        1usize..=3,
        any::<bool>(),
        any::<bool>(),
        0u64..4,
        proptest::sample::select(vec!["", "rnn.", "encoder.lstm.", "a.b.c."]),
        proptest::sample::select(vec!["F32", "F32", "F64", "F16", "BF16"]),
        proptest::collection::vec(edit, 0..3),
    )
        .prop_map(
            |(gates, i, h, layers, bidirectional, bias, proj, prefix, dtype, edits)| {
                let proj = if gates == 4 && proj < h { proj } else { 0 };
                let h_out = if proj > 0 { proj } else { h };
                let d = if bidirectional { 2 } else { 1 };
                let mut tensors: Vec<(String, &str, Vec<u64>)> = Vec::new();
                for l in 0..layers {
                    for suffix in if bidirectional {
                        &["", "_reverse"][..]
                    } else {
                        &[""][..]
                    } {
                        let input = if l == 0 { i } else { d * h_out };
                        let mut push = |stem: &str, shape: Vec<u64>| {
                            tensors.push((format!("{prefix}{stem}_l{l}{suffix}"), dtype, shape))
                        };
                        push("weight_ih", vec![gates * h, input]);
                        push("weight_hh", vec![gates * h, h_out]);
                        if bias {
                            push("bias_ih", vec![gates * h]);
                            push("bias_hh", vec![gates * h]);
                        }
                        if proj > 0 {
                            push("weight_hr", vec![proj, h]);
                        }
                    }
                }
                let mut values: Vec<Option<(usize, u32)>> = vec![None; tensors.len()];
                for edit in edits {
                    let n = tensors.len();
                    match edit {
                        FileEdit::Drop(k) if n > 0 => {
                            tensors.remove(k % n);
                            values.remove(k % n);
                        }
                        FileEdit::Dim(k, at, v) if n > 0 => {
                            let shape = &mut tensors[k % n].2;
                            if !shape.is_empty() {
                                let at = at % shape.len();
                                shape[at] = v;
                            }
                        }
                        FileEdit::Dtype(k, dt) if n > 0 => tensors[k % n].1 = dt,
                        FileEdit::Value(k, at, v) if n > 0 => values[k % n] = Some((at, v)),
                        FileEdit::Extra(name, shape) => {
                            tensors.push((format!("{prefix}{name}"), "F32", shape));
                            values.push(None);
                        }
                        _ => {}
                    }
                }
                let tensors: Vec<(String, String, Vec<u64>, Vec<u8>)> = tensors
                    .into_iter()
                    .zip(values)
                    .map(|((name, dtype, shape), value)| {
                        let len = data_bytes(dtype, &shape).unwrap_or(0);
                        let mut data: Vec<u8> = (0..len).map(|b| (b * 37 % 61) as u8 / 4).collect();
                        if let Some((at, v)) = value {
                            if dtype == "F32" && len >= 4 {
                                let at = at % (len / 4) * 4;
                                data[at..at + 4].copy_from_slice(&v.to_le_bytes());
                            }
                        }
                        (name, dtype.to_string(), shape, data)
                    })
                    .collect();
                build_file(&tensors, "")
            },
        )
}

/// Valid bytes, then damaged.
fn damaged_file() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
    let len = valid_file().len();
    prop_oneof![
        // Truncated anywhere.
        (0..len).prop_map(|n| valid_file()[..n].to_vec()),
        // Bytes overwritten anywhere (header, offsets, data).
        proptest::collection::vec((0..len, any::<u8>()), 1..6).prop_map(|edits| {
            let mut bytes = valid_file();
            for (at, v) in edits {
                bytes[at] = v;
            }
            bytes
        }),
        // The declared header length replaced.
        prop_oneof![
            any::<u64>(),
            0u64..2_000,
            Just(u64::MAX),
            Just(100_000_001u64)
        ]
        .prop_map(|n| {
            let mut bytes = valid_file();
            bytes[..8].copy_from_slice(&n.to_le_bytes());
            bytes
        }),
        // Extra bytes after the data.
        proptest::collection::vec(any::<u8>(), 1..64).prop_map(|tail| {
            let mut bytes = valid_file();
            bytes.extend(tail);
            bytes
        }),
    ]
}

fn any_bytes() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
    prop_oneof![
        1 => proptest::collection::vec(any::<u8>(), 0..300),
        3 => damaged_file(),
        3 => absurd_file(),
        4 => plausible_file(),
    ]
}

fn load_options() -> impl proptest::strategy::Strategy<Value = LoadOptions> {
    (
        proptest::option::of(proptest::sample::select(vec![
            "",
            "rnn",
            "rnn.",
            "x.",
            "encoder.lstm",
            "a.b.c.",
        ])),
        proptest::option::of(kind()),
        any::<bool>(),
    )
        .prop_map(|(prefix, kind, batch_first)| {
            let mut options = LoadOptions::default().batch_first(batch_first);
            options.prefix = prefix.map(str::to_string);
            options.kind = kind;
            options
        })
}

proptest! {
    #![proptest_config(config(FILE_CASES))]

    /// Any bytes: parsed, or a typed error; every accessor and the loader answer without
    /// panicking, and a model that loads runs.
    #[test]
    fn any_bytes_load_or_fail_cleanly(bytes in any_bytes(), options in load_options()) {
        let file = match TensorFile::from_bytes(bytes) {
            Ok(file) => file,
            Err(e) => {
                prop_assert!(matches!(e, Error::Safetensors { path: None, .. }), "{e:?}");
                prop_assert!(!e.to_string().is_empty());
                return Ok(());
            }
        };
        let _ = file.metadata();
        let mut names = file.names();
        names.push("absent".into());
        for name in &names {
            let shape = file.shape(name);
            match file.f32(name) {
                Ok(Some(t)) => prop_assert_eq!(Some(t.shape().to_vec()), shape.clone()),
                Ok(None) => prop_assert!(shape.is_none()),
                Err(e) => prop_assert!(matches!(e, Error::Dtype { .. }), "{e:?}"),
            }
            match file.lengths(name) {
                Ok(Some(l)) => prop_assert_eq!(Some(vec![l.len()]), shape),
                Ok(None) => prop_assert!(shape.is_none()),
                Err(e) => prop_assert!(
                    matches!(e, Error::Dtype { .. } | Error::LengthsType { .. }),
                    "{e:?}"
                ),
            }
        }
        match Rnn::from_file(&file, &options) {
            Ok(rnn) => {
                // A model that loads runs (on the CPU: the sizes come from the file).
                let c = rnn.config().clone();
                let x = Tensor::zeros([2, c.input_size]).unwrap();
                let out = rnn.forward(&Input::new(&x)).unwrap();
                prop_assert_eq!(out.output.shape(), &[2, c.output_width()]);
            }
            Err(e) => {
                let message = e.to_string();
                prop_assert!(!message.is_empty());
                prop_assert!(
                    matches!(
                        e,
                        Error::InferConfig { .. }
                            | Error::Dtype { .. }
                            | Error::MissingWeight { .. }
                            | Error::UnexpectedWeight { .. }
                            | Error::WeightShape { .. }
                            | Error::NonFiniteWeight { .. }
                            | Error::ZeroSize { .. }
                            | Error::ProjSize { .. }
                            | Error::TooLarge { .. }
                            | Error::Safetensors { .. }
                    ),
                    "{e:?}"
                );
            }
        }
    }
}

#[test]
fn the_valid_file_loads() {
    let file = TensorFile::from_bytes(valid_file()).unwrap();
    let rnn = Rnn::from_file(&file, &LoadOptions::default()).unwrap();
    assert_eq!(rnn.config(), &RnnConfig::new(Kind::Gru, 3, 4).num_layers(2));
    assert_eq!(file.lengths("lengths").unwrap(), Some(vec![5, 2]));
}
