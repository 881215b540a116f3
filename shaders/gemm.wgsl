// Input projection for a chunk of timesteps, both directions at once (workgroup z = direction):
//   gates[d][row][n] = sum_k x[t0*B + row][k] * w_ih[d][n][k] + b_ih[d][n]
// A 16x16 output tile per workgroup, K walked in 16-wide tiles through workgroup memory.

@group(0) @binding(0) var<uniform> layer: Layer;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w_ih: array<f32>;
@group(0) @binding(3) var<storage, read> b_ih: array<f32>;
@group(0) @binding(4) var<storage, read_write> gates: array<f32>;
@group(1) @binding(0) var<uniform> chunk: Step;

const TILE: u32 = 16u;

var<workgroup> tile_x: array<array<f32, 16>, 16>;
var<workgroup> tile_w: array<array<f32, 16>, 16>;

@compute @workgroup_size(16, 16, 1)
fn input_projection(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
) {
    let d = wg.z;
    let k_len = layer.in_size;
    let n_len = layer.gate_rows;
    let start = chunk.index * layer.chunk_steps;
    let rows = min(layer.chunk_steps, layer.seq_len - start) * layer.batch;
    let t0 = chunk_first_t(chunk.index, d, layer.seq_len, layer.chunk_steps);

    let row = wg.y * TILE + lid.y;          // row of this chunk (timestep-major, then batch)
    let col = wg.x * TILE + lid.x;          // gate row of W_ih
    let w_row = wg.x * TILE + lid.y;        // the W_ih row this invocation loads
    let x_base = (t0 * layer.batch + row) * k_len;
    let w_base = (d * n_len + w_row) * k_len;

    var acc = 0.0;
    for (var k0 = 0u; k0 < k_len; k0 += TILE) {
        let k = k0 + lid.x;
        var xv = 0.0;
        if (row < rows && k < k_len) {
            xv = x[x_base + k];
        }
        tile_x[lid.y][lid.x] = xv;
        var wv = 0.0;
        if (w_row < n_len && k < k_len) {
            wv = w_ih[w_base + k];
        }
        tile_w[lid.y][lid.x] = wv;
        workgroupBarrier();
        for (var kk = 0u; kk < TILE; kk++) {
            acc += tile_x[lid.y][kk] * tile_w[lid.x][kk];
        }
        workgroupBarrier();
    }
    if (row < rows && col < n_len) {
        let capacity = layer.chunk_steps * layer.batch;
        gates[(d * capacity + row) * n_len + col] = acc + b_ih[d * n_len + col];
    }
}
