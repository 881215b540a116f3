// Input projection for a chunk of timesteps, both directions at once (workgroup z = direction):
//   gates[d][row][n] = sum_k x[t0*B + row][k] * w_ih_t[d][k][n] + b_ih[d][n]
// with the gate rows in gpu::pack::gate_column order: 4 columns (one vec4) hold a GRU or LSTM
// unit's gates, or four Elman RNN units.
// Each invocation computes a block of ROWS rows x COLS gate rows in registers (the loop is
// dot_rows in dot.wgsl). W_ih is stored transposed so that neighbouring invocations read
// neighbouring weights.

@group(0) @binding(0) var<uniform> layer: Layer;
// x of the whole sequence, (T, B, in_size).
@group(0) @binding(1) var<storage, read> x: array<f32>;
// binding 2: W_ih, [D][K/4][gate_stride][4] (columns.wgsl, weights_storage.wgsl).
@group(0) @binding(3) var<storage, read> b_ih: array<vec4<f32>>;   // [D][G*H/4]
// The output, [D][chunk_steps*B][gate_stride/4] vec4s (gates_storage.wgsl reads it).
@group(0) @binding(4) var<storage, read_write> gates: array<vec4<f32>>;
// The same buffer as `x` when in_size % 4 == 0 (rows then start on whole vec4s), else unused.
@group(0) @binding(5) var<storage, read> x4: array<vec4<f32>>;
@group(1) @binding(0) var<uniform> chunk: Step;

const GEMM_WORKGROUP: u32 = 64u;
const ROWS: u32 = 16u;
const DOT_ROWS: u32 = ROWS;
const COLS: u32 = 4u;
// Columns of each block of four that hold weights: 3 for a GRU (the fourth is zero), 4 for the
// LSTM and the Elman RNN (whose blocks are four units). A pipeline constant, so that a GRU's
// pipeline drops the zero column's loads: software adapters would otherwise run them masked.
// Any value up to 4 is correct for every kind (the skipped columns are zero).
override GEMM_COLUMNS: u32 = 4u;

// A workgroup computes one block of ROWS rows for 64 vec4s of gate rows; the subgroup loop's
// invocations share their rows.
@compute @workgroup_size(64, 1, 1)
fn input_projection(
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(workgroup_id) wid: vec3<u32>,
) {
    let d = wid.z;
    let k_len = layer.in_size;
    let n_len = layer.gate_stride;        // whole vec4s: the host pads W_ih
    let n4_len = n_len / COLS;
    let start = chunk.index * layer.chunk_steps;
    let rows = min(layer.chunk_steps, layer.seq_len - start) * layer.batch;
    let t0 = chunk_first_t(chunk.index, d, layer.seq_len, layer.chunk_steps);

    let column = wid.x * GEMM_WORKGROUP + lid.x;
    let n4 = min(column, n4_len - 1u);    // surplus invocations compute a copy and discard it
    let row0 = wid.y * ROWS;
    // Rows past the chunk's end repeat its last row; their results are discarded.
    let last = rows - 1u;
    var xr: array<u32, ROWS>;
    for (var r = 0u; r < ROWS; r++) {
        xr[r] = (chunk_row0(d, t0) + min(row0 + r, last)) * k_len;
    }
    let m = (d * ((k_len + 3u) / 4u) * n4_len + n4) * 4u;
    let acc = dot_rows(xr, m, n_len, k_len, GEMM_COLUMNS);
    if (column >= n4_len) {
        return;
    }
    let capacity = layer.chunk_steps * layer.batch;
    let bias = b_ih[d * n4_len + column];
    for (var r = 0u; r < ROWS; r++) {
        if (row0 + r < rows) {
            gates[(d * capacity + row0 + r) * n4_len + column] = acc[r] + bias;
        }
    }
}

// The row of `x` where direction d's rows of this chunk start (its first timestep t0).
fn chunk_row0(d: u32, t0: u32) -> u32 {
    return t0 * layer.batch;
}

fn dot_row(i: u32) -> f32 {
    return x[i];
}

fn dot_row4(i: u32) -> vec4<f32> {
    return x4[i];
}
