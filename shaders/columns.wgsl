// Weights for the inner loops are packed k-major: the vec4 at index w + c holds column c
// of a block of four columns (a unit's gates, or four Elman RNN units) at four consecutive k
// (gpu::pack::pack_columns). dot_columns returns the block transposed, column kk = the four
// columns' weights at the block's k-th value, so that for four row values s at those k,
// block * s gives all four columns' partial sums as a chain of multiply-adds (s * block would
// be four dot products: more instructions on software adapters).
// Only the first `cols` columns are loaded (uniform): a GRU skips its fourth, zero, column and
// the Elman RNN step its three. dot_column(w, c) reads that vec4 from the layer's weights
// (weights_storage.wgsl; the wavefront's arena in wavefront.wgsl).

fn dot_columns(w: u32, cols: u32) -> mat4x4<f32> {
    var m = mat4x4<f32>();
    m[0] = dot_column(w, 0u);
    if (cols > 1u) {
        m[1] = dot_column(w, 1u);
    }
    if (cols > 2u) {
        m[2] = dot_column(w, 2u);
    }
    if (cols > 3u) {
        m[3] = dot_column(w, 3u);
    }
    return transpose(m);
}
