// The layer's packed weight matrix as a 2D rgba32float texture (`texel` in common.wgsl), on
// CPU adapters where it is too large for weights_uniform.wgsl's four 64 KiB buffers. lavapipe
// fetches a texel per SIMD lane with one 16-byte load, where it loads a storage buffer one
// float and one lane at a time through the stack (GRU B=8 H=512: the whole forward pass about
// 3x as fast).

@group(0) @binding(2) var weights: texture_2d<f32>;

fn dot_column(w: u32, c: u32) -> vec4<f32> {
    return textureLoad(weights, texel(w + c), 0);
}
