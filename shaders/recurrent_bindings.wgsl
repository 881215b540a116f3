// Bindings shared by the recurrent kernel families (recurrent.wgsl, sequence.wgsl,
// wavefront.wgsl), mirrored by `gpu::kernels::bindings` on the Rust side.

@group(0) @binding(0) var<uniform> layer: Layer;
// binding 1: the input projection, [D][chunk_steps*B][gate_stride/4] vec4s (gates_storage.wgsl).
// binding 2: W_hh, declared by each family: rows for the per-step kernel (recurrent.wgsl),
// [D][H_out/4][H][4] for the sequence kernel (columns.wgsl, weights_storage.wgsl), every
// layer's matrices for the wavefront.
@group(0) @binding(3) var<storage, read> b_hh: array<f32>;         // [D][G*H]
@group(0) @binding(4) var<storage, read> lengths: array<vec4<u32>>; // [B], padded to blocks of 16
// [2][D][B][H_out] ping-pong: half s % 2 holds h after s steps.
@group(0) @binding(5) var<storage, read_write> state: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> cell: array<f32>;   // [2][D][B][H]: c, then o*tanh(c)
@group(0) @binding(7) var<storage, read_write> output: array<f32>; // [T][B][D*H_out]
@group(0) @binding(8) var<storage, read> w_hr: array<f32>;         // [D][H][H_out] (W_hr transposed)
@group(1) @binding(0) var<uniform> step: Step;

// `state` is declared as vec4s so that the step kernels can read h_{t-1} four floats per load
// (software adapters pay per load, not per byte); single floats go through these.
fn state_get(i: u32) -> f32 {
    return state[i >> 2u][i & 3u];
}

fn state_set(i: u32, value: f32) {
    state[i >> 2u][i & 3u] = value;
}

// Where sequence b's c in direction d starts in `cell` ([D][B][H]; o * tanh(c) follows, the
// same way, at D * B * H).
fn cell_row(d: u32, b: u32) -> u32 {
    return (d * layer.batch + b) * layer.hidden;
}

// Sequence b's length (0 past the batch: `lengths` is padded).
fn sequence_length(b: u32) -> u32 {
    return lengths[b / 4u][b % 4u];
}

// Where unit j's weights start in w_hh (in vec4s) for direction d, and their stride per four
// columns of h_{t-1}.
fn w_hh_start(d: u32, j: u32) -> u32 {
    return (d * ((layer.state_width + 3u) / 4u) * layer.hidden + j) * 4u;
}
