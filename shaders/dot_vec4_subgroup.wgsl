// dot_rows (dot.wgsl) for len % 4 == 0 on devices with subgroups. Every invocation of a
// subgroup needs the same rows of R, so each loads a different vec4 of them and the subgroup
// passes them around with shuffles: per 4 values of k, up to 4 weight loads and DOT_ROWS
// shuffles feed 16 * DOT_ROWS multiply-adds, and R is loaded once per subgroup rather than
// once per invocation (on lavapipe this loop runs about 1.5x as fast as dot_vec4.wgsl's).
// Called in uniform control flow. Lanes are numbered among the active invocations, so a
// partial subgroup works where its active invocations are the low-numbered ones (as in a
// workgroup's last subgroup).

fn dot_rows_vec4(r: array<u32, DOT_ROWS>, m: u32, stride: u32, len: u32, cols: u32) -> array<vec4<f32>, DOT_ROWS> {
    let n4 = len / 4u;
    let lane = subgroupExclusiveAdd(1u);
    let lanes = subgroupAdd(1u);
    var a$ = vec4<f32>(0.0);
    for (var k4 = 0u; k4 < n4; k4 += lanes) {
        // This invocation's share of the next `lanes` vec4s of every row.
        let mine = min(k4 + lane, n4 - 1u);
        let s$ = dot_row4(r[$] / 4u + mine);
        shuffle_block(
            &a$,
            s$,
            m + k4 * stride, stride, min(lanes, n4 - k4), cols,
        );
    }
    return array<vec4<f32>, DOT_ROWS>(
        a$,
    );
}

// a$ += the next `count` blocks of weights (from `w0`, `stride` apart) times the rows' vec4s
// that the subgroup's invocations hold in s$, handed around one shuffle per block: the inner
// loop of dot_rows_vec4 and of the register sequence kernel (sequence_registers.wgsl).
fn shuffle_block(
    a$: ptr<function, vec4<f32>>,
    s$: vec4<f32>,
    w0: u32, stride: u32, count: u32, cols: u32,
) {
    var w = w0;
    for (var i = 0u; i < count; i++) {
        let block = dot_columns(w, cols);
        *a$ += block * subgroupShuffle(s$, i);
        w += stride;
    }
}
