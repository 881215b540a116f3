// Input projection for a chunk of timesteps, both directions at once (workgroup z = direction):
//   gates[d][row][n] = sum_k x[t0*B + row][k] * w_ih_t[d][k][n] + b_ih[d][n]
// with the gate rows in gpu::pack::gate_column order: 4 columns (one vec4) hold a GRU or LSTM
// unit's gates, or four Elman RNN units.
// Each invocation computes a block of ROWS rows x COLS gate rows in registers (the loop is
// dot_rows in dot.wgsl). W_ih is stored transposed so that neighbouring invocations read
// neighbouring weights. No workgroup memory and no barriers: on software adapters (lavapipe) a
// barrier costs more than the loads it would save.

@group(0) @binding(0) var<uniform> layer: Layer;
// bindings 1 and 5: x, from gemm_rows_storage.wgsl, or on CPU adapters gemm_rows_uniform.wgsl
// or gemm_rows_texture.wgsl (binding 1 only).
// binding 2: W_ih, [D][K/4][gate_stride][4] (columns.wgsl), from weights_storage.wgsl or, on
// CPU adapters, weights_uniform.wgsl (which adds bindings 9 to 11) or weights_texture.wgsl.
@group(0) @binding(3) var<storage, read> b_ih: array<vec4<f32>>;   // [D][G*H/4]
// binding 4: the output, written through store_gates: gemm_gates_storage.wgsl or, on CPU
// adapters, gemm_gates_texture.wgsl.
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

// A workgroup computes GEMM_WORKGROUP / layer.gemm_block blocks of ROWS rows, each with
// layer.gemm_block invocations (a power of two): all 64 on one block of a wide layer, and
// on CPU adapters several blocks of a narrow one, whose gate rows would otherwise leave most
// invocations computing copies (GRU H=16: 16 vec4s of gate rows). Every subgroup stays within
// one block (gemm_block is at least the subgroup's width), so the subgroup loop's invocations
// share their rows.
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

    let block = layer.gemm_block;
    let column = wid.x * GEMM_WORKGROUP + lid.x % block;
    let n4 = min(column, n4_len - 1u);    // surplus invocations compute a copy and discard it
    let row0 = (wid.y * (GEMM_WORKGROUP / block) + lid.x / block) * ROWS;
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
            store_gates((d * capacity + row0 + r) * n4_len + column, acc[r] + bias);
        }
    }
}
