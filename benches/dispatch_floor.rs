//! The dispatch floor: what one dependent compute dispatch costs on this adapter, the lower
//! bound of any kernel that runs one dispatch per timestep.
//!
//! Every number here is a difference: the same work at 2N and at N dispatches (steps), divided
//! by N, so fixed costs (buffer creation, upload, submit, waiting, read back) cancel and only
//! the per-dispatch (per-step) cost is left. Criterion reports it as the time of one
//! "iteration" = one dispatch (one step).
//!
//! - `dispatch_floor/empty_dependent_dispatch`: a trivial WGSL kernel (one invocation,
//!   `s[0] += 1` on a read-write storage buffer) dispatched N times in one compute pass; each
//!   dispatch depends on the previous one through the buffer, so wgpu puts a barrier between
//!   them. Independent of this crate's kernels: the adapter's floor.
//! - `dispatch_floor/rnn1_per_step`: `GpuRnn::forward` of a 1-unit RNN-tanh, B=1, with
//!   `Strategy::PerStep` (one fused dispatch per timestep): the floor as our per-step path
//!   pays it, including its dynamic-offset rebinding.
//! - `dispatch_floor/rnn1_sequence_step`: the same model with `Strategy::Sequence` (one
//!   workgroup loops over the timesteps with `workgroupBarrier()`): NOT a dispatch, the cost
//!   of one step inside one dispatch. `Strategy::Auto` picks this for B < 4 on CPU adapters,
//!   so this is what `examples/bench.rs`'s floor measures on lavapipe.
//! - `fixed_cost/rnn1_T1_forward`: one whole forward of the 1-unit RNN at T=1 (upload, two
//!   dispatches, submit, wait, read back): the per-call overhead that the differences cancel.
//!
//! `cargo bench --bench dispatch_floor` (about half a minute on lavapipe).
//! `WGPU_RNN_FLOOR_STEPS=N` (default 256) sets N.

mod common;

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode};
use wgpu::util::DeviceExt;
use wgpu_rnn::{GpuContext, GpuRnn, Input, Kind, RnnConfig, Strategy, Tensor};

use common::{gpu_context, random_rnn, usize_from_env};

const EMPTY_KERNEL: &str = r#"
@group(0) @binding(0) var<storage, read_write> counter: array<u32>;
@compute @workgroup_size(1)
fn main() {
    counter[0] = counter[0] + 1u;
}
"#;

/// N dependent dispatches of [`EMPTY_KERNEL`] in one pass, submitted and waited for.
struct EmptyDispatch {
    ctx: GpuContext,
    pipeline: wgpu::ComputePipeline,
    bind_group: wgpu::BindGroup,
    counter: wgpu::Buffer,
}

impl EmptyDispatch {
    fn new(ctx: &GpuContext) -> Self {
        let device = ctx.device();
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("empty dependent dispatch"),
            source: wgpu::ShaderSource::Wgsl(EMPTY_KERNEL.into()),
        });
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some("empty dependent dispatch"),
            layout: None,
            module: &module,
            entry_point: Some("main"),
            compilation_options: Default::default(),
            cache: None,
        });
        let counter = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("counter"),
            contents: &[0u8; 16],
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
        });
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &pipeline.get_bind_group_layout(0),
            entries: &[wgpu::BindGroupEntry {
                binding: 0,
                resource: counter.as_entire_binding(),
            }],
        });
        EmptyDispatch {
            ctx: ctx.clone(),
            pipeline,
            bind_group,
            counter,
        }
    }

    /// Encodes, submits and waits for `n` dispatches.
    fn run(&self, n: usize) {
        let device = self.ctx.device();
        let mut encoder = device.create_command_encoder(&Default::default());
        {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            pass.set_pipeline(&self.pipeline);
            pass.set_bind_group(0, &self.bind_group, &[]);
            for _ in 0..n {
                pass.dispatch_workgroups(1, 1, 1);
            }
        }
        self.ctx.queue().submit([encoder.finish()]);
        device
            .poll(wgpu::PollType::wait_indefinitely())
            .expect("waiting for the GPU");
    }

    /// Runs `n` dispatches from a zeroed counter and reads the counter back: proves that every
    /// dispatch ran, in order (each one read the previous one's write).
    fn check(&self, n: usize) {
        let (device, queue) = (self.ctx.device(), self.ctx.queue());
        queue.write_buffer(&self.counter, 0, &[0u8; 16]);
        self.run(n);
        let staging = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("counter read back"),
            size: 16,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder = device.create_command_encoder(&Default::default());
        encoder.copy_buffer_to_buffer(&self.counter, 0, &staging, 0, 16);
        queue.submit([encoder.finish()]);
        staging
            .slice(..)
            .map_async(wgpu::MapMode::Read, |r| r.expect("map"));
        device
            .poll(wgpu::PollType::wait_indefinitely())
            .expect("waiting for the GPU");
        let value = {
            let view = staging.slice(..).get_mapped_range().expect("mapped");
            u32::from_le_bytes([view[0], view[1], view[2], view[3]])
        };
        assert_eq!(
            value as usize, n,
            "the empty kernel ran {value} times, not {n}"
        );
    }
}

/// `iters` times: run `f(2n)` and `f(n)`; returns the summed difference divided by `n`, the
/// cost of one step (dispatch) per iteration. Clamped at zero (noise on a busy machine).
fn difference_per_step(iters: u64, n: usize, mut f: impl FnMut(usize)) -> Duration {
    let mut diff = 0.0f64;
    for _ in 0..iters {
        let start = Instant::now();
        f(2 * n);
        let long = start.elapsed().as_secs_f64();
        let start = Instant::now();
        f(n);
        let short = start.elapsed().as_secs_f64();
        diff += long - short;
    }
    Duration::from_secs_f64((diff / n as f64).max(0.0))
}

fn rnn1(ctx: &GpuContext, strategy: Strategy) -> GpuRnn {
    let mut gpu = random_rnn(RnnConfig::new(Kind::RnnTanh, 1, 1), 1)
        .to_gpu(ctx)
        .expect("weights upload");
    gpu.set_strategy(strategy).expect("strategy");
    gpu
}

fn dispatch_floor(c: &mut Criterion) {
    let Some(ctx) = gpu_context() else { return };
    let n = usize_from_env("WGPU_RNN_FLOOR_STEPS", 256).max(1);

    let mut group = c.benchmark_group("dispatch_floor");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sampling_mode(SamplingMode::Flat);

    let empty = EmptyDispatch::new(&ctx);
    empty.check(n);
    group.bench_function("empty_dependent_dispatch", |b| {
        b.iter_custom(|iters| difference_per_step(iters, n, |k| empty.run(k)))
    });

    let inputs: Vec<Tensor> = [n, 2 * n]
        .iter()
        .map(|&t| Tensor::zeros([t, 1, 1]).expect("input"))
        .collect();
    let input_for = |k: usize| &inputs[usize::from(k != n)];
    for (name, strategy) in [
        ("rnn1_per_step", Strategy::PerStep),
        ("rnn1_sequence_step", Strategy::Sequence),
    ] {
        let gpu = rnn1(&ctx, strategy);
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                difference_per_step(iters, n, |k| {
                    gpu.forward(&Input::new(input_for(k))).expect("forward");
                })
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("fixed_cost");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sampling_mode(SamplingMode::Flat);
    let gpu = rnn1(&ctx, Strategy::PerStep);
    let x = Tensor::zeros([1, 1, 1]).expect("input");
    group.bench_function("rnn1_T1_forward", |b| {
        b.iter(|| gpu.forward(&Input::new(&x)).expect("forward"))
    });
    group.finish();
}

criterion_group!(benches, dispatch_floor);
criterion_main!(benches);
