// Fused recurrent steps: one dispatch per timestep for both directions (workgroup z = d).
// The invocation that owns hidden unit j computes all of its gate rows of W_hh h_{t-1} and the
// gate math in registers, then writes h_t (and c_t). Weights are packed gate-interleaved
// (w_hh[d][k][j] = vec4 of the unit's gate rows at column k), so neighbouring invocations
// read neighbouring memory and each read fetches all gates at once.
//
// Masking (pack_padded_sequence semantics): a step past a sequence's length keeps the state
// and writes a zero output; the reverse direction thus starts at each sequence's last step.

// Bindings: shaders/recurrent_bindings.wgsl (prepended).

const WORKGROUP: u32 = 64u;

// Where one (direction, sequence) pair reads and writes at this step.
struct Site {
    t: u32,
    valid: bool,
    gate_base: u32,   // start of this (t, b) row in `gates`
    prev: u32,        // start of h_{t-1} in `state`
    next: u32,        // start of h_t in `state`
    out: u32,         // start of this direction's slice of output[t][b]
}

fn site(d: u32, b: u32) -> Site {
    let s = step.index;
    let t = select(s, layer.seq_len - 1u - s, d == 1u);
    let t0 = chunk_first_t(s / layer.chunk_steps, d, layer.seq_len, layer.chunk_steps);
    let row = (t - t0) * layer.batch + b;
    let capacity = layer.chunk_steps * layer.batch;
    let width = layer.state_width;
    var out: Site;
    out.t = t;
    out.valid = t < lengths[b];
    out.gate_base = (d * capacity + row) * layer.gate_rows;
    out.prev = (((s % 2u) * layer.directions + d) * layer.batch + b) * width;
    out.next = ((((s + 1u) % 2u) * layer.directions + d) * layer.batch + b) * width;
    out.out = (t * layer.batch + b) * layer.directions * width + d * width;
    return out;
}

// sum_k w_hh[d][k][j] * h_{t-1}[k], all gates at once.
fn recurrent_dot(d: u32, j: u32, prev: u32) -> vec4<f32> {
    let h = layer.hidden;
    let base = d * layer.state_width * h + j;
    var acc = vec4<f32>(0.0);
    for (var k = 0u; k < layer.state_width; k++) {
        acc += w_hh[base + k * h] * state[prev + k];
    }
    return acc;
}

// Keeps h for a step past the sequence's end, and pads the output with zero.
fn write_h(at: Site, j: u32, value: f32) {
    if (at.valid) {
        state[at.next + j] = value;
        output[at.out + j] = value;
    } else {
        state[at.next + j] = state[at.prev + j];
        output[at.out + j] = 0.0;
    }
}

@compute @workgroup_size(64, 1, 1)
fn gru_step(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j = gid.x;
    let b = gid.y;
    let d = gid.z;
    let h = layer.hidden;
    if (j >= h) {
        return;
    }
    let at = site(d, b);
    let acc = recurrent_dot(d, j, at.prev);
    let bias = d * layer.gate_rows + j;
    let r = sigmoid(gates[at.gate_base + j] + acc.x + b_hh[bias]);
    let z = sigmoid(gates[at.gate_base + h + j] + acc.y + b_hh[bias + h]);
    let n = tanh_safe(gates[at.gate_base + 2u * h + j] + r * (acc.z + b_hh[bias + 2u * h]));
    write_h(at, j, (1.0 - z) * n + z * state[at.prev + j]);
}

@compute @workgroup_size(64, 1, 1)
fn lstm_step(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j = gid.x;
    let b = gid.y;
    let d = gid.z;
    let h = layer.hidden;
    if (j >= h) {
        return;
    }
    let at = site(d, b);
    let acc = recurrent_dot(d, j, at.prev);
    let bias = d * layer.gate_rows + j;
    let i = sigmoid(gates[at.gate_base + j] + acc.x + b_hh[bias]);
    let f = sigmoid(gates[at.gate_base + h + j] + acc.y + b_hh[bias + h]);
    let g = tanh_safe(gates[at.gate_base + 2u * h + j] + acc.z + b_hh[bias + 2u * h]);
    let o = sigmoid(gates[at.gate_base + 3u * h + j] + acc.w + b_hh[bias + 3u * h]);
    let c_at = (d * layer.batch + b) * h + j;
    if (layer.project == 1u) {
        // h = W_hr (o * tanh(c)) needs every unit's value: lstm_project finishes the step.
        if (at.valid) {
            let c = f * cell[c_at] + i * g;
            cell[c_at] = c;
            cell[layer.directions * layer.batch * h + c_at] = o * tanh_safe(c);
        }
        return;
    }
    if (at.valid) {
        let c = f * cell[c_at] + i * g;
        cell[c_at] = c;
        write_h(at, j, o * tanh_safe(c));
    } else {
        write_h(at, j, 0.0);
    }
}

@compute @workgroup_size(64, 1, 1)
fn lstm_project(@builtin(global_invocation_id) gid: vec3<u32>) {
    let r = gid.x;
    let b = gid.y;
    let d = gid.z;
    let width = layer.state_width;
    if (r >= width) {
        return;
    }
    let at = site(d, b);
    let h = layer.hidden;
    let m = layer.directions * layer.batch * h + (d * layer.batch + b) * h;
    var acc = 0.0;
    for (var k = 0u; k < h; k++) {
        acc += w_hr[(d * h + k) * width + r] * cell[m + k];
    }
    write_h(at, r, acc);
}

@compute @workgroup_size(64, 1, 1)
fn rnn_step(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j = gid.x;
    let b = gid.y;
    let d = gid.z;
    if (j >= layer.hidden) {
        return;
    }
    let at = site(d, b);
    let pre = gates[at.gate_base + j] + recurrent_dot(d, j, at.prev).x + b_hh[d * layer.gate_rows + j];
    var value = tanh_safe(pre);
    if (layer.relu == 1u) {
        value = max(pre, 0.0);
    }
    write_h(at, j, value);
}
