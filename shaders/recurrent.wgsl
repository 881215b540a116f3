// Fused recurrent steps: one dispatch per timestep for both directions (workgroup z = d).
// The invocation that owns hidden unit j computes all of its gate rows of W_hh h_{t-1} and the
// gate math in registers (cells.wgsl), then writes h_t (and c_t), for BATCH_BLOCK sequences at
// once, so each weight is loaded once per block rather than once per sequence. Weights are
// packed k-major per unit (columns.wgsl): one vec4 holds four k of one gate.
//
// On Mesa's lavapipe every load costs about the same (a gather across the SIMD lanes), so
// loads per multiply-add decide the speed there (see dot.wgsl).
//
// Masking (pack_padded_sequence semantics): a step past a sequence's length keeps the state
// and writes a zero output; the reverse direction thus starts at each sequence's last step.
//
// The step reads h_{t-1} through prev_get (step_state_storage.wgsl: the other half of the
// ping-pong `state`; on CPU adapters step_state_uniform.wgsl: a uniform buffer that the host
// swaps with `state` every step) and writes h_t to `state`.

// Bindings: shaders/recurrent_bindings.wgsl (prepended), and from gpu::kernels
// `const BATCH_BLOCK: u32 = N;` (1, 2, 4, 8 or, on CPU adapters, 16: gpu::kernels::step_block).

const WORKGROUP: u32 = 64u;
const DOT_ROWS: u32 = BATCH_BLOCK;

// Where one (direction, sequence) pair reads and writes at this step.
struct Site {
    t: u32,
    valid: bool,
    gate_base: u32,   // start of this (t, b) row in `gates`, in vec4s
    prev: u32,        // start of h_{t-1} (prev_get)
    next: u32,        // start of h_t in `state`
    out: u32,         // start of this direction's slice of output[t][b]
}

// Sequence 0's site for direction d at this step: what every sequence shares is computed
// once per invocation (software adapters compute uniform values per lane, and a division by a
// runtime value is a scalar loop there), the rest by `site_of`.
fn site_zero(d: u32) -> Site {
    let s = step.index;
    let t = select(s, layer.seq_len - 1u - s, d == 1u);
    let t0 = chunk_first_t(s / layer.chunk_steps, d, layer.seq_len, layer.chunk_steps);
    let capacity = layer.chunk_steps * layer.batch;
    let width = layer.state_width;
    var out: Site;
    out.t = t;
    out.gate_base = (d * capacity + (t - t0) * layer.batch) * (layer.gate_stride / 4u);
    out.prev = prev_offset() + d * layer.batch * width;
    out.next = next_offset() + d * layer.batch * width;
    out.out = t * layer.batch * layer.directions * width + d * width;
    return out;
}

// `length`: sequence b's length (from block_lengths).
fn site_of(zero: Site, b: u32, length: u32) -> Site {
    let width = layer.state_width;
    var out = zero;
    out.valid = zero.t < length;
    out.gate_base += b * (layer.gate_stride / 4u);
    out.prev += b * width;
    out.next += b * width;
    out.out += b * layer.directions * width;
    return out;
}

// The invocation's unit, first sequence and direction.
struct Owner {
    j: u32,
    b0: u32,
    d: u32,
}

fn owner(gid: vec3<u32>) -> Owner {
    return Owner(gid.x, gid.y * BATCH_BLOCK, gid.z);
}

// Start of sequence b0 + bb's h_{t-1}; past the batch's end it repeats the last sequence,
// whose results are then discarded (no branch in the hot loop).
fn block_prev(o: Owner, bb: u32) -> u32 {
    let b = min(o.b0 + bb, layer.batch - 1u);
    return prev_offset() + (o.d * layer.batch + b) * layer.state_width;
}

// sum_k w_hh[d][k][j] * h_{t-1}[b][k], all gates at once, for each sequence of the block
// (the loop itself is dot_rows in dot.wgsl). `gates` is a literal at every call, so that the
// compiler drops the loads of the columns a kind does not have: software adapters would
// otherwise run each skipped load's per-lane loop with every lane masked off.
fn recurrent_dot(o: Owner, gates: u32) -> array<vec4<f32>, BATCH_BLOCK> {
    let h = layer.hidden;
    let width = layer.state_width;
    let rows = array<u32, BATCH_BLOCK>(
        block_prev(o, $u),
    );
    return dot_rows(rows, w_hh_start(o.d, min(o.j, h - 1u)), 4u * h, width, gates);
}

fn dot_row(i: u32) -> f32 {
    return prev_get(i);
}

fn dot_row4(i: u32) -> vec4<f32> {
    return prev_get4(i);
}

// The lengths of the block's sequences: a vec4 load per four sequences for blocks of 8 or 16
// (`lengths` is padded to whole blocks of 16), one per sequence for smaller blocks.
fn block_lengths(o: Owner) -> array<u32, BATCH_BLOCK> {
    var lens: array<u32, BATCH_BLOCK>;
    if (BATCH_BLOCK >= 8u) {
        for (var q = 0u; q < BATCH_BLOCK / 4u; q++) {
            let l = lengths[o.b0 / 4u + q];
            lens[4u * q] = l.x;
            lens[4u * q + 1u] = l.y;
            lens[4u * q + 2u] = l.z;
            lens[4u * q + 3u] = l.w;
        }
        return lens;
    }
    for (var bb = 0u; bb < BATCH_BLOCK; bb++) {
        lens[bb] = sequence_length(o.b0 + bb);
    }
    return lens;
}

// Sequences of this invocation's block that exist.
fn block_len(o: Owner) -> u32 {
    return min(BATCH_BLOCK, layer.batch - o.b0);
}

// Keeps h (`prev`) for a step past the sequence's end, and pads the output with zero. Without
// branches: software adapters run both sides of a branch, and each memory access is a loop
// over the SIMD lanes there.
fn write_h(at: Site, j: u32, value: f32, prev: f32) {
    state_set(at.next + j, select(prev, value, at.valid));
    output[at.out + j] = select(0.0, value, at.valid);
}

// Each step kernel finishes its block's sequences one call per sequence, with constant
// indices into the accumulators: a loop indexing them would force them out of registers.
// A line with a dollar sign stands for BATCH_BLOCK lines, the sign replaced by 0, 1, ...
// (gpu::kernels::expand_rows, as in dot.wgsl).

@compute @workgroup_size(64, 1, 1)
fn gru_step(@builtin(global_invocation_id) gid: vec3<u32>) {
    let o = owner(gid);
    let h = layer.hidden;
    let acc = recurrent_dot(o, 3u);
    if (o.j >= h) {
        return;
    }
    let bias = o.d * layer.gate_rows + o.j;
    let b_hn = vec4<f32>(b_hh[bias], b_hh[bias + h], b_hh[bias + 2u * h], 0.0);
    let zero = site_zero(o.d);
    let lens = block_lengths(o);
    gru_finish(o, zero, $u, lens[$], acc[$] + b_hn);
}

// `hidden`: W_hh h_{t-1} + b_hh for the r, z and n gates.
fn gru_finish(o: Owner, zero: Site, bb: u32, length: u32, hidden: vec4<f32>) {
    if (bb >= block_len(o)) {
        return;
    }
    let at = site_of(zero, o.b0 + bb, length);
    let prev = prev_get(at.prev + o.j);
    write_h(at, o.j, gru_cell(unit_gates(at.gate_base, o.j), hidden, prev), prev);
}

@compute @workgroup_size(64, 1, 1)
fn lstm_step(@builtin(global_invocation_id) gid: vec3<u32>) {
    let o = owner(gid);
    let h = layer.hidden;
    let acc = recurrent_dot(o, 4u);
    if (o.j >= h) {
        return;
    }
    let bias = o.d * layer.gate_rows + o.j;
    let b_gates = vec4<f32>(b_hh[bias], b_hh[bias + h], b_hh[bias + 2u * h], b_hh[bias + 3u * h]);
    let zero = site_zero(o.d);
    let lens = block_lengths(o);
    lstm_finish(o, zero, $u, lens[$], acc[$] + b_gates);
}

// `hidden`: W_hh h_{t-1} + b_hh for the i, f, g and o gates.
fn lstm_finish(o: Owner, zero: Site, bb: u32, length: u32, hidden: vec4<f32>) {
    if (bb >= block_len(o)) {
        return;
    }
    let h = layer.hidden;
    let b = o.b0 + bb;
    let at = site_of(zero, b, length);
    // Past the sequence's end c and h stay (with proj_size, lstm_project keeps h).
    let c_at = cell_row(o.d, b) + o.j;
    let c_prev = cell[c_at];
    let cell_h = lstm_cell(unit_gates(at.gate_base, o.j) + hidden, c_prev);
    cell[c_at] = select(c_prev, cell_h.x, at.valid);
    if (layer.project == 1u) {
        // h = W_hr (o * tanh(c)) needs every unit's value: lstm_project finishes the step.
        cell[layer.directions * layer.batch * h + c_at] = cell_h.y;
    } else {
        write_h(at, o.j, cell_h.y, prev_get(at.prev + o.j));
    }
}

// h = W_hr m for an LSTM with proj_size: invocation j owns one projected unit.
@compute @workgroup_size(64, 1, 1)
fn lstm_project(@builtin(global_invocation_id) gid: vec3<u32>) {
    let o = owner(gid);
    let h = layer.hidden;
    let width = layer.state_width;
    var m: array<u32, BATCH_BLOCK>;
    for (var bb = 0u; bb < BATCH_BLOCK; bb++) {
        let b = min(o.b0 + bb, layer.batch - 1u);
        m[bb] = layer.directions * layer.batch * h + cell_row(o.d, b);
    }
    let r = min(o.j, width - 1u);
    var acc: array<f32, BATCH_BLOCK>;
    for (var k = 0u; k < h; k++) {
        let w = w_hr[(o.d * h + k) * width + r];
        for (var bb = 0u; bb < BATCH_BLOCK; bb++) {
            acc[bb] += w * cell[m[bb] + k];
        }
    }
    if (o.j >= width) {
        return;
    }
    let zero = site_zero(o.d);
    let lens = block_lengths(o);
    for (var bb = 0u; bb < block_len(o); bb++) {
        let at = site_of(zero, o.b0 + bb, lens[bb]);
        write_h(at, o.j, acc[bb], prev_get(at.prev + o.j));
    }
}

@compute @workgroup_size(64, 1, 1)
fn rnn_step(@builtin(global_invocation_id) gid: vec3<u32>) {
    let o = owner(gid);
    let acc = recurrent_dot(o, 1u);
    if (o.j >= layer.hidden) {
        return;
    }
    let bias = b_hh[o.d * layer.gate_rows + o.j];
    let zero = site_zero(o.d);
    let lens = block_lengths(o);
    rnn_finish(o, zero, $u, lens[$], acc[$].x + bias);
}

// `hidden`: W_hh h_{t-1} + b_hh.
fn rnn_finish(o: Owner, zero: Site, bb: u32, length: u32, hidden: f32) {
    if (bb >= block_len(o)) {
        return;
    }
    let at = site_of(zero, o.b0 + bb, length);
    write_h(at, o.j, rnn_cell(unit_gate(at.gate_base, o.j) + hidden), prev_get(at.prev + o.j));
}
