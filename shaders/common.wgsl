// Shared by every kernel: prepended to each kernel file before compilation.

// The per-layer constants, mirrored by `gpu::kernels::LayerParams` on the Rust side.
struct Layer {
    seq_len: u32,      // T
    batch: u32,        // B
    in_size: u32,      // input width of this layer (input_size or D*H_out)
    hidden: u32,       // H
    state_width: u32,  // H_out (proj_size or hidden_size)
    directions: u32,   // D
    chunk_steps: u32,  // timesteps whose input projection is held at once
    gate_rows: u32,    // G*H
    relu: u32,         // Elman RNN nonlinearity: 1 = relu, 0 = tanh
    project: u32,      // LSTM with proj_size
    gate_stride: u32,  // floats per row of the projection chunk (gpu::pack::gate_stride)
    gate_count: u32,   // G: 3 for GRU, 4 for LSTM, 1 for the Elman RNN
}

// One 16-byte slot per index, selected with a dynamic offset: the timestep (or chunk) index
// reaches the kernel without creating anything per step.
struct Step {
    index: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

// exp() only ever sees a non-positive argument, so neither function can overflow to Inf or
// produce NaN for finite x (drivers differ at large |x|: gpuweb#4458). Exact at +-100.
fn sigmoid(x: f32) -> f32 {
    let e = exp(-abs(x));
    return select(e / (1.0 + e), 1.0 / (1.0 + e), x >= 0.0);
}

fn tanh_safe(x: f32) -> f32 {
    let e = exp(-2.0 * abs(x));
    let t = (1.0 - e) / (1.0 + e);
    return select(-t, t, x >= 0.0);
}

// The first timestep whose projection chunk `chunk` holds for direction `d`. The reverse
// direction walks time backwards, so its chunk `c` covers the c-th block from the end.
fn chunk_first_t(chunk: u32, d: u32, seq_len: u32, chunk_steps: u32) -> u32 {
    let start = chunk * chunk_steps;
    let steps = min(chunk_steps, seq_len - start);
    return select(start, seq_len - start - steps, d == 1u);
}
