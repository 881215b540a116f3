//! The CPU reference of the dense kernels: same names, same row-major layout as
//! shaders/dense.wesl, written for clarity.

use super::Activation;

/// `dst[r][n] = act(sum_k x[r][k] * weight[n][k] + bias[n])` over `rows` rows; `weight` is
/// PyTorch's `(out_features, in_features)`.
pub(crate) fn linear(
    x: &[f32],
    rows: usize,
    weight: &[f32],
    bias: Option<&[f32]>,
    in_features: usize,
    out_features: usize,
    activation: Activation,
) -> Vec<f32> {
    let mut out = vec![0.0; rows * out_features];
    for r in 0..rows {
        let row = &x[r * in_features..(r + 1) * in_features];
        for n in 0..out_features {
            let w = &weight[n * in_features..(n + 1) * in_features];
            let sum: f32 = row.iter().zip(w).map(|(a, b)| a * b).sum();
            let b = bias.map_or(0.0, |b| b[n]);
            out[r * out_features + n] = activation.apply(sum + b);
        }
    }
    out
}

/// Each sequence's last step of a time-major `(T, B, width)` sequence: features `j < split`
/// at `t = lengths[b] - 1`, the rest (a bidirectional layer's reverse half) at `t = 0`.
pub(crate) fn last_step(
    x: &[f32],
    batch: usize,
    width: usize,
    split: usize,
    lengths: &[usize],
) -> Vec<f32> {
    let mut out = vec![0.0; batch * width];
    for (b, &length) in lengths.iter().enumerate().take(batch) {
        for j in 0..width {
            let t = if j < split { length - 1 } else { 0 };
            out[b * width + j] = x[(t * batch + b) * width + j];
        }
    }
    out
}

/// `x = act(x)` in place.
pub(crate) fn activate(x: &mut [f32], activation: Activation) {
    for v in x {
        *v = activation.apply(*v);
    }
}
