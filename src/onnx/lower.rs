//! ONNX recurrent nodes as the crate's PyTorch-semantics stacks, so that they run on the
//! GPU kernels: the gate blocks reordered, the biases split, the layouts converted.
//!
//! A node maps exactly when its cell is PyTorch's: default activations (LSTM sigmoid/tanh/
//! tanh, GRU sigmoid/tanh, RNN tanh or relu), no `clip`, no `input_forget`, peepholes absent
//! or zero, and for GRU `linear_before_reset = 1`. `direction = reverse` runs forward over
//! each sequence's valid part reversed; a length of 0 runs one step whose results are
//! replaced by zeros, as onnxruntime reports for an empty sequence.

use crate::config::{Kind, RnnConfig};
use crate::gpu::cell::{CellActivation, CellVariant};
use crate::onnx::array::{flip, swap01, swap12, Array, Val};
use crate::onnx::decode::{Graph, Node};
use crate::onnx::ops::{Activation, Cell, Direction, Recurrent};
use crate::shape::{Input, Output, Tensor};
use crate::Rnn;

/// A recurrent node as a PyTorch-semantics stack of one layer.
#[derive(Clone, Debug)]
pub(crate) struct Lowered {
    pub rnn: Rnn,
    /// The general cell, for a node whose cell is not PyTorch's.
    pub general: Option<CellVariant>,
    /// `direction = reverse`: run forward on each sequence reversed within its length.
    pub reverse_only: bool,
    pub batch_major: bool,
    pub cell: Cell,
}

/// ONNX gate block `k` for each PyTorch gate position: LSTM `iofc` to `ifgo`, GRU `zrh` to `rzn`.
fn gate_order(cell: Cell) -> &'static [usize] {
    match cell {
        Cell::Lstm => &[0, 2, 3, 1],
        Cell::Gru => &[1, 0, 2],
        Cell::Rnn => &[0],
    }
}

/// PyTorch's activations for `cell` (an RNN may also use Relu in both directions).
fn is_pytorch_cell(rec: &Recurrent) -> bool {
    let defaults: &[Activation] = match rec.cell {
        Cell::Lstm => &[Activation::Sigmoid, Activation::Tanh, Activation::Tanh],
        Cell::Gru => &[Activation::Sigmoid, Activation::Tanh],
        Cell::Rnn => &[rec.activations[0]],
    };
    let activations = rec
        .activations
        .chunks(defaults.len())
        .all(|c| c == defaults)
        && (rec.cell != Cell::Rnn
            || matches!(rec.activations[0], Activation::Tanh | Activation::Relu));
    activations
        && rec.clip.is_none()
        && !rec.input_forget
        && (rec.cell != Cell::Gru || rec.linear_before_reset)
}

/// The kernels' general cell for `rec`, with the peepholes `p` (`[D][3H]`) when non-zero.
fn general_cell(rec: &Recurrent, p: Option<&[f32]>) -> CellVariant {
    let code = |a: Activation| {
        let (code, alpha, beta) = match a {
            Activation::Sigmoid => (CellActivation::SIGMOID, 0.0, 0.0),
            Activation::Tanh => (CellActivation::TANH, 0.0, 0.0),
            Activation::Relu => (CellActivation::RELU, 0.0, 0.0),
            Activation::Affine { alpha, beta } => (CellActivation::AFFINE, alpha, beta),
            Activation::LeakyRelu { alpha } => (CellActivation::LEAKY_RELU, alpha, 0.0),
            Activation::ThresholdedRelu { alpha } => (CellActivation::THRESHOLDED_RELU, alpha, 0.0),
            Activation::ScaledTanh { alpha, beta } => (CellActivation::SCALED_TANH, alpha, beta),
            Activation::HardSigmoid { alpha, beta } => (CellActivation::HARD_SIGMOID, alpha, beta),
            Activation::Elu { alpha } => (CellActivation::ELU, alpha, 0.0),
            Activation::Softsign => (CellActivation::SOFTSIGN, 0.0, 0.0),
            Activation::Softplus => (CellActivation::SOFTPLUS, 0.0, 0.0),
        };
        CellActivation { code, alpha, beta }
    };
    let per = rec.activations.len() / rec.direction.count();
    let mut activations = [[code(Activation::Sigmoid); 3]; 2];
    for (d, acts) in rec.activations.chunks(per).enumerate() {
        for (k, &a) in acts.iter().enumerate() {
            activations[d][k] = code(a);
        }
    }
    CellVariant {
        activations,
        clip: rec.clip.unwrap_or(0.0),
        input_forget: rec.input_forget,
        peepholes: p
            .filter(|p| p.iter().any(|&v| v != 0.0))
            .map(<[f32]>::to_vec),
        reset_first: rec.cell == Cell::Gru && !rec.linear_before_reset,
    }
}

/// The stored weights of a node (`W`, `R`, `B`, `P` by input index), when all are
/// initializers: then they are uploaded once; otherwise at each forward.
pub(crate) fn stored_weights<'g>(node: &Node, graph: &'g Graph) -> Option<Vec<Option<&'g Val>>> {
    let mut out = vec![None; 8];
    for i in [1, 2, 3, 7] {
        if let Some(name) = node.inputs.get(i).filter(|n| !n.is_empty()) {
            out[i] = Some(graph.initializers.get(name)?);
        }
    }
    Some(out)
}

/// Builds the stack for node `rec` from its weights (`inputs` indexed as the operator's
/// inputs; only `W`, `R`, `B` and `P` are read), or says why it cannot run on the GPU.
pub(crate) fn lower(
    rec: &Recurrent,
    label: &str,
    inputs: &[Option<&Val>],
) -> Result<Lowered, String> {
    let get = |i: usize| inputs.get(i).copied().flatten();
    for (i, name) in [(1, "W"), (2, "R"), (3, "B"), (7, "P")] {
        if let Some(Val::F(a)) = get(i) {
            if a.data.iter().any(|v| !v.is_finite()) {
                return Err(format!("{name} holds NaN or infinite values"));
            }
        }
    }
    let peepholes = match get(7) {
        Some(Val::F(p)) => Some(p.data.as_slice()),
        _ => None,
    };
    let pytorch = is_pytorch_cell(rec) && peepholes.is_none_or(|p| p.iter().all(|&v| v == 0.0));
    let (Some(Val::F(w)), Some(Val::F(r))) = (get(1), get(2)) else {
        return Err("W and R must be float initializers".to_string());
    };
    let b = match get(3) {
        Some(Val::F(b)) => Some(b),
        _ => None,
    };
    let shapes: Vec<Option<&[usize]>> = vec![
        None,
        Some(&w.shape),
        Some(&r.shape),
        b.map(|b| b.shape.as_slice()),
    ];
    // X is not known here; its input size is W's.
    let x_shape = [1, 1, w.shape.get(2).copied().unwrap_or(0)];
    let mut all = shapes.clone();
    all[0] = Some(&x_shape);
    let dims = rec.dims(&all, label).map_err(|e| e.to_string())?;
    let (h, i) = (dims.h, dims.i);
    let g = rec.cell.gates();
    let kind = match (rec.cell, rec.activations[0]) {
        (Cell::Lstm, _) => Kind::Lstm,
        (Cell::Gru, _) => Kind::Gru,
        // The general cell ignores the kind's activation.
        (Cell::Rnn, Activation::Relu) => Kind::RnnRelu,
        (Cell::Rnn, _) => Kind::RnnTanh,
    };
    let config = RnnConfig::new(kind, i, h)
        .bidirectional(rec.direction == Direction::Bidirectional)
        .batch_first(rec.batch_major);
    let order = gate_order(rec.cell);
    let reorder = |m: &[f32], cols: usize| -> Vec<f32> {
        order
            .iter()
            .flat_map(|&k| m[k * h * cols..(k + 1) * h * cols].iter().copied())
            .collect()
    };
    let mut tensors: Vec<(String, Vec<usize>, Vec<f32>)> = Vec::new();
    for d in 0..dims.d {
        let suffix = if d == 1 { "_l0_reverse" } else { "_l0" };
        let rows = g * h;
        tensors.push((
            format!("weight_ih{suffix}"),
            vec![rows, i],
            reorder(&w.data[d * rows * i..(d + 1) * rows * i], i),
        ));
        tensors.push((
            format!("weight_hh{suffix}"),
            vec![rows, h],
            reorder(&r.data[d * rows * h..(d + 1) * rows * h], h),
        ));
        let bias = b.map_or(vec![0.0; 2 * rows], |b| {
            b.data[d * 2 * rows..(d + 1) * 2 * rows].to_vec()
        });
        tensors.push((
            format!("bias_ih{suffix}"),
            vec![rows],
            reorder(&bias[..rows], 1),
        ));
        tensors.push((
            format!("bias_hh{suffix}"),
            vec![rows],
            reorder(&bias[rows..], 1),
        ));
    }
    let rnn = Rnn::from_tensors(
        config,
        tensors
            .iter()
            .map(|(n, s, d)| (n.as_str(), s.as_slice(), d.as_slice())),
    )
    .map_err(|e| e.to_string())?;
    Ok(Lowered {
        rnn,
        general: if pytorch {
            None
        } else {
            Some(general_cell(rec, peepholes))
        },
        reverse_only: rec.direction == Direction::Reverse,
        batch_major: rec.batch_major,
        cell: rec.cell,
    })
}

/// A node's inputs converted for the stack: the tensors an [`Input`] borrows, and what
/// converting the outputs back needs.
pub(crate) struct Prepared {
    x: Tensor,
    h0: Option<Tensor>,
    c0: Option<Tensor>,
    /// Lengths for the stack (0 raised to 1), when the node has `sequence_lens`.
    run_lens: Option<Vec<usize>>,
    /// The node's own lengths.
    lens: Vec<usize>,
    t: usize,
    b: usize,
}

impl Prepared {
    /// The stack's input.
    pub fn input(&self) -> Input<'_> {
        let mut input = Input::new(&self.x);
        if let Some(l) = &self.run_lens {
            input = input.lengths(l);
        }
        if let Some(h0) = &self.h0 {
            input = input.h0(h0);
        }
        if let Some(c0) = &self.c0 {
            input = input.c0(c0);
        }
        input
    }
}

impl Lowered {
    /// Uploads the stack, with its cell, the weight matrices stored as `precision`.
    pub fn upload(
        &self,
        ctx: &crate::GpuContext,
        precision: crate::Precision,
    ) -> crate::Result<crate::GpuRnn> {
        match &self.general {
            None => self.rnn.to_gpu_with(ctx, precision),
            Some(cell) => self.rnn.to_gpu_with_cell(ctx, cell.clone(), precision),
        }
    }

    /// Converts the node's inputs (ONNX layouts and gate-independent data) for the stack.
    pub fn prepare(&self, inputs: &[Option<&Val>]) -> crate::Result<Prepared> {
        let float = |i: usize| match inputs.get(i).copied().flatten() {
            Some(Val::F(a)) => Some(a),
            _ => None,
        };
        let x = float(0).expect("the dry run checked X");
        let (t, b, i) = if self.batch_major {
            (x.shape[1], x.shape[0], x.shape[2])
        } else {
            (x.shape[0], x.shape[1], x.shape[2])
        };
        let config = self.rnn.config();
        let (d, h) = (config.num_directions(), config.hidden_size);
        let given_lens = match inputs.get(4).copied().flatten() {
            Some(Val::I(l)) => Some(l.data.iter().map(|&v| v as usize).collect::<Vec<_>>()),
            _ => None,
        };
        let lens = given_lens.clone().unwrap_or_else(|| vec![t; b]);
        // A zero length runs one step (PyTorch needs at least one), zeroed afterwards.
        let run_lens: Vec<usize> = lens.iter().map(|&l| l.max(1).min(t)).collect();
        let mut xs = x.data.clone();
        if self.reverse_only {
            flip(&mut xs, &run_lens, t, b, i, self.batch_major);
        }
        // States: ONNX [D, B, H] or [B, D, H] (layout 1); PyTorch [D, B, H] always.
        let state = |k: usize| {
            float(k)
                .map(|s| {
                    Tensor::new(
                        [d, b, h],
                        if self.batch_major {
                            swap01(&s.data, b, d, h)
                        } else {
                            s.data.clone()
                        },
                    )
                })
                .transpose()
        };
        Ok(Prepared {
            x: Tensor::new(x.shape.clone(), xs)?,
            h0: state(5)?,
            c0: state(6)?,
            run_lens: given_lens.filter(|_| t > 0).map(|_| run_lens),
            lens,
            t,
            b,
        })
    }

    /// The stack's output as the node's `Y`, `Y_h` (and `Y_c`).
    pub fn finish(&self, p: &Prepared, out: Output) -> Vec<Val> {
        let config = self.rnn.config();
        let (d, h, t, b) = (config.num_directions(), config.hidden_size, p.t, p.b);
        // Output: [T, B, D*H] or [B, T, D*H] (batch_first).
        let mut y = out.output.into_data();
        if self.reverse_only {
            let run_lens: Vec<usize> = p.lens.iter().map(|&l| l.max(1).min(t)).collect();
            flip(&mut y, &run_lens, t, b, h, self.batch_major);
        }
        let mut h_n = out.h_n.into_data();
        let mut c_n = out.c_n.map(Tensor::into_data).unwrap_or_default();
        for (row, _) in p.lens.iter().enumerate().filter(|(_, &l)| l == 0) {
            for step in 0..t {
                let at = if self.batch_major {
                    (row * t + step) * d * h
                } else {
                    (step * b + row) * d * h
                };
                y[at..at + d * h].fill(0.0);
            }
            for dir in 0..d {
                let at = (dir * b + row) * h;
                h_n[at..at + h].fill(0.0);
                if !c_n.is_empty() {
                    c_n[at..at + h].fill(0.0);
                }
            }
        }
        let (y, states) = if self.batch_major {
            // [B, T, D*H] is already [B, T, D, H]; states go [D, B, H] -> [B, D, H].
            (Array::new(vec![b, t, d, h], y), [b, d, h])
        } else {
            // [T, B, D, H] -> [T, D, B, H].
            (
                Array::new(vec![t, d, b, h], swap12(&y, t, b, d, h)),
                [d, b, h],
            )
        };
        let state_out = |s: Vec<f32>| {
            if self.batch_major {
                swap01(&s, d, b, h)
            } else {
                s
            }
        };
        let mut outs = vec![
            Val::F(y),
            Val::F(Array::new(states.to_vec(), state_out(h_n))),
        ];
        if self.cell == Cell::Lstm {
            outs.push(Val::F(Array::new(states.to_vec(), state_out(c_n))));
        }
        outs
    }
}
