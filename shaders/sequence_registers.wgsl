// The sequence kernel for a workgroup that is one subgroup, on CPU adapters (appended to
// sequence.wgsl on devices with subgroups). h stays in each invocation's registers for the
// whole chunk: no workgroup memory, which lavapipe loads one lane at a time through the stack,
// and no barrier, which makes it keep every live value in memory across the step (its
// workgroups with barriers run as coroutines).
//
// Invocation `lane` owns the vec4 groups of units g = q * lanes + lane (units 4g to 4g + 3),
// q < REGISTER_GROUPS: exactly the vec4 of h_{t-1} that the subgroup inner loop
// (dot_vec4_subgroup.wgsl) has it hand around for block q of k. So each invocation computes h_t
// of the units it will hand around at the next step, and nothing crosses invocations but the
// shuffles. The host picks this entry point only without proj_size, for H % 4 == 0 and
// 4 * lanes <= H <= 4 * REGISTER_GROUPS * lanes (gpu::sequence::SequenceShape::registers).

// Mirrored by `gpu::sequence::REGISTER_GROUPS`.
const REGISTER_GROUPS: u32 = 8u;

// h_{t-1} and h_t of the invocation's groups, one array per sequence of the block, and the
// LSTM's c the same way (c_{t-1} is read before c_t is written, unit by unit, so one array).
var<private> h_prev$: array<vec4<f32>, REGISTER_GROUPS>;
var<private> h_next$: array<vec4<f32>, REGISTER_GROUPS>;
var<private> c_reg$: array<vec4<f32>, REGISTER_GROUPS>;
// b_hh of the invocation's units, [group][unit of the group], read once per dispatch: it does
// not change between steps, and lavapipe loads storage one lane at a time through the stack
// (the per-step reads took about a seventh of this kernel's time at LSTM B=8 H=32).
var<private> bias_reg: array<array<vec4<f32>, 4>, REGISTER_GROUPS>;

// dot_rows_vec4 with row $ of the block read from h_prev$ (see above) instead of memory,
// summed into a$: block q of k is the vec4 that each lane holds as h_prev$[q].
fn dot_registers(
    a$: ptr<function, vec4<f32>>,
    m: u32, stride: u32, n4: u32, cols: u32, lanes: u32,
) {
    for (var q = 0u; q * lanes < n4; q++) {
        let k4 = q * lanes;
        shuffle_block(
            a$,
            h_prev$[q],
            m + k4 * stride, stride, min(lanes, n4 - k4), cols,
        );
    }
}

@compute @workgroup_size(SEQUENCE_WORKGROUP, 1, 1)
fn sequence_registers(@builtin(workgroup_id) wg: vec3<u32>) {
    let blk = block_of(wg.y, wg.z);
    let n4 = layer.hidden / 4u;
    let lane = subgroupExclusiveAdd(1u);
    let lanes = subgroupAdd(1u);
    let groups = (n4 + lanes - 1u) / lanes;
    let steps = min(layer.chunk_steps, layer.seq_len - blk.first);
    let lens = array<u32, SEQUENCE_ROWS>(
        sequence_length(blk.b0 + $u),
    );
    // Rows past the batch read the last sequence's h and write nothing.
    let src$ = state_slot(blk.d, min(blk.b0 + $u, layer.batch - 1u), blk.first) / 4u;
    let cell$ = cell_row(blk.d, min(blk.b0 + $u, layer.batch - 1u));
    for (var q = 0u; q < groups; q++) {
        let g = min(q * lanes + lane, n4 - 1u);
        h_prev$[q] = state[src$ + g];
        for (var u = 0u; u < 4u; u++) {
            bias_reg[q][u] = unit_bias(blk.d, 4u * g + u);
        }
        if (SEQUENCE_GATES == 4u) {
            c_reg$[q] = vec4<f32>(cell[cell$ + 4u * g], cell[cell$ + 4u * g + 1u], cell[cell$ + 4u * g + 2u], cell[cell$ + 4u * g + 3u]);
        }
    }
    for (var i = 0u; i < steps; i++) {
        let at = at_step(blk, i);
        // Every invocation runs every group (uniform control flow for the shuffles); one past
        // the last group redoes the last and writes nothing.
        for (var q = 0u; q < groups; q++) {
            let g = min(q * lanes + lane, n4 - 1u);
            let owned = q * lanes + lane < n4;
            let p$ = h_prev$[q];
            // c only for the LSTM: the other kinds skip the per-step reads and writes.
            let c$ = select(vec4<f32>(0.0), c_reg$[q], SEQUENCE_GATES == 4u);
            let u0 = register_unit(blk, at, lens, 4u * g, owned, n4, lanes, bias_reg[q][0u], array<vec2<f32>, SEQUENCE_ROWS>(
                vec2<f32>(p$.x, c$.x),
            ));
            let u1 = register_unit(blk, at, lens, 4u * g + 1u, owned, n4, lanes, bias_reg[q][1u], array<vec2<f32>, SEQUENCE_ROWS>(
                vec2<f32>(p$.y, c$.y),
            ));
            let u2 = register_unit(blk, at, lens, 4u * g + 2u, owned, n4, lanes, bias_reg[q][2u], array<vec2<f32>, SEQUENCE_ROWS>(
                vec2<f32>(p$.z, c$.z),
            ));
            let u3 = register_unit(blk, at, lens, 4u * g + 3u, owned, n4, lanes, bias_reg[q][3u], array<vec2<f32>, SEQUENCE_ROWS>(
                vec2<f32>(p$.w, c$.w),
            ));
            h_next$[q] = vec4<f32>(u0[$].x, u1[$].x, u2[$].x, u3[$].x);
            if (SEQUENCE_GATES == 4u) { c_reg$[q] = vec4<f32>(u0[$].y, u1[$].y, u2[$].y, u3[$].y); }
        }
        for (var q = 0u; q < groups; q++) {
            h_prev$[q] = h_next$[q];
        }
    }
    let dst$ = state_slot(blk.d, blk.b0 + $u, blk.first + steps) / 4u;
    for (var q = 0u; q < groups; q++) {
        let g = q * lanes + lane;
        if ($u < blk.live && g < n4) { state[dst$ + g] = h_prev$[q]; if (SEQUENCE_GATES == 4u) { store_cell(cell$ + 4u * g, c_reg$[q]); } }
    }
}

fn store_cell(i: u32, c: vec4<f32>) {
    cell[i] = c.x;
    cell[i + 1u] = c.y;
    cell[i + 2u] = c.z;
    cell[i + 3u] = c.w;
}

// Unit j's (h_t, c_t) for every sequence of the block, from their (h_{t-1}, c_{t-1})
// (`prev`; c only for the LSTM) and its b_hh (`b_gates`): the values to keep (the previous
// ones past a sequence's end, and for rows past the batch). Writes the output where the
// invocation owns the unit.
fn register_unit(blk: Block, at: At, lens: array<u32, SEQUENCE_ROWS>, j: u32, owned: bool, n4: u32, lanes: u32, b_gates: vec4<f32>, prev: array<vec2<f32>, SEQUENCE_ROWS>) -> array<vec2<f32>, SEQUENCE_ROWS> {
    let h = layer.hidden;
    var acc$ = vec4<f32>(0.0);
    dot_registers(
        &acc$,
        w_hh_start(blk.d, j), 4u * h, n4, SEQUENCE_GATES, lanes,
    );
    return array<vec2<f32>, SEQUENCE_ROWS>(
        register_finish(blk, at, $u, lens[$], j, owned, acc$ + b_gates, prev[$]),
    );
}

// `finish` (sequence.wgsl) for a unit held in registers: returns (h, c) to keep rather than
// writing them to memory.
fn register_finish(blk: Block, at: At, bb: u32, length: u32, j: u32, owned: bool, hidden: vec4<f32>, prev: vec2<f32>) -> vec2<f32> {
    if (bb >= blk.live) {
        return prev;
    }
    let valid = at.t < length;
    let gate_base = at.gate_base + bb * (layer.gate_stride / 4u);
    var next: vec2<f32>;
    switch (SEQUENCE_GATES) {
        case 3u: {
            next = vec2<f32>(gru_cell(unit_gates(gate_base, j), hidden, prev.x), 0.0);
        }
        case 4u: {
            let cell_h = lstm_cell(unit_gates(gate_base, j) + hidden, prev.y);
            next = cell_h.yx;
        }
        default: {
            next = vec2<f32>(rnn_cell(unit_gate(gate_base, j) + hidden.x), 0.0);
        }
    }
    if (owned) {
        output[at.out + bb * layer.directions * layer.state_width + j] = select(0.0, next.x, valid);
    }
    return select(prev, next, valid);
}
