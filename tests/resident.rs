//! GPU-resident I/O: caller-owned input buffers, outputs left on the GPU, stacks chained
//! without a read back in between.

mod common;
// Initial states from device buffers (`h0`, `c0`), and `batch_first` models.
#[path = "resident/batch_first.rs"]
mod batch_first;
#[path = "resident/state.rs"]
mod state;

use wgpu::BufferUsages;
use wgpu_rnn::{
    Error, GpuContext, GpuInput, GpuOutput, GpuRnn, Input, Kind, Output, Rnn, RnnConfig, Strategy,
    Tensor,
};

fn rnn(config: RnnConfig, salt: f32) -> Rnn {
    let k = 1.0 / (config.hidden_size as f32).sqrt();
    Rnn::from_fn(config, |_, shape| {
        (0..shape.iter().product::<usize>())
            .map(|i| ((i as f32 * 0.77 + salt).sin()) * k)
            .collect()
    })
    .unwrap()
}

/// Deterministic values in [-1, 1] (`salt` tells tensors apart).
fn values(n: usize, salt: f32) -> Vec<f32> {
    (0..n).map(|i| (i as f32 * 0.37 + salt).sin()).collect()
}

fn upload(ctx: &GpuContext, data: &[f32], usage: BufferUsages) -> wgpu::Buffer {
    let buffer = ctx.device().create_buffer(&wgpu::BufferDescriptor {
        label: Some("caller input"),
        size: (data.len() * 4) as u64,
        usage: usage | BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    ctx.queue()
        .write_buffer(&buffer, 0, bytemuck::cast_slice(data));
    buffer
}

fn read(ctx: &GpuContext, buffer: &wgpu::Buffer, floats: usize) -> Vec<f32> {
    let staging = ctx.device().create_buffer(&wgpu::BufferDescriptor {
        label: Some("test read back"),
        size: (floats * 4) as u64,
        usage: BufferUsages::MAP_READ | BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let mut encoder = ctx.device().create_command_encoder(&Default::default());
    encoder.copy_buffer_to_buffer(buffer, 0, &staging, 0, (floats * 4) as u64);
    ctx.queue().submit([encoder.finish()]);
    staging
        .slice(..)
        .map_async(wgpu::MapMode::Read, |r| r.unwrap());
    ctx.device()
        .poll(wgpu::PollType::wait_indefinitely())
        .unwrap();
    let view = staging.slice(..).get_mapped_range().unwrap();
    view.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

// The GPU path against the CPU path on short sequences: float32 summation order only.
const TOLERANCE: f32 = 1e-5;

/// `forward_gpu_into` a caller-owned buffer against the host forward's `want`.
#[track_caller]
fn assert_forward_gpu_into(
    ctx: &GpuContext,
    what: &str,
    gpu: &GpuRnn,
    input: &GpuInput<'_>,
    want: &[f32],
) {
    let target = ctx.device().create_buffer(&wgpu::BufferDescriptor {
        label: Some("caller output"),
        size: (want.len() * 4) as u64,
        usage: BufferUsages::COPY_DST | BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    });
    gpu.forward_gpu_into(input, &target).unwrap();
    let got = read(ctx, &target, want.len());
    common::assert_close(
        &format!("{what}: forward_gpu_into"),
        &got,
        want,
        TOLERANCE,
        TOLERANCE,
    );
}

/// A resident pass's results against the host forward's: the same shapes, and every value
/// within [`TOLERANCE`].
#[track_caller]
fn assert_matches(ctx: &GpuContext, what: &str, gpu: &GpuOutput, host: &Output) {
    assert_eq!(
        gpu.shapes.output,
        host.output.shape(),
        "{what}: output shape"
    );
    assert_eq!(gpu.shapes.h_n, host.h_n.shape(), "{what}: h_n shape");
    let c_n = host.c_n.as_ref().map(Tensor::data);
    assert_eq!(gpu.c_n.is_some(), c_n.is_some(), "{what}: c_n");
    let pairs = [
        ("output", Some(&gpu.output), Some(host.output.data())),
        ("h_n", Some(&gpu.h_n), Some(host.h_n.data())),
        ("c_n", gpu.c_n.as_ref(), c_n),
    ];
    for (name, buffer, want) in pairs {
        let (Some(buffer), Some(want)) = (buffer, want) else {
            continue;
        };
        let got = read(ctx, buffer, want.len());
        common::assert_close(&format!("{what}: {name}"), &got, want, TOLERANCE, TOLERANCE);
    }
}

#[test]
fn two_stacks_chain_on_the_gpu_and_match_the_cpu() {
    let Some(ctx) = common::gpu() else { return };
    let (t, b, i) = (6, 3, 4);
    let first = rnn(RnnConfig::new(Kind::Gru, i, 5).bidirectional(true), 0.1);
    let second = rnn(RnnConfig::new(Kind::Lstm, 10, 7), 0.2); // input = D*H_out of the first
    let x: Vec<f32> = (0..t * b * i).map(|n| (n as f32 * 0.21).cos()).collect();
    let lengths = [6, 2, 4];

    let buffer = upload(ctx, &x, BufferUsages::STORAGE);
    let g1 = first.to_gpu(ctx).unwrap();
    let g2 = second.to_gpu(ctx).unwrap();
    let shape = [t, b, i];
    let mid = g1
        .forward_gpu(&GpuInput::new(&buffer, &shape).lengths(&lengths))
        .unwrap();
    assert_eq!(mid.shapes.output, vec![t, b, 10]);
    let out = g2
        .forward_gpu(&GpuInput::new(&mid.output, &mid.shapes.output).lengths(&lengths))
        .unwrap();

    let xt = Tensor::new(shape, x).unwrap();
    let cpu_mid = first.forward(&Input::new(&xt).lengths(&lengths)).unwrap();
    let cpu_out = second
        .forward(&Input::new(&cpu_mid.output).lengths(&lengths))
        .unwrap();
    common::assert_close(
        "chained output",
        &read(ctx, &out.output, t * b * 7),
        cpu_out.output.data(),
        TOLERANCE,
        TOLERANCE,
    );
    common::assert_close(
        "h_n",
        &read(ctx, &out.h_n, b * 7),
        cpu_out.h_n.data(),
        TOLERANCE,
        TOLERANCE,
    );
    let c_n = out.c_n.as_ref().expect("LSTM has c_n");
    common::assert_close(
        "c_n",
        &read(ctx, c_n, b * 7),
        cpu_out.c_n.unwrap().data(),
        TOLERANCE,
        TOLERANCE,
    );

    let input = GpuInput::new(&buffer, &shape).lengths(&lengths);
    assert_forward_gpu_into(ctx, "first stack", &g1, &input, cpu_mid.output.data());
}

/// A stack run as a wavefront from and into device buffers: every layer's `h_n` and `c_n`
/// come back from their own half of the wavefront's state.
#[test]
fn a_wavefront_stack_on_device_buffers_matches_the_cpu() {
    let Some(ctx) = common::gpu() else { return };
    let (t, b, i, h, layers) = (7, 3, 4, 6, 3);
    let model = rnn(RnnConfig::new(Kind::Lstm, i, h).num_layers(layers), 0.3);
    let x: Vec<f32> = (0..t * b * i).map(|n| (n as f32 * 0.17).sin()).collect();
    let lengths = [7, 3, 5];
    let buffer = upload(ctx, &x, BufferUsages::STORAGE);
    let mut gpu = model.to_gpu(ctx).unwrap();
    gpu.set_strategy(Strategy::Wavefront).unwrap();
    let out = gpu
        .forward_gpu(&GpuInput::new(&buffer, &[t, b, i]).lengths(&lengths))
        .unwrap();
    let cpu = model
        .forward(&Input::new(&Tensor::new([t, b, i], x).unwrap()).lengths(&lengths))
        .unwrap();
    let c_n = out.c_n.as_ref().expect("LSTM has c_n");
    for (what, buffer, want) in [
        ("output", &out.output, cpu.output.data()),
        ("h_n", &out.h_n, cpu.h_n.data()),
        ("c_n", c_n, cpu.c_n.as_ref().unwrap().data()),
    ] {
        let got = read(ctx, buffer, want.len());
        common::assert_close(
            &format!("wavefront {what}"),
            &got,
            want,
            TOLERANCE,
            TOLERANCE,
        );
    }
}

#[test]
fn unusable_buffers_and_layouts_are_typed_errors() {
    let Some(ctx) = common::gpu() else { return };
    let gru = rnn(RnnConfig::new(Kind::Gru, 2, 3), 0.3)
        .to_gpu(ctx)
        .unwrap();
    let data = vec![0.5; 2 * 3 * 2];
    let no_storage = upload(ctx, &data, BufferUsages::COPY_SRC);
    let err = gru
        .forward_gpu(&GpuInput::new(&no_storage, &[2, 3, 2]))
        .unwrap_err();
    assert!(
        matches!(err, Error::GpuBuffer { arg: "input", .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("STORAGE"), "{err}");

    let small = upload(ctx, &data, BufferUsages::STORAGE);
    let err = gru
        .forward_gpu(&GpuInput::new(&small, &[4, 3, 2]))
        .unwrap_err();
    assert!(matches!(err, Error::GpuBuffer { .. }), "{err:?}");
    assert!(
        err.to_string().contains("48 bytes") && err.to_string().contains("96"),
        "{err}"
    );

    let err = gru
        .forward_gpu(&GpuInput::new(&small, &[2, 3, 5]))
        .unwrap_err();
    assert!(matches!(err, Error::InputSize { .. }), "{err:?}");

    let no_copy = upload(ctx, &data, BufferUsages::STORAGE);
    let err = gru
        .forward_gpu_into(&GpuInput::new(&small, &[2, 3, 2]), &no_copy)
        .unwrap_err();
    assert!(
        matches!(err, Error::GpuBuffer { arg: "output", .. }),
        "{err:?}"
    );
}
