//! A real-time loop allocates nothing for its data: `GpuStream::push_into` and
//! `GpuRnn::forward_into` read the caller's buffers where they are and write into the caller's
//! output, reusing every buffer of the previous call.
//!
//! A counting global allocator measures the bytes the calling thread allocates per call.
//! wgpu itself allocates a few small, fixed records for every submission (command buffers,
//! tracking, the map callback: about 40 KiB on lavapipe), so the test compares a small model
//! with one whose data is 384 times larger:
//! the bytes per call must not grow with the data, and must stay far below its size.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use wgpu_rnn::{Input, Kind, Output, Rnn, RnnConfig, Strategy, Tensor, TensorView};

struct Counting;

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static BYTES: Cell<usize> = const { Cell::new(0) };
}

fn note(bytes: usize) {
    let _ = ARMED.try_with(|armed| {
        if armed.get() {
            let _ = BYTES.try_with(|b| b.set(b.get() + bytes));
        }
    });
}

// SAFETY: every call is forwarded to the system allocator unchanged; counting touches only
// const-initialised thread-locals, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Bytes this thread allocates, per call, over `calls` calls of `f`.
fn bytes_per_call(calls: usize, mut f: impl FnMut()) -> usize {
    BYTES.with(|b| b.set(0));
    ARMED.with(|a| a.set(true));
    for _ in 0..calls {
        f();
    }
    ARMED.with(|a| a.set(false));
    BYTES.with(Cell::get) / calls
}

fn model(kind: Kind, i: usize, h: usize) -> Rnn {
    let k = 1.0 / (h as f32).sqrt();
    Rnn::from_fn(RnnConfig::new(kind, i, h).batch_first(true), |_, shape| {
        (0..shape.iter().product::<usize>())
            .map(|n| ((n as f32 * 0.61).sin()) * k)
            .collect()
    })
    .unwrap()
}

/// A stream's steady loop: bytes per `push_into` of a `(B, T=4, I)` batch-first chunk.
fn stream_bytes(kind: Kind, b: usize, i: usize, h: usize) -> (usize, usize) {
    let ctx = common::gpu().unwrap();
    let mut gpu = model(kind, i, h).to_gpu(ctx).unwrap();
    // One strategy for every size: the same dispatches, so the same records in wgpu.
    gpu.set_strategy(Strategy::PerStep).unwrap();
    let mut stream = gpu.stream(b).unwrap();
    let t = 4;
    let frames: Vec<f32> = (0..b * t * i).map(|n| (n as f32 * 0.3).cos()).collect();
    let shape = [b, t, i];
    let mut out = Tensor::default();
    let mut push = || {
        let chunk = TensorView::new(&shape, &frames).unwrap();
        stream.push_into(chunk, &mut out).unwrap();
    };
    for _ in 0..3 {
        push(); // the first calls build and keep the pass's buffers
    }
    let bytes = bytes_per_call(20, &mut push);
    assert_eq!(out.shape(), &[b, t, h]);
    (bytes, b * t * (i + h) * 4)
}

/// A whole forward's steady loop with every argument given: bytes per `forward_into`.
fn forward_bytes(kind: Kind, b: usize, i: usize, h: usize) -> (usize, usize) {
    let ctx = common::gpu().unwrap();
    let mut gpu = model(kind, i, h).to_gpu(ctx).unwrap();
    gpu.set_strategy(Strategy::PerStep).unwrap();
    let t = 4;
    let x = Tensor::new(
        [b, t, i],
        (0..b * t * i).map(|n| (n as f32).sin()).collect(),
    )
    .unwrap();
    let h0 = Tensor::new([1, b, h], vec![0.1; b * h]).unwrap();
    let c0 = Tensor::new([1, b, h], vec![-0.1; b * h]).unwrap();
    let lengths: Vec<usize> = (0..b).map(|n| t - n % t).collect();
    let mut input = Input::new(&x).h0(&h0).lengths(&lengths);
    if kind == Kind::Lstm {
        input = input.c0(&c0);
    }
    let mut out = Output::default();
    let mut forward = || gpu.forward_into(&input, &mut out).unwrap();
    for _ in 0..3 {
        forward();
    }
    let bytes = bytes_per_call(20, &mut forward);
    assert_eq!(out.output.shape(), &[b, t, h]);
    (bytes, b * t * (i + h) * 4 + 2 * b * h * 4)
}

/// Small and large differ 384-fold in data; what is allocated per call may differ by
/// wgpu's bookkeeping of differently sized buffers only.
const SLACK: usize = 2048;

#[test]
fn steady_loops_allocate_nothing_for_their_data() {
    if common::gpu().is_none() {
        return;
    }
    for kind in [Kind::Gru, Kind::Lstm] {
        for (what, run) in [
            (
                "push_into",
                stream_bytes as fn(Kind, usize, usize, usize) -> (usize, usize),
            ),
            ("forward_into", forward_bytes),
        ] {
            let (small, _) = run(kind, 1, 16, 32);
            let (large, data) = run(kind, 32, 64, 512);
            println!("{kind:?} {what}: {small} bytes per call (small), {large} (large, {data} bytes of data)");
            assert!(
                large <= small + SLACK,
                "{kind:?} {what}: {large} bytes per call for the large model, {small} for the small one"
            );
            assert!(
                large < data / 4,
                "{kind:?} {what}: {large} bytes per call against {data} bytes of data"
            );
        }
    }
}
