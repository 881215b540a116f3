// The software profile's W_hh for the sequence kernel (instead of weights_storage.wgsl): the
// packed matrix as four uniform buffers, one per column of every block of four
// (gpu::pack::uniform_columns), where each fits a 64 KiB binding.
// lavapipe loads from a storage buffer one lane at a time, inserting each lane's value into
// the SIMD register through the stack; from a uniform buffer it gathers all lanes at once
// (GRU B=8 H=128: the whole forward pass about 1.8x as fast). `w` is always a multiple of 4
// (columns.wgsl), and `c` a literal at every call, so the switch folds away.

// Mirrored by `gpu::pack::UNIFORM_BINDING_VEC4S`: 64 KiB, what every WebGPU device allows.
const UNIFORM_BINDING_VEC4S: u32 = 4096u;

@group(0) @binding(2) var<uniform> weights0: array<vec4<f32>, UNIFORM_BINDING_VEC4S>;
@group(0) @binding(9) var<uniform> weights1: array<vec4<f32>, UNIFORM_BINDING_VEC4S>;
@group(0) @binding(10) var<uniform> weights2: array<vec4<f32>, UNIFORM_BINDING_VEC4S>;
@group(0) @binding(11) var<uniform> weights3: array<vec4<f32>, UNIFORM_BINDING_VEC4S>;

fn dot_column(w: u32, c: u32) -> vec4<f32> {
    let i = w / 4u;
    switch c {
        case 0u: {
            return weights0[i];
        }
        case 1u: {
            return weights1[i];
        }
        case 2u: {
            return weights2[i];
        }
        default: {
            return weights3[i];
        }
    }
}
