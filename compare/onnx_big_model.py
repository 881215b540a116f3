#!/usr/bin/env python3
"""Writes a ~105 MB ONNX model (a bidirectional LSTM, hidden 1024, then a GRU, hidden 1024)
and its inputs, for measuring OnnxModel::load's time and peak memory:

    /path/to/venv/bin/python compare/onnx_big_model.py /tmp/big
    /usr/bin/time -v target/release/examples/infer --onnx /tmp/big.onnx \
        --input /tmp/big.io.safetensors --output /tmp/big.out.safetensors --device cpu

Needs onnx, numpy and safetensors (tests/fixtures/onnx/requirements.txt)."""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import save_file

out = sys.argv[1] if len(sys.argv) > 1 else "/tmp/big"
rng = np.random.default_rng(0)
I, H, T, B = 1024, 1024, 4, 1


def init(name, shape):
    return numpy_helper.from_array((rng.standard_normal(shape, dtype=np.float32) * 0.03), name)


inits = [
    init("W1", (2, 4 * H, I)), init("R1", (2, 4 * H, H)), init("B1", (2, 8 * H)),
    init("W2", (1, 3 * H, 2 * H)), init("R2", (1, 3 * H, H)), init("B2", (1, 6 * H)),
    numpy_helper.from_array(np.array([T, B, 2 * H], dtype=np.int64), "shape2"),
]
nodes = [
    helper.make_node("LSTM", ["X", "W1", "R1", "B1"], ["Y1"], hidden_size=H, direction="bidirectional"),
    helper.make_node("Transpose", ["Y1"], ["Y1t"], perm=[0, 2, 1, 3]),
    helper.make_node("Reshape", ["Y1t", "shape2"], ["X2"]),
    helper.make_node("GRU", ["X2", "W2", "R2", "B2"], ["Y", "Y_h"], hidden_size=H, linear_before_reset=1),
]
graph = helper.make_graph(
    nodes, "big",
    [helper.make_tensor_value_info("X", TensorProto.FLOAT, [T, B, I])],
    [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None),
     helper.make_tensor_value_info("Y_h", TensorProto.FLOAT, None)],
    inits,
)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
onnx.save_model(model, out + ".onnx")
save_file({"X": rng.standard_normal((T, B, I), dtype=np.float32)}, out + ".io.safetensors")
print(out + ".onnx")
