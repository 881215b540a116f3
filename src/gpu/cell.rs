//! Cells other than PyTorch's, for ONNX's recurrent operators: other activation functions
//! (with their alpha and beta) per direction, a clip on every gate's pre-activation, LSTM
//! peepholes and a coupled input/forget gate, and a GRU whose reset gate multiplies h before
//! the recurrent product (recurrent.wesl's `gru_reset`). The kernels read them from `struct Layer`
//! (`variant` = 1) and cells.wesl applies them; PyTorch's cell (`variant` = 0) keeps its own
//! path and its bits.

/// An activation function of the general cell, as cells.wesl's `activate` numbers them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct CellActivation {
    pub code: u32,
    pub alpha: f32,
    pub beta: f32,
}

// The codes are named for the ONNX lowering (src/onnx/lower.rs); without it only the kernels'
// numbering remains.
#[cfg_attr(not(feature = "onnx"), allow(dead_code))]
impl CellActivation {
    pub const SIGMOID: u32 = 0;
    pub const TANH: u32 = 1;
    pub const RELU: u32 = 2;
    pub const AFFINE: u32 = 3;
    pub const LEAKY_RELU: u32 = 4;
    pub const THRESHOLDED_RELU: u32 = 5;
    pub const SCALED_TANH: u32 = 6;
    pub const HARD_SIGMOID: u32 = 7;
    pub const ELU: u32 = 8;
    pub const SOFTSIGN: u32 = 9;
    pub const SOFTPLUS: u32 = 10;
}

/// The general cell of one layer.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct CellVariant {
    /// Per direction: the gate function `f`, the candidate's `g` and (LSTM) the output's
    /// `h`, in ONNX's sense.
    pub activations: [[CellActivation; 3]; 2],
    /// Clamp every gate pre-activation to `[-clip, clip]`; 0 for none.
    pub clip: f32,
    /// LSTM: the forget gate is `1 - i`.
    pub input_forget: bool,
    /// LSTM peepholes `[D][3][H]` in ONNX's order `i, o, f`, when present.
    pub peepholes: Option<Vec<f32>>,
    /// GRU: the reset gate multiplies h before the recurrent product (ONNX's
    /// `linear_before_reset = 0`); only the per-step kernels run it.
    pub reset_first: bool,
}

/// The kernels' part of `struct Layer` that describes the cell (common.wesl).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct CellParams {
    pub variant: u32,
    pub clip: f32,
    pub input_forget: u32,
    pub peepholes: u32,
    pub reset_first: u32,
    pub _pad: [u32; 3],
    pub activations: [[u32; 4]; 2],
    pub alphas: [[f32; 4]; 2],
    pub betas: [[f32; 4]; 2],
}

impl CellVariant {
    pub fn params(&self) -> CellParams {
        let mut p = CellParams {
            variant: 1,
            clip: self.clip,
            input_forget: self.input_forget as u32,
            peepholes: self.peepholes.is_some() as u32,
            reset_first: self.reset_first as u32,
            ..CellParams::default()
        };
        for (d, acts) in self.activations.iter().enumerate() {
            for (k, a) in acts.iter().enumerate() {
                p.activations[d][k] = a.code;
                p.alphas[d][k] = a.alpha;
                p.betas[d][k] = a.beta;
            }
        }
        p
    }
}

/// Floats of a pass's `cell` scratch: an LSTM's c and o*tanh(c) ([2][D][B][H], or every
/// layer's c for the wavefront), a GRU's reset gates when they come first ([D][B][H],
/// recurrent.wesl `gru_reset`), else one unused vec4.
pub(crate) fn cell_scratch_floats(
    config: &crate::config::RnnConfig,
    wave_layers: usize,
    b: usize,
    reset_first: bool,
) -> usize {
    use crate::config::Kind;
    let (d, h) = (config.num_directions(), config.hidden_size);
    match (config.kind, wave_layers) {
        (Kind::Lstm, 0) => 2 * d * b * h,
        (Kind::Lstm, layers) => layers * b * h,
        (Kind::Gru, 0) if reset_first => d * b * h,
        _ => 4,
    }
}
