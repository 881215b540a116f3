//! The CPU computation of ONNX's `LSTM`, `GRU` and `RNN` (the attributes and shapes are in
//! recurrent.rs): one direction at a time, one sequence at a time, each within its length.

use crate::onnx::array::{Array, Val};
use crate::onnx::ops::recurrent::{lengths, Cell, Dims, Recurrent};
use crate::onnx::ops::{floats, ints};
use crate::onnx::OnnxError;

impl Recurrent {
    pub(super) fn run(&self, inputs: &[Option<&Val>], label: &str) -> Result<Vec<Val>, OnnxError> {
        let shapes: Vec<Option<&[usize]>> = inputs.iter().map(|v| v.map(|v| v.shape())).collect();
        let n = self.dims(&shapes, label)?;
        let opt = |i: usize| -> Result<Option<&[f32]>, OnnxError> {
            match inputs.get(i).copied().flatten() {
                Some(_) => Ok(Some(floats(inputs, i, label)?.data.as_slice())),
                None => Ok(None),
            }
        };
        let lens = match inputs.get(4).copied().flatten() {
            Some(_) => Some(ints(inputs, 4, label)?),
            None => None,
        };
        let lens = lengths(lens, n, label)?;
        let weights = Weights {
            x: &floats(inputs, 0, label)?.data,
            w: &floats(inputs, 1, label)?.data,
            r: &floats(inputs, 2, label)?.data,
            b: opt(3)?,
            h0: opt(5)?,
            c0: opt(6)?,
            p: opt(7)?,
        };
        let shapes = self.output_shapes(n);
        let mut y = vec![0.0f32; n.t * n.d * n.b * n.h];
        let mut y_h = vec![0.0f32; n.d * n.b * n.h];
        let mut y_c = vec![0.0f32; n.d * n.b * n.h];
        for d in 0..n.d {
            self.direction_pass(d, n, &lens, &weights, &mut y, &mut y_h, &mut y_c);
        }
        let mut out = vec![
            Val::F(Array::new(shapes[0].clone(), y)),
            Val::F(Array::new(shapes[1].clone(), y_h)),
        ];
        if self.cell == Cell::Lstm {
            out.push(Val::F(Array::new(shapes[2].clone(), y_c)));
        }
        Ok(out)
    }

    /// Where `Y[t, d, b, :]` (layout 0) or `Y[b, t, d, :]` (layout 1) starts.
    fn y_at(&self, n: Dims, t: usize, d: usize, b: usize) -> usize {
        if self.batch_major {
            ((b * n.t + t) * n.d + d) * n.h
        } else {
            ((t * n.d + d) * n.b + b) * n.h
        }
    }

    /// Where the state of direction `d`, sequence `b` starts in `initial_h`, `Y_h`, ...
    fn state_at(&self, n: Dims, d: usize, b: usize) -> usize {
        if self.batch_major {
            (b * n.d + d) * n.h
        } else {
            (d * n.b + b) * n.h
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn direction_pass(
        &self,
        d: usize,
        n: Dims,
        lens: &[usize],
        w: &Weights,
        y: &mut [f32],
        y_h: &mut [f32],
        y_c: &mut [f32],
    ) {
        let (h, g) = (n.h, self.cell.gates());
        let rows = g * h;
        let wd = &w.w[d * rows * n.i..(d + 1) * rows * n.i];
        let rd = &w.r[d * rows * h..(d + 1) * rows * h];
        let zeros = vec![0.0f32; 2 * rows];
        let bias =
            w.b.map_or(&zeros[..], |b| &b[d * 2 * rows..(d + 1) * 2 * rows]);
        let (wb, rb) = bias.split_at(rows);
        let acts = &self.activations[d * self.cell.activation_count()..];
        let peep = w.p.map(|p| &p[d * 3 * h..(d + 1) * 3 * h]);
        let clip = |v: f32| self.clip.map_or(v, |c| v.clamp(-c, c));
        let mut xw = vec![0.0f32; rows];
        let mut rh = vec![0.0f32; rows];
        for (b, &len) in lens.iter().enumerate() {
            let at = self.state_at(n, d, b);
            let mut hs: Vec<f32> = w.h0.map_or(vec![0.0; h], |h0| h0[at..at + h].to_vec());
            let mut cs: Vec<f32> = w.c0.map_or(vec![0.0; h], |c0| c0[at..at + h].to_vec());
            for step in 0..len {
                let t = if self.direction.backwards(d) {
                    len - 1 - step
                } else {
                    step
                };
                let x_at = if self.batch_major {
                    (b * n.t + t) * n.i
                } else {
                    (t * n.b + b) * n.i
                };
                let x = &w.x[x_at..x_at + n.i];
                matvec(wd, x, wb, &mut xw);
                match self.cell {
                    Cell::Rnn => {
                        matvec(rd, &hs, rb, &mut rh);
                        for j in 0..h {
                            hs[j] = acts[0].apply(clip(xw[j] + rh[j]));
                        }
                    }
                    Cell::Lstm => {
                        matvec(rd, &hs, rb, &mut rh);
                        let (f, gg, hh) = (acts[0], acts[1], acts[2]);
                        for j in 0..h {
                            let pre = |k: usize| xw[k * h + j] + rh[k * h + j];
                            let (pi, po, pf) =
                                peep.map_or((0.0, 0.0, 0.0), |p| (p[j], p[h + j], p[2 * h + j]));
                            let i_gate = f.apply(clip(pre(0) + pi * cs[j]));
                            let f_gate = if self.input_forget {
                                1.0 - i_gate
                            } else {
                                f.apply(clip(pre(2) + pf * cs[j]))
                            };
                            let c_new = f_gate * cs[j] + i_gate * gg.apply(clip(pre(3)));
                            let o_gate = f.apply(clip(pre(1) + po * c_new));
                            cs[j] = c_new;
                            hs[j] = o_gate * hh.apply(c_new);
                        }
                    }
                    Cell::Gru => {
                        let (f, gg) = (acts[0], acts[1]);
                        // z and r from R_z h and R_r h; the h gate below.
                        matvec(&rd[..2 * h * h], &hs, &rb[..2 * h], &mut rh[..2 * h]);
                        let z: Vec<f32> = (0..h).map(|j| f.apply(clip(xw[j] + rh[j]))).collect();
                        let r: Vec<f32> = (0..h)
                            .map(|j| f.apply(clip(xw[h + j] + rh[h + j])))
                            .collect();
                        let rh_h = &mut rh[2 * h..];
                        if self.linear_before_reset {
                            matvec(&rd[2 * h * h..], &hs, &rb[2 * h..], rh_h);
                            for j in 0..h {
                                rh_h[j] *= r[j];
                            }
                        } else {
                            let reset: Vec<f32> = (0..h).map(|j| r[j] * hs[j]).collect();
                            matvec(&rd[2 * h * h..], &reset, &rb[2 * h..], rh_h);
                        }
                        for j in 0..h {
                            let candidate = gg.apply(clip(xw[2 * h + j] + rh_h[j]));
                            hs[j] = (1.0 - z[j]) * candidate + z[j] * hs[j];
                        }
                    }
                }
                let yt = self.y_at(n, t, d, b);
                y[yt..yt + h].copy_from_slice(&hs);
            }
            if len == 0 {
                // No step ran: onnxruntime reports zero states, not the initial ones.
                hs.fill(0.0);
                cs.fill(0.0);
            }
            y_h[at..at + h].copy_from_slice(&hs);
            y_c[at..at + h].copy_from_slice(&cs);
        }
    }
}

/// The weights and states of one run, as flat slices in ONNX layout.
struct Weights<'a> {
    x: &'a [f32],
    w: &'a [f32],
    r: &'a [f32],
    b: Option<&'a [f32]>,
    h0: Option<&'a [f32]>,
    c0: Option<&'a [f32]>,
    p: Option<&'a [f32]>,
}

/// `out = m · v + bias` for a row-major `m` of `out.len()` rows.
fn matvec(m: &[f32], v: &[f32], bias: &[f32], out: &mut [f32]) {
    let cols = v.len();
    for (k, o) in out.iter_mut().enumerate() {
        let row = &m[k * cols..(k + 1) * cols];
        *o = bias[k] + row.iter().zip(v).map(|(a, b)| a * b).sum::<f32>();
    }
}
