// h_{t-1} for the per-step kernels (recurrent.wgsl) in storage: the ping-pong `state` itself,
// [2][D][B][H_out], whose half s % 2 holds h after s steps. (A second storage binding would
// exceed the 8 storage buffers per stage that every WebGPU device allows.)

fn prev_offset() -> u32 {
    return (step.index % 2u) * layer.directions * layer.batch * layer.state_width;
}

fn next_offset() -> u32 {
    return ((step.index + 1u) % 2u) * layer.directions * layer.batch * layer.state_width;
}

fn prev_get(i: u32) -> f32 {
    return state_get(i);
}

fn prev_get4(i: u32) -> vec4<f32> {
    return state[i];
}
