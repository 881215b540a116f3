//! `batch_first` models on device buffers: `(B, T, I)` in, `(B, T, D*H_out)` out, the states
//! `(D*L, B, H)` as always, every value as the host forward gives it.

use super::*;

/// A batch-first resident pass (and `forward_gpu_into`) against the host forward of the same
/// model over the same `(B, T, I)` data (or `(T, I)` where `b` is 0).
fn check(ctx: &GpuContext, what: &str, config: RnnConfig, b: usize, t: usize, states: bool) {
    let model = rnn(config.clone().batch_first(true), 0.5);
    let gpu = model.to_gpu(ctx).unwrap();
    let i = config.input_size;
    let shape = match b {
        0 => vec![t, i],
        b => vec![b, t, i],
    };
    let x = Tensor::new(shape.clone(), values(shape.iter().product(), 0.15)).unwrap();
    let buffer = upload(ctx, x.data(), BufferUsages::STORAGE);
    // Sequences of different lengths, in no order.
    let lengths: Vec<usize> = (0..b).map(|s| t - (s * 2) % t).collect();
    let mut input = GpuInput::new(&buffer, &shape);
    let mut host = Input::new(&x);
    if b > 1 {
        input = input.lengths(&lengths);
        host = host.lengths(&lengths);
    }
    let shapes = model
        .config()
        .check(&wgpu_rnn::InputShapes::new(&shape))
        .unwrap();
    let h = Tensor::new(
        shapes.h_n.clone(),
        values(shapes.h_n.iter().product(), 0.25),
    )
    .unwrap();
    let h_buffer = upload(ctx, h.data(), BufferUsages::COPY_SRC);
    let c_shape = shapes.c_n.clone().unwrap_or_default();
    let c = Tensor::new(c_shape.clone(), values(c_shape.iter().product(), 0.35)).unwrap();
    let c_buffer = upload(ctx, c.data(), BufferUsages::COPY_SRC);
    if states {
        input = input.h0(&h_buffer, &shapes.h_n);
        host = host.h0(&h);
        if shapes.c_n.is_some() {
            input = input.c0(&c_buffer, &c_shape);
            host = host.c0(&c);
        }
    }
    let want = model.forward(&host).unwrap();
    let got = gpu.forward_gpu(&input).unwrap();
    assert_eq!(got.shapes, shapes, "{what}");
    assert_matches(ctx, what, &got, &want);

    assert_forward_gpu_into(ctx, what, &gpu, &input, want.output.data());
}

#[test]
fn batch_first_input_and_output_match_the_host_forward() {
    let Some(ctx) = common::gpu() else { return };
    let gru = RnnConfig::new(Kind::Gru, 4, 5).bidirectional(true);
    check(ctx, "GRU, bidirectional, lengths", gru.clone(), 3, 6, false);
    let lstm = RnnConfig::new(Kind::Lstm, 3, 6).num_layers(2).proj_size(4);
    check(ctx, "LSTM, proj_size, h0 and c0", lstm.clone(), 4, 5, true);
    let rnn_relu = RnnConfig::new(Kind::RnnRelu, 5, 7).num_layers(2);
    check(ctx, "RNN, 2 layers, h0", rnn_relu, 2, 9, true);
    // One sequence, one step, or no batch axis: the layouts are the same bytes.
    check(ctx, "GRU, one sequence", gru.clone(), 1, 6, true);
    check(ctx, "LSTM, one step", lstm, 3, 1, true);
    check(ctx, "GRU, unbatched", gru, 0, 6, true);
}

/// Every strategy reads the time-major copy of the input and fills the one given back.
#[test]
fn batch_first_runs_with_every_strategy() {
    let Some(ctx) = common::gpu() else { return };
    let config = RnnConfig::new(Kind::Lstm, 4, 6)
        .num_layers(2)
        .batch_first(true);
    let model = rnn(config, 0.45);
    let (b, t) = (3, 7);
    let x = Tensor::new([b, t, 4], values(b * t * 4, 0.55)).unwrap();
    let buffer = upload(ctx, x.data(), BufferUsages::STORAGE);
    let want = model.forward(&Input::new(&x)).unwrap();
    for strategy in [Strategy::PerStep, Strategy::Sequence, Strategy::Wavefront] {
        let mut gpu = model.to_gpu(ctx).unwrap();
        gpu.set_strategy(strategy).unwrap();
        let got = gpu.forward_gpu(&GpuInput::new(&buffer, x.shape())).unwrap();
        assert_matches(ctx, &format!("{strategy:?}"), &got, &want);
    }
}

/// A resident `batch_first` stack's output feeds another `batch_first` stack as it is.
#[test]
fn batch_first_stacks_chain_on_the_gpu() {
    let Some(ctx) = common::gpu() else { return };
    let (b, t) = (3, 5);
    let first = rnn(
        RnnConfig::new(Kind::Gru, 2, 4)
            .bidirectional(true)
            .batch_first(true),
        0.1,
    );
    let second = rnn(RnnConfig::new(Kind::Lstm, 8, 3).batch_first(true), 0.2);
    let x = Tensor::new([b, t, 2], values(b * t * 2, 0.3)).unwrap();
    let buffer = upload(ctx, x.data(), BufferUsages::STORAGE);
    let mid = first
        .to_gpu(ctx)
        .unwrap()
        .forward_gpu(&GpuInput::new(&buffer, x.shape()))
        .unwrap();
    assert_eq!(mid.shapes.output, vec![b, t, 8]);
    let out = second
        .to_gpu(ctx)
        .unwrap()
        .forward_gpu(&GpuInput::new(&mid.output, &mid.shapes.output))
        .unwrap();
    let host_mid = first.forward(&Input::new(&x)).unwrap();
    let want = second.forward(&Input::new(&host_mid.output)).unwrap();
    assert_matches(ctx, "chained", &out, &want);
}
