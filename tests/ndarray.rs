//! ndarray interop (feature `ndarray`): views in any layout become tensors in row-major
//! order, outputs come back as arrays, shapes are checked by the model as everywhere else.
#![cfg(feature = "ndarray")]

mod common;

use ndarray::{s, Array2, Array3, ShapeBuilder};
use wgpu_rnn::{Error, Input, Kind, Rnn, RnnConfig, Tensor};

fn gru() -> Rnn {
    Rnn::from_fn(RnnConfig::new(Kind::Gru, 3, 4), |_, shape| {
        (0..shape.iter().product::<usize>())
            .map(|i| (i as f32 * 0.3).sin() * 0.5)
            .collect()
    })
    .unwrap()
}

#[test]
fn views_of_any_layout_convert_in_row_major_order() {
    // Column-major storage and a strided slice both read back in logical order.
    let fortran = Array3::from_shape_fn((4, 2, 3).f(), |(t, b, i)| (t * 100 + b * 10 + i) as f32);
    let tensor = Tensor::from(fortran.view());
    assert_eq!(tensor.shape(), &[4, 2, 3]);
    assert_eq!(&tensor.data()[..4], &[0.0, 1.0, 2.0, 10.0]);
    let sliced = Tensor::from(fortran.slice(s![..;2, .., ..]));
    assert_eq!(sliced.shape(), &[2, 2, 3]);
    assert_eq!(sliced.data()[6], 200.0);
}

#[test]
fn outputs_come_back_as_arrays_and_match_the_slice_api() {
    let rnn = gru();
    let x = Array3::from_shape_fn((5, 2, 3), |(t, b, i)| {
        ((t * 6 + b * 3 + i) as f32 * 0.1).cos()
    });
    let from_array = rnn.forward(&Input::new(&Tensor::from(x.view()))).unwrap();
    let from_vec = rnn
        .forward(&Input::new(
            &Tensor::new([5, 2, 3], x.iter().copied().collect()).unwrap(),
        ))
        .unwrap();
    assert_eq!(from_array, from_vec);
    let output = from_array.output.clone().into_array3().unwrap();
    assert_eq!(output.dim(), (5, 2, 4));
    assert_eq!(output[[4, 1, 3]], from_vec.output.data()[4 * 8 + 4 + 3]);
    if let Some(ctx) = common::gpu() {
        let gpu = rnn
            .to_gpu(ctx)
            .unwrap()
            .forward(&Input::new(&Tensor::from(x.view())))
            .unwrap();
        let gpu = gpu.output.into_array3().unwrap();
        // Short sequence: float32 summation order only.
        common::assert_close(
            "gpu via ndarray",
            gpu.as_slice().unwrap(),
            output.as_slice().unwrap(),
            1e-5,
            1e-5,
        );
    }
}

#[test]
fn shapes_are_checked_and_ranks_reported() {
    let rnn = gru();
    let wrong = Array3::<f32>::zeros((5, 2, 7));
    let err = rnn
        .forward(&Input::new(&Tensor::from(wrong.view())))
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::InputSize {
                expected: 3,
                got: 7,
                ..
            }
        ),
        "{err:?}"
    );

    let unbatched = Array2::<f32>::zeros((6, 3));
    let out = rnn
        .forward(&Input::new(&Tensor::from(unbatched.view())))
        .unwrap();
    let err = out.output.clone().into_array3().unwrap_err();
    assert!(
        matches!(err, Error::TensorRank { expected: 3, .. }),
        "{err:?}"
    );
    assert_eq!(out.output.into_array2().unwrap().dim(), (6, 4));
}
