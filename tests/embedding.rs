//! The crate inside an application that owns its wgpu device: the context is built from the
//! application's `Device` + `Queue`, and results match the CPU path.

mod common;

use rand::{rngs::StdRng, Rng, SeedableRng};
use wgpu_rnn::{GpuContext, Input, Kind, Rnn, RnnConfig, Strategy, Tensor};

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
    let info = device.adapter_info();
    let ctx = GpuContext::from_device(device.clone(), queue).unwrap();
    assert_eq!(
        ctx.adapter_info().map(|i| (&i.name, i.device_type)),
        Some((&info.name, info.device_type)),
        "the context knows the adapter the application's device came from"
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

/// A software adapter's device as an application would hand it in: the first CPU adapter
/// wgpu enumerates, with the adapter's limits. `None` locally without one; on CI lavapipe is
/// installed, so its absence is a failure.
fn application_software_device() -> Option<(wgpu::Device, wgpu::Queue)> {
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapter = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()))
        .into_iter()
        .find(|a| a.get_info().device_type == wgpu::DeviceType::Cpu);
    let Some(adapter) = adapter else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but no software adapter was found; install mesa-vulkan-drivers"
        );
        eprintln!("!!! SKIPPING GPU TEST: no software adapter !!!");
        return None;
    };
    eprintln!("software device from: {:?}", adapter.get_info());
    pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
        label: Some("application software device"),
        required_limits: adapter.limits(),
        ..Default::default()
    }))
    .ok()
}

/// llvmpipe ends every loop of an invocation after 65,535 iterations and the result is then
/// silently wrong; the crate cuts its passes to stay under that on software adapters. A
/// software device handed in through `from_device` must get the same guard: before the
/// context asked the device for its adapter, this model came back with max |GPU - CPU| = 0.77.
#[test]
fn a_software_device_from_the_application_keeps_the_loop_limit_guard() {
    let Some((device, queue)) = application_software_device() else {
        return;
    };
    let ctx = GpuContext::from_device(device, queue).unwrap();
    assert_eq!(
        ctx.adapter_info().map(|i| i.device_type),
        Some(wgpu::DeviceType::Cpu)
    );
    let (t, b, input_size, hidden) = (600, 1, 16, 1024);
    let config = RnnConfig::new(Kind::Gru, input_size, hidden);
    let mut rng = StdRng::seed_from_u64(1800);
    // PyTorch's init range, U(-1/sqrt(H), 1/sqrt(H)), keeps the state away from saturation.
    let scale = 1.0 / (hidden as f32).sqrt();
    let rnn = Rnn::from_fn(config, |_, shape| {
        let n: usize = shape.iter().product();
        (0..n).map(|_| rng.random_range(-scale..scale)).collect()
    })
    .unwrap();
    let x = Tensor::new(
        [t, b, input_size],
        (0..t * b * input_size)
            .map(|i| (i as f32 * 0.013).sin())
            .collect(),
    )
    .unwrap();
    let input = Input::new(&x);
    let cpu = rnn.forward(&input).unwrap();
    // The software plan, and a GPU's plan on the same device (GpuContext::with_gpu_plan),
    // whose sequence kernel would otherwise take chunks longer than the loop budget.
    for (plan, ctx) in [
        ("software plan", ctx.clone()),
        ("GPU plan", ctx.with_gpu_plan()),
    ] {
        let mut gpu = rnn.to_gpu(&ctx).unwrap();
        for strategy in [Strategy::Auto, Strategy::PerStep, Strategy::Sequence] {
            if gpu.set_strategy(strategy).is_err() {
                continue; // a strategy this width cannot take is refused, not run wrong
            }
            let out = gpu.forward(&input).unwrap();
            // 600 steps of a contracting map: float32 summation order differs by a few ulp a
            // step.
            for (name, got, want) in [
                ("output", &out.output, &cpu.output),
                ("h_n", &out.h_n, &cpu.h_n),
            ] {
                let what = format!("{plan} {strategy:?} {name}");
                common::assert_close(&what, got.data(), want.data(), 1e-4, 1e-4);
            }
        }
    }
}
