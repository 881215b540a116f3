// Where the input projection writes its output: a storage buffer of vec4s
// (gates_storage.wgsl reads it).

@group(0) @binding(4) var<storage, read_write> gates: array<vec4<f32>>;

fn store_gates(i: u32, value: vec4<f32>) {
    gates[i] = value;
}
