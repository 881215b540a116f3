// The input projection's output for the recurrent kernels as a 2D rgba32float texture
// (`texel` in common.wgsl), on CPU adapters: the input projection writes it with textureStore
// (gemm_gates_texture.wgsl), and lavapipe fetches a texel per SIMD lane with one 16-byte load
// where it would load a storage buffer one float and one lane at a time through the stack.
// Rows as in gates_storage.wgsl.

@group(0) @binding(1) var gates: texture_2d<f32>;

fn unit_gates(base: u32, j: u32) -> vec4<f32> {
    return textureLoad(gates, texel(base + j), 0);
}

fn unit_gate(base: u32, j: u32) -> f32 {
    return textureLoad(gates, texel(base + j / 4u), 0)[j % 4u];
}
