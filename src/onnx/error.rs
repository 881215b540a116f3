//! What can be wrong with an ONNX file or with the inputs given to its graph.

/// An ONNX-specific error, wrapped in [`crate::Error::Onnx`].
///
/// Nodes are named as `node 3 (LSTM "lstm_1")`: their position in the graph, op type and name.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OnnxError {
    /// The bytes are not an ONNX model (truncated, corrupt, or another format).
    #[error("not a readable ONNX model: {reason}")]
    #[non_exhaustive]
    Decode {
        /// What the protobuf decoder or the structure check found.
        reason: String,
    },
    /// The model is well-formed protobuf but breaks a rule of the ONNX format.
    #[error("invalid ONNX model: {reason}")]
    #[non_exhaustive]
    Invalid {
        /// The rule and where it is broken.
        reason: String,
    },
    /// A node whose operator this crate does not run.
    #[error("{node}: op type `{op_type}`{} is not supported; supported: {}", if domain.is_empty() { String::new() } else { format!(" of domain `{domain}`") }, crate::onnx::ops::SUPPORTED.join(", "))]
    #[non_exhaustive]
    UnsupportedOp {
        /// The node, as `node N (OpType "name")`.
        node: String,
        /// Its op type.
        op_type: String,
        /// Its domain (empty for the default ONNX domain).
        domain: String,
    },
    /// An attribute or a constant input with a value the operator does not allow.
    #[error("{node}: {reason}")]
    #[non_exhaustive]
    Node {
        /// The node, as `node N (OpType "name")`.
        node: String,
        /// What is wrong and what is expected.
        reason: String,
    },
    /// A graph input was not given.
    #[error("graph input `{name}` was not given; the graph's inputs are {}", names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", "))]
    #[non_exhaustive]
    MissingInput {
        /// The input's name.
        name: String,
        /// Every runtime input of the graph.
        names: Vec<String>,
    },
    /// A value was given under a name that is no input of the graph.
    #[error("`{name}` is not an input of the graph; its inputs are {}", names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", "))]
    #[non_exhaustive]
    UnknownInput {
        /// The name given.
        name: String,
        /// Every runtime input of the graph.
        names: Vec<String>,
    },
    /// A graph input whose element type or shape does not fit the graph's declaration.
    #[error("graph input `{name}`: {reason}")]
    #[non_exhaustive]
    InputMismatch {
        /// The input's name.
        name: String,
        /// What the graph declares and what was given.
        reason: String,
    },
}

/// How errors name a node: its index in the graph, op type and (when it has one) its name.
pub(crate) fn node_label(index: usize, op_type: &str, name: &str) -> String {
    if name.is_empty() {
        format!("node {index} ({op_type})")
    } else {
        format!("node {index} ({op_type} \"{name}\")")
    }
}
