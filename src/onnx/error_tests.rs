//! What a user sees for each way an ONNX file or its inputs can be wrong: the error type,
//! and the facts its message names (the node, the value, what is expected).

use prost::Message;

use crate::onnx::proto::{
    attribute_proto::AttributeType, tensor_shape_proto::dimension, tensor_shape_proto::Dimension,
    type_proto, AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    TensorShapeProto, TypeProto, ValueInfoProto,
};
use crate::onnx::{IntTensor, OnnxError, OnnxModel, Values};
use crate::{Error, Tensor};

fn node(
    op: &str,
    name: &str,
    inputs: &[&str],
    outputs: &[&str],
    attrs: Vec<AttributeProto>,
) -> NodeProto {
    NodeProto {
        op_type: Some(op.into()),
        name: Some(name.into()),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        attribute: attrs,
        ..Default::default()
    }
}

fn int_attr(name: &str, v: i64) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Int as i32),
        i: Some(v),
        ..Default::default()
    }
}

fn str_attr(name: &str, v: &str) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::String as i32),
        s: Some(v.as_bytes().to_vec().into()),
        ..Default::default()
    }
}

fn tensor(name: &str, dims: &[i64], data: Vec<f32>) -> TensorProto {
    TensorProto {
        name: Some(name.into()),
        dims: dims.to_vec(),
        data_type: Some(1),
        float_data: data,
        ..Default::default()
    }
}

fn value(name: &str, elem: i32, dims: &[Option<i64>]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| Dimension {
            value: Some(match d {
                Some(v) => dimension::Value::DimValue(*v),
                None => dimension::Value::DimParam("batch".into()),
            }),
            ..Default::default()
        })
        .collect();
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(elem),
                shape: Some(TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A float output without a declared shape.
fn float_of_any_shape(name: &str) -> ValueInfoProto {
    let mut v = value(name, 1, &[]);
    v.r#type = Some(TypeProto {
        value: Some(type_proto::Value::TensorType(type_proto::Tensor {
            elem_type: Some(1),
            shape: None,
        })),
        ..Default::default()
    });
    v
}

fn bytes(
    nodes: Vec<NodeProto>,
    inputs: Vec<ValueInfoProto>,
    outputs: &[&str],
    inits: Vec<TensorProto>,
) -> Vec<u8> {
    ModelProto {
        ir_version: Some(8),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(14),
        }],
        graph: Some(GraphProto {
            node: nodes,
            input: inputs,
            output: outputs.iter().map(|o| float_of_any_shape(o)).collect(),
            initializer: inits,
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

/// X [T=3, batch, 2] -> LSTM (hidden 4) -> Y.
fn lstm(extra: Vec<AttributeProto>) -> Vec<u8> {
    lstm_with(extra, vec![0.1; 64])
}

/// [`lstm`] with `r` as R.
fn lstm_with(extra: Vec<AttributeProto>, r: Vec<f32>) -> Vec<u8> {
    let mut attrs = vec![int_attr("hidden_size", 4)];
    attrs.extend(extra);
    bytes(
        vec![node(
            "LSTM",
            "lstm_1",
            &["X", "W", "R", "", "lens"],
            &["Y"],
            attrs,
        )],
        vec![
            value("X", 1, &[Some(3), None, Some(2)]),
            value("lens", 6, &[None]),
        ],
        &["Y"],
        vec![
            tensor("W", &[1, 16, 2], vec![0.1; 32]),
            tensor("R", &[1, 16, 4], r),
        ],
    )
}

fn onnx_error(result: crate::Result<impl std::fmt::Debug>) -> (OnnxError, String) {
    match result {
        Err(Error::Onnx(e)) => {
            let message = e.to_string();
            (e, message)
        }
        other => panic!("expected an ONNX error, got {other:?}"),
    }
}

fn inputs(x_shape: [usize; 3], lens: Vec<i64>) -> Values {
    let n = x_shape.iter().product();
    Values::new()
        .with("X", Tensor::new(x_shape, vec![0.5; n]).unwrap())
        .with("lens", IntTensor::new([lens.len()], lens).unwrap())
}

#[test]
fn an_unsupported_operator_names_the_node_and_what_is_supported() {
    let file = bytes(
        vec![node("Conv", "conv1", &["X", "W"], &["Y"], vec![])],
        vec![value("X", 1, &[Some(1), Some(1), Some(4)])],
        &["Y"],
        vec![tensor("W", &[1, 1, 1], vec![1.0])],
    );
    let (e, message) = onnx_error(OnnxModel::from_bytes(&file));
    assert!(matches!(e, OnnxError::UnsupportedOp { .. }));
    for fact in ["node 0 (Conv \"conv1\")", "`Conv`", "LSTM", "Gather"] {
        assert!(message.contains(fact), "{message}");
    }
}

#[test]
fn an_operator_of_another_domain_names_the_domain() {
    let mut n = node("Attention", "", &["X"], &["Y"], vec![]);
    n.domain = Some("com.microsoft".into());
    let file = bytes(vec![n], vec![value("X", 1, &[Some(1)])], &["Y"], vec![]);
    let (_, message) = onnx_error(OnnxModel::from_bytes(&file));
    assert!(
        message.contains("node 0 (Attention)") && message.contains("`com.microsoft`"),
        "{message}"
    );
}

#[test]
fn a_value_read_before_it_is_defined_is_refused() {
    let file = bytes(
        vec![
            node("Relu", "a", &["T"], &["Y"], vec![]),
            node("Relu", "b", &["X"], &["T"], vec![]),
        ],
        vec![value("X", 1, &[Some(2)])],
        &["Y"],
        vec![],
    );
    let (e, message) = onnx_error(OnnxModel::from_bytes(&file));
    assert!(matches!(e, OnnxError::Invalid { .. }));
    assert!(
        message.contains("node 0 (Relu \"a\") reads `T`") && message.contains("topological"),
        "{message}"
    );
}

#[test]
fn external_and_short_tensor_data_are_refused_with_the_fix() {
    let mut external = tensor("W", &[1, 16, 2], vec![]);
    external.data_location = Some(1);
    let file = bytes(
        vec![node("Identity", "", &["W"], &["Y"], vec![])],
        vec![],
        &["Y"],
        vec![external],
    );
    let (_, message) = onnx_error(OnnxModel::from_bytes(&file));
    assert!(
        message.contains("initializer `W`") && message.contains("save_as_external_data=False"),
        "{message}"
    );

    let short = tensor("W", &[1, 16, 2], vec![0.0; 31]);
    let file = bytes(
        vec![node("Identity", "", &["W"], &["Y"], vec![])],
        vec![],
        &["Y"],
        vec![short],
    );
    let (_, message) = onnx_error(OnnxModel::from_bytes(&file));
    assert!(
        message.contains("shape [1, 16, 2] (32 elements of float) but holds 31"),
        "{message}"
    );
}

#[test]
fn recurrent_attributes_are_checked_at_load() {
    let (_, message) = onnx_error(OnnxModel::from_bytes(&lstm(vec![str_attr(
        "direction",
        "sideways",
    )])));
    assert!(
        message.contains("node 0 (LSTM \"lstm_1\")") && message.contains("`sideways`"),
        "{message}"
    );
    let acts = AttributeProto {
        name: Some("activations".into()),
        r#type: Some(AttributeType::Strings as i32),
        strings: vec![b"Sigmoid".to_vec().into(), b"Tanh".to_vec().into()],
        ..Default::default()
    };
    let (_, message) = onnx_error(OnnxModel::from_bytes(&lstm(vec![acts])));
    assert!(
        message.contains("lists 2 functions") && message.contains("needs 3"),
        "{message}"
    );
}

#[test]
fn inputs_are_checked_by_name_type_and_declared_shape_before_running() {
    let model = OnnxModel::from_bytes(&lstm(vec![])).unwrap();
    let (e, message) =
        onnx_error(model.forward(&Values::new().with("X", Tensor::zeros([3, 1, 2]).unwrap())));
    assert!(
        matches!(e, OnnxError::MissingInput { .. }) && message.contains("`lens`"),
        "{message}"
    );

    let extra = inputs([3, 1, 2], vec![3]).with("x", Tensor::zeros([1]).unwrap());
    let (e, message) = onnx_error(model.forward(&extra));
    assert!(
        matches!(e, OnnxError::UnknownInput { .. }) && message.contains("`x` is not an input"),
        "{message}"
    );

    let wrong_type = inputs([3, 1, 2], vec![3]).with("lens", Tensor::new([1], vec![3.0]).unwrap());
    let (_, message) = onnx_error(model.forward(&wrong_type));
    assert!(
        message.contains("`lens`") && message.contains("int32"),
        "{message}"
    );

    let (_, message) = onnx_error(model.forward(&inputs([3, 1, 5], vec![3])));
    assert!(
        message.contains("dimension 2 must be 2") && message.contains("[3, batch, 2]"),
        "{message}"
    );

    // The named dimension is free: any batch runs.
    let out = model.forward(&inputs([3, 2, 2], vec![3, 1])).unwrap();
    assert_eq!(out.get("Y").unwrap().shape(), &[3, 1, 2, 4]);
}

#[test]
fn a_length_past_the_sequence_is_an_error_in_the_dry_run() {
    let model = OnnxModel::from_bytes(&lstm(vec![])).unwrap();
    let (_, message) = onnx_error(model.forward(&inputs([3, 2, 2], vec![3, 4])));
    assert!(
        message.contains("sequence_lens[1] = 4") && message.contains("0..=3"),
        "{message}"
    );
}

#[test]
fn the_dry_run_reports_every_output_shape_and_each_nodes_mistake() {
    let model = OnnxModel::from_bytes(&lstm(vec![])).unwrap();
    let shapes = model.check(&[("X", &[3, 5, 2]), ("lens", &[5])]).unwrap();
    assert_eq!(shapes, vec![("Y".to_string(), vec![3, 1, 5, 4])]);
    let (_, message) = onnx_error(model.check(&[("X", &[3, 5, 2]), ("lens", &[4])]));
    assert!(
        message.contains("sequence_lens has shape [4]") && message.contains("[5]"),
        "{message}"
    );
}

#[test]
fn a_shape_computed_from_input_data_is_refused() {
    let file = bytes(
        vec![
            node("Cast", "", &["S"], &["Si"], vec![int_attr("to", 7)]),
            node("Reshape", "reshape", &["X", "Si"], &["Y"], vec![]),
        ],
        vec![value("X", 1, &[Some(4)]), value("S", 1, &[Some(2)])],
        &["Y"],
        vec![],
    );
    let model = OnnxModel::from_bytes(&file).unwrap();
    let values = Values::new()
        .with("X", Tensor::zeros([4]).unwrap())
        .with("S", Tensor::new([2], vec![2.0, 2.0]).unwrap());
    let (_, message) = onnx_error(model.forward(&values));
    assert!(
        message.contains("node 1 (Reshape \"reshape\")")
            && message.contains("depends on the data of a graph input"),
        "{message}"
    );
}

#[test]
fn a_weight_beyond_f16_names_the_initializer_before_any_forward() {
    let mut r = vec![0.1; 64];
    r[5] = 70000.0;
    let model = OnnxModel::from_bytes(&lstm_with(vec![], r)).unwrap();
    let err = model.with_precision(crate::Precision::F16).unwrap_err();
    match &err {
        Error::WeightRange { name, index, .. } => assert_eq!((name.as_str(), *index), ("R", 5)),
        other => panic!("expected WeightRange, got {other:?}"),
    }
    let rounded = model.with_precision(crate::Precision::F32).unwrap();
    assert_eq!(rounded.precision(), crate::Precision::F32);
    let f16 = OnnxModel::from_bytes(&lstm(vec![]))
        .unwrap()
        .with_precision(crate::Precision::F16)
        .unwrap();
    assert_eq!(f16.precision(), crate::Precision::F16);
}
