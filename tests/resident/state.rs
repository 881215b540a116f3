//! `h0` and `c0` from device buffers: the same results and the same errors as the host
//! forward with the same states.

use super::*;

/// One resident pass with the given states against the host forward with the same.
struct Case {
    what: &'static str,
    config: RnnConfig,
    /// `(T, B, I)`, or `(T, I)` unbatched where `b` is 0.
    t: usize,
    b: usize,
    lengths: Option<Vec<usize>>,
    h0: bool,
    c0: bool,
}

impl Case {
    fn run(&self, ctx: &GpuContext) {
        let config = &self.config;
        let model = rnn(config.clone(), 0.4);
        let gpu = model.to_gpu(ctx).unwrap();
        let stacked = config.num_layers * if config.bidirectional { 2 } else { 1 };
        let h_out = if config.proj_size > 0 {
            config.proj_size
        } else {
            config.hidden_size
        };
        let lead = |width: usize| match self.b {
            0 => vec![stacked, width],
            b => vec![stacked, b, width],
        };
        let x_shape = match self.b {
            0 => vec![self.t, config.input_size],
            b => vec![self.t, b, config.input_size],
        };
        let (h_shape, c_shape) = (lead(h_out), lead(config.hidden_size));
        let tensor = |shape: &[usize], salt| {
            Tensor::new(shape, values(shape.iter().product(), salt)).unwrap()
        };
        let x = tensor(&x_shape, 0.1);
        let h0 = tensor(&h_shape, 0.2);
        let c0 = tensor(&c_shape, 0.3);

        let usage = BufferUsages::STORAGE | BufferUsages::COPY_SRC;
        let x_buffer = upload(ctx, x.data(), usage);
        let h_buffer = upload(ctx, h0.data(), BufferUsages::COPY_SRC);
        let c_buffer = upload(ctx, c0.data(), BufferUsages::COPY_SRC);
        let mut input = GpuInput::new(&x_buffer, &x_shape);
        let mut host = Input::new(&x);
        if let Some(lengths) = &self.lengths {
            input = input.lengths(lengths);
            host = host.lengths(lengths);
        }
        if self.h0 {
            input = input.h0(&h_buffer, &h_shape);
            host = host.h0(&h0);
        }
        if self.c0 {
            input = input.c0(&c_buffer, &c_shape);
            host = host.c0(&c0);
        }
        let want = model.forward(&host).unwrap();
        let got = gpu.forward_gpu(&input).unwrap();
        assert_matches(ctx, self.what, &got, &want);

        // forward_gpu_into starts from the same state.
        assert_forward_gpu_into(ctx, self.what, &gpu, &input, want.output.data());
    }
}

#[test]
fn h0_and_c0_on_the_gpu_match_the_host_forward() {
    let Some(ctx) = common::gpu() else { return };
    let lengths = Some(vec![6, 2, 4]);
    let cases = [
        Case {
            what: "GRU, 2 layers, bidirectional, lengths",
            config: RnnConfig::new(Kind::Gru, 4, 5)
                .num_layers(2)
                .bidirectional(true),
            t: 6,
            b: 3,
            lengths: lengths.clone(),
            h0: true,
            c0: false,
        },
        Case {
            what: "LSTM, proj_size, 2 layers",
            config: RnnConfig::new(Kind::Lstm, 3, 6).num_layers(2).proj_size(4),
            t: 5,
            b: 2,
            lengths: None,
            h0: true,
            c0: true,
        },
        Case {
            what: "LSTM, proj_size, bidirectional, lengths",
            config: RnnConfig::new(Kind::Lstm, 4, 5)
                .proj_size(3)
                .bidirectional(true),
            t: 6,
            b: 3,
            lengths: lengths.clone(),
            h0: true,
            c0: true,
        },
        Case {
            what: "LSTM, bidirectional, c0 alone",
            config: RnnConfig::new(Kind::Lstm, 4, 7).bidirectional(true),
            t: 6,
            b: 3,
            lengths,
            h0: false,
            c0: true,
        },
        Case {
            what: "RNN, unbatched",
            config: RnnConfig::new(Kind::RnnTanh, 3, 8).num_layers(2),
            t: 7,
            b: 0,
            lengths: None,
            h0: true,
            c0: false,
        },
    ];
    for case in &cases {
        case.run(ctx);
    }
}

/// A sequence run in two calls, the second starting from the first's `h_n`/`c_n` buffers
/// (which have `COPY_SRC`), equals one call over the whole sequence.
#[test]
fn a_pass_continues_from_the_state_another_left_on_the_gpu() {
    let Some(ctx) = common::gpu() else { return };
    let (t, b, i, h) = (8, 2, 3, 5);
    let model = rnn(RnnConfig::new(Kind::Lstm, i, h).num_layers(2), 0.6);
    let gpu = model.to_gpu(ctx).unwrap();
    let x = values(t * b * i, 0.7);
    let half = t / 2 * b * i;
    let first = upload(ctx, &x[..half], BufferUsages::STORAGE);
    let second = upload(ctx, &x[half..], BufferUsages::STORAGE);
    let shape = [t / 2, b, i];
    let a = gpu.forward_gpu(&GpuInput::new(&first, &shape)).unwrap();
    let c_n = a.c_n.as_ref().unwrap();
    let got = gpu
        .forward_gpu(
            &GpuInput::new(&second, &shape)
                .h0(&a.h_n, &a.shapes.h_n)
                .c0(c_n, a.shapes.c_n.as_ref().unwrap()),
        )
        .unwrap();
    let whole = model
        .forward(&Input::new(&Tensor::new([t, b, i], x).unwrap()))
        .unwrap();
    let second_half = &whole.output.data()[t / 2 * b * h..];
    common::assert_close(
        "second half",
        &read(ctx, &got.output, second_half.len()),
        second_half,
        TOLERANCE,
        TOLERANCE,
    );
    let h_n = read(ctx, &got.h_n, whole.h_n.data().len());
    common::assert_close("h_n", &h_n, whole.h_n.data(), TOLERANCE, TOLERANCE);
}

/// `forward_gpu` keeps no pass between calls; were it to, the second call must still start
/// from zeros. (The kept pass of `GpuSequential` is checked in the crate's unit tests.)
#[test]
fn a_pass_without_h0_after_one_with_h0_starts_from_zeros() {
    let Some(ctx) = common::gpu() else { return };
    let (t, b, i, h) = (5, 3, 4, 6);
    let model = rnn(RnnConfig::new(Kind::Lstm, i, h).bidirectional(true), 0.8);
    let gpu = model.to_gpu(ctx).unwrap();
    let x = Tensor::new([t, b, i], values(t * b * i, 0.9)).unwrap();
    let buffer = upload(ctx, x.data(), BufferUsages::STORAGE);
    let states = upload(ctx, &values(2 * b * h, 1.0), BufferUsages::COPY_SRC);
    let shape = [2, b, h];
    let input = GpuInput::new(&buffer, x.shape());
    let with = gpu
        .forward_gpu(&input.h0(&states, &shape).c0(&states, &shape))
        .unwrap();
    drop(with);
    let without = gpu.forward_gpu(&input).unwrap();
    let want = model.forward(&Input::new(&x)).unwrap();
    assert_matches(ctx, "second call, zero state", &without, &want);
}

#[test]
fn unusable_states_are_the_host_errors_or_typed_buffer_errors() {
    let Some(ctx) = common::gpu() else { return };
    let (t, b, i, h) = (5, 3, 2, 5);
    let gru = rnn(RnnConfig::new(Kind::Gru, i, h).num_layers(2), 0.3);
    let gpu = gru.to_gpu(ctx).unwrap();
    let x = Tensor::new([t, b, i], values(t * b * i, 0.1)).unwrap();
    let buffer = upload(ctx, x.data(), BufferUsages::STORAGE);
    let input = GpuInput::new(&buffer, x.shape());
    let state = upload(ctx, &values(2 * b * h, 0.2), BufferUsages::COPY_SRC);

    // Shape errors: exactly the host's (the argument, both shapes, the likely fix).
    for (what, h0_shape) in [
        ("one layer's h0 for two layers", vec![1, b, h]),
        ("h0 with the wrong width", vec![2, b, h + 1]),
        ("h0 for another batch", vec![2, b + 1, h]),
        ("h0 for a batch of T: the axes swapped", vec![2, t, h]),
        ("h0 for one sequence", vec![2, 1, h + 1]),
    ] {
        let bad = Tensor::zeros(h0_shape.clone()).unwrap();
        let host = gru.forward(&Input::new(&x).h0(&bad)).unwrap_err();
        let err = gpu.forward_gpu(&input.h0(&state, &h0_shape)).unwrap_err();
        assert_eq!(err.to_string(), host.to_string(), "{what}");
        if let Error::StateShape { arg, got, .. } = &err {
            assert_eq!((*arg, got), ("h0", &h0_shape), "{what}");
        }
    }
    let err = gpu.forward_gpu(&input.h0(&state, &[1, b, h])).unwrap_err();
    assert!(
        matches!(&err, Error::StateShape { arg: "h0", expected, .. } if expected == &[2, b, h]),
        "{err:?}"
    );

    // c0 on a GRU: the host's error.
    let c0 = Tensor::zeros([2, b, h]).unwrap();
    let host = gru.forward(&Input::new(&x).c0(&c0)).unwrap_err();
    let err = gpu.forward_gpu(&input.c0(&state, &[2, b, h])).unwrap_err();
    assert!(
        matches!(err, Error::UnexpectedState { arg: "c0", .. }),
        "{err:?}"
    );
    assert_eq!(err.to_string(), host.to_string());

    // A buffer the pass cannot copy from, or smaller than its shape.
    let no_copy = upload(ctx, &values(2 * b * h, 0.2), BufferUsages::STORAGE);
    let err = gpu
        .forward_gpu(&input.h0(&no_copy, &[2, b, h]))
        .unwrap_err();
    assert!(matches!(err, Error::GpuBuffer { arg: "h0", .. }), "{err:?}");
    assert!(err.to_string().contains("COPY_SRC"), "{err}");
    let small = upload(ctx, &values(b * h, 0.2), BufferUsages::COPY_SRC);
    let err = gpu.forward_gpu(&input.h0(&small, &[2, b, h])).unwrap_err();
    assert!(matches!(err, Error::GpuBuffer { arg: "h0", .. }), "{err:?}");
    let needed = 2 * b * h * 4;
    assert!(
        err.to_string().contains(&format!(
            "holds {} bytes but the shape needs {needed}",
            b * h * 4
        )),
        "{err}"
    );
    let lstm = rnn(RnnConfig::new(Kind::Lstm, i, h), 0.3)
        .to_gpu(ctx)
        .unwrap();
    let err = lstm
        .forward_gpu(&input.c0(&small, &[1, b + 1, h]))
        .unwrap_err();
    assert!(
        matches!(&err, Error::StateShape { arg: "c0", .. }),
        "{err:?}"
    );
    let tiny = upload(ctx, &[0.0; 4], BufferUsages::COPY_SRC);
    let err = lstm.forward_gpu(&input.c0(&tiny, &[1, b, h])).unwrap_err();
    assert!(matches!(err, Error::GpuBuffer { arg: "c0", .. }), "{err:?}");
}
