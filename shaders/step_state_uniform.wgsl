// h_{t-1} for the per-step kernels (recurrent.wgsl) in a uniform buffer, [D][B][H_out], on
// CPU adapters where it fits 64 KiB: lavapipe gathers a uniform load across its SIMD lanes at
// once but loads storage one lane at a time through the stack (weights_uniform.wgsl). The
// kernel writes h_t to `state`, another buffer of the same size, and the host swaps the two
// every step.

@group(0) @binding(12) var<uniform> state_prev: array<vec4<f32>, UNIFORM_BINDING_VEC4S>;

fn prev_offset() -> u32 {
    return 0u;
}

fn next_offset() -> u32 {
    return 0u;
}

fn prev_get(i: u32) -> f32 {
    return state_prev[i >> 2u][i & 3u];
}

fn prev_get4(i: u32) -> vec4<f32> {
    return state_prev[i];
}
