//! The crate inside an application that owns its wgpu device: the context is built from the
//! application's `Device` + `Queue`, and results match the CPU path.

mod common;

use wgpu_rnn::{GpuContext, Input, Kind, Rnn, RnnConfig, Tensor};

/// The application's own device, requested the way a renderer would (default limits), or
/// `None` when no adapter exists (then `common::gpu()` has already failed on CI).
fn application_device() -> Option<(wgpu::Device, wgpu::Queue)> {
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapter = pollster::block_on(instance.request_adapter(&Default::default())).ok()?;
    pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
        label: Some("application device"),
        required_limits: wgpu::Limits::default().using_resolution(adapter.limits()),
        ..Default::default()
    }))
    .ok()
}

#[test]
fn runs_on_a_device_the_application_owns() {
    // common::gpu() enforces the CI rule (no adapter on CI is a failure).
    if common::gpu().is_none() {
        return;
    }
    let (device, queue) = application_device().expect("an adapter exists, so must a device");
    let ctx = GpuContext::from_device(device.clone(), queue).unwrap();
    assert!(
        ctx.adapter_info().is_none(),
        "the crate did not pick the adapter"
    );

    let config = RnnConfig::new(Kind::Lstm, 5, 9)
        .num_layers(2)
        .bidirectional(true);
    let rnn = Rnn::from_fn(config, |name, shape| {
        let n: usize = shape.iter().product();
        let salt = name.len() as f32;
        (0..n)
            .map(|i| ((i as f32 * 0.37 + salt).sin()) * 0.3)
            .collect()
    })
    .unwrap();
    let x = Tensor::new(
        [7, 3, 5],
        (0..105).map(|i| (i as f32 * 0.11).cos()).collect(),
    )
    .unwrap();
    let input = Input::new(&x).lengths(&[7, 2, 5]);

    let gpu = rnn.to_gpu(&ctx).unwrap().forward(&input).unwrap();
    let cpu = rnn.forward(&input).unwrap();
    // Short sequences of O(0.3) weights: float32 summation order differs by a few ulp.
    common::assert_close("output", gpu.output.data(), cpu.output.data(), 1e-5, 1e-5);
    common::assert_close("h_n", gpu.h_n.data(), cpu.h_n.data(), 1e-5, 1e-5);
    let (gc, cc) = (gpu.c_n.unwrap(), cpu.c_n.unwrap());
    common::assert_close("c_n", gc.data(), cc.data(), 1e-5, 1e-5);

    // The application's device stays usable for its own work afterwards.
    let buffer = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("application buffer"),
        size: 16,
        usage: wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    ctx.queue().write_buffer(&buffer, 0, &[0u8; 16]);
    ctx.queue().submit([]);
}
