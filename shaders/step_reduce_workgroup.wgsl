// The per-step kernel's entry point on devices without subgroups (appended to
// recurrent.wgsl): each (unit, sequence) pair's partial dot products are summed by a tree in
// workgroup memory, log2(WORKGROUP) barriers a pair, and the invocation whose index is the
// pair's keeps the sum for the gate math.

@compute @workgroup_size(WORKGROUP, 1, 1)
fn recurrent_step(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let o = owner_of(wg);
    let pairs = UNITS * ROWS;
    let acc = partial_dot(o, lid);
    var total = vec4<f32>();
    for (var p = 0u; p < pairs; p++) {
        partial[lid] = acc[p];
        workgroupBarrier();
        for (var half = WORKGROUP / 2u; half > 0u; half >>= 1u) {
            if (lid < half) {
                partial[lid] += partial[lid + half];
            }
            workgroupBarrier();
        }
        if (lid == p) {
            total = partial[0];
        }
        workgroupBarrier();
    }
    if (lid < pairs) {
        finish_pair(o, lid, total);
    }
}
