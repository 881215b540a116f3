//! From protobuf bytes to the checked graph the model runs: initializers decoded, every
//! node's operator parsed, every value defined before it is used.

use std::collections::{HashMap, HashSet};

use prost::Message;

use crate::onnx::array::{count, Array, Elem, Val};
use crate::onnx::error::node_label;
use crate::onnx::ops::Op;
use crate::onnx::proto;
use crate::onnx::OnnxError;

/// A declared dimension of a graph input or output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dim {
    /// A fixed size.
    Fixed(usize),
    /// A named size (`dim_param`, e.g. `batch`), free at run time.
    Named(String),
    /// No size declared.
    Unknown,
}

/// A graph input or output as the file declares it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Declared {
    pub name: String,
    pub elem: Elem,
    /// The ONNX data type number (1 = float, 6 = int32, 7 = int64, ...).
    pub data_type: i32,
    pub dims: Option<Vec<Dim>>,
}

/// One node, its operator parsed and checked.
#[derive(Clone, Debug)]
pub(crate) struct Node {
    /// How errors name it: `node 3 (LSTM "lstm_1")`.
    pub label: String,
    pub op: Op,
    /// Input value names; "" marks an omitted optional input.
    pub inputs: Vec<String>,
    /// Output value names; "" marks an omitted optional output.
    pub outputs: Vec<String>,
}

/// A whole graph.
#[derive(Clone, Debug)]
pub(crate) struct Graph {
    pub inputs: Vec<Declared>,
    pub outputs: Vec<Declared>,
    pub initializers: HashMap<String, Val>,
    pub nodes: Vec<Node>,
}

fn invalid(reason: impl Into<String>) -> OnnxError {
    OnnxError::Invalid {
        reason: reason.into(),
    }
}

/// Decodes and checks a model. Every allocation is bounded by the size of `bytes`: protobuf
/// lengths are checked against the remaining input, and tensor data must be present in full.
/// Tensor data stays a view of `bytes` until it is converted.
pub(crate) fn decode(bytes: bytes::Bytes) -> Result<Graph, OnnxError> {
    let model = proto::ModelProto::decode(bytes).map_err(|e| OnnxError::Decode {
        reason: e.to_string(),
    })?;
    let graph = model.graph.as_ref().ok_or_else(|| OnnxError::Decode {
        reason: "the file has no graph (is it an ONNX model?)".to_string(),
    })?;
    let mut opset = None;
    for import in &model.opset_import {
        match import.domain() {
            "" | "ai.onnx" => opset = Some(import.version()),
            _ => {}
        }
    }
    // IR version 3 and later must import the default domain; older files imply opset 1.
    let opset = opset.unwrap_or(1);

    let mut initializers = HashMap::new();
    for t in &graph.initializer {
        initializers.insert(
            t.name().to_string(),
            tensor(t, &format!("initializer `{}`", t.name()))?,
        );
    }
    if !graph.sparse_initializer.is_empty() {
        return Err(invalid("sparse initializers are not supported"));
    }
    let inputs = graph
        .input
        .iter()
        .filter(|v| !initializers.contains_key(v.name()))
        .map(declared)
        .collect::<Result<Vec<_>, _>>()?;
    let outputs = graph
        .output
        .iter()
        .map(declared)
        .collect::<Result<Vec<_>, _>>()?;

    let mut defined: HashSet<&str> = inputs.iter().map(|d| d.name.as_str()).collect();
    defined.extend(initializers.keys().map(String::as_str));
    let mut nodes = Vec::with_capacity(graph.node.len());
    for (index, n) in graph.node.iter().enumerate() {
        let label = node_label(index, n.op_type(), n.name());
        for input in n.input.iter().filter(|i| !i.is_empty()) {
            if !defined.contains(input.as_str()) {
                return Err(invalid(format!(
                    "{label} reads `{input}` before any node or graph input defines it (nodes must be in topological order)"
                )));
            }
        }
        let op = Op::parse(n, opset, &label)?;
        for output in n.output.iter().filter(|o| !o.is_empty()) {
            if !defined.insert(output.as_str()) {
                return Err(invalid(format!(
                    "{label} defines `{output}`, which is already defined"
                )));
            }
        }
        nodes.push(Node {
            label,
            op,
            inputs: n.input.clone(),
            outputs: n.output.clone(),
        });
    }
    for output in &outputs {
        if !defined.contains(output.name.as_str()) {
            return Err(invalid(format!(
                "graph output `{}` is computed by no node",
                output.name
            )));
        }
    }
    Ok(Graph {
        inputs,
        outputs,
        initializers,
        nodes,
    })
}

fn declared(v: &proto::ValueInfoProto) -> Result<Declared, OnnxError> {
    let name = v.name().to_string();
    let tensor_type = match v.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(proto::type_proto::Value::TensorType(t)) => t,
        _ => {
            return Err(invalid(format!(
                "graph input or output `{name}` is not a tensor"
            )))
        }
    };
    let data_type = tensor_type.elem_type();
    let elem = elem_of(data_type).ok_or_else(|| {
        invalid(format!("graph input or output `{name}` has element type {} ({data_type}), which is not supported", type_name(data_type)))
    })?;
    let dims = tensor_type.shape.as_ref().map(|s| {
        s.dim
            .iter()
            .map(|d| match &d.value {
                Some(proto::tensor_shape_proto::dimension::Value::DimValue(v)) if *v >= 0 => {
                    Dim::Fixed(*v as usize)
                }
                Some(proto::tensor_shape_proto::dimension::Value::DimParam(p)) => {
                    Dim::Named(p.clone())
                }
                _ => Dim::Unknown,
            })
            .collect()
    });
    Ok(Declared {
        name,
        elem,
        data_type,
        dims,
    })
}

/// Which of our two element types an ONNX data type maps to; `None` for strings, complex
/// numbers and the 8-bit and smaller floating formats.
pub(crate) fn elem_of(data_type: i32) -> Option<Elem> {
    match data_type {
        1 | 10 | 11 | 16 => Some(Elem::Float),
        2..=7 | 9 | 12 | 13 => Some(Elem::Int),
        _ => None,
    }
}

/// The ONNX name of a data type number, for messages.
pub(crate) fn type_name(data_type: i32) -> &'static str {
    match data_type {
        1 => "float",
        2 => "uint8",
        3 => "int8",
        4 => "uint16",
        5 => "int16",
        6 => "int32",
        7 => "int64",
        8 => "string",
        9 => "bool",
        10 => "float16",
        11 => "double",
        12 => "uint32",
        13 => "uint64",
        14 => "complex64",
        15 => "complex128",
        16 => "bfloat16",
        _ => "an 8-bit or smaller format",
    }
}

/// Decodes a tensor's data: `raw_data` (little-endian) or the typed field, which must hold
/// exactly as many elements as the dimensions say.
pub(crate) fn tensor(t: &proto::TensorProto, what: &str) -> Result<Val, OnnxError> {
    if t.data_location() == proto::tensor_proto::DataLocation::External
        || !t.external_data.is_empty()
    {
        return Err(invalid(format!(
            "{what} keeps its data in an external file; save the model with all tensors inside (onnx.save_model(model, path, save_as_external_data=False))"
        )));
    }
    if t.segment.is_some() {
        return Err(invalid(format!(
            "{what} is segmented, which is not supported"
        )));
    }
    let mut shape = Vec::with_capacity(t.dims.len());
    for &d in &t.dims {
        if d < 0 {
            return Err(invalid(format!("{what} has a negative dimension {d}")));
        }
        shape.push(
            usize::try_from(d)
                .map_err(|_| invalid(format!("{what}: dimension {d} is too large")))?,
        );
    }
    let n = count(&shape)
        .ok_or_else(|| invalid(format!("{what}: shape {shape:?} has too many elements")))?;
    let data_type = t.data_type();
    let size = match data_type {
        1 | 6 | 12 => 4,
        2 | 3 | 9 => 1,
        4 | 5 | 10 | 16 => 2,
        7 | 11 | 13 => 8,
        _ => {
            return Err(invalid(format!(
                "{what} has element type {} ({data_type}), which is not supported",
                type_name(data_type)
            )))
        }
    };
    let mismatch = |got: usize| {
        invalid(format!(
            "{what} has shape {shape:?} ({n} elements of {}) but holds {got}",
            type_name(data_type)
        ))
    };
    if let Some(raw) = t.raw_data.as_deref() {
        if raw.len() / size != n || raw.len() % size != 0 {
            return Err(mismatch(raw.len() / size));
        }
        let chunks = raw.chunks_exact(size);
        let ints = |f: fn(&[u8]) -> i64| {
            Val::I(Array::new(shape.clone(), chunks.clone().map(f).collect()))
        };
        return Ok(match data_type {
            1 => Val::F(Array::new(
                shape.clone(),
                chunks
                    .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                    .collect(),
            )),
            10 => Val::F(Array::new(
                shape.clone(),
                chunks
                    .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
                    .collect(),
            )),
            16 => Val::F(Array::new(
                shape.clone(),
                chunks
                    .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
                    .collect(),
            )),
            11 => Val::F(Array::new(
                shape.clone(),
                chunks
                    .map(|c| f64::from_le_bytes(c.try_into().unwrap()) as f32)
                    .collect(),
            )),
            2 | 9 => ints(|c| c[0] as i64),
            3 => ints(|c| c[0] as i8 as i64),
            4 => ints(|c| u16::from_le_bytes([c[0], c[1]]) as i64),
            5 => ints(|c| i16::from_le_bytes([c[0], c[1]]) as i64),
            6 => ints(|c| i32::from_le_bytes(c.try_into().unwrap()) as i64),
            12 => ints(|c| u32::from_le_bytes(c.try_into().unwrap()) as i64),
            7 => ints(|c| i64::from_le_bytes(c.try_into().unwrap())),
            _ => ints(|c| u64::from_le_bytes(c.try_into().unwrap()).min(i64::MAX as u64) as i64),
        });
    }
    let typed_len = match data_type {
        1 => t.float_data.len(),
        11 => t.double_data.len(),
        7 => t.int64_data.len(),
        12 | 13 => t.uint64_data.len(),
        _ => t.int32_data.len(),
    };
    if typed_len != n {
        return Err(mismatch(typed_len));
    }
    Ok(match data_type {
        1 => Val::F(Array::new(shape, t.float_data.clone())),
        11 => Val::F(Array::new(
            shape,
            t.double_data.iter().map(|&v| v as f32).collect(),
        )),
        // float16 and bfloat16 keep their bits in the low 16 bits of int32_data.
        10 => Val::F(Array::new(
            shape,
            t.int32_data
                .iter()
                .map(|&v| half::f16::from_bits(v as u16).to_f32())
                .collect(),
        )),
        16 => Val::F(Array::new(
            shape,
            t.int32_data
                .iter()
                .map(|&v| half::bf16::from_bits(v as u16).to_f32())
                .collect(),
        )),
        7 => Val::I(Array::new(shape, t.int64_data.clone())),
        12 | 13 => Val::I(Array::new(
            shape,
            t.uint64_data
                .iter()
                .map(|&v| v.min(i64::MAX as u64) as i64)
                .collect(),
        )),
        _ => Val::I(Array::new(
            shape,
            t.int32_data.iter().map(|&v| v as i64).collect(),
        )),
    })
}
