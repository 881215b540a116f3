//! The values a graph computes with: row-major arrays of `f32` (every floating type) or `i64`
//! (every integer type and bool), and the index arithmetic the layout operators share.

use crate::onnx::OnnxError;

/// A row-major array.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Array<T> {
    pub shape: Vec<usize>,
    pub data: Vec<T>,
}

/// The two element types a value can have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Elem {
    Float,
    Int,
}

/// A value flowing between nodes.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Val {
    F(Array<f32>),
    I(Array<i64>),
}

impl<T: Copy> Array<T> {
    pub fn new(shape: Vec<usize>, data: Vec<T>) -> Self {
        debug_assert_eq!(count(&shape), Some(data.len()));
        Array { shape, data }
    }

    pub fn scalar(value: T) -> Self {
        Array {
            shape: Vec::new(),
            data: vec![value],
        }
    }

    /// The same data under another shape of the same element count.
    pub fn reshaped(self, shape: Vec<usize>) -> Self {
        Array::new(shape, self.data)
    }
}

impl Val {
    pub fn shape(&self) -> &[usize] {
        match self {
            Val::F(a) => &a.shape,
            Val::I(a) => &a.shape,
        }
    }

    pub fn elem(&self) -> Elem {
        match self {
            Val::F(_) => Elem::Float,
            Val::I(_) => Elem::Int,
        }
    }

    pub fn reshaped(self, shape: Vec<usize>) -> Val {
        match self {
            Val::F(a) => Val::F(a.reshaped(shape)),
            Val::I(a) => Val::I(a.reshaped(shape)),
        }
    }
}

/// Applies a function generic over the element type to either kind of value.
macro_rules! map_val {
    ($val:expr, |$a:ident| $body:expr) => {
        match $val {
            crate::onnx::array::Val::F($a) => crate::onnx::array::Val::F($body),
            crate::onnx::array::Val::I($a) => crate::onnx::array::Val::I($body),
        }
    };
}
pub(crate) use map_val;

/// The element count of a shape; `None` when it overflows.
pub(crate) fn count(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d))
}

/// Row-major strides of a shape.
pub(crate) fn strides(shape: &[usize]) -> Vec<usize> {
    let mut strides = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        strides[i] = strides[i + 1] * shape[i + 1];
    }
    strides
}

/// Resolves a possibly negative `axis` against `rank` (ONNX counts from the end when < 0).
pub(crate) fn axis(axis: i64, rank: usize, node: &str) -> Result<usize, OnnxError> {
    let r = rank as i64;
    if axis < -r || axis >= r {
        return Err(OnnxError::Node {
            node: node.to_string(),
            reason: format!(
                "axis {axis} is outside a tensor of rank {rank} (allowed {}..={})",
                -r,
                r - 1
            ),
        });
    }
    Ok(if axis < 0 {
        (axis + r) as usize
    } else {
        axis as usize
    })
}

/// The broadcast shape of two shapes (numpy rules, as ONNX's multidirectional broadcasting).
pub(crate) fn broadcast(a: &[usize], b: &[usize], node: &str) -> Result<Vec<usize>, OnnxError> {
    let rank = a.len().max(b.len());
    let mut out = vec![0; rank];
    for i in 0..rank {
        let da = if i + a.len() >= rank {
            a[i + a.len() - rank]
        } else {
            1
        };
        let db = if i + b.len() >= rank {
            b[i + b.len() - rank]
        } else {
            1
        };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => {
                return Err(OnnxError::Node {
                    node: node.to_string(),
                    reason: format!(
                        "shapes {a:?} and {b:?} do not broadcast (dimension {i}: {da} vs {db})"
                    ),
                })
            }
        };
    }
    Ok(out)
}

/// For every element of `out_shape`, the index of the element of `shape` it reads when
/// `shape` is broadcast to `out_shape`.
pub(crate) fn broadcast_index(shape: &[usize], out_shape: &[usize]) -> Vec<usize> {
    let n = count(out_shape).unwrap_or(0);
    let rank = out_shape.len();
    let offset = rank - shape.len();
    let src_strides = strides(shape);
    let mut index = Vec::with_capacity(n);
    let mut pos = vec![0usize; rank];
    for _ in 0..n {
        let mut at = 0;
        for (i, &s) in src_strides.iter().enumerate() {
            if shape[i] != 1 {
                at += pos[i + offset] * s;
            }
        }
        index.push(at);
        for i in (0..rank).rev() {
            pos[i] += 1;
            if pos[i] < out_shape[i] {
                break;
            }
            pos[i] = 0;
        }
    }
    index
}

/// Reverses each sequence's first `lens[b]` steps in place; rows of `width` floats.
pub(crate) fn flip(
    data: &mut [f32],
    lens: &[usize],
    t: usize,
    b: usize,
    width: usize,
    batch_major: bool,
) {
    let at = |row: usize, step: usize| {
        if batch_major {
            (row * t + step) * width
        } else {
            (step * b + row) * width
        }
    };
    for (row, &len) in lens.iter().enumerate() {
        for s in 0..len / 2 {
            let (p, q) = (at(row, s), at(row, len - 1 - s));
            for k in 0..width {
                data.swap(p + k, q + k);
            }
        }
    }
}

/// `[n0, n1, w]` to `[n1, n0, w]`.
pub(crate) fn swap01(data: &[f32], n0: usize, n1: usize, w: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(data.len());
    for j in 0..n1 {
        for i in 0..n0 {
            out.extend_from_slice(&data[(i * n1 + j) * w..(i * n1 + j + 1) * w]);
        }
    }
    out
}

/// `[t, b, d, h]` to `[t, d, b, h]`.
pub(crate) fn swap12(data: &[f32], t: usize, b: usize, d: usize, h: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(data.len());
    for step in 0..t {
        out.extend(swap01(
            &data[step * b * d * h..(step + 1) * b * d * h],
            b,
            d,
            h,
        ));
    }
    out
}
