//! `GpuOnnxModel`'s walk over the graph, keeping a recurrent node's output `Y` on the GPU
//! while its consumers can take it there: the layout changes PyTorch's exporters put between
//! stacked recurrent nodes (`Transpose` to `[T, B, D, H]`, `Reshape` to `[T, B, D*H]`,
//! `Squeeze`, `Unsqueeze`, `Identity`) only relabel the buffer, and the next recurrent node
//! reads it as its input. Any other consumer, and a graph output, reads it back once.

use std::collections::HashMap;

use crate::error::Result;
use crate::gpu::{read_back, GpuContext, GpuInput, GpuRnn, Wait};
use crate::onnx::array::{count, Array, Elem, Val};
use crate::onnx::array::{swap01, swap12};
use crate::onnx::decode::{Graph, Node};
use crate::onnx::lower::Lowered;
use crate::onnx::ops::{Meta, Op, Recurrent};

/// A float tensor in a device buffer, row-major in `shape`, or (`bi_major`) a bidirectional
/// `Y` of layout 0: shape `[T, 2, B, H]` held as the stack wrote it, `[T, B, 2, H]`.
#[derive(Clone)]
pub(crate) struct DeviceTensor {
    pub buffer: wgpu::Buffer,
    pub shape: Vec<usize>,
    pub bi_major: bool,
}

/// A value of the walk: on the host, or on the GPU.
pub(crate) enum Slot {
    Host(Val),
    Device(DeviceTensor),
}

/// Reads a device tensor back, in its logical layout.
pub(crate) async fn download(ctx: &GpuContext, t: &DeviceTensor) -> Result<Val> {
    let n = count(&t.shape).unwrap_or(0);
    let mut data = if n == 0 {
        Vec::new()
    } else {
        let staging = ctx.staging("ONNX value read back", (n * 4) as u64);
        let device = &ctx.inner.device;
        let mut encoder = device.create_command_encoder(&Default::default());
        encoder.copy_buffer_to_buffer(&t.buffer, 0, &staging, 0, (n * 4) as u64);
        ctx.inner.queue.submit([encoder.finish()]);
        read_back(device, &staging, Wait::Yield).await?
    };
    if t.bi_major {
        let [steps, d, b, h] = [t.shape[0], t.shape[1], t.shape[2], t.shape[3]];
        data = swap12(&data, steps, b, d, h);
    }
    Ok(Val::F(Array::new(t.shape.clone(), data)))
}

/// A layout node on a device tensor, when it only relabels the buffer: the new tensor.
pub(crate) fn relabel(
    node: &Node,
    slots: &HashMap<&str, Slot>,
    graph: &Graph,
) -> Option<DeviceTensor> {
    let Some(Slot::Device(x)) = node.inputs.first().and_then(|n| slots.get(n.as_str())) else {
        return None;
    };
    match &node.op {
        // [T, D, B, H] held as [T, B, D, H]: the transpose exporters write is the buffer.
        Op::Transpose { perm: Some(p) } if x.bi_major && p == &[0, 2, 1, 3] => Some(DeviceTensor {
            buffer: x.buffer.clone(),
            shape: vec![x.shape[0], x.shape[2], x.shape[1], x.shape[3]],
            bi_major: false,
        }),
        Op::Reshape { .. } | Op::Squeeze { .. } | Op::Unsqueeze { .. } | Op::Identity
            if !x.bi_major =>
        {
            // The shape rule on the shape alone, with the host inputs (targets, axes) known.
            let metas: Vec<Option<Meta>> = node
                .inputs
                .iter()
                .enumerate()
                .map(|(i, n)| match (i, host_value(n, slots, graph)) {
                    (0, _) => Some(Meta::unknown(Elem::Float, x.shape.clone())),
                    (_, Some(v)) => Some(Meta::known(v.clone())),
                    _ => None,
                })
                .collect();
            let refs: Vec<Option<&Meta>> = metas.iter().map(Option::as_ref).collect();
            let out = node.op.infer(&refs, &node.label).ok()?.into_iter().next()?;
            Some(DeviceTensor {
                buffer: x.buffer.clone(),
                shape: out.shape,
                bi_major: false,
            })
        }
        _ => None,
    }
}

/// Input `name` when it is on the host: a host slot or an initializer ("" is none).
pub(crate) fn host_value<'a>(
    name: &str,
    slots: &'a HashMap<&str, Slot>,
    graph: &'a Graph,
) -> Option<&'a Val> {
    match slots.get(name) {
        _ if name.is_empty() => None,
        Some(Slot::Host(v)) => Some(v),
        Some(Slot::Device(_)) => None,
        None => graph.initializers.get(name),
    }
}

/// `Shape` of a device tensor: its shape needs no read back.
pub(crate) fn shape_only(node: &Node, slots: &HashMap<&str, Slot>) -> Option<Val> {
    let Some(Slot::Device(x)) = node.inputs.first().and_then(|n| slots.get(n.as_str())) else {
        return None;
    };
    if !matches!(node.op, Op::Shape { .. }) {
        return None;
    }
    let meta = Meta::unknown(Elem::Float, x.shape.clone());
    node.op
        .infer(&[Some(&meta)], &node.label)
        .ok()?
        .into_iter()
        .next()?
        .value
}

/// A recurrent node with its input on the GPU (or uploaded), its `Y` left there. `None`
/// when the node needs the host path: a single reverse direction (its input is reversed per
/// sequence), a length of 0, or an empty input.
pub(crate) fn recurrent_on_device(
    ctx: &GpuContext,
    l: &Lowered,
    gpu: &GpuRnn,
    rec: &Recurrent,
    node: &Node,
    slots: &HashMap<&str, Slot>,
    graph: &Graph,
) -> Option<Result<(DeviceTensor, DeviceTensor, Option<DeviceTensor>)>> {
    let slot = |i: usize| {
        node.inputs
            .get(i)
            .filter(|n| !n.is_empty())
            .and_then(|n| slots.get(n.as_str()))
    };
    let host = |i: usize| node.inputs.get(i).and_then(|n| host_value(n, slots, graph));
    let (x_shape, uploaded) = match slot(0)? {
        Slot::Device(x) if !x.bi_major => (x.shape.clone(), None),
        Slot::Host(Val::F(x)) => (
            x.shape.clone(),
            Some(ctx.buffer_with(
                "ONNX recurrent input",
                bytemuck::cast_slice(&x.data),
                wgpu::BufferUsages::STORAGE,
            )),
        ),
        _ => return None,
    };
    let (t, b) = if rec.batch_major {
        (x_shape[1], x_shape[0])
    } else {
        (x_shape[0], x_shape[1])
    };
    let lens: Option<Vec<usize>> = match host(4) {
        Some(Val::I(a)) => Some(a.data.iter().map(|&v| v as usize).collect()),
        _ => None,
    };
    // The caller brought every input but X to the host.
    if l.reverse_only || t == 0 || b == 0 || lens.as_ref().is_some_and(|l| l.contains(&0)) {
        return None;
    }
    let config = l.rnn.config();
    let (d, h) = (config.num_directions(), config.hidden_size);
    let state = |i: usize| match host(i) {
        Some(Val::F(s)) => {
            let data = if rec.batch_major {
                swap01(&s.data, b, d, h)
            } else {
                s.data.clone()
            };
            Some(ctx.buffer_with(
                "ONNX initial state",
                bytemuck::cast_slice(&data),
                wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
            ))
        }
        _ => None,
    };
    let (h0, c0) = (state(5), state(6));
    let state_shape = [d, b, h];
    let x_buffer = match (&uploaded, slot(0)) {
        (Some(buffer), _) => buffer,
        (None, Some(Slot::Device(x))) => &x.buffer,
        _ => return None,
    };
    let mut input = GpuInput::new(x_buffer, &x_shape);
    if let Some(l) = &lens {
        input = input.lengths(l);
    }
    if let Some(h0) = &h0 {
        input = input.h0(h0, &state_shape);
    }
    if let Some(c0) = &c0 {
        input = input.c0(c0, &state_shape);
    }
    Some(gpu.forward_gpu(&input).map(|out| {
        // The stack's output is [T, B, D*H], or [B, T, D*H] when batch-major: ONNX's Y
        // [B, T, D, H] as it is; [T, D, B, H] as it is for one direction, a view for two.
        let y = DeviceTensor {
            buffer: out.output,
            shape: if rec.batch_major {
                vec![b, t, d, h]
            } else {
                vec![t, d, b, h]
            },
            bi_major: !rec.batch_major && d == 2,
        };
        // The states are [D, B, H] whatever the layout; `states_to_onnx` converts them.
        let state = |buffer| DeviceTensor {
            buffer,
            shape: vec![d, b, h],
            bi_major: false,
        };
        (y, state(out.h_n), out.c_n.map(state))
    }))
}

/// `Y_h`/`Y_c` from the stack's `[D, B, H]`: as they are for layout 0, `[B, D, H]` for 1.
pub(crate) fn states_to_onnx(state: Val, batch_major: bool) -> Val {
    match state {
        Val::F(a) if batch_major => {
            let (d, b, h) = (a.shape[0], a.shape[1], a.shape[2]);
            Val::F(Array::new(vec![b, d, h], swap01(&a.data, d, b, h)))
        }
        other => other,
    }
}
