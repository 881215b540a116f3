// dot8 (dot.wgsl) for len % 4 == 0 on devices with subgroups. Every invocation of a subgroup
// needs the same rows of R, so each loads a different vec4 of them and the subgroup passes
// them around with shuffles: per 4 values of k, up to 4 weight loads and 8 shuffles feed 128
// multiply-adds, and R is loaded once per subgroup rather than once per invocation (on
// lavapipe this loop runs about 1.5x as fast as dot_vec4.wgsl's). Called in uniform control
// flow. Lanes are numbered among the active invocations, so a partial subgroup works where
// its active invocations are the low-numbered ones (as in a workgroup's last subgroup).

fn dot8_vec4(r: array<u32, 8>, m: u32, stride: u32, len: u32, cols: u32) -> array<vec4<f32>, 8> {
    let n4 = len / 4u;
    let lane = subgroupExclusiveAdd(1u);
    let lanes = subgroupAdd(1u);
    var a0 = vec4<f32>(0.0);
    var a1 = vec4<f32>(0.0);
    var a2 = vec4<f32>(0.0);
    var a3 = vec4<f32>(0.0);
    var a4 = vec4<f32>(0.0);
    var a5 = vec4<f32>(0.0);
    var a6 = vec4<f32>(0.0);
    var a7 = vec4<f32>(0.0);
    for (var k4 = 0u; k4 < n4; k4 += lanes) {
        // This invocation's share of the next `lanes` vec4s of every row.
        let mine = min(k4 + lane, n4 - 1u);
        let s0 = dot_row4(r[0] / 4u + mine);
        let s1 = dot_row4(r[1] / 4u + mine);
        let s2 = dot_row4(r[2] / 4u + mine);
        let s3 = dot_row4(r[3] / 4u + mine);
        let s4 = dot_row4(r[4] / 4u + mine);
        let s5 = dot_row4(r[5] / 4u + mine);
        let s6 = dot_row4(r[6] / 4u + mine);
        let s7 = dot_row4(r[7] / 4u + mine);
        var w = m + k4 * stride;
        for (var i = 0u; i < min(lanes, n4 - k4); i++) {
            let block = dot_columns(w, cols);
            a0 += block * subgroupShuffle(s0, i);
            a1 += block * subgroupShuffle(s1, i);
            a2 += block * subgroupShuffle(s2, i);
            a3 += block * subgroupShuffle(s3, i);
            a4 += block * subgroupShuffle(s4, i);
            a5 += block * subgroupShuffle(s5, i);
            a6 += block * subgroupShuffle(s6, i);
            a7 += block * subgroupShuffle(s7, i);
            w += stride;
        }
    }
    return array<vec4<f32>, 8>(a0, a1, a2, a3, a4, a5, a6, a7);
}
