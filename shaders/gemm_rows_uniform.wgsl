// The input projection's rows in a uniform window of 64 KiB, on CPU adapters: the host copies
// each chunk's rows of x there, direction d's (chunk_steps x B rows) at row
// d * chunk_steps * B. lavapipe gathers a uniform load across its SIMD lanes at once but loads
// storage one lane at a time through the stack (weights_uniform.wgsl).

@group(0) @binding(1) var<uniform> x_window: array<vec4<f32>, UNIFORM_BINDING_VEC4S>;

fn chunk_row0(d: u32, t0: u32) -> u32 {
    return d * layer.chunk_steps * layer.batch;
}

fn dot_row(i: u32) -> f32 {
    return x_window[i >> 2u][i & 3u];
}

fn dot_row4(i: u32) -> vec4<f32> {
    return x_window[i];
}
