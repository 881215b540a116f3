// The input projection's output for the recurrent kernels, in a storage buffer. A row
// (`base`, in vec4s) holds a GRU or LSTM unit's gates in one vec4 and four Elman RNN units per
// vec4 (gpu::pack::gate_column).

@group(0) @binding(1) var<storage, read> gates: array<vec4<f32>>;

fn unit_gates(base: u32, j: u32) -> vec4<f32> {
    return gates[base + j];
}

fn unit_gate(base: u32, j: u32) -> f32 {
    return gates[base + j / 4u][j % 4u];
}
