//! The operators that move data without arithmetic (and `Cast`): each has one shape rule,
//! used by the dry run and by the run itself.

use crate::onnx::array::{axis, broadcast, broadcast_index, count, map_val, Array, Elem, Val};
use crate::onnx::ops::movement::{concat, gather, slice, transpose, AxisSlice};
use crate::onnx::ops::{input, ints, known_ints, meta, node_error, Meta, Op, SliceAttrs};
use crate::onnx::OnnxError;

pub(super) fn run(op: &Op, inputs: &[Option<&Val>], label: &str) -> Result<Val, OnnxError> {
    let x = input(inputs, 0, label)?;
    let values = |i: usize| -> Result<Option<Vec<i64>>, OnnxError> {
        match inputs.get(i).copied().flatten() {
            Some(_) => Ok(Some(ints(inputs, i, label)?.data.clone())),
            None => Ok(None),
        }
    };
    let shape = x.shape().to_vec();
    Ok(match op {
        Op::Transpose { perm } => {
            let perm = permutation(perm.as_deref(), shape.len(), label)?;
            map_val!(x, |a| transpose(a, &perm))
        }
        Op::Squeeze { .. } | Op::Unsqueeze { .. } | Op::Reshape { .. } => {
            let out = reshape_rule(op, &shape, &values(1)?, label)?;
            x.clone().reshaped(out)
        }
        Op::Concat { axis: ax } => {
            let parts: Vec<&Val> = inputs.iter().flatten().copied().collect();
            let shapes: Vec<&[usize]> = parts.iter().map(|p| p.shape()).collect();
            let (out, at) = concat_rule(&shapes, *ax, label)?;
            match parts[0] {
                Val::F(_) => Val::F(concat(
                    parts
                        .iter()
                        .map(|p| match p {
                            Val::F(a) => Ok(a),
                            _ => Err(mixed(label)),
                        })
                        .collect::<Result<_, _>>()?,
                    &out,
                    at,
                )),
                Val::I(_) => Val::I(concat(
                    parts
                        .iter()
                        .map(|p| match p {
                            Val::I(a) => Ok(a),
                            _ => Err(mixed(label)),
                        })
                        .collect::<Result<_, _>>()?,
                    &out,
                    at,
                )),
            }
        }
        Op::Slice { attrs } => {
            let plan = slice_rule(
                &shape,
                attrs,
                &values(1)?,
                &values(2)?,
                &values(3)?,
                &values(4)?,
                label,
            )?;
            map_val!(x, |a| slice(a, &plan))
        }
        Op::Gather { axis: ax } => {
            let indices = ints(inputs, 1, label)?;
            let at = axis(*ax, shape.len(), label)?;
            let n = shape[at] as i64;
            let mut picked = Vec::with_capacity(indices.data.len());
            for &i in &indices.data {
                if i < -n || i >= n {
                    return Err(node_error(
                        label,
                        format!("index {i} is outside axis {at} of size {n}"),
                    ));
                }
                picked.push(if i < 0 { (i + n) as usize } else { i as usize });
            }
            map_val!(x, |a| gather(a, at, &picked, &indices.shape))
        }
        Op::Shape { start, end } => Val::I(shape_of(&shape, *start, *end)),
        Op::Expand => {
            let target = shape_values(&values(1)?.unwrap_or_default(), label)?;
            let out = broadcast(&shape, &target, label)?;
            let index = broadcast_index(&shape, &out);
            map_val!(x, |a| Array::new(
                out.clone(),
                index.iter().map(|&i| a.data[i]).collect()
            ))
        }
        Op::ConstantOfShape { value } => {
            let out = shape_values(&ints(inputs, 0, label)?.data, label)?;
            let n =
                count(&out).ok_or_else(|| node_error(label, "the shape has too many elements"))?;
            map_val!(value, |v| Array::new(out.clone(), vec![v.data[0]; n]))
        }
        Op::Cast { to } => match (x, to) {
            (Val::F(a), Elem::Int) => Val::I(Array::new(
                shape,
                a.data.iter().map(|&v| v as i64).collect(),
            )),
            (Val::I(a), Elem::Float) => Val::F(Array::new(
                shape,
                a.data.iter().map(|&v| v as f32).collect(),
            )),
            _ => x.clone(),
        },
        _ => unreachable!("not a layout operator"),
    })
}

pub(super) fn infer(op: &Op, inputs: &[Option<&Meta>], label: &str) -> Result<Meta, OnnxError> {
    let x = meta(inputs, 0, label)?;
    let shape = &x.shape;
    Ok(match op {
        Op::Transpose { perm } => {
            let perm = permutation(perm.as_deref(), shape.len(), label)?;
            Meta::unknown(x.elem, perm.iter().map(|&p| shape[p]).collect())
        }
        Op::Squeeze { .. } | Op::Unsqueeze { .. } | Op::Reshape { .. } => Meta::unknown(
            x.elem,
            reshape_rule(op, shape, &known_ints(inputs, 1, label)?, label)?,
        ),
        Op::Concat { axis: ax } => {
            let parts: Vec<&Meta> = inputs.iter().flatten().copied().collect();
            if parts.iter().any(|p| p.elem != x.elem) {
                return Err(mixed(label));
            }
            let shapes: Vec<&[usize]> = parts.iter().map(|p| p.shape.as_slice()).collect();
            Meta::unknown(x.elem, concat_rule(&shapes, *ax, label)?.0)
        }
        Op::Slice { attrs } => {
            let k = |i| known_ints(inputs, i, label);
            let plan = slice_rule(shape, attrs, &k(1)?, &k(2)?, &k(3)?, &k(4)?, label)?;
            Meta::unknown(x.elem, plan.iter().map(|s| s.len).collect())
        }
        Op::Gather { axis: ax } => {
            let indices = meta(inputs, 1, label)?;
            let at = axis(*ax, shape.len(), label)?;
            let mut out = shape[..at].to_vec();
            out.extend_from_slice(&indices.shape);
            out.extend_from_slice(&shape[at + 1..]);
            Meta::unknown(x.elem, out)
        }
        Op::Shape { start, end } => Meta::known(Val::I(shape_of(shape, *start, *end))),
        Op::Expand => {
            let target = shape_values(&known_ints(inputs, 1, label)?.unwrap_or_default(), label)?;
            Meta::unknown(x.elem, broadcast(shape, &target, label)?)
        }
        Op::ConstantOfShape { value } => {
            let out = shape_values(&known_ints(inputs, 0, label)?.unwrap_or_default(), label)?;
            Meta::unknown(value.elem(), out)
        }
        Op::Cast { to } => Meta::unknown(*to, shape.clone()),
        _ => unreachable!("not a layout operator"),
    })
}

fn mixed(label: &str) -> OnnxError {
    node_error(label, "inputs mix floating-point and integer data")
}

fn shape_values(values: &[i64], label: &str) -> Result<Vec<usize>, OnnxError> {
    let shape = values
        .iter()
        .map(|&d| {
            usize::try_from(d).map_err(|_| {
                node_error(label, format!("shape {values:?} has a negative dimension"))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    count(&shape)
        .ok_or_else(|| node_error(label, format!("shape {values:?} has too many elements")))?;
    Ok(shape)
}

fn permutation(perm: Option<&[i64]>, rank: usize, label: &str) -> Result<Vec<usize>, OnnxError> {
    let perm: Vec<usize> = match perm {
        None => (0..rank).rev().collect(),
        Some(p) => p
            .iter()
            .map(|&a| axis(a, rank, label))
            .collect::<Result<_, _>>()?,
    };
    let mut seen = vec![false; rank];
    if perm.len() != rank || perm.iter().any(|&p| std::mem::replace(&mut seen[p], true)) {
        return Err(node_error(
            label,
            format!("perm {perm:?} is not a permutation of the {rank} axes"),
        ));
    }
    Ok(perm)
}

/// The output shape of Squeeze, Unsqueeze and Reshape (none of them moves data).
fn reshape_rule(
    op: &Op,
    shape: &[usize],
    input1: &Option<Vec<i64>>,
    label: &str,
) -> Result<Vec<usize>, OnnxError> {
    match op {
        Op::Squeeze { axes } => {
            let axes = axes.clone().or_else(|| input1.clone()).unwrap_or_default();
            let axes: Vec<usize> = axes
                .iter()
                .map(|&a| axis(a, shape.len(), label))
                .collect::<Result<_, _>>()?;
            if let Some(&bad) = axes.iter().find(|&&a| shape[a] != 1) {
                return Err(node_error(
                    label,
                    format!("cannot squeeze axis {bad} of shape {shape:?}: its size is not 1"),
                ));
            }
            Ok(shape
                .iter()
                .enumerate()
                .filter(|&(i, &d)| {
                    if axes.is_empty() {
                        d != 1
                    } else {
                        !axes.contains(&i)
                    }
                })
                .map(|(_, &d)| d)
                .collect())
        }
        Op::Unsqueeze { axes } => {
            let axes = axes
                .clone()
                .or_else(|| input1.clone())
                .ok_or_else(|| node_error(label, "input 1 (axes) is required"))?;
            let rank = shape.len() + axes.len();
            let mut axes: Vec<usize> = axes
                .iter()
                .map(|&a| axis(a, rank, label))
                .collect::<Result<_, _>>()?;
            axes.sort_unstable();
            if axes.windows(2).any(|w| w[0] == w[1]) {
                return Err(node_error(label, format!("axes {axes:?} repeat an axis")));
            }
            let mut rest = shape.iter();
            Ok((0..rank)
                .map(|i| {
                    if axes.contains(&i) {
                        1
                    } else {
                        *rest.next().unwrap()
                    }
                })
                .collect())
        }
        Op::Reshape { allowzero } => {
            let target = input1
                .clone()
                .ok_or_else(|| node_error(label, "input 1 (shape) is required"))?;
            let total = count(shape).unwrap_or(0);
            let mut out = Vec::with_capacity(target.len());
            let mut infer_at = None;
            for (i, &d) in target.iter().enumerate() {
                out.push(match d {
                    -1 if infer_at.is_none() => {
                        infer_at = Some(i);
                        1
                    }
                    0 if !allowzero => *shape.get(i).ok_or_else(|| node_error(label, format!("shape {target:?} copies dimension {i} (0), which the input {shape:?} lacks")))?,
                    d if d >= 0 => d as usize,
                    _ => return Err(node_error(label, format!("shape {target:?} is not a valid target shape"))),
                });
            }
            let known =
                count(&out).ok_or_else(|| node_error(label, "the shape has too many elements"))?;
            if let Some(i) = infer_at {
                if known == 0 || !total.is_multiple_of(known) {
                    return Err(node_error(
                        label,
                        format!("cannot reshape {shape:?} ({total} elements) to {target:?}"),
                    ));
                }
                out[i] = total / known;
            } else if known != total {
                return Err(node_error(label, format!("cannot reshape {shape:?} ({total} elements) to {target:?} ({known} elements)")));
            }
            Ok(out)
        }
        _ => unreachable!(),
    }
}

fn concat_rule(
    shapes: &[&[usize]],
    ax: i64,
    label: &str,
) -> Result<(Vec<usize>, usize), OnnxError> {
    let first = shapes
        .first()
        .ok_or_else(|| node_error(label, "Concat needs at least one input"))?;
    let at = axis(ax, first.len(), label)?;
    let mut out = first.to_vec();
    out[at] = 0;
    for s in shapes {
        if s.len() != first.len() || s.iter().enumerate().any(|(i, &d)| i != at && d != first[i]) {
            return Err(node_error(
                label,
                format!("cannot concatenate shapes {shapes:?} along axis {at}"),
            ));
        }
        out[at] += s[at];
    }
    Ok((out, at))
}

fn slice_rule(
    shape: &[usize],
    attrs: &Option<SliceAttrs>,
    starts: &Option<Vec<i64>>,
    ends: &Option<Vec<i64>>,
    axes: &Option<Vec<i64>>,
    steps: &Option<Vec<i64>>,
    label: &str,
) -> Result<Vec<AxisSlice>, OnnxError> {
    let (starts, ends, axes) = match attrs {
        Some(a) => (a.starts.clone(), a.ends.clone(), a.axes.clone()),
        None => (
            starts
                .clone()
                .ok_or_else(|| node_error(label, "input 1 (starts) is required"))?,
            ends.clone()
                .ok_or_else(|| node_error(label, "input 2 (ends) is required"))?,
            axes.clone(),
        ),
    };
    let axes = axes.unwrap_or_else(|| (0..starts.len() as i64).collect());
    let steps = steps.clone().unwrap_or_else(|| vec![1; starts.len()]);
    if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
        return Err(node_error(
            label,
            "starts, ends, axes and steps must have the same length",
        ));
    }
    let mut plan: Vec<AxisSlice> = shape
        .iter()
        .map(|&d| AxisSlice {
            start: 0,
            step: 1,
            len: d,
        })
        .collect();
    for k in 0..starts.len() {
        let at = axis(axes[k], shape.len(), label)?;
        let dim = shape[at] as i64;
        let step = steps[k];
        if step == 0 {
            return Err(node_error(label, "a slice step of 0 is not allowed"));
        }
        let clampi = |v: i64, lo: i64, hi: i64| v.clamp(lo, hi);
        let norm = |v: i64| if v < 0 { v.saturating_add(dim) } else { v };
        let (start, end) = if step > 0 {
            (
                clampi(norm(starts[k]), 0, dim),
                clampi(norm(ends[k]), 0, dim),
            )
        } else {
            (
                clampi(norm(starts[k]), 0, dim - 1),
                clampi(norm(ends[k]), -1, dim - 1),
            )
        };
        let len = if step > 0 {
            ((end - start).max(0) + step - 1) / step
        } else {
            ((start - end).max(0) + (-step) - 1) / (-step)
        };
        plan[at] = AxisSlice {
            start,
            step,
            len: len as usize,
        };
    }
    Ok(plan)
}

fn shape_of(shape: &[usize], start: i64, end: Option<i64>) -> Array<i64> {
    let r = shape.len() as i64;
    let clampi = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
    let (s, e) = (clampi(start), clampi(end.unwrap_or(r)));
    let dims: Vec<i64> = shape[s..e.max(s)].iter().map(|&d| d as i64).collect();
    Array::new(vec![dims.len()], dims)
}
