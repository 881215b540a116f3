//! The CPU reference forward pass: plain loops, written to be obviously right.
//!
//! It mirrors the GPU kernels step for step (same names, same time-major layout), so a
//! difference between the two points at one kernel.

use crate::config::{Kind, RnnConfig};
use crate::weights::DirectionWeights;

/// `sigmoid` that never overflows: `exp` only ever sees a non-positive argument.
pub(crate) fn sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// Time-major tensors of a whole forward pass.
pub(crate) struct Sequences<'a> {
    /// `(T, B, I)`.
    pub x: &'a [f32],
    pub t: usize,
    pub b: usize,
    /// Per-sequence lengths (all `t` when absent).
    pub lengths: &'a [usize],
    /// `(D*L, B, H_out)`, zeros when not given.
    pub h0: &'a [f32],
    /// `(D*L, B, H)`, zeros when not given (LSTM only).
    pub c0: &'a [f32],
}

/// Results in time-major layout: `output (T, B, D*H_out)`, `h_n (D*L, B, H_out)`, `c_n (D*L, B, H)`.
pub(crate) struct Results {
    pub output: Vec<f32>,
    pub h_n: Vec<f32>,
    pub c_n: Vec<f32>,
}

pub(crate) fn forward(
    config: &RnnConfig,
    layers: &[Vec<DirectionWeights>],
    seq: &Sequences<'_>,
) -> Results {
    let (t_len, b) = (seq.t, seq.b);
    let d_count = config.num_directions();
    let (h, h_out) = (config.hidden_size, config.state_width());
    let mut h_n = seq.h0.to_vec();
    let mut c_n = seq.c0.to_vec();
    let mut layer_input = seq.x.to_vec();
    for (l, layer) in layers.iter().enumerate() {
        let in_size = config.layer_input_size(l);
        let mut layer_output = vec![0.0; t_len * b * d_count * h_out];
        for (d, w) in layer.iter().enumerate() {
            let gates_x = input_projection(&layer_input, t_len * b, in_size, &w.w_ih, &w.b_ih);
            let slot = l * d_count + d;
            let h_state = &mut h_n[slot * b * h_out..(slot + 1) * b * h_out];
            let c_state: &mut [f32] = if c_n.is_empty() {
                &mut []
            } else {
                &mut c_n[slot * b * h..(slot + 1) * b * h]
            };
            for s in 0..t_len {
                let t = if d == 1 { t_len - 1 - s } else { s };
                for bi in 0..b {
                    let valid = t < seq.lengths[bi];
                    let gx = &gates_x
                        [(t * b + bi) * config.gate_rows()..(t * b + bi + 1) * config.gate_rows()];
                    let hp = &mut h_state[bi * h_out..(bi + 1) * h_out];
                    let cp: &mut [f32] = if c_state.is_empty() {
                        &mut []
                    } else {
                        &mut c_state[bi * h..(bi + 1) * h]
                    };
                    let out =
                        &mut layer_output[(t * b + bi) * d_count * h_out + d * h_out..][..h_out];
                    if valid {
                        let h_next = match config.kind {
                            Kind::Gru => gru_step(gx, &w.w_hh, &w.b_hh, hp),
                            Kind::Lstm => lstm_step(gx, &w.w_hh, &w.b_hh, &w.w_hr, hp, cp),
                            Kind::RnnTanh | Kind::RnnRelu => {
                                rnn_step(config.kind, gx, &w.w_hh, &w.b_hh, hp)
                            }
                        };
                        hp.copy_from_slice(&h_next);
                        out.copy_from_slice(&h_next);
                    }
                }
            }
        }
        layer_input = layer_output;
    }
    Results {
        output: layer_input,
        h_n,
        c_n,
    }
}

/// `X (rows, in) x W_ih^T + b_ih` for every timestep at once.
pub(crate) fn input_projection(
    x: &[f32],
    rows: usize,
    in_size: usize,
    w_ih: &[f32],
    b_ih: &[f32],
) -> Vec<f32> {
    let n = b_ih.len();
    let mut out = vec![0.0; rows * n];
    for r in 0..rows {
        let xr = &x[r * in_size..(r + 1) * in_size];
        for (g, o) in out[r * n..(r + 1) * n].iter_mut().enumerate() {
            let wr = &w_ih[g * in_size..(g + 1) * in_size];
            *o = b_ih[g] + xr.iter().zip(wr).map(|(a, b)| a * b).sum::<f32>();
        }
    }
    out
}

/// `W_hh h + b_hh` for every gate row.
fn recurrent_projection(w_hh: &[f32], b_hh: &[f32], h: &[f32]) -> Vec<f32> {
    b_hh.iter()
        .enumerate()
        .map(|(row, bias)| {
            bias + w_hh[row * h.len()..(row + 1) * h.len()]
                .iter()
                .zip(h)
                .map(|(w, x)| w * x)
                .sum::<f32>()
        })
        .collect()
}

/// GRU: `r, z = sigmoid(..)`, `n = tanh(W_in x + b_in + r * (W_hn h + b_hn))`, `h' = (1-z) n + z h`.
pub(crate) fn gru_step(gx: &[f32], w_hh: &[f32], b_hh: &[f32], h: &[f32]) -> Vec<f32> {
    let hs = h.len();
    let gh = recurrent_projection(w_hh, b_hh, h);
    (0..hs)
        .map(|j| {
            let r = sigmoid(gx[j] + gh[j]);
            let z = sigmoid(gx[hs + j] + gh[hs + j]);
            let n = (gx[2 * hs + j] + r * gh[2 * hs + j]).tanh();
            (1.0 - z) * n + z * h[j]
        })
        .collect()
}

/// LSTM: `c' = f c + i g`, `h' = o tanh(c')`, then `h' = W_hr h'` when projecting. Updates `c` in place.
pub(crate) fn lstm_step(
    gx: &[f32],
    w_hh: &[f32],
    b_hh: &[f32],
    w_hr: &[f32],
    h: &[f32],
    c: &mut [f32],
) -> Vec<f32> {
    let hs = c.len();
    let gh = recurrent_projection(w_hh, b_hh, h);
    let m: Vec<f32> = (0..hs)
        .map(|j| {
            let i = sigmoid(gx[j] + gh[j]);
            let f = sigmoid(gx[hs + j] + gh[hs + j]);
            let g = (gx[2 * hs + j] + gh[2 * hs + j]).tanh();
            let o = sigmoid(gx[3 * hs + j] + gh[3 * hs + j]);
            c[j] = f * c[j] + i * g;
            o * c[j].tanh()
        })
        .collect();
    if w_hr.is_empty() {
        m
    } else {
        lstm_project(w_hr, &m, h.len())
    }
}

/// `h = W_hr m` for an LSTM with `proj_size`.
pub(crate) fn lstm_project(w_hr: &[f32], m: &[f32], proj_size: usize) -> Vec<f32> {
    (0..proj_size)
        .map(|r| {
            w_hr[r * m.len()..(r + 1) * m.len()]
                .iter()
                .zip(m)
                .map(|(w, x)| w * x)
                .sum()
        })
        .collect()
}

/// Elman RNN: `h' = act(W_ih x + b_ih + W_hh h + b_hh)`.
pub(crate) fn rnn_step(kind: Kind, gx: &[f32], w_hh: &[f32], b_hh: &[f32], h: &[f32]) -> Vec<f32> {
    let gh = recurrent_projection(w_hh, b_hh, h);
    gx.iter()
        .zip(&gh)
        .map(|(a, b)| {
            if kind == Kind::RnnRelu {
                {
                    let v = a + b;
                    if v < 0.0 {
                        0.0
                    } else {
                        v
                    } // not f32::max: max(NaN, 0) is 0
                }
            } else {
                (a + b).tanh()
            }
        })
        .collect()
}
