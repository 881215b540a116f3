// The per-step kernel's entry point on devices with subgroups (appended to recurrent.wgsl):
// each subgroup sums its invocations' partial dot products with subgroupAdd, its first
// invocation leaves the sum in workgroup memory, and after one barrier the invocation that
// owns a (unit, sequence) pair adds the subgroups' sums. gpu::plan keeps
// num_subgroups * UNITS * ROWS within PARTIALS (WORKGROUP <= 128 and subgroups of at least 4).

@compute @workgroup_size(WORKGROUP, 1, 1)
fn recurrent_step(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
    @builtin(subgroup_id) subgroup: u32,
    @builtin(num_subgroups) subgroups: u32,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    let o = owner_of(wg);
    let pairs = UNITS * ROWS;
    let acc = partial_dot(o, lid);
    for (var p = 0u; p < pairs; p++) {
        let sum = subgroupAdd(acc[p]);
        if (lane == 0u) {
            partial[subgroup * pairs + p] = sum;
        }
    }
    workgroupBarrier();
    if (lid < pairs) {
        var total = vec4<f32>();
        for (var s = 0u; s < subgroups; s++) {
            total += partial[s * pairs + lid];
        }
        finish_pair(o, lid, total);
    }
}
