//! Walking a graph: the dry run over shapes, and the run over values with a hook that lets
//! the GPU model take the recurrent nodes.

use std::collections::HashMap;

use crate::onnx::array::{Elem, Val};
use crate::onnx::decode::{Dim, Graph, Node};
use crate::onnx::ops::Meta;
use crate::onnx::rounding;
use crate::onnx::OnnxError;

/// Float initializers up to this many elements take part in constant folding during the dry
/// run; larger ones (weights) are known by shape only, so a dry run never copies them.
const FOLD_LIMIT: usize = 4096;

/// Checks the given inputs against the graph's declarations: every runtime input present,
/// no unknown name, element types and fixed dimensions as declared.
pub(crate) fn check_inputs(
    graph: &Graph,
    given: &[(&str, Elem, &[usize])],
) -> Result<(), OnnxError> {
    let names: Vec<String> = graph.inputs.iter().map(|d| d.name.clone()).collect();
    for (name, _, _) in given {
        if !names.iter().any(|n| n == name) {
            return Err(OnnxError::UnknownInput {
                name: name.to_string(),
                names,
            });
        }
    }
    for d in &graph.inputs {
        let Some((_, elem, shape)) = given.iter().find(|(n, _, _)| *n == d.name) else {
            return Err(OnnxError::MissingInput {
                name: d.name.clone(),
                names,
            });
        };
        let mismatch = |reason: String| OnnxError::InputMismatch {
            name: d.name.clone(),
            reason,
        };
        if *elem != d.elem {
            return Err(mismatch(format!(
                "the graph declares {} ({}) data, but {} data was given",
                crate::onnx::decode::type_name(d.data_type),
                if d.elem == Elem::Float {
                    "floating point"
                } else {
                    "integer"
                },
                if *elem == Elem::Float {
                    "floating-point"
                } else {
                    "integer"
                }
            )));
        }
        if let Some(dims) = &d.dims {
            let declared = dims
                .iter()
                .map(|d| match d {
                    Dim::Fixed(n) => n.to_string(),
                    Dim::Named(p) => p.clone(),
                    Dim::Unknown => "?".to_string(),
                })
                .collect::<Vec<_>>()
                .join(", ");
            if dims.len() != shape.len() {
                return Err(mismatch(format!("the graph declares shape [{declared}] (rank {}), but the value has shape {shape:?}", dims.len())));
            }
            for (i, (dim, &got)) in dims.iter().zip(shape.iter()).enumerate() {
                if let Dim::Fixed(n) = dim {
                    if *n != got {
                        return Err(mismatch(format!("dimension {i} must be {n} (declared shape [{declared}]), but the value has shape {shape:?}")));
                    }
                }
            }
        }
    }
    Ok(())
}

/// The dry run: every node's outputs from its inputs' shapes, before any work. Returns the
/// graph outputs' metadata in the graph's order.
pub(crate) fn infer(
    graph: &Graph,
    given: &[(&str, Elem, &[usize])],
) -> Result<Vec<(String, Meta)>, OnnxError> {
    check_inputs(graph, given)?;
    let mut metas: HashMap<&str, Meta> = HashMap::new();
    for (name, elem, shape) in given {
        metas.insert(name, Meta::unknown(*elem, shape.to_vec()));
    }
    for (name, v) in &graph.initializers {
        let small = matches!(v, Val::I(_)) || v.shape().iter().product::<usize>() <= FOLD_LIMIT;
        let meta = if small {
            Meta::known(v.clone())
        } else {
            Meta::unknown(v.elem(), v.shape().to_vec())
        };
        metas.insert(name, meta);
    }
    for node in &graph.nodes {
        let inputs = node_inputs(node, |n| metas.get(n));
        let outputs = node.op.infer(&inputs, &node.label)?;
        bind(node, outputs, &mut metas)?;
    }
    Ok(graph
        .outputs
        .iter()
        .map(|o| (o.name.clone(), metas[o.name.as_str()].clone()))
        .collect())
}

/// `node`'s inputs as `find` finds them by name; `None` for an omitted optional input ("").
fn node_inputs<'v, T>(node: &Node, find: impl Fn(&str) -> Option<&'v T>) -> Vec<Option<&'v T>> {
    let find = |n: &String| if n.is_empty() { None } else { find(n) };
    node.inputs.iter().map(find).collect()
}

/// Runs the graph on the CPU. (`GpuOnnxModel` walks it its own way, src/onnx/device.rs.)
/// Recurrent nodes' weight matrices given at run time are rounded as `precision` stores them
/// (`rounding`; the initializers were rounded with the model).
pub(crate) fn run_cpu(
    graph: &Graph,
    given: Vec<(String, Val)>,
    precision: crate::Precision,
) -> crate::Result<Vec<(String, Val)>> {
    let mut values: HashMap<&str, Val> = HashMap::new();
    let given: HashMap<String, Val> = given.into_iter().collect();
    for node in &graph.nodes {
        let outputs = {
            let inputs = node_inputs(node, |n| {
                (values.get(n))
                    .or_else(|| given.get(n))
                    .or_else(|| graph.initializers.get(n))
            });
            let rounded = rounding::round_given(node, &inputs, graph, precision)?;
            let inputs: Vec<Option<&Val>> = (inputs.iter().enumerate())
                .map(|(i, v)| rounded.get(i).and_then(Option::as_ref).or(*v))
                .collect();
            node.op.run(&inputs, &node.label)?
        };
        for (name, value) in node.outputs.iter().zip(outputs) {
            if !name.is_empty() {
                values.insert(name.as_str(), value);
            }
        }
    }
    Ok(graph
        .outputs
        .iter()
        .map(|o| {
            let v = values
                .get(o.name.as_str())
                .or_else(|| given.get(&o.name))
                .or_else(|| graph.initializers.get(&o.name));
            (
                o.name.clone(),
                v.cloned()
                    .expect("decode checked that every output is defined"),
            )
        })
        .collect())
}

fn bind<'g>(
    node: &'g Node,
    outputs: Vec<Meta>,
    metas: &mut HashMap<&'g str, Meta>,
) -> Result<(), OnnxError> {
    if node.outputs.len() > outputs.len() {
        return Err(OnnxError::Node {
            node: node.label.clone(),
            reason: format!(
                "the node names {} outputs; the operator has {}",
                node.outputs.len(),
                outputs.len()
            ),
        });
    }
    for (name, meta) in node.outputs.iter().zip(outputs) {
        if !name.is_empty() {
            metas.insert(name.as_str(), meta);
        }
    }
    Ok(())
}
