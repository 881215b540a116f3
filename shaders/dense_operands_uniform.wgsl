// `linear`'s src and weight in uniform buffers of 64 KiB, on CPU adapters where both fit: the
// host copies src into a window and pads the weight to a whole binding. lavapipe gathers a
// uniform load across its SIMD lanes at once but loads storage one lane at a time through the
// stack (weights_uniform.wgsl).

@group(0) @binding(1) var<uniform> src_window: array<vec4<f32>, UNIFORM_BINDING_VEC4S>;
@group(0) @binding(2) var<uniform> weight_window: array<vec4<f32>, UNIFORM_BINDING_VEC4S>;

fn src_at(i: u32) -> f32 {
    return src_window[i >> 2u][i & 3u];
}

fn weight_at(i: u32) -> vec4<f32> {
    return weight_window[i];
}
