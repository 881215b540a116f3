// Weights for the inner loops are packed k-major: the vec4 at dot_matrix(w + c) holds column c
// of a block of four columns (a unit's gates, or four Elman RNN units) at four consecutive k
// (gpu::pack::pack_columns). dot_columns returns the block transposed, column kk = the four
// columns' weights at the block's k-th value, so that for four row values s at those k,
// block * s gives all four columns' partial sums as a chain of multiply-adds (s * block would
// be four dot products: more instructions on software adapters).
// Only the first `cols` columns are loaded (uniform): a GRU skips its fourth, zero, column and
// the Elman RNN step its three. The including file defines dot_matrix(i).

fn dot_columns(w: u32, cols: u32) -> mat4x4<f32> {
    var m = mat4x4<f32>();
    m[0] = dot_matrix(w);
    if (cols > 1u) {
        m[1] = dot_matrix(w + 1u);
    }
    if (cols > 2u) {
        m[2] = dot_matrix(w + 2u);
    }
    if (cols > 3u) {
        m[3] = dot_matrix(w + 3u);
    }
    return transpose(m);
}
