// dot8 (dot.wgsl) for len % 4 == 0, without subgroups: per 4 values of k, up to 4 weight loads
// and 8 vec4 row loads feed 128 multiply-adds.

fn dot8_vec4(r: array<u32, 8>, m: u32, stride: u32, len: u32, cols: u32) -> array<vec4<f32>, 8> {
    var a0 = vec4<f32>(0.0);
    var a1 = vec4<f32>(0.0);
    var a2 = vec4<f32>(0.0);
    var a3 = vec4<f32>(0.0);
    var a4 = vec4<f32>(0.0);
    var a5 = vec4<f32>(0.0);
    var a6 = vec4<f32>(0.0);
    var a7 = vec4<f32>(0.0);
    var w = m;
    for (var k4 = 0u; k4 < len / 4u; k4++) {
        let block = dot_columns(w, cols);
        a0 += block * dot_row4(r[0] / 4u + k4);
        a1 += block * dot_row4(r[1] / 4u + k4);
        a2 += block * dot_row4(r[2] / 4u + k4);
        a3 += block * dot_row4(r[3] / 4u + k4);
        a4 += block * dot_row4(r[4] / 4u + k4);
        a5 += block * dot_row4(r[5] / 4u + k4);
        a6 += block * dot_row4(r[6] / 4u + k4);
        a7 += block * dot_row4(r[7] / 4u + k4);
        w += stride;
    }
    return array<vec4<f32>, 8>(a0, a1, a2, a3, a4, a5, a6, a7);
}
