// Fused recurrent steps, built for GPUs: one dispatch per timestep for both directions
// (workgroup z = d). A workgroup owns UNITS hidden units with all their gate rows, for a block
// of ROWS sequences; its WORKGROUP invocations split K (the width of h_{t-1}) between them, so
// a step launches ceil(H / UNITS) x ceil(B / ROWS) x D workgroups (gpu::plan chooses UNITS so
// that a wide layer fills a large GPU). Each invocation streams its share of every owned row
// of W_hh with independent 16-byte loads; neighbouring invocations read neighbouring vec4s of
// a row (W_hh keeps PyTorch's row-major [d][gate * H + j][k] layout, K padded to whole vec4s,
// no padding gate: 12 H^2 bytes per GRU step, 16 H^2 per LSTM step). The partial sums are
// then reduced across the workgroup (step_reduce_subgroup.wgsl where the device has
// subgroups, step_reduce_workgroup.wgsl otherwise; each holds the entry point `recurrent_step`), and
// the invocations that own a (unit, sequence) pair do the gate math (cells.wgsl).
//
// Masking (pack_padded_sequence semantics): a step past a sequence's length keeps the state
// and writes a zero output; the reverse direction thus starts at each sequence's last step.
//
// h_{t-1} is the other half of the ping-pong `state` (step_state_storage.wgsl); h_t goes to
// `state`. Bindings: shaders/recurrent_bindings.wgsl, W_hh below.

@group(0) @binding(2) var<storage, read> w_hh: array<vec4<f32>>; // [D][G*H][ceil(H_out/4)]

// Pipeline-overridable, chosen per layer and batch by gpu::plan (mirrored there):
override UNITS: u32 = 1u;       // hidden units per workgroup
override ROWS: u32 = 1u;        // sequences per workgroup (block)
override WORKGROUP: u32 = 64u;  // invocations per workgroup, a power of two, 32 to 128
override GATES: u32 = 4u;       // the kind's gate count: 1, 3 or 4
// The accumulators an invocation holds: one vec4 (a unit's gates) per (unit, sequence).
const MAX_PAIRS: u32 = 16u;     // UNITS * ROWS at most (gpu::plan::MAX_PAIRS)
const MAX_ROWS: u32 = 8u;       // ROWS at most (gpu::plan::MAX_ROWS)
// Workgroup memory for the reduction: per subgroup, one vec4 per pair, or one per invocation
// (WORKGROUP x 16 bytes) for the tree; 8 KiB, half of WebGPU's default 16 KiB.
const PARTIALS: u32 = 512u;

var<workgroup> partial: array<vec4<f32>, PARTIALS>;

// The workgroup's first unit, first sequence and direction.
struct Owner {
    j0: u32,
    b0: u32,
    d: u32,
}

fn owner_of(wg: vec3<u32>) -> Owner {
    return Owner(wg.x * UNITS, wg.y * ROWS, wg.z);
}

// Four floats of h_{t-1} from `base` (a sequence's row), k = 4 k4 .. 4 k4 + 3; zero past the
// row's end, where the padded weights are zero too: 0 * h would be NaN for a NaN in the next
// sequence's state, and sequences must not leak into each other.
fn h_prev4(base: u32, k4: u32) -> vec4<f32> {
    let width = layer.state_width;
    if ((width & 3u) == 0u) {
        return state[(base >> 2u) + k4];
    }
    var v = vec4<f32>();
    for (var i = 0u; i < 4u; i++) {
        let k = 4u * k4 + i;
        if (k < width) {
            v[i] = state_get(base + k);
        }
    }
    return v;
}

// This invocation's share of W_hh h_{t-1} for every (unit, sequence) pair of the workgroup:
// pair u * ROWS + r holds unit j0 + u's gates (in PyTorch's order, one per lane) for
// sequence b0 + r. Units and sequences past the layer's end repeat the last one, and their
// results are discarded.
fn partial_dot(o: Owner, lid: u32) -> array<vec4<f32>, MAX_PAIRS> {
    let h = layer.hidden;
    let k4_len = (layer.state_width + 3u) / 4u;
    let gate_plane = h * k4_len; // vec4s between one gate's row and the next gate's
    var rows: array<u32, MAX_ROWS>;
    for (var r = 0u; r < ROWS; r++) {
        let b = min(o.b0 + r, layer.batch - 1u);
        rows[r] = prev_offset() + (o.d * layer.batch + b) * layer.state_width;
    }
    var acc: array<vec4<f32>, MAX_PAIRS>;
    for (var k4 = lid; k4 < k4_len; k4 += WORKGROUP) {
        var x: array<vec4<f32>, MAX_ROWS>;
        for (var r = 0u; r < ROWS; r++) {
            x[r] = h_prev4(rows[r], k4);
        }
        for (var u = 0u; u < UNITS; u++) {
            let j = min(o.j0 + u, h - 1u);
            let at = (o.d * GATES * h + j) * k4_len + k4;
            // GATES is fixed per pipeline: the loads of gates a kind lacks are compiled out.
            let w0 = w_hh[at];
            var w1 = vec4<f32>();
            var w2 = vec4<f32>();
            var w3 = vec4<f32>();
            if (GATES > 1u) {
                w1 = w_hh[at + gate_plane];
                w2 = w_hh[at + 2u * gate_plane];
            }
            if (GATES > 3u) {
                w3 = w_hh[at + 3u * gate_plane];
            }
            for (var r = 0u; r < ROWS; r++) {
                acc[u * ROWS + r] += vec4<f32>(dot(w0, x[r]), dot(w1, x[r]), dot(w2, x[r]), dot(w3, x[r]));
            }
        }
    }
    return acc;
}

// Where one (direction, sequence) pair reads and writes at this step.
struct Site {
    valid: bool,
    gate_base: u32,   // start of this (t, b) row in `gates`, in vec4s
    prev: u32,        // start of h_{t-1}
    next: u32,        // start of h_t in `state`
    out: u32,         // start of this direction's slice of output[t][b]
}

fn site_of(d: u32, b: u32) -> Site {
    let s = step.index;
    let t = select(s, layer.seq_len - 1u - s, d == 1u);
    let t0 = chunk_first_t(s / layer.chunk_steps, d, layer.seq_len, layer.chunk_steps);
    let width = layer.state_width;
    let row = (d * layer.batch + b) * width;
    var at: Site;
    at.valid = t < sequence_length(b);
    at.gate_base = (d * layer.chunk_steps * layer.batch + (t - t0) * layer.batch + b) * (layer.gate_stride / 4u);
    at.prev = prev_offset() + row;
    at.next = next_offset() + row;
    at.out = (t * layer.batch + b) * layer.directions * width + d * width;
    return at;
}

// Keeps h for a step past the sequence's end, and pads the output with zero.
fn write_h(at: Site, j: u32, value: f32) {
    state_set(at.next + j, select(state_get(at.prev + j), value, at.valid));
    output[at.out + j] = select(0.0, value, at.valid);
}

// The gate math of pair `pair` from its reduced W_hh h_{t-1} (`total`), by the invocation
// that owns it.
fn finish_pair(o: Owner, pair: u32, total: vec4<f32>) {
    let j = o.j0 + pair / ROWS;
    let b = o.b0 + pair % ROWS;
    let h = layer.hidden;
    if (j >= h || b >= layer.batch) {
        return;
    }
    let bias = o.d * layer.gate_rows + j;
    var hidden = total;
    hidden.x += b_hh[bias];
    if (GATES > 1u) {
        hidden.y += b_hh[bias + h];
        hidden.z += b_hh[bias + 2u * h];
    }
    if (GATES > 3u) {
        hidden.w += b_hh[bias + 3u * h];
    }
    let at = site_of(o.d, b);
    if (GATES == 1u) {
        write_h(at, j, rnn_cell(unit_gate(at.gate_base, j) + hidden.x));
    } else if (GATES == 3u) {
        write_h(at, j, gru_cell(unit_gates(at.gate_base, j), hidden, state_get(at.prev + j)));
    } else {
        // Past the sequence's end c and h stay (with proj_size, lstm_project keeps h).
        let c_at = cell_row(o.d, b) + j;
        let c_prev = cell[c_at];
        let cell_h = lstm_cell(unit_gates(at.gate_base, j) + hidden, c_prev);
        cell[c_at] = select(c_prev, cell_h.x, at.valid);
        if (layer.project == 1u) {
            // h = W_hr (o * tanh(c)) needs every unit's value: lstm_project finishes the step.
            cell[layer.directions * layer.batch * h + c_at] = cell_h.y;
        } else {
            write_h(at, j, cell_h.y);
        }
    }
}

// h = W_hr m for an LSTM with proj_size: invocation x owns one projected unit for a block of
// ROWS sequences. W_hr is [D][H][H_out] (transposed), so neighbouring invocations read
// neighbouring floats.
@compute @workgroup_size(64, 1, 1)
fn lstm_project(@builtin(global_invocation_id) gid: vec3<u32>) {
    let o = Owner(gid.x, gid.y * ROWS, gid.z);
    let h = layer.hidden;
    let width = layer.state_width;
    var m: array<u32, MAX_ROWS>;
    for (var r = 0u; r < ROWS; r++) {
        let b = min(o.b0 + r, layer.batch - 1u);
        m[r] = layer.directions * layer.batch * h + cell_row(o.d, b);
    }
    let col = min(o.j0, width - 1u);
    var acc: array<f32, MAX_ROWS>;
    for (var k = 0u; k < h; k++) {
        let w = w_hr[(o.d * h + k) * width + col];
        for (var r = 0u; r < ROWS; r++) {
            acc[r] += w * cell[m[r] + k];
        }
    }
    if (o.j0 >= width) {
        return;
    }
    for (var r = 0u; r < ROWS; r++) {
        let b = o.b0 + r;
        if (b < layer.batch) {
            write_h(site_of(o.d, b), o.j0, acc[r]);
        }
    }
}
