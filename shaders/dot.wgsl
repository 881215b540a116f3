// The inner loop shared by the input projection and the recurrent steps: 8 rows of a row-major
// matrix R times one block of four columns of a matrix M,
//   acc[b][c] = sum_k R[b][k] * M[k][c],
// where row b starts at float r[b] of R's buffer, a multiple of `len` (rows are packed), and
// the block's k-th group of four starts at vec4 m + (k / 4) * stride (columns.wgsl).
// The including file defines dot_row(i) (float i of R's buffer), dot_row4(i) (its vec4 i) and
// dot_matrix(i); dot8_vec4 comes from dot_vec4.wgsl or, on devices with subgroups,
// dot_vec4_subgroup.wgsl.
//
// Software adapters (lavapipe) pay per load instruction, about the same for a float as for a
// vec4, so loads per multiply-add decide the speed there: rows are read a vec4 at a time when
// `len` allows, weights always are, and the accumulators are named values, which stay in
// registers (an indexed private array may live in memory).

fn dot8(r: array<u32, 8>, m: u32, stride: u32, len: u32, cols: u32) -> array<vec4<f32>, 8> {
    if (len % 4u == 0u) {
        return dot8_vec4(r, m, stride, len, cols);
    }
    var a0 = vec4<f32>(0.0);
    var a1 = vec4<f32>(0.0);
    var a2 = vec4<f32>(0.0);
    var a3 = vec4<f32>(0.0);
    var a4 = vec4<f32>(0.0);
    var a5 = vec4<f32>(0.0);
    var a6 = vec4<f32>(0.0);
    var a7 = vec4<f32>(0.0);
    var w = m;
    for (var k = 0u; k < len; k += 4u) {
        let block = dot_columns(w, cols);
        a0 += block * row_slice(r[0], k, len);
        a1 += block * row_slice(r[1], k, len);
        a2 += block * row_slice(r[2], k, len);
        a3 += block * row_slice(r[3], k, len);
        a4 += block * row_slice(r[4], k, len);
        a5 += block * row_slice(r[5], k, len);
        a6 += block * row_slice(r[6], k, len);
        a7 += block * row_slice(r[7], k, len);
        w += stride;
    }
    return array<vec4<f32>, 8>(a0, a1, a2, a3, a4, a5, a6, a7);
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
