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

/// `W_ih` transposed to `[d][k][n]`, its gate rows in [`gate_column`] order and padded with
/// zeros to [`gate_stride`], so neighbouring invocations read neighbouring memory.
pub(crate) fn transpose_input(config: &RnnConfig, dirs: &[DirectionWeights]) -> Vec<f32> {
    let (h, g, stride) = (
        config.hidden_size,
        config.kind.gate_count(),
        gate_stride(config),
    );
    let mut packed = Vec::new();
    for w in dirs {
        let k_len = w.w_ih.len() / (g * h).max(1);
        let start = packed.len();
        packed.resize(start + k_len * stride, 0.0);
        for k in 0..k_len {
            for gate in 0..g {
                for j in 0..h {
                    packed[start + k * stride + gate_column(config, gate, j)] =
                        w.w_ih[(gate * h + j) * k_len + k];
                }
            }
        }
    }
    packed
}

/// `b_ih` of every direction in [`gate_column`] order, padded with zeros to [`gate_stride`].
pub(crate) fn pack_input_bias(config: &RnnConfig, dirs: &[DirectionWeights]) -> Vec<f32> {
    let (h, g, stride) = (
        config.hidden_size,
        config.kind.gate_count(),
        gate_stride(config),
    );
    let mut packed = vec![0.0; dirs.len() * stride];
    for (d, w) in dirs.iter().enumerate() {
        for gate in 0..g {
            for j in 0..h {
                packed[d * stride + gate_column(config, gate, j)] = w.b_ih[gate * h + j];
            }
        }
    }
    packed
}

/// Where gate `gate` of unit `j` sits in a row of the input projection. GRU and LSTM keep a
/// unit's gates together in one vec4 (the step kernels read them with one load; a GRU's fourth
/// lane is zero); the Elman RNN, with one gate, packs four units per vec4.
pub(crate) fn gate_column(config: &RnnConfig, gate: usize, j: usize) -> usize {
    match config.kind.gate_count() {
        1 => j,
        _ => j * 4 + gate,
    }
}

/// Floats per row of the input projection: whole vec4s, the 4 columns each GEMM invocation
/// computes.
pub(crate) fn gate_stride(config: &RnnConfig) -> usize {
    match config.kind.gate_count() {
        1 => config.hidden_size.next_multiple_of(GEMM_COLS as usize),
        _ => config.hidden_size * 4,
    }
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
