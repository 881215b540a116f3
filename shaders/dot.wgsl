// The inner loop shared by the input projection and the recurrent steps: DOT_ROWS rows of a
// row-major matrix R times one block of four columns of a matrix M,
//   acc[b][c] = sum_k R[b][k] * M[k][c],
// where row b starts at float r[b] of R's buffer, a multiple of `len` (rows are packed), and
// the block's k-th group of four starts at vec4 m + (k / 4) * stride (columns.wgsl).
// The including file defines DOT_ROWS, dot_row(i) (float i of R's buffer) and dot_row4(i) (its
// vec4 i); M is read through dot_column (columns.wgsl); dot_rows_vec4 comes from dot_vec4.wgsl
// or, on devices with subgroups, dot_vec4_subgroup.wgsl.
//
// A line with a dollar sign stands for DOT_ROWS lines, the sign replaced by 0, 1, ...
// (gpu::kernels::expand_rows): one named accumulator per row, because software adapters keep
// named values in registers while an indexed private array may live in memory.
//
// Software adapters (lavapipe) pay per load instruction, about the same for a float as for a
// vec4, so loads per multiply-add decide the speed there: rows are read a vec4 at a time when
// `len` allows, weights always are, and each weight load serves DOT_ROWS rows.

fn dot_rows(r: array<u32, DOT_ROWS>, m: u32, stride: u32, len: u32, cols: u32) -> array<vec4<f32>, DOT_ROWS> {
    if (len % 4u == 0u) {
        return dot_rows_vec4(r, m, stride, len, cols);
    }
    var a$ = vec4<f32>(0.0);
    var w = m;
    for (var k = 0u; k < len; k += 4u) {
        let block = dot_columns(w, cols);
        a$ += block * row_slice(r[$], k, len);
        w += stride;
    }
    return array<vec4<f32>, DOT_ROWS>(
        a$,
    );
}

// Floats k..k+3 of the row starting at `start`, zero past its end (the weights there are zero
// too, but the floats there belong to the next row and may be Inf or NaN).
fn row_slice(start: u32, k: u32, len: u32) -> vec4<f32> {
    return vec4<f32>(
        dot_row(start + k),
        select(0.0, dot_row(start + min(k + 1u, len - 1u)), k + 1u < len),
        select(0.0, dot_row(start + min(k + 2u, len - 1u)), k + 2u < len),
        select(0.0, dot_row(start + min(k + 3u, len - 1u)), k + 3u < len),
    );
}
