// Whole chunks of timesteps in one dispatch: one workgroup per (sequence, direction) loops
// over the chunk's timesteps, with h_{t-1} in workgroup memory and one workgroupBarrier()
// per step (two with proj_size). Nothing waits across workgroups, so this is legal WebGPU.
// For state widths up to MAX_WIDTH; it replaces one dispatch per step, whose fixed cost
// dominates at small hidden sizes.
//
// Bindings: shaders/recurrent_bindings.wgsl (prepended). `step.index` is the chunk index.

const SEQUENCE_WORKGROUP: u32 = 64u;
const MAX_WIDTH: u32 = 1024u;

var<workgroup> h_ws: array<f32, 2048>;   // [2][MAX_WIDTH]: h_{t-1} and h_t, alternating
var<workgroup> m_ws: array<f32, 1024>;   // o * tanh(c) for the projection (proj_size only)

// Geometry of one (sequence, direction) at one step, uniform across the workgroup.
struct At {
    valid: bool,
    gate_base: u32,  // in vec4s
    out: u32,
    prev: u32,   // offset of h_{t-1} in h_ws
    next: u32,   // offset of h_t in h_ws
}

fn at_step(d: u32, b: u32, first: u32, i: u32) -> At {
    let s = first + i;
    let t = select(s, layer.seq_len - 1u - s, d == 1u);
    let t0 = chunk_first_t(step.index, d, layer.seq_len, layer.chunk_steps);
    let capacity = layer.chunk_steps * layer.batch;
    let width = layer.state_width;
    var at: At;
    at.valid = t < lengths[b / 4u][b % 4u];
    at.gate_base = (d * capacity + (t - t0) * layer.batch + b) * (layer.gate_stride / 4u);
    at.out = (t * layer.batch + b) * layer.directions * width + d * width;
    at.prev = (i % 2u) * MAX_WIDTH;
    at.next = MAX_WIDTH - at.prev;
    return at;
}

// Offset in `state` of this (sequence, direction)'s h after `s` steps (the ping-pong slot
// the per-step kernels would use, so the host treats both strategies alike).
fn state_slot(d: u32, b: u32, s: u32) -> u32 {
    return (((s % 2u) * layer.directions + d) * layer.batch + b) * layer.state_width;
}

fn load_state(d: u32, b: u32, first: u32, lid: u32) {
    let src = state_slot(d, b, first);
    for (var j = lid; j < layer.state_width; j += SEQUENCE_WORKGROUP) {
        h_ws[j] = state_get(src + j);
    }
}

fn store_state(d: u32, b: u32, first: u32, steps: u32, lid: u32) {
    let dst = state_slot(d, b, first + steps);
    let src = (steps % 2u) * MAX_WIDTH;
    for (var j = lid; j < layer.state_width; j += SEQUENCE_WORKGROUP) {
        state_set(dst + j, h_ws[src + j]);
    }
}

// sum_k w_hh[d][k][j] * h_{t-1}[k] for all gates, four values of k at a time.
fn sequence_dot(d: u32, j: u32, prev: u32) -> vec4<f32> {
    let width = layer.state_width;
    var w = w_hh_start(d, j);
    var acc = vec4<f32>(0.0);
    for (var k = 0u; k < width; k += 4u) {
        // h_ws past the width holds stale values: zero them (their weights are zero, but
        // 0 * Inf is NaN).
        let s = vec4<f32>(
            h_ws[prev + k],
            select(0.0, h_ws[prev + k + 1u], k + 1u < width),
            select(0.0, h_ws[prev + k + 2u], k + 2u < width),
            select(0.0, h_ws[prev + k + 3u], k + 3u < width),
        );
        acc += dot_columns(w, layer.gate_count) * s;
        w += 4u * layer.hidden;
    }
    return acc;
}

// Past a sequence's end: keep h, write zeros.
fn hold(at: At, j: u32) {
    h_ws[at.next + j] = h_ws[at.prev + j];
    output[at.out + j] = 0.0;
}

fn emit(at: At, j: u32, value: f32) {
    h_ws[at.next + j] = value;
    output[at.out + j] = value;
}

// One loop for every kind; the kind's gate math is in the *_unit functions below.
@compute @workgroup_size(64, 1, 1)
fn sequence(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let b = wg.y;
    let d = wg.z;
    let h = layer.hidden;
    let width = layer.state_width;
    let first = step.index * layer.chunk_steps;
    let steps = min(layer.chunk_steps, layer.seq_len - first);
    load_state(d, b, first, lid.x);
    workgroupBarrier();
    for (var i = 0u; i < steps; i++) {
        let at = at_step(d, b, first, i);
        for (var j = lid.x; j < h; j += SEQUENCE_WORKGROUP) {
            if (at.valid) {
                let acc = sequence_dot(d, j, at.prev);
                switch (layer.gate_count) {
                    case 3u: {
                        gru_unit(at, d, j, acc);
                    }
                    case 4u: {
                        lstm_unit(at, d, b, j, acc);
                    }
                    default: {
                        rnn_unit(at, d, j, acc.x);
                    }
                }
            } else if (layer.project == 0u) {
                hold(at, j);
            }
        }
        if (layer.project == 1u) {
            // h = W_hr m needs every unit's m.
            workgroupBarrier();
            for (var r = lid.x; r < width; r += SEQUENCE_WORKGROUP) {
                if (at.valid) {
                    var acc = 0.0;
                    for (var k = 0u; k < h; k++) {
                        acc += w_hr[(d * h + k) * width + r] * m_ws[k];
                    }
                    emit(at, r, acc);
                } else {
                    hold(at, r);
                }
            }
        }
        workgroupBarrier();
    }
    store_state(d, b, first, steps, lid.x);
}

// `acc`: W_hh h_{t-1} for unit j's gates, without b_hh.
fn gru_unit(at: At, d: u32, j: u32, acc: vec4<f32>) {
    let h = layer.hidden;
    let bias = d * layer.gate_rows + j;
    let x = unit_gates(at.gate_base, j);
    let r = sigmoid(x.x + acc.x + b_hh[bias]);
    let z = sigmoid(x.y + acc.y + b_hh[bias + h]);
    let n = tanh_safe(x.z + r * (acc.z + b_hh[bias + 2u * h]));
    emit(at, j, (1.0 - z) * n + z * h_ws[at.prev + j]);
}

fn lstm_unit(at: At, d: u32, b: u32, j: u32, acc: vec4<f32>) {
    let h = layer.hidden;
    let bias = d * layer.gate_rows + j;
    let x = unit_gates(at.gate_base, j);
    let ig = sigmoid(x.x + acc.x + b_hh[bias]);
    let f = sigmoid(x.y + acc.y + b_hh[bias + h]);
    let g = tanh_safe(x.z + acc.z + b_hh[bias + 2u * h]);
    let o = sigmoid(x.w + acc.w + b_hh[bias + 3u * h]);
    let c_at = (d * layer.batch + b) * h + j;
    let c = f * cell[c_at] + ig * g;
    cell[c_at] = c;
    if (layer.project == 1u) {
        m_ws[j] = o * tanh_safe(c);
    } else {
        emit(at, j, o * tanh_safe(c));
    }
}

fn rnn_unit(at: At, d: u32, j: u32, acc: f32) {
    let pre = unit_gate(at.gate_base, j) + acc + b_hh[d * layer.gate_rows + j];
    var value = tanh_safe(pre);
    if (layer.relu == 1u) {
        value = select(pre, 0.0, pre < 0.0); // not max(): max(NaN, 0) is 0
    }
    emit(at, j, value);
}
