// dot_rows (dot.wgsl) for len % 4 == 0, without subgroups: per 4 values of k, up to 4 weight
// loads and DOT_ROWS vec4 row loads feed 16 * DOT_ROWS multiply-adds.

fn dot_rows_vec4(r: array<u32, DOT_ROWS>, m: u32, stride: u32, len: u32, cols: u32) -> array<vec4<f32>, DOT_ROWS> {
    var a$ = vec4<f32>(0.0);
    var w = m;
    for (var k4 = 0u; k4 < len / 4u; k4++) {
        let block = dot_columns(w, cols);
        a$ += block * dot_row4(r[$] / 4u + k4);
        w += stride;
    }
    return array<vec4<f32>, DOT_ROWS>(
        a$,
    );
}
