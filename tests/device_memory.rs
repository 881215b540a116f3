//! What a model's weights take on the device (`GpuRnn::weight_bytes`): an upload holds W_hh
//! once, in the per-step kernel's rows; the first sequence pass adds it packed by unit, and
//! the first wavefront pass every layer's recurrent weights in one buffer. Each layout is
//! made on the device from the rows (shaders/pack.wesl), so every strategy must still agree.

mod common;

use wgpu_rnn::{Input, Kind, Precision, Rnn, RnnConfig, Strategy, Tensor};

fn random_model(config: RnnConfig) -> Rnn {
    let k = 1.0 / (config.hidden_size as f32).sqrt();
    Rnn::from_fn(config, |name, shape| {
        let salt = name.bytes().map(f32::from).sum::<f32>();
        (0..shape.iter().product::<usize>())
            .map(|i| ((i as f32 * 0.618_034 + salt).sin() * 43_758.547).fract() * k)
            .collect()
    })
    .unwrap()
}

fn input(t: usize, b: usize, i: usize) -> Tensor {
    let data = (0..t * b * i).map(|v| (v as f32 * 0.37).sin()).collect();
    Tensor::new([t, b, i], data).unwrap()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn w_hh_is_held_once_until_a_sequence_pass_packs_it_by_unit() {
    let Some(ctx) = common::gpu() else { return };
    let (i, h) = (64, 256);
    for kind in [Kind::Lstm, Kind::Gru] {
        let rnn = random_model(RnnConfig::new(kind, i, h));
        let x = input(6, 3, i);
        let g = kind.gate_count() as u64;
        let (i, h) = (i as u64, h as u64);
        for precision in [Precision::F32, Precision::F16] {
            let label = format!("{kind:?} H={h} {precision}");
            let w = precision.bytes_per_weight() as u64;
            // W_ih packed for the input projection keeps a unit's gates in one vec4 (a GRU's
            // fourth lane zero): 4H rows, as is its bias. W_hh in rows: gH x H. The f32
            // biases, and an empty W_hr's one-vec4 placeholder.
            let uploaded = (4 * h * i + g * h * h) * w + 4 * (4 * h + g * h) + 16;
            let mut gpu = rnn.to_gpu_with(ctx, precision).unwrap();
            assert_eq!(gpu.weight_bytes(), uploaded, "{label}: after the upload");
            gpu.set_strategy(Strategy::PerStep).unwrap();
            let per_step = gpu.forward(&Input::new(&x)).unwrap();
            assert_eq!(gpu.weight_bytes(), uploaded, "{label}: a per-step pass");
            gpu.set_strategy(Strategy::Sequence).unwrap();
            let sequence = gpu.forward(&Input::new(&x)).unwrap();
            // Packed by unit: four gate slots per unit, each a column of H weights.
            let by_unit = 4 * h * h * w;
            assert_eq!(
                gpu.weight_bytes(),
                uploaded + by_unit,
                "{label}: the first sequence pass"
            );
            let again = gpu.forward(&Input::new(&x)).unwrap();
            assert_eq!(gpu.weight_bytes(), uploaded + by_unit, "{label}: kept");
            // The kernels sum in different orders: f32 rounding apart, on both precisions.
            let diff = max_abs_diff(per_step.output.data(), sequence.output.data());
            assert!(
                diff < 1e-5,
                "{label}: per-step vs sequence differ by {diff}"
            );
            assert_eq!(sequence.output.data(), again.output.data(), "{label}");
        }
    }
}

#[test]
fn a_wavefront_pass_packs_every_layer_from_its_rows() {
    let Some(ctx) = common::gpu() else { return };
    let (i, h, layers) = (12, 40, 3);
    let rnn = random_model(RnnConfig::new(Kind::Lstm, i, h).num_layers(layers));
    let x = input(9, 2, i);
    let cpu = rnn.forward(&Input::new(&x)).unwrap();
    for precision in [Precision::F32, Precision::F16] {
        let mut gpu = rnn.to_gpu_with(ctx, precision).unwrap();
        let uploaded = gpu.weight_bytes();
        gpu.set_strategy(Strategy::Wavefront).unwrap();
        let wave = gpu.forward(&Input::new(&x)).unwrap();
        let w = precision.bytes_per_weight() as u64;
        let (h, layers) = (h as u64, layers as u64);
        // At least each layer's W_hh packed by unit, 4H x H.
        let gathered = gpu.weight_bytes() - uploaded;
        assert!(
            gathered >= layers * 4 * h * h * w,
            "{precision}: {gathered} bytes"
        );
        let reference = rnn.with_precision(precision).unwrap();
        let want = reference.forward(&Input::new(&x)).unwrap();
        let diff = max_abs_diff(wave.output.data(), want.output.data());
        assert!(
            diff < 1e-4,
            "{precision}: wavefront vs CPU differ by {diff}"
        );
        // Against the unrounded model f16 must differ: the rows it packed were halves.
        if precision == Precision::F16 {
            let unrounded = max_abs_diff(wave.output.data(), cpu.output.data());
            assert!(unrounded > diff, "f16 wavefront is no nearer f16 weights");
        }
    }
}
