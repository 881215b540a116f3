//! Faults are errors, not panics: a lost device, errors wgpu reports outside any call of ours,
//! and a new context after a loss.

mod common;

use wgpu_rnn::{Error, GpuContext, Input, Kind, Rnn, RnnConfig, Tensor};

fn small_rnn() -> Rnn {
    Rnn::from_fn(RnnConfig::new(Kind::Gru, 3, 5), |_, shape| {
        (0..shape.iter().product::<usize>())
            .map(|i| (i as f32 * 0.3).sin() * 0.4)
            .collect()
    })
    .unwrap()
}

fn input() -> Tensor {
    Tensor::new([4, 2, 3], (0..24).map(|i| i as f32 * 0.1).collect()).unwrap()
}

/// A context of its own (the shared test context must not be destroyed).
fn own_context() -> Option<GpuContext> {
    common::gpu()?;
    Some(
        GpuContext::new()
            .or_else(|_| GpuContext::software())
            .unwrap(),
    )
}

#[test]
fn a_destroyed_device_is_an_error_and_a_new_context_works() {
    let Some(ctx) = own_context() else { return };
    let rnn = small_rnn();
    let x = input();
    let gpu = rnn.to_gpu(&ctx).unwrap();
    let before = gpu.forward(&Input::new(&x)).unwrap();

    ctx.device().destroy();
    let err = gpu.forward(&Input::new(&x)).unwrap_err();
    assert!(
        matches!(err, Error::DeviceLost { .. } | Error::Gpu { .. }),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("lost") || err.to_string().contains("GPU error"),
        "{err}"
    );
    // Uploading to the lost device fails the same way, without a panic.
    assert!(rnn.to_gpu(&ctx).is_err());

    // The caller recovers with a new context.
    let fresh = GpuContext::new()
        .or_else(|_| GpuContext::software())
        .unwrap();
    let after = rnn
        .to_gpu(&fresh)
        .unwrap()
        .forward(&Input::new(&x))
        .unwrap();
    assert_eq!(
        before.output.data(),
        after.output.data(),
        "same adapter, same kernels: bit-identical"
    );
}

#[test]
fn errors_outside_our_calls_surface_in_the_next_call() {
    let Some(ctx) = own_context() else { return };
    let gpu = small_rnn().to_gpu(&ctx).unwrap();
    // An application mistake on the crate's device, outside any error scope: wgpu's default
    // handler would panic; the context records it and the next call reports it.
    let _bad = ctx.device().create_buffer(&wgpu::BufferDescriptor {
        label: Some("invalid: MAP_READ with MAP_WRITE"),
        size: 16,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::MAP_WRITE,
        mapped_at_creation: false,
    });
    let x = input();
    let err = gpu.forward(&Input::new(&x)).unwrap_err();
    assert!(matches!(err, Error::Gpu { .. }), "{err:?}");
    // Reported once; the context stays usable.
    gpu.forward(&Input::new(&x)).unwrap();
}

#[test]
fn non_finite_inputs_propagate_or_are_rejected_on_request() {
    let rnn = small_rnn();
    let mut data: Vec<f32> = (0..24).map(|i| i as f32 * 0.1).collect();
    data[13] = f32::NAN; // t=2, b=0, feature 1
    let x = Tensor::new([4, 2, 3], data).unwrap();

    let err = rnn
        .forward(&Input::new(&x).reject_non_finite())
        .unwrap_err();
    match &err {
        Error::NonFiniteInput {
            arg, index, value, ..
        } => {
            assert_eq!((*arg, index.as_slice()), ("input", &[2, 0, 1][..]));
            assert!(value.is_nan());
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("(2, 0, 1)"), "{err}");

    // Without the check NaN propagates from the step it enters, on both paths alike.
    let cpu = rnn.forward(&Input::new(&x)).unwrap();
    let width = 5;
    let at = |t: usize, b: usize| &cpu.output.data()[(t * 2 + b) * width..][..width];
    assert!(at(1, 0).iter().all(|v| v.is_finite()), "before the NaN");
    assert!(at(2, 0).iter().all(|v| v.is_nan()), "from the NaN on");
    assert!(
        at(3, 1).iter().all(|v| v.is_finite()),
        "the other sequence is untouched"
    );
    if let Some(ctx) = common::gpu() {
        let gpu = rnn.to_gpu(ctx).unwrap().forward(&Input::new(&x)).unwrap();
        for (i, (g, c)) in gpu.output.data().iter().zip(cpu.output.data()).enumerate() {
            assert_eq!(g.is_nan(), c.is_nan(), "NaN pattern differs at {i}");
        }
        let err = rnn
            .to_gpu(ctx)
            .unwrap()
            .forward(&Input::new(&x).reject_non_finite())
            .unwrap_err();
        assert!(matches!(err, Error::NonFiniteInput { .. }));
    }
}

#[test]
fn relu_keeps_nan_as_pytorch_does() {
    // torch.relu(nan) is nan; max(nan, 0) would silently give 0.
    let rnn = Rnn::from_fn(RnnConfig::new(Kind::RnnRelu, 1, 2), |_, shape| {
        vec![0.5; shape.iter().product()]
    })
    .unwrap();
    let x = Tensor::new([3, 1], vec![1.0, f32::NAN, 1.0]).unwrap();
    let cpu = rnn.forward(&Input::new(&x)).unwrap();
    let nan_from_step_1 =
        |out: &[f32]| out[..2].iter().all(|v| v.is_finite()) && out[2..].iter().all(|v| v.is_nan());
    assert!(
        nan_from_step_1(cpu.output.data()),
        "cpu: {:?}",
        cpu.output.data()
    );
    if let Some(ctx) = common::gpu() {
        for strategy in [wgpu_rnn::Strategy::PerStep, wgpu_rnn::Strategy::Sequence] {
            let mut gpu = rnn.to_gpu(ctx).unwrap();
            gpu.set_strategy(strategy).unwrap();
            let out = gpu.forward(&Input::new(&x)).unwrap();
            assert!(
                nan_from_step_1(out.output.data()),
                "{strategy:?}: {:?}",
                out.output.data()
            );
        }
    }
    // And -Inf below zero is exactly 0 (the GPU decides on the bits: shaders/common.wesl).
    let x = Tensor::new([3, 1], vec![1.0, f32::NEG_INFINITY, 1.0]).unwrap();
    let cpu = rnn.forward(&Input::new(&x)).unwrap();
    assert_eq!(cpu.output.data()[2..4], [0.0, 0.0], "cpu");
    if let Some(ctx) = common::gpu() {
        for strategy in [wgpu_rnn::Strategy::PerStep, wgpu_rnn::Strategy::Sequence] {
            let mut gpu = rnn.to_gpu(ctx).unwrap();
            gpu.set_strategy(strategy).unwrap();
            let out = gpu.forward(&Input::new(&x)).unwrap();
            // Exactly: with these weights every value is a sum of halves.
            assert_eq!(out.output.data(), cpu.output.data(), "{strategy:?}");
        }
    }
}
