//! Weights rearranged for the kernels: gate-interleaved, transposed, padded.

use super::kernels::GEMM_COLS;
use crate::config::RnnConfig;
use crate::weights::DirectionWeights;

/// A weight matrix `[n_len][k_len]` (PyTorch's layout, n = gate * H + unit) of every direction,
/// packed k-major for the kernels' inner loop (shaders/columns.wesl): for each group of four
/// k, for each of `columns` columns (in `column(n)` order), the vec4 of its four weights. k is
/// padded with zeros to a multiple of 4, columns with zero columns.
fn pack_columns<'a>(
    matrices: impl Iterator<Item = &'a Vec<f32>>,
    n_len: usize,
    k_len: usize,
    columns: usize,
    column: impl Fn(usize) -> usize,
) -> Vec<f32> {
    let k4_len = k_len.div_ceil(4);
    let mut packed = Vec::new();
    for matrix in matrices {
        let start = packed.len();
        packed.resize(start + k4_len * columns * 4, 0.0);
        for n in 0..n_len {
            let c = column(n);
            for k in 0..k_len {
                packed[start + ((k / 4) * columns + c) * 4 + k % 4] = matrix[n * k_len + k];
            }
        }
    }
    packed
}

/// Vec4s of each uniform part of a matrix that [`uniform_columns`] splits: one 64 KiB
/// binding, what every WebGPU device allows (`UNIFORM_BINDING_VEC4S` in weights_uniform.wesl).
pub(crate) const UNIFORM_BINDING_VEC4S: usize = 4096;

/// A packed matrix ([`pack_recurrent`]) split by column of each block of four, for the
/// software profile's sequence kernel (weights_uniform.wesl): vec4 i of part c is vec4 4i + c
/// of `packed` (the kernel reads the vec4 w + c as part c's w / 4). Each part is padded with
/// zeros to [`UNIFORM_BINDING_VEC4S`] vec4s; `None` where `packed` does not fit.
pub(crate) fn uniform_columns(packed: &[f32]) -> Option<[Vec<f32>; 4]> {
    let vec4s = UNIFORM_BINDING_VEC4S;
    if packed.len() > vec4s * 16 || !packed.len().is_multiple_of(16) {
        return None;
    }
    Some(std::array::from_fn(|c| {
        let mut part = vec![0.0; vec4s * 4];
        for (i, block) in packed.chunks_exact(16).enumerate() {
            part[i * 4..i * 4 + 4].copy_from_slice(&block[c * 4..c * 4 + 4]);
        }
        part
    }))
}

/// `W_hh` packed k-major over `H_out`: each unit's block holds its gates (columns.wesl).
pub(crate) fn pack_recurrent(config: &RnnConfig, dirs: &[DirectionWeights]) -> Vec<f32> {
    let (h, g) = (config.hidden_size, config.kind.gate_count());
    pack_columns(
        dirs.iter().map(|w| &w.w_hh),
        g * h,
        config.state_width(),
        h * 4,
        |n| (n % h) * 4 + n / h,
    )
}

/// `W_hh` of every direction for the per-step kernel (recurrent.wesl): PyTorch's row-major
/// `[d][gate * H + j][k]`, each row padded with zeros to whole vec4s of k, so that
/// neighbouring invocations, which split k, read neighbouring 16-byte words of a row.
pub(crate) fn pack_recurrent_rows(config: &RnnConfig, dirs: &[DirectionWeights]) -> Vec<f32> {
    let (rows, k_len) = (config.gate_rows(), config.state_width());
    let k_padded = k_len.next_multiple_of(4);
    let mut packed = vec![0.0; dirs.len() * rows * k_padded];
    for (d, w) in dirs.iter().enumerate() {
        for n in 0..rows {
            let at = (d * rows + n) * k_padded;
            packed[at..at + k_len].copy_from_slice(&w.w_hh[n * k_len..(n + 1) * k_len]);
        }
    }
    packed
}

/// `W_ih` packed k-major, its gate rows in [`gate_column`] order, padded to [`gate_stride`]
/// columns, so neighbouring invocations read neighbouring memory.
pub(crate) fn pack_input(config: &RnnConfig, dirs: &[DirectionWeights]) -> Vec<f32> {
    let (h, g) = (config.hidden_size, config.kind.gate_count());
    let k_len = dirs.first().map_or(0, |w| w.w_ih.len() / (g * h).max(1));
    pack_columns(
        dirs.iter().map(|w| &w.w_ih),
        g * h,
        k_len,
        gate_stride(config),
        |n| gate_column(config, n / h, n % h),
    )
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Kind;

    #[test]
    fn uniform_columns_split_the_blocks_of_four_and_pad_with_zeros() {
        // Three blocks of four columns; vec4 v holds the values 4v..4v+3.
        let packed: Vec<f32> = (0..48).map(|x| x as f32).collect();
        let parts = uniform_columns(&packed).expect("fits");
        for (c, part) in parts.iter().enumerate() {
            assert_eq!(
                part.len(),
                UNIFORM_BINDING_VEC4S * 4,
                "part {c}: one binding"
            );
            for i in 0..3 {
                let v = 4 * i + c;
                let want: Vec<f32> = (4 * v..4 * v + 4).map(|x| x as f32).collect();
                assert_eq!(part[i * 4..i * 4 + 4], want[..], "part {c}, vec4 {i}");
            }
            assert!(part[12..].iter().all(|&x| x == 0.0), "part {c}: padding");
        }
        assert!(uniform_columns(&vec![0.0; UNIFORM_BINDING_VEC4S * 16 + 16]).is_none());
    }

    #[test]
    fn recurrent_rows_keep_pytorch_order_and_pad_k_to_vec4s() {
        let config = RnnConfig::new(Kind::Gru, 2, 3);
        // W_hh is (3 * 3, 3): row n holds 10 n + k.
        let w_hh: Vec<f32> = (0..9)
            .flat_map(|n| (0..3).map(move |k| (10 * n + k) as f32))
            .collect();
        let dirs = [DirectionWeights {
            w_ih: vec![],
            w_hh,
            b_ih: vec![],
            b_hh: vec![],
            w_hr: vec![],
        }];
        let packed = pack_recurrent_rows(&config, &dirs);
        assert_eq!(packed.len(), 9 * 4);
        for n in 0..9 {
            let want = [
                (10 * n) as f32,
                (10 * n + 1) as f32,
                (10 * n + 2) as f32,
                0.0,
            ];
            assert_eq!(packed[n * 4..n * 4 + 4], want, "row {n}");
        }
    }
}
