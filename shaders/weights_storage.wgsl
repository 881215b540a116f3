// The layer's packed weight matrix (W_ih in the input projection, W_hh in the recurrent
// kernels) in one storage buffer, for dot_columns (columns.wgsl): the vec4 of column c of the
// block of four columns at `w`.

@group(0) @binding(2) var<storage, read> weights: array<vec4<f32>>;

fn dot_column(w: u32, c: u32) -> vec4<f32> {
    return weights[w + c];
}
