// The input projection's rows, x of the whole sequence, (T, B, in_size), in storage.

@group(0) @binding(1) var<storage, read> x: array<f32>;
// The same buffer as `x` when in_size % 4 == 0 (rows then start on whole vec4s), else unused.
@group(0) @binding(5) var<storage, read> x4: array<vec4<f32>>;

// The row of `x` where direction d's rows of this chunk start (its first timestep t0).
fn chunk_row0(d: u32, t0: u32) -> u32 {
    return t0 * layer.batch;
}

fn dot_row(i: u32) -> f32 {
    return x[i];
}

fn dot_row4(i: u32) -> vec4<f32> {
    return x4[i];
}
