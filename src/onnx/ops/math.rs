//! The dense heads exporters put after recurrent nodes: `Gemm`, `MatMul`, broadcasting
//! arithmetic, and elementwise activations.

use crate::onnx::array::{axis, broadcast, broadcast_index, Array, Elem, Val};
use crate::onnx::ops::{floats, input, meta, node_error, Binary, Meta, Op, Unary};
use crate::onnx::OnnxError;

pub(super) fn run(op: &Op, inputs: &[Option<&Val>], label: &str) -> Result<Val, OnnxError> {
    Ok(match op {
        Op::Gemm {
            alpha,
            beta,
            trans_a,
            trans_b,
        } => {
            let a = floats(inputs, 0, label)?;
            let b = floats(inputs, 1, label)?;
            let (m, k, n) = gemm_rule(&a.shape, &b.shape, *trans_a, *trans_b, label)?;
            let mut out = vec![0.0f32; m * n];
            let at = |r: usize, c: usize| {
                if *trans_a {
                    a.data[c * m + r]
                } else {
                    a.data[r * k + c]
                }
            };
            let bt = |r: usize, c: usize| {
                if *trans_b {
                    b.data[c * k + r]
                } else {
                    b.data[r * n + c]
                }
            };
            for i in 0..m {
                for j in 0..n {
                    let dot: f32 = (0..k).map(|p| at(i, p) * bt(p, j)).sum();
                    out[i * n + j] = alpha * dot;
                }
            }
            if let Some(c) = inputs.get(2).copied().flatten() {
                let Val::F(c) = c else {
                    return Err(node_error(label, "input 2 (C) must be floating point"));
                };
                let shape = broadcast(&c.shape, &[m, n], label)?;
                if shape != [m, n] {
                    return Err(node_error(
                        label,
                        format!("C of shape {:?} does not broadcast to [{m}, {n}]", c.shape),
                    ));
                }
                for (o, i) in out.iter_mut().zip(broadcast_index(&c.shape, &[m, n])) {
                    *o += beta * c.data[i];
                }
            }
            Val::F(Array::new(vec![m, n], out))
        }
        Op::MatMul => {
            let a = floats(inputs, 0, label)?;
            let b = floats(inputs, 1, label)?;
            let rule = matmul_rule(&a.shape, &b.shape, label)?;
            Val::F(matmul(a, b, &rule))
        }
        Op::Binary(kind) => {
            let (x, y) = (input(inputs, 0, label)?, input(inputs, 1, label)?);
            let out = broadcast(x.shape(), y.shape(), label)?;
            let (ix, iy) = (
                broadcast_index(x.shape(), &out),
                broadcast_index(y.shape(), &out),
            );
            match (x, y) {
                (Val::F(x), Val::F(y)) => {
                    let f = match kind {
                        Binary::Add => |a: f32, b: f32| a + b,
                        Binary::Sub => |a, b| a - b,
                        Binary::Mul => |a, b| a * b,
                        Binary::Div => |a, b| a / b,
                    };
                    Val::F(Array::new(
                        out,
                        ix.iter()
                            .zip(&iy)
                            .map(|(&i, &j)| f(x.data[i], y.data[j]))
                            .collect(),
                    ))
                }
                (Val::I(x), Val::I(y)) => {
                    let mut data = Vec::with_capacity(ix.len());
                    for (&i, &j) in ix.iter().zip(&iy) {
                        let (a, b) = (x.data[i], y.data[j]);
                        data.push(match kind {
                            Binary::Add => a.wrapping_add(b),
                            Binary::Sub => a.wrapping_sub(b),
                            Binary::Mul => a.wrapping_mul(b),
                            Binary::Div => a
                                .checked_div(b)
                                .ok_or_else(|| node_error(label, "integer division by zero"))?,
                        });
                    }
                    Val::I(Array::new(out, data))
                }
                _ => {
                    return Err(node_error(
                        label,
                        "inputs mix floating-point and integer data",
                    ))
                }
            }
        }
        Op::Unary(kind) => {
            let x = floats(inputs, 0, label)?;
            let f = match kind {
                Unary::Relu => |v: f32| if v < 0.0 { 0.0 } else { v },
                Unary::Tanh => f32::tanh,
                Unary::Sigmoid => crate::onnx::ops::activation::sigmoid,
            };
            Val::F(Array::new(
                x.shape.clone(),
                x.data.iter().map(|&v| f(v)).collect(),
            ))
        }
        Op::Softmax { axis: ax, coerce } => {
            let x = floats(inputs, 0, label)?;
            let (_, inner, size) = softmax_rule(&x.shape, *ax, *coerce, label)?;
            let mut data = x.data.clone();
            let block_len = (size * inner).max(1);
            // Rows of `size` elements spaced `inner` apart: one softmax per (outer, inner).
            for block in data.chunks_mut(block_len) {
                for i in 0..inner {
                    let max = (0..size)
                        .map(|s| block[s * inner + i])
                        .fold(f32::NEG_INFINITY, f32::max);
                    let mut sum = 0.0;
                    for s in 0..size {
                        let e = (block[s * inner + i] - max).exp();
                        block[s * inner + i] = e;
                        sum += e;
                    }
                    for s in 0..size {
                        block[s * inner + i] /= sum;
                    }
                }
            }
            Val::F(Array::new(x.shape.clone(), data))
        }
        _ => unreachable!("not a math operator"),
    })
}

pub(super) fn infer(op: &Op, inputs: &[Option<&Meta>], label: &str) -> Result<Meta, OnnxError> {
    let x = meta(inputs, 0, label)?;
    let float = |m: &Meta, i: usize| {
        if m.elem == Elem::Float {
            Ok(())
        } else {
            Err(node_error(
                label,
                format!("input {i} must be floating point, not integer"),
            ))
        }
    };
    Ok(match op {
        Op::Gemm {
            trans_a, trans_b, ..
        } => {
            let b = meta(inputs, 1, label)?;
            float(x, 0)?;
            float(b, 1)?;
            let (m, _, n) = gemm_rule(&x.shape, &b.shape, *trans_a, *trans_b, label)?;
            if let Some(c) = inputs.get(2).copied().flatten() {
                if broadcast(&c.shape, &[m, n], label)? != [m, n] {
                    return Err(node_error(
                        label,
                        format!("C of shape {:?} does not broadcast to [{m}, {n}]", c.shape),
                    ));
                }
            }
            Meta::unknown(Elem::Float, vec![m, n])
        }
        Op::MatMul => {
            let b = meta(inputs, 1, label)?;
            float(x, 0)?;
            float(b, 1)?;
            Meta::unknown(Elem::Float, matmul_rule(&x.shape, &b.shape, label)?.out)
        }
        Op::Binary(_) => {
            let y = meta(inputs, 1, label)?;
            if x.elem != y.elem {
                return Err(node_error(
                    label,
                    "inputs mix floating-point and integer data",
                ));
            }
            Meta::unknown(x.elem, broadcast(&x.shape, &y.shape, label)?)
        }
        Op::Unary(_) => {
            float(x, 0)?;
            Meta::unknown(Elem::Float, x.shape.clone())
        }
        Op::Softmax { axis: ax, coerce } => {
            float(x, 0)?;
            softmax_rule(&x.shape, *ax, *coerce, label)?;
            Meta::unknown(Elem::Float, x.shape.clone())
        }
        _ => unreachable!("not a math operator"),
    })
}

fn gemm_rule(
    a: &[usize],
    b: &[usize],
    ta: bool,
    tb: bool,
    label: &str,
) -> Result<(usize, usize, usize), OnnxError> {
    if a.len() != 2 || b.len() != 2 {
        return Err(node_error(
            label,
            format!("Gemm takes 2-D A and B, got {a:?} and {b:?}"),
        ));
    }
    let (m, k) = if ta { (a[1], a[0]) } else { (a[0], a[1]) };
    let (kb, n) = if tb { (b[1], b[0]) } else { (b[0], b[1]) };
    if k != kb {
        return Err(node_error(
            label,
            format!(
                "A {a:?} (transA={}) and B {b:?} (transB={}) disagree on K: {k} vs {kb}",
                ta as u8, tb as u8
            ),
        ));
    }
    Ok((m, k, n))
}

/// numpy's matmul: 1-D operands gain (and then lose) an axis, batch axes broadcast.
struct MatMulRule {
    out: Vec<usize>,
    batch: Vec<usize>,
    a3: Vec<usize>,
    b3: Vec<usize>,
    m: usize,
    k: usize,
    n: usize,
}

fn matmul_rule(a: &[usize], b: &[usize], label: &str) -> Result<MatMulRule, OnnxError> {
    if a.is_empty() || b.is_empty() {
        return Err(node_error(label, "MatMul does not take scalars"));
    }
    let a2: Vec<usize> = if a.len() == 1 {
        vec![1, a[0]]
    } else {
        a.to_vec()
    };
    let b2: Vec<usize> = if b.len() == 1 {
        vec![b[0], 1]
    } else {
        b.to_vec()
    };
    let (m, k) = (a2[a2.len() - 2], a2[a2.len() - 1]);
    let (kb, n) = (b2[b2.len() - 2], b2[b2.len() - 1]);
    if k != kb {
        return Err(node_error(
            label,
            format!("cannot multiply {a:?} by {b:?}: the inner sizes {k} and {kb} differ"),
        ));
    }
    let batch = broadcast(&a2[..a2.len() - 2], &b2[..b2.len() - 2], label)?;
    let mut out = batch.clone();
    if a.len() > 1 {
        out.push(m);
    }
    if b.len() > 1 {
        out.push(n);
    }
    Ok(MatMulRule {
        out,
        batch,
        a3: a2[..a2.len() - 2].to_vec(),
        b3: b2[..b2.len() - 2].to_vec(),
        m,
        k,
        n,
    })
}

fn matmul(a: &Array<f32>, b: &Array<f32>, r: &MatMulRule) -> Array<f32> {
    let (m, k, n) = (r.m, r.k, r.n);
    let ia = broadcast_index(&r.a3, &r.batch);
    let ib = broadcast_index(&r.b3, &r.batch);
    let mut out = vec![0.0f32; ia.len() * m * n];
    for (bi, (&pa, &pb)) in ia.iter().zip(&ib).enumerate() {
        let (ab, bb) = (
            &a.data[pa * m * k..(pa + 1) * m * k],
            &b.data[pb * k * n..(pb + 1) * k * n],
        );
        let ob = &mut out[bi * m * n..(bi + 1) * m * n];
        for i in 0..m {
            for p in 0..k {
                let v = ab[i * k + p];
                for j in 0..n {
                    ob[i * n + j] += v * bb[p * n + j];
                }
            }
        }
    }
    Array::new(r.out.clone(), out)
}

/// Softmax's geometry: (outer, inner, size), the reduced axis having `size` elements spaced
/// `inner` apart. Before opset 13 every axis from `axis` on is reduced as one.
fn softmax_rule(
    shape: &[usize],
    ax: i64,
    coerce: bool,
    label: &str,
) -> Result<(usize, usize, usize), OnnxError> {
    let at = axis(ax, shape.len(), label)?;
    let outer = shape[..at].iter().product();
    if coerce {
        Ok((outer, 1, shape[at..].iter().product()))
    } else {
        Ok((outer, shape[at + 1..].iter().product(), shape[at]))
    }
}
