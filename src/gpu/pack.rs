//! Weights rearranged for the kernels: gate-interleaved, transposed, padded.

use super::kernels::GEMM_COLS;
use crate::config::RnnConfig;
use crate::weights::DirectionWeights;

/// `w_hh[d][k][j]` = the unit's gate rows at column `k`, padded to a vec4.
pub(crate) fn pack_recurrent(config: &RnnConfig, dirs: &[DirectionWeights]) -> Vec<f32> {
    let (h, h_out, g) = (
        config.hidden_size,
        config.state_width(),
        config.kind.gate_count(),
    );
    let mut packed = vec![0.0; dirs.len() * h_out * h * 4];
    for (d, w) in dirs.iter().enumerate() {
        for k in 0..h_out {
            for j in 0..h {
                for gate in 0..g {
                    packed[((d * h_out + k) * h + j) * 4 + gate] =
                        w.w_hh[(gate * h + j) * h_out + k];
                }
            }
        }
    }
    packed
}

/// `W_ih` transposed to `[d][k][n]` (n padded to [`gate_stride`]), so neighbouring invocations
/// read neighbouring memory.
pub(crate) fn transpose_input(dirs: &[DirectionWeights]) -> Vec<f32> {
    let mut packed = Vec::new();
    for w in dirs {
        let n_len = w.b_ih.len();
        let stride = gate_stride(n_len);
        let k_len = w.w_ih.len() / n_len.max(1);
        for k in 0..k_len {
            packed.extend((0..stride).map(|n| {
                if n < n_len {
                    w.w_ih[n * k_len + k]
                } else {
                    0.0
                }
            }));
        }
    }
    packed
}

/// `b_ih` of every direction, each padded with zeros to [`gate_stride`].
pub(crate) fn pad_bias(dirs: &[DirectionWeights]) -> Vec<f32> {
    let mut padded = Vec::new();
    for w in dirs {
        padded.extend_from_slice(&w.b_ih);
        padded.resize(padded.len() + gate_stride(w.b_ih.len()) - w.b_ih.len(), 0.0);
    }
    padded
}

/// Rows of the input projection rounded up to the 4 columns each GEMM invocation computes.
pub(crate) fn gate_stride(gate_rows: usize) -> usize {
    gate_rows.next_multiple_of(GEMM_COLS as usize)
}

/// `W_hr` transposed to `[d][j][r]`, so neighbouring invocations (r) read neighbouring memory.
pub(crate) fn pack_projection(config: &RnnConfig, dirs: &[DirectionWeights]) -> Vec<f32> {
    let (h, p) = (config.hidden_size, config.proj_size);
    let mut packed = vec![0.0; dirs.len() * h * p];
    for (d, w) in dirs.iter().enumerate() {
        for r in 0..p {
            for j in 0..h {
                packed[(d * h + j) * p + r] = w.w_hr[r * h + j];
            }
        }
    }
    packed
}
