// The input projection's rows as a 2D rgba32float texture (`texel` in common.wgsl), on CPU
// adapters where a chunk of them is too large for gemm_rows_uniform.wgsl's 64 KiB window: the
// host copies each chunk's rows of both directions there, direction d's (chunk_steps x B
// rows) from row d * chunk_steps * B, as gemm_rows_uniform.wgsl lays out the window. lavapipe
// fetches a texel per SIMD lane with one 16-byte load, where it would load a storage buffer
// one float and one lane at a time through the stack.

@group(0) @binding(1) var x_rows: texture_2d<f32>;

fn chunk_row0(d: u32, t0: u32) -> u32 {
    return d * layer.chunk_steps * layer.batch;
}

fn dot_row(i: u32) -> f32 {
    return textureLoad(x_rows, texel(i >> 2u), 0)[i & 3u];
}

fn dot_row4(i: u32) -> vec4<f32> {
    return textureLoad(x_rows, texel(i), 0);
}
