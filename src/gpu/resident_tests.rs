//! The kept resident pass, which `GpuSequential` reuses for each recurrent stage while the
//! shape repeats: a reuse starts from the caller's `h0`/`c0` where given and from zeros where
//! not, whatever the pass before it started from. The public resident calls keep no pass, so
//! only a unit test reaches this path.

use wgpu::BufferUsages;

use super::buffers::{read_back, Wait};
use super::{GpuContext, GpuInput, GpuRnn, ResidentPass};
use crate::{Input, Kind, Output, Rnn, RnnConfig, Tensor};

/// The default adapter or a software one; a loud skip without either, a failure on CI.
pub(crate) fn context() -> Option<GpuContext> {
    match GpuContext::new().or_else(|_| GpuContext::software()) {
        Ok(ctx) => Some(ctx),
        Err(e) if std::env::var_os("CI").is_none() => {
            eprintln!("!!! SKIPPING GPU TEST: no adapter ({e}) !!!");
            None
        }
        Err(e) => panic!("CI is set but no GPU adapter was found ({e})"),
    }
}

fn values(n: usize, salt: f32) -> Vec<f32> {
    (0..n).map(|i| (i as f32 * 0.41 + salt).sin()).collect()
}

fn upload(ctx: &GpuContext, data: &[f32], usage: BufferUsages) -> wgpu::Buffer {
    ctx.buffer_with("test data", bytemuck::cast_slice(data), usage)
}

fn read(ctx: &GpuContext, buffer: &wgpu::Buffer, floats: usize) -> Vec<f32> {
    let (device, queue) = (ctx.device(), ctx.queue());
    let staging = ctx.staging("test read back", (floats * 4) as u64);
    let mut encoder = device.create_command_encoder(&Default::default());
    encoder.copy_buffer_to_buffer(buffer, 0, &staging, 0, (floats * 4) as u64);
    queue.submit([encoder.finish()]);
    pollster::block_on(read_back(device, &staging, Wait::Block)).unwrap()
}

/// Builds (or reuses) and submits a pass, as `GpuSequential` does.
fn run(gpu: &GpuRnn, cached: Option<ResidentPass>, input: &GpuInput<'_>) -> ResidentPass {
    let pass = gpu.resident_pass(cached, input).unwrap();
    let encoder = gpu.record_resident(&pass).unwrap();
    gpu.context().queue().submit([encoder.finish()]);
    pass
}

/// The pass's output, `h_n` and `c_n` against the host's; the GPU and CPU sum in different
/// orders on short sequences: float32 rounding only.
#[track_caller]
fn assert_matches(ctx: &GpuContext, what: &str, pass: &ResidentPass, want: &Output) {
    let c_n = want.c_n.as_ref().map_or(&[][..], Tensor::data);
    for (name, buffer, want) in [
        ("output", pass.output(), want.output.data()),
        ("h_n", &pass.state().h, want.h_n.data()),
        ("c_n", &pass.state().c, c_n),
    ] {
        let got = read(ctx, buffer, want.len());
        let worst = got
            .iter()
            .zip(want)
            .map(|(g, w)| (g - w).abs())
            .fold(0.0f32, f32::max);
        assert!(worst <= 1e-5, "{what}: {name} differs by {worst}");
    }
}

#[test]
fn a_kept_pass_starts_from_the_state_each_call_gives() {
    let Some(ctx) = context() else { return };
    let (t, b, i, h, p) = (6, 3, 4, 5, 3);
    let config = RnnConfig::new(Kind::Lstm, i, h)
        .proj_size(p)
        .bidirectional(true);
    let k = 1.0 / (h as f32).sqrt();
    let model = Rnn::from_fn(config, |_, shape| {
        values(shape.iter().product(), 0.3)
            .into_iter()
            .map(|v| v * k)
            .collect()
    })
    .unwrap();
    let gpu = model.to_gpu(&ctx).unwrap();
    let x = Tensor::new([t, b, i], values(t * b * i, 0.1)).unwrap();
    let h0 = Tensor::new([2, b, p], values(2 * b * p, 0.2)).unwrap();
    let c0 = Tensor::new([2, b, h], values(2 * b * h, 0.7)).unwrap();
    let lengths = [6, 2, 4];
    let x_buffer = upload(&ctx, x.data(), BufferUsages::STORAGE);
    let h_buffer = upload(&ctx, h0.data(), BufferUsages::COPY_SRC);
    let c_buffer = upload(&ctx, c0.data(), BufferUsages::COPY_SRC);
    let input = GpuInput::new(&x_buffer, x.shape()).lengths(&lengths);
    let host = Input::new(&x).lengths(&lengths);
    let forward = |input: &Input<'_>| model.forward(input).unwrap();

    let with = input.h0(&h_buffer, h0.shape()).c0(&c_buffer, c0.shape());
    let first = run(&gpu, None, &with);
    assert_matches(&ctx, "h0 and c0", &first, &forward(&host.h0(&h0).c0(&c0)));
    let kept = first.output().clone();

    let second = run(&gpu, Some(first), &input);
    assert_eq!(second.output(), &kept, "the pass was not reused");
    assert_matches(&ctx, "then zeros", &second, &forward(&host));

    let third = run(&gpu, Some(second), &input.h0(&h_buffer, h0.shape()));
    assert_eq!(third.output(), &kept, "the pass was not reused");
    assert_matches(&ctx, "then h0 alone", &third, &forward(&host.h0(&h0)));
}
