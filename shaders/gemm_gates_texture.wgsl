// Where the input projection writes its output on CPU adapters: vec4 i at texel(i) of a
// write-only rgba32float storage texture (gates_texture.wgsl reads it).

@group(0) @binding(4) var gates: texture_storage_2d<rgba32float, write>;

fn store_gates(i: u32, value: vec4<f32>) {
    textureStore(gates, texel(i), value);
}
