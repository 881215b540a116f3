// Whole chunks of timesteps in one dispatch: one workgroup per block of SEQUENCE_ROWS
// sequences and one direction loops over the chunk's timesteps, with the block's h_{t-1} in
// workgroup memory and one workgroupBarrier() per step (two with proj_size). Nothing waits
// across workgroups, so this is legal WebGPU. It replaces one dispatch per step, whose fixed
// cost dominates at small hidden sizes.
//
// The invocation that owns unit j computes its gates for every sequence of the block with the
// per-step kernels' inner loop (dot.wgsl, rows read from workgroup memory here), so each
// weight load serves the whole block. The workgroup is sized to the hidden width
// (SEQUENCE_WORKGROUP, a pipeline-overridable constant): a small model's step then runs on
// few invocations, and its barrier costs little.
//
// Prepended by gpu::kernels: `const SEQUENCE_ROWS: u32 = N;` (1, 2, 4 or 8).
// Bindings: shaders/recurrent_bindings.wgsl. `step.index` is the chunk index.

override SEQUENCE_WORKGROUP: u32 = 64u;
// The layer's gate count (1, 3 or 4) and whether it projects (proj_size > 0), fixed per
// pipeline so that only the code of the layer's kind is compiled: software adapters run both
// sides of a branch, masked, and would otherwise pay for every kind's loads at every step.
override SEQUENCE_GATES: u32 = 4u;
override SEQUENCE_PROJECT: bool = false;
const DOT_ROWS: u32 = SEQUENCE_ROWS;
// h of the block, [2][SEQUENCE_ROWS][row] with row = H_out rounded up to whole vec4s; the two
// halves alternate between h_{t-1} and h_t.
const H_VEC4S: u32 = 512u;
// o * tanh(c) of the block for the projection, [SEQUENCE_ROWS][H] (proj_size only).
const M_FLOATS: u32 = 1024u;

var<workgroup> h_ws: array<vec4<f32>, H_VEC4S>;
var<workgroup> m_ws: array<f32, M_FLOATS>;

fn dot_row(i: u32) -> f32 {
    return h_ws[i >> 2u][i & 3u];
}

fn dot_row4(i: u32) -> vec4<f32> {
    return h_ws[i];
}

fn ws_set(i: u32, value: f32) {
    h_ws[i >> 2u][i & 3u] = value;
}

// What the block shares for the whole chunk.
struct Block {
    d: u32,
    b0: u32,
    live: u32,   // sequences of the block that exist
    first: u32,  // step index of the chunk's first step
    t0: u32,     // first timestep of the chunk's input projection
    row: u32,    // floats per sequence in h_ws
    half: u32,   // floats per half of h_ws
}

fn block_of(block: u32, d: u32) -> Block {
    var blk: Block;
    blk.d = d;
    blk.b0 = block * SEQUENCE_ROWS;
    blk.live = min(SEQUENCE_ROWS, layer.batch - blk.b0);
    blk.first = step.index * layer.chunk_steps;
    blk.t0 = chunk_first_t(step.index, d, layer.seq_len, layer.chunk_steps);
    blk.row = (layer.state_width + 3u) / 4u * 4u;
    blk.half = SEQUENCE_ROWS * blk.row;
    return blk;
}

// Where the block's first sequence reads and writes at step i of the chunk; sequence bb of
// the block is `bb` rows further (`finish`).
struct At {
    t: u32,
    gate_base: u32,  // in vec4s
    out: u32,
    prev: u32,  // h_{t-1} in h_ws
    next: u32,  // h_t in h_ws
}

fn at_step(blk: Block, i: u32) -> At {
    let s = blk.first + i;
    let t = select(s, layer.seq_len - 1u - s, blk.d == 1u);
    let capacity = layer.chunk_steps * layer.batch;
    var at: At;
    at.t = t;
    at.gate_base = (blk.d * capacity + (t - blk.t0) * layer.batch + blk.b0) * (layer.gate_stride / 4u);
    at.out = (t * layer.batch + blk.b0) * layer.directions * layer.state_width + blk.d * layer.state_width;
    at.prev = (i % 2u) * blk.half;
    at.next = blk.half - at.prev;
    return at;
}

// Offset in `state` of sequence b's h after `s` steps (the ping-pong slot the per-step
// kernels would use, so the host treats both strategies alike).
fn state_slot(d: u32, b: u32, s: u32) -> u32 {
    return (((s % 2u) * layer.directions + d) * layer.batch + b) * layer.state_width;
}

fn load_state(blk: Block, lid: u32) {
    for (var bb = 0u; bb < blk.live; bb++) {
        let src = state_slot(blk.d, blk.b0 + bb, blk.first);
        for (var j = lid; j < layer.state_width; j += SEQUENCE_WORKGROUP) {
            ws_set(bb * blk.row + j, state_get(src + j));
        }
    }
}

fn store_state(blk: Block, steps: u32, lid: u32) {
    let half = (steps % 2u) * blk.half;
    for (var bb = 0u; bb < blk.live; bb++) {
        let dst = state_slot(blk.d, blk.b0 + bb, blk.first + steps);
        for (var j = lid; j < layer.state_width; j += SEQUENCE_WORKGROUP) {
            state_set(dst + j, dot_row(half + bb * blk.row + j));
        }
    }
}

@compute @workgroup_size(SEQUENCE_WORKGROUP, 1, 1)
fn sequence(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let blk = block_of(wg.y, wg.z);
    let h = layer.hidden;
    let width = layer.state_width;
    let steps = min(layer.chunk_steps, layer.seq_len - blk.first);
    let lens = array<u32, SEQUENCE_ROWS>(
        sequence_length(blk.b0 + $u),
    );
    load_state(blk, lid.x);
    workgroupBarrier();
    for (var i = 0u; i < steps; i++) {
        let at = at_step(blk, i);
        // Every invocation runs the inner loop (uniform control flow for its subgroup
        // operations); the ones past the last unit redo the last unit and discard it.
        for (var j0 = 0u; j0 < h; j0 += SEQUENCE_WORKGROUP) {
            let j = j0 + lid.x;
            let rows = array<u32, SEQUENCE_ROWS>(
                at.prev + $u * blk.row,
            );
            let acc = dot_rows(rows, w_hh_start(blk.d, min(j, h - 1u)), 4u * h, width, SEQUENCE_GATES);
            if (j < h) {
                let b_gates = unit_bias(blk.d, j);
                finish(blk, at, $u, lens[$], j, acc[$] + b_gates);
            }
        }
        if (SEQUENCE_PROJECT) {
            // h = W_hr m needs every unit's m.
            workgroupBarrier();
            project(blk, at, lens, lid.x);
        }
        workgroupBarrier();
    }
    store_state(blk, steps, lid.x);
}

// b_hh of unit j's gates in direction d, in the order of the inner loop's columns; past the
// layer's gate count the first gate's again (the cell math ignores those columns).
fn unit_bias(d: u32, j: u32) -> vec4<f32> {
    let h = layer.hidden;
    let bias = d * layer.gate_rows + j;
    return vec4<f32>(
        b_hh[bias],
        b_hh[bias + select(0u, h, SEQUENCE_GATES > 1u)],
        b_hh[bias + select(0u, 2u * h, SEQUENCE_GATES > 2u)],
        b_hh[bias + select(0u, 3u * h, SEQUENCE_GATES > 3u)],
    );
}

// Sequence bb of the block at step `at`, unit j: `hidden` is W_hh h_{t-1} + b_hh. Past the
// sequence's end h and c stay and the output is zero; selects rather than branches, as in
// recurrent.wgsl's write_h.
fn finish(blk: Block, at: At, bb: u32, length: u32, j: u32, hidden: vec4<f32>) {
    if (bb >= blk.live) {
        return;
    }
    let valid = at.t < length;
    let prev = dot_row(at.prev + bb * blk.row + j);
    let gate_base = at.gate_base + bb * (layer.gate_stride / 4u);
    var value: f32;
    switch (SEQUENCE_GATES) {
        case 3u: {
            value = gru_cell(unit_gates(gate_base, j), hidden, prev);
        }
        case 4u: {
            let c_at = cell_row(blk.d, blk.b0 + bb) + j;
            let c_prev = cell[c_at];
            let cell_h = lstm_cell(unit_gates(gate_base, j) + hidden, c_prev);
            cell[c_at] = select(c_prev, cell_h.x, valid);
            if (SEQUENCE_PROJECT) {
                // `project` writes h, and keeps it past the end.
                m_ws[bb * layer.hidden + j] = cell_h.y;
                return;
            }
            value = cell_h.y;
        }
        default: {
            value = rnn_cell(unit_gate(gate_base, j) + hidden.x);
        }
    }
    ws_set(at.next + bb * blk.row + j, select(prev, value, valid));
    output[at.out + bb * layer.directions * layer.state_width + j] = select(0.0, value, valid);
}

// h = W_hr m for an LSTM with proj_size: invocation r owns projected unit r.
fn project(blk: Block, at: At, lens: array<u32, SEQUENCE_ROWS>, lid: u32) {
    let h = layer.hidden;
    let width = layer.state_width;
    for (var r = lid; r < width; r += SEQUENCE_WORKGROUP) {
        for (var bb = 0u; bb < blk.live; bb++) {
            let prev = at.prev + bb * blk.row + r;
            let next = at.next + bb * blk.row + r;
            let out = at.out + bb * layer.directions * width + r;
            if (at.t < lens[bb]) {
                var acc = 0.0;
                for (var k = 0u; k < h; k++) {
                    acc += w_hr[(blk.d * h + k) * width + r] * m_ws[bb * h + k];
                }
                ws_set(next, acc);
                output[out] = acc;
            } else {
                ws_set(next, dot_row(prev));
                output[out] = 0.0;
            }
        }
    }
}
