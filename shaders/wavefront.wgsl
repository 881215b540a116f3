// Stacked unidirectional layers pipelined as a wavefront: dispatch w runs step t = w - l of
// every layer l that has one (workgroup z = l), so L layers over T steps take T + L - 1
// dependent dispatches instead of L * T. Layer l's step t needs layer l - 1's h_t, which
// dispatch w - 1 wrote, so layers from 1 on compute their input projection inside the step
// (W_ih h^{l-1}_t, the same loop as W_hh h^l_{t-1}); layer 0 reads the chunked input
// projection (gates_storage.wgsl) like the per-step kernels. The invocation that owns unit j
// computes all of its gates for a block of BATCH_BLOCK sequences, as in recurrent.wgsl.
//
// A bidirectional layer cannot be pipelined this way: the layer above needs its reverse
// direction's h_t at t = 0 first, which that direction computes last.
//
// `state` ([2][L][B][H]) holds every layer's h; dispatch w reads half w % 2 (h^l_{t-1} and
// h^{l-1}_t) and writes half (w + 1) % 2, so layer l starts from half l % 2. `cell` holds
// each layer's c ([L][B][H]); `output` only the last layer's h ([T][B][H]).
//
// Bindings: shaders/recurrent_bindings.wgsl (prepended; w_hr is unused), the input projection
// at binding 1 (gates_storage.wgsl), every layer's recurrent weights at binding 2 and the
// `Wave` table at binding 9. `const BATCH_BLOCK: u32 = N;` comes from gpu::kernels.

const DOT_ROWS: u32 = BATCH_BLOCK;

// The layer's kind: 3 for GRU, 4 for LSTM, 1 for the Elman RNN (a constant, so that the
// compiler drops the other kinds' loads and cell math).
override WAVE_GATES: u32 = 4u;

// Where each layer's weights are (gpu::wavefront::WaveWeights), mirrored by `WaveParams`.
struct Wave {
    layers: u32,
    hh_block: u32,    // vec4s from one layer's W_hh to the next's in `arena`
    ih_first: u32,    // vec4 at which layer 1's W_ih starts
    ih_block: u32,    // vec4s from one layer's W_ih to the next's
    bias_block: u32,  // floats from one bias to the next in `b_hh`: b_hh^l is block 2l, b_ih^l 2l+1
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

// W_hh of every layer (packed as gpu::pack::pack_recurrent), then W_ih of layers 1 and up
// (as gpu::pack::pack_input).
@group(0) @binding(2) var<storage, read> arena: array<vec4<f32>>;
@group(0) @binding(9) var<uniform> wave: Wave;

// Where the matrix the next dot_rows call reads starts.
var<private> matrix_base: u32;

fn dot_column(w: u32, c: u32) -> vec4<f32> {
    return arena[matrix_base + w + c];
}

fn dot_row(i: u32) -> f32 {
    return state_get(i);
}

fn dot_row4(i: u32) -> vec4<f32> {
    return state[i];
}

// Start of layer l's h for sequence b in half `half` of `state`, in floats.
fn h_at(half: u32, l: u32, b: u32) -> u32 {
    return ((half * wave.layers + l) * layer.batch + b) * layer.hidden;
}

@compute @workgroup_size(64, 1, 1)
fn wave_step(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>) {
    let w = step.index;
    let l = wg.z;
    // Before a layer's first step or after its last (uniform across the workgroup).
    if (w < l || w - l >= layer.seq_len) {
        return;
    }
    let h = layer.hidden;
    let j = min(gid.x, h - 1u);
    let b0 = wg.y * BATCH_BLOCK;
    let half = w % 2u;
    // Rows past the batch repeat its last sequence and are discarded.
    let prev = array<u32, BATCH_BLOCK>(
        h_at(half, l, min(b0 + $u, layer.batch - 1u)),
    );
    matrix_base = l * wave.hh_block;
    let hidden = dot_rows(prev, 4u * j, 4u * h, h, WAVE_GATES);
    var input = array<vec4<f32>, BATCH_BLOCK>();
    if (l > 0u) {
        let below = array<u32, BATCH_BLOCK>(
            h_at(half, l - 1u, min(b0 + $u, layer.batch - 1u)),
        );
        matrix_base = wave.ih_first + (l - 1u) * wave.ih_block;
        // pack_input keeps a GRU or LSTM unit's gates in one vec4 per four k, as W_hh does,
        // and four Elman RNN units per vec4 (gpu::pack::gate_column).
        let unit = select(4u * j, j, WAVE_GATES == 1u);
        input = dot_rows(below, unit, layer.gate_stride, h, WAVE_GATES);
    }
    if (gid.x >= h) {
        return;
    }
    let b_h = 2u * l * wave.bias_block;
    let b_i = b_h + wave.bias_block;
    var bias_h = vec4<f32>(b_hh[b_h + j], 0.0, 0.0, 0.0);
    var bias_i = vec4<f32>(b_hh[b_i + j], 0.0, 0.0, 0.0);
    if (WAVE_GATES > 1u) {
        bias_h = vec4<f32>(b_hh[b_h + j], b_hh[b_h + h + j], b_hh[b_h + 2u * h + j], 0.0);
        bias_i = vec4<f32>(b_hh[b_i + 4u * j], b_hh[b_i + 4u * j + 1u], b_hh[b_i + 4u * j + 2u], 0.0);
    }
    if (WAVE_GATES == 4u) {
        bias_h.w = b_hh[b_h + 3u * h + j];
        bias_i.w = b_hh[b_i + 4u * j + 3u];
    }
    let t = w - l;
    // Layer 0's row of the input projection for sequence 0 at t (used only by layer 0): once
    // per invocation, since a division by a runtime value is a scalar loop on software
    // adapters.
    let t0 = chunk_first_t(t / layer.chunk_steps, 0u, layer.seq_len, layer.chunk_steps);
    let row0 = (t - t0) * layer.batch;
    wave_finish(l, t, half, j, b0 + $u, row0, input[$] + bias_i, hidden[$] + bias_h);
}

// Unit j of sequence b at step t of layer l: `input` is W_ih h^{l-1}_t + b_ih (for layer 0
// read from the input projection's row `row0 + b` instead), `hidden` W_hh h^l_{t-1} + b_hh.
// Past a sequence's end h and c stay and the output is zero (pack_padded_sequence semantics).
fn wave_finish(l: u32, t: u32, half: u32, j: u32, b: u32, row0: u32, input: vec4<f32>, hidden: vec4<f32>) {
    if (b >= layer.batch) {
        return;
    }
    let h = layer.hidden;
    var x = input;
    if (l == 0u) {
        let row = (row0 + b) * (layer.gate_stride / 4u);
        if (WAVE_GATES == 1u) {
            x = vec4<f32>(unit_gate(row, j), 0.0, 0.0, 0.0);
        } else {
            x = unit_gates(row, j);
        }
    }
    let valid = t < sequence_length(b);
    let prev = state_get(h_at(half, l, b) + j);
    var value: f32;
    switch (WAVE_GATES) {
        case 3u: {
            value = gru_cell(x, hidden, prev);
        }
        case 4u: {
            let c_at = (l * layer.batch + b) * h + j;
            let c_prev = cell[c_at];
            let cell_h = lstm_cell(x + hidden, c_prev);
            cell[c_at] = select(c_prev, cell_h.x, valid);
            value = cell_h.y;
        }
        default: {
            value = rnn_cell(x.x + hidden.x);
        }
    }
    state_set(h_at(1u - half, l, b) + j, select(prev, value, valid));
    if (l + 1u == wave.layers) {
        output[(t * layer.batch + b) * h + j] = select(0.0, value, valid);
    }
}
