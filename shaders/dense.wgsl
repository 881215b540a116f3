// Dense stages around the recurrence, on row-major (rows, features) data:
//   linear:    dst[r][n] = act(sum_k src[r][k] * weight[n][k] + bias[n])   (nn.Linear + activation)
//   last_step: dst[b][j] = src[t][b][j], t = lengths[b] - 1 for j < split, else t = 0
//   activate:  dst[i] = act(dst[i]), in place
// Time-major sequences (T, B, F) are T*B rows. Every kernel is one flat range of invocations;
// 2-D dispatches (more than 65535 workgroups) are flattened with `num_workgroups`.
// Like gemm.wgsl, `linear` keeps a block of DENSE_ROWS rows x 4 outputs in registers and uses
// no workgroup memory or barriers: on software adapters (lavapipe) every load costs about the
// same, so loads per multiply-add decide the speed.

// Mirrored by `gpu::kernels::DenseParams` on the Rust side.
struct Dense {
    rows: u32,          // rows of `src` (T*B, or B after the last step)
    in_features: u32,   // K: features per row of `src`
    out_features: u32,  // N: features per row of `dst`
    out4: u32,          // N rounded up to 4, divided by 4: vec4 columns of the weight
    activation: u32,    // 0 identity, 1 relu, 2 tanh, 3 sigmoid
    seq_len: u32,       // T (last_step)
    batch: u32,         // B (last_step)
    split: u32,         // last_step: features taken at the last valid step; the rest at step 0
}

@group(0) @binding(0) var<uniform> params: Dense;
// src, and the weight as [K][N/4] vec4s (transposed, padded).
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> bias: array<vec4<f32>>;    // [N/4] (padded, zeros without bias)
@group(0) @binding(4) var<storage, read> lengths: array<u32>;       // [B]
@group(0) @binding(5) var<storage, read_write> dst: array<f32>;

const DENSE_WORKGROUP: u32 = 64u;
const DENSE_ROWS: u32 = 8u;

// The activation codes of `gpu::kernels::DenseParams::activation`; sigmoid and tanh_safe
// (common.wgsl) are exact at +-100.
fn activate_one(x: f32, kind: u32) -> f32 {
    switch kind {
        case 1u: { return select(x, 0.0, x < 0.0); } // not max(): max(NaN, 0) is 0
        case 2u: { return tanh_safe(x); }
        case 3u: { return sigmoid(x); }
        default: { return x; }
    }
}

// Where an invocation is: every dense entry point takes these and works on one flat index.
struct Place {
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
}

fn flat_id(at: Place) -> u32 {
    return (at.wg.y * at.groups.x + at.wg.x) * DENSE_WORKGROUP + at.local;
}

@compute @workgroup_size(64, 1, 1)
fn linear(at: Place) {
    let id = flat_id(at);
    let n4_len = params.out4;
    let rows = params.rows;
    // Neighbouring invocations share a row block and read neighbouring weights.
    if (id >= n4_len * ((rows + DENSE_ROWS - 1u) / DENSE_ROWS)) {
        return;
    }
    let n4 = id % n4_len;
    let row0 = (id / n4_len) * DENSE_ROWS;
    let k_len = params.in_features;
    // Rows past the end repeat the last row; their results are discarded.
    var xr: array<u32, DENSE_ROWS>;
    for (var r = 0u; r < DENSE_ROWS; r++) {
        xr[r] = min(row0 + r, rows - 1u) * k_len;
    }
    var acc: array<vec4<f32>, DENSE_ROWS>;
    var w = n4;
    for (var k = 0u; k < k_len; k++) {
        let wk = weight[w];
        for (var r = 0u; r < DENSE_ROWS; r++) {
            acc[r] += wk * src[xr[r] + k];
        }
        w += n4_len;
    }
    let b = bias[n4];
    let n_len = params.out_features;
    let n = n4 * 4u;
    let act = params.activation;
    for (var r = 0u; r < DENSE_ROWS; r++) {
        if (row0 + r >= rows) {
            break;
        }
        let v = acc[r] + b;
        let out = (row0 + r) * n_len + n;
        for (var j = 0u; j < 4u; j++) {
            if (n + j < n_len) {
                dst[out + j] = activate_one(v[j], act);
            }
        }
    }
}

@compute @workgroup_size(64, 1, 1)
fn last_step(at: Place) {
    let id = flat_id(at);
    let width = params.out_features;
    if (id >= params.batch * width) {
        return;
    }
    let b = id / width;
    let j = id % width;
    // The forward half ends at the sequence's last valid step, the reverse half at step 0.
    let t = select(0u, lengths[b] - 1u, j < params.split);
    dst[id] = src[(t * params.batch + b) * width + j];
}

@compute @workgroup_size(64, 1, 1)
fn activate(at: Place) {
    let id = flat_id(at);
    if (id >= params.rows * params.out_features) {
        return;
    }
    dst[id] = activate_one(dst[id], params.activation);
}
