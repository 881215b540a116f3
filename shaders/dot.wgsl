// The inner loop shared by the input projection and the recurrent steps: 8 rows of a row-major
// matrix R times a matrix M of vec4 columns,
//   acc[b] = sum_k R[b][k] * M[k],  M[k] = dot_matrix(m + k * stride),
// where row b starts at float r[b] of R's buffer, a multiple of `len` (rows are packed).
// The including file defines dot_row(i) (float i of R's buffer), dot_row4(i) (its vec4 i) and
// dot_matrix(i); dot8_vec4 comes from dot_vec4.wgsl or, on devices with subgroups,
// dot_vec4_subgroup.wgsl.
//
// Software adapters (lavapipe) pay per load instruction, about the same for a float as for a
// vec4, so loads per multiply-add decide the speed there: rows are read a vec4 at a time when
// `len` allows, and the accumulators are named values, which stay in registers (an indexed
// private array may live in memory).

fn dot8(r: array<u32, 8>, m: u32, stride: u32, len: u32) -> array<vec4<f32>, 8> {
    if (len % 4u == 0u) {
        return dot8_vec4(r, m, stride, len);
    }
    var a0 = vec4<f32>(0.0);
    var a1 = vec4<f32>(0.0);
    var a2 = vec4<f32>(0.0);
    var a3 = vec4<f32>(0.0);
    var a4 = vec4<f32>(0.0);
    var a5 = vec4<f32>(0.0);
    var a6 = vec4<f32>(0.0);
    var a7 = vec4<f32>(0.0);
    var w = m;
    for (var k = 0u; k < len; k++) {
        let mk = dot_matrix(w);
        a0 += mk * dot_row(r[0] + k);
        a1 += mk * dot_row(r[1] + k);
        a2 += mk * dot_row(r[2] + k);
        a3 += mk * dot_row(r[3] + k);
        a4 += mk * dot_row(r[4] + k);
        a5 += mk * dot_row(r[5] + k);
        a6 += mk * dot_row(r[6] + k);
        a7 += mk * dot_row(r[7] + k);
        w += stride;
    }
    return array<vec4<f32>, 8>(a0, a1, a2, a3, a4, a5, a6, a7);
}

// acc + the four columns m0..m3 weighted by the four row values in s.
fn fma4(acc: vec4<f32>, m0: vec4<f32>, m1: vec4<f32>, m2: vec4<f32>, m3: vec4<f32>, s: vec4<f32>) -> vec4<f32> {
    return acc + m0 * s.x + m1 * s.y + m2 * s.z + m3 * s.w;
}
