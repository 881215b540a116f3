// The layer's packed weight matrix as a 2D rgba32float texture, on CPU adapters where it is
// too large for weights_uniform.wgsl's four 64 KiB buffers: vec4 i of the packed matrix
// (gpu::pack) is the texel at (i % WEIGHT_TEXTURE_WIDTH, i / WEIGHT_TEXTURE_WIDTH).
// lavapipe fetches a texel per SIMD lane with one 16-byte load, where it loads a storage
// buffer one float and one lane at a time through the stack (GRU B=8 H=512: the whole forward
// pass about 2x as fast).

// Mirrored by `gpu::kernels::WEIGHT_TEXTURE_WIDTH`; a power of two, so that the division and
// remainder below are a shift and a mask.
const WEIGHT_TEXTURE_WIDTH: u32 = 4096u;

@group(0) @binding(2) var weights: texture_2d<f32>;

fn dot_column(w: u32, c: u32) -> vec4<f32> {
    let i = w + c;
    return textureLoad(weights, vec2<u32>(i % WEIGHT_TEXTURE_WIDTH, i / WEIGHT_TEXTURE_WIDTH), 0);
}
