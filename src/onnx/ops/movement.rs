//! The data movement of the layout operators, generic over the element type: each takes
//! an array and the plan its operator's shape rule made (ops/layout.rs).

use crate::onnx::array::{count, strides, Array};

pub(super) fn transpose<T: Copy>(a: &Array<T>, perm: &[usize]) -> Array<T> {
    let out_shape: Vec<usize> = perm.iter().map(|&p| a.shape[p]).collect();
    let in_strides = strides(&a.shape);
    let step: Vec<usize> = perm.iter().map(|&p| in_strides[p]).collect();
    let mut data = Vec::with_capacity(a.data.len());
    let mut pos = vec![0usize; out_shape.len()];
    for _ in 0..a.data.len() {
        data.push(a.data[pos.iter().zip(&step).map(|(i, s)| i * s).sum::<usize>()]);
        for i in (0..pos.len()).rev() {
            pos[i] += 1;
            if pos[i] < out_shape[i] {
                break;
            }
            pos[i] = 0;
        }
    }
    Array::new(out_shape, data)
}

pub(super) fn concat<T: Copy>(parts: Vec<&Array<T>>, out: &[usize], at: usize) -> Array<T> {
    let outer: usize = out[..at].iter().product();
    let mut data = Vec::with_capacity(count(out).unwrap_or(0));
    for o in 0..outer {
        for p in &parts {
            let block: usize = p.shape[at..].iter().product();
            data.extend_from_slice(&p.data[o * block..(o + 1) * block]);
        }
    }
    Array::new(out.to_vec(), data)
}

/// One axis of a slice: the first index, the step and the number of elements taken.
pub(super) struct AxisSlice {
    pub start: i64,
    pub step: i64,
    pub len: usize,
}

pub(super) fn slice<T: Copy>(a: &Array<T>, plan: &[AxisSlice]) -> Array<T> {
    let out: Vec<usize> = plan.iter().map(|s| s.len).collect();
    let n = count(&out).unwrap_or(0);
    let st = strides(&a.shape);
    let mut data = Vec::with_capacity(n);
    let mut pos = vec![0usize; out.len()];
    for _ in 0..n {
        let at: i64 = pos
            .iter()
            .zip(plan)
            .zip(&st)
            .map(|((&p, s), &stride)| (s.start + p as i64 * s.step) * stride as i64)
            .sum();
        data.push(a.data[at as usize]);
        for i in (0..pos.len()).rev() {
            pos[i] += 1;
            if pos[i] < out[i] {
                break;
            }
            pos[i] = 0;
        }
    }
    Array::new(out, data)
}

pub(super) fn gather<T: Copy>(
    a: &Array<T>,
    at: usize,
    picked: &[usize],
    indices_shape: &[usize],
) -> Array<T> {
    let outer: usize = a.shape[..at].iter().product();
    let inner: usize = a.shape[at + 1..].iter().product();
    let dim = a.shape[at];
    let mut data = Vec::with_capacity(outer * picked.len() * inner);
    for o in 0..outer {
        for &p in picked {
            let from = (o * dim + p) * inner;
            data.extend_from_slice(&a.data[from..from + inner]);
        }
    }
    let mut shape = a.shape[..at].to_vec();
    shape.extend_from_slice(indices_shape);
    shape.extend_from_slice(&a.shape[at + 1..]);
    Array::new(shape, data)
}
