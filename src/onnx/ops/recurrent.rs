//! ONNX's `LSTM`, `GRU` and `RNN` operators (opsets 7 to 22) on the CPU, written from the
//! operator specification and checked against onnxruntime's outputs.
//!
//! Inputs: `X, W, R, B, sequence_lens, initial_h, initial_c, P` (the last two LSTM only);
//! outputs: `Y, Y_h, Y_c`. Gate orders are ONNX's: LSTM `i o f c`, GRU `z r h`.

use crate::onnx::array::{Array, Elem, Val};
use crate::onnx::ops::activation::{Activation, NAMES};
use crate::onnx::ops::attrs::Attrs;
use crate::onnx::ops::{floats, ints, node_error, Meta};
use crate::onnx::OnnxError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cell {
    Lstm,
    Gru,
    Rnn,
}

impl Cell {
    /// Gate blocks in W and R.
    pub fn gates(self) -> usize {
        match self {
            Cell::Lstm => 4,
            Cell::Gru => 3,
            Cell::Rnn => 1,
        }
    }

    /// Activation functions per direction (f, g, h).
    fn activation_count(self) -> usize {
        match self {
            Cell::Lstm => 3,
            Cell::Gru => 2,
            Cell::Rnn => 1,
        }
    }

    fn defaults(self) -> &'static [Activation] {
        match self {
            Cell::Lstm => &[Activation::Sigmoid, Activation::Tanh, Activation::Tanh],
            Cell::Gru => &[Activation::Sigmoid, Activation::Tanh],
            Cell::Rnn => &[Activation::Tanh],
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    Forward,
    Reverse,
    Bidirectional,
}

impl Direction {
    pub fn count(self) -> usize {
        if self == Direction::Bidirectional {
            2
        } else {
            1
        }
    }

    /// Whether direction slot `d` walks time backwards.
    pub fn backwards(self, d: usize) -> bool {
        self == Direction::Reverse || d == 1
    }
}

/// A recurrent node's attributes.
#[derive(Clone, Debug)]
pub(crate) struct Recurrent {
    pub cell: Cell,
    pub hidden_size: Option<usize>,
    pub direction: Direction,
    /// 1: `X` and `Y` batch-major, and the states `[batch, num_directions, hidden]`.
    pub batch_major: bool,
    /// `activation_count()` functions per direction, directions one after the other.
    pub activations: Vec<Activation>,
    pub clip: Option<f32>,
    pub input_forget: bool,
    pub linear_before_reset: bool,
}

/// The sizes of one run.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Dims {
    pub t: usize,
    pub b: usize,
    pub i: usize,
    pub h: usize,
    pub d: usize,
}

impl Recurrent {
    pub(super) fn parse(cell: Cell, a: &Attrs) -> Result<Recurrent, OnnxError> {
        let direction = match a.string("direction")?.as_deref().unwrap_or("forward") {
            "forward" => Direction::Forward,
            "reverse" => Direction::Reverse,
            "bidirectional" => Direction::Bidirectional,
            other => return Err(a.error(format!("direction `{other}` is none of forward, reverse, bidirectional"))),
        };
        let hidden_size = match a.int("hidden_size")? {
            Some(h) if h > 0 => Some(h as usize),
            Some(h) => return Err(a.error(format!("hidden_size {h} must be positive"))),
            None => None,
        };
        let layout = a.int_or("layout", 0)?;
        if layout != 0 && layout != 1 {
            return Err(a.error(format!("layout {layout} is neither 0 nor 1")));
        }
        let per = cell.activation_count();
        let activations = match a.strings("activations")? {
            None => cell.defaults().repeat(direction.count()),
            Some(names) => {
                let alphas = a.floats("activation_alpha")?.unwrap_or_default();
                let betas = a.floats("activation_beta")?.unwrap_or_default();
                let list = Activation::parse_list(&names, &alphas, &betas).map_err(|e| match e {
                    OnnxError::Node { reason, .. } => a.error(reason),
                    other => other,
                })?;
                if list.len() == per * direction.count() {
                    list
                } else if list.len() == per && direction == Direction::Bidirectional {
                    // onnxruntime accepts one direction's list for both.
                    list.repeat(2)
                } else {
                    return Err(a.error(format!(
                        "`activations` lists {} functions; a {direction:?} {cell:?} needs {} ({per} per direction, from {NAMES})",
                        list.len(),
                        per * direction.count()
                    )));
                }
            }
        };
        let clip = match a.float("clip")? {
            Some(c) if c > 0.0 => Some(c),
            Some(c) => return Err(a.error(format!("clip {c} must be positive"))),
            None => None,
        };
        let input_forget = a.int_or("input_forget", 0)? != 0;
        if input_forget && cell != Cell::Lstm {
            return Err(a.error("input_forget is an LSTM attribute"));
        }
        let linear_before_reset = a.int_or("linear_before_reset", 0)? != 0;
        if linear_before_reset && cell != Cell::Gru {
            return Err(a.error("linear_before_reset is a GRU attribute"));
        }
        Ok(Recurrent {
            cell,
            hidden_size,
            direction,
            batch_major: layout == 1,
            activations,
            clip,
            input_forget,
            linear_before_reset,
        })
    }

    /// Checks every input's shape (index as in the operator's input list) and returns the sizes.
    pub fn dims(&self, shapes: &[Option<&[usize]>], label: &str) -> Result<Dims, OnnxError> {
        let need = |i: usize, name: &str| shapes.get(i).copied().flatten().ok_or_else(|| node_error(label, format!("input {name} is required")));
        let x = need(0, "X")?;
        let w = need(1, "W")?;
        let r = need(2, "R")?;
        if x.len() != 3 {
            return Err(node_error(label, format!("X must be 3-D ({}), got {x:?}", if self.batch_major { "[batch, seq, input]" } else { "[seq, batch, input]" })));
        }
        let (t, b, i) = if self.batch_major { (x[1], x[0], x[2]) } else { (x[0], x[1], x[2]) };
        let d = self.direction.count();
        let g = self.cell.gates();
        let h = match (self.hidden_size, r.get(2)) {
            (Some(h), _) => h,
            (None, Some(&h)) => h,
            (None, None) => return Err(node_error(label, format!("R must be 3-D, got {r:?}"))),
        };
        if h > super::MAX_ELEMENTS || i > super::MAX_ELEMENTS {
            return Err(node_error(label, format!("hidden_size {h} or input_size {i} is beyond any model this crate can hold")));
        }
        let expect = |name: &str, got: &[usize], want: Vec<usize>| {
            if got == want.as_slice() {
                Ok(())
            } else {
                Err(node_error(label, format!("{name} has shape {got:?}; with {d} direction(s), hidden_size {h}, input_size {i} and batch {b} it must be {want:?}")))
            }
        };
        expect("W", w, vec![d, g * h, i])?;
        expect("R", r, vec![d, g * h, h])?;
        if let Some(s) = shapes.get(3).copied().flatten() {
            expect("B", s, vec![d, 2 * g * h])?;
        }
        if let Some(s) = shapes.get(4).copied().flatten() {
            expect("sequence_lens", s, vec![b])?;
        }
        let state = if self.batch_major { vec![b, d, h] } else { vec![d, b, h] };
        if let Some(s) = shapes.get(5).copied().flatten() {
            expect("initial_h", s, state.clone())?;
        }
        if let Some(s) = shapes.get(6).copied().flatten() {
            expect("initial_c", s, state)?;
        }
        if let Some(s) = shapes.get(7).copied().flatten() {
            expect("P", s, vec![d, 3 * h])?;
        }
        Ok(Dims { t, b, i, h, d })
    }

    /// Output shapes `Y`, `Y_h`, `Y_c` (the last for LSTM only).
    pub fn output_shapes(&self, n: Dims) -> Vec<Vec<usize>> {
        let (y, state) = if self.batch_major {
            (vec![n.b, n.t, n.d, n.h], vec![n.b, n.d, n.h])
        } else {
            (vec![n.t, n.d, n.b, n.h], vec![n.d, n.b, n.h])
        };
        let mut out = vec![y, state.clone()];
        if self.cell == Cell::Lstm {
            out.push(state);
        }
        out
    }

    pub(super) fn infer(&self, inputs: &[Option<&Meta>], label: &str) -> Result<Vec<Meta>, OnnxError> {
        for (i, m) in inputs.iter().enumerate() {
            if let Some(m) = m {
                let want = if i == 4 { Elem::Int } else { Elem::Float };
                if m.elem != want {
                    return Err(node_error(label, format!("input {i} must be {}", if want == Elem::Int { "integer" } else { "floating point" })));
                }
            }
        }
        let shapes: Vec<Option<&[usize]>> = inputs.iter().map(|m| m.map(|m| m.shape.as_slice())).collect();
        let dims = self.dims(&shapes, label)?;
        if let Some(Some(Meta { value: Some(Val::I(lens)), .. })) = inputs.get(4) {
            lengths(Some(lens), dims, label)?;
        }
        Ok(self.output_shapes(dims).into_iter().map(|s| Meta::unknown(Elem::Float, s)).collect())
    }

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
        let mut out = vec![Val::F(Array::new(shapes[0].clone(), y)), Val::F(Array::new(shapes[1].clone(), y_h))];
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
    fn direction_pass(&self, d: usize, n: Dims, lens: &[usize], w: &Weights, y: &mut [f32], y_h: &mut [f32], y_c: &mut [f32]) {
        let (h, g) = (n.h, self.cell.gates());
        let rows = g * h;
        let wd = &w.w[d * rows * n.i..(d + 1) * rows * n.i];
        let rd = &w.r[d * rows * h..(d + 1) * rows * h];
        let zeros = vec![0.0f32; 2 * rows];
        let bias = w.b.map_or(&zeros[..], |b| &b[d * 2 * rows..(d + 1) * 2 * rows]);
        let (wb, rb) = bias.split_at(rows);
        let acts = &self.activations[d * self.cell.activation_count()..];
        let peep = w.p.map(|p| &p[d * 3 * h..(d + 1) * 3 * h]);
        let clip = |v: f32| self.clip.map_or(v, |c| v.clamp(-c, c));
        let mut xw = vec![0.0f32; rows];
        let mut rh = vec![0.0f32; rows];
        for b in 0..n.b {
            let at = self.state_at(n, d, b);
            let mut hs: Vec<f32> = w.h0.map_or(vec![0.0; h], |h0| h0[at..at + h].to_vec());
            let mut cs: Vec<f32> = w.c0.map_or(vec![0.0; h], |c0| c0[at..at + h].to_vec());
            let len = lens[b];
            for step in 0..len {
                let t = if self.direction.backwards(d) { len - 1 - step } else { step };
                let x_at = if self.batch_major { (b * n.t + t) * n.i } else { (t * n.b + b) * n.i };
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
                            let (pi, po, pf) = peep.map_or((0.0, 0.0, 0.0), |p| (p[j], p[h + j], p[2 * h + j]));
                            let i_gate = f.apply(clip(pre(0) + pi * cs[j]));
                            let f_gate = if self.input_forget { 1.0 - i_gate } else { f.apply(clip(pre(2) + pf * cs[j])) };
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
                        let r: Vec<f32> = (0..h).map(|j| f.apply(clip(xw[h + j] + rh[h + j]))).collect();
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

/// Each sequence's length: `sequence_lens` checked against `seq_length`, or all full.
fn lengths(lens: Option<&Array<i64>>, n: Dims, label: &str) -> Result<Vec<usize>, OnnxError> {
    match lens {
        None => Ok(vec![n.t; n.b]),
        Some(l) => l
            .data
            .iter()
            .enumerate()
            .map(|(b, &len)| {
                usize::try_from(len)
                    .ok()
                    .filter(|&len| len <= n.t)
                    .ok_or_else(|| node_error(label, format!("sequence_lens[{b}] = {len} is outside 0..={} (the sequence length)", n.t)))
            })
            .collect(),
    }
}
