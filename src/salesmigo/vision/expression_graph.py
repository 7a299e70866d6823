"""face-api.js's FaceExpressionNet as an ONNX graph, built from its TF.js weights, run by
ONNX Runtime.

Why a graph: the network is ~45 M multiply-adds of small depthwise-separable convolutions.
Ported layer by layer to numpy it took 10-15 ms a face on one core; the same layers as one
ONNX Runtime graph take about 1.2 ms, the same logits to within 3e-6. No model file is
shipped or cached: the graph is assembled in memory from the pinned npm weights at load.

The layers, as face-api.js defines them (FaceFeatureExtractor + a fully connected layer):

- input: (N, 3, 112, 112), RGB, normalised (see vision.expression.preprocess);
- four dense blocks (32, 64, 128, 256 channels). A block's first convolution has stride 2
  (a plain 3x3 convolution in the first block, a depthwise-separable one in the others);
  the next three are depthwise-separable with stride 1 and each takes the ReLU of the sum
  of all earlier outputs of its block; the block returns the ReLU of the sum of all four.
  Convolutions pad like TensorFlow's "same": with stride 2 on an even size the one padding
  row and column go after the image (bottom, right), none before;
- 7 x 7 average pooling over the 7 x 7 map (one mean per channel), a fully connected layer
  to 7 logits.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import onnx
from numpy.typing import NDArray
from onnx import TensorProto, helper, numpy_helper

INPUT_SIZE = 112
BLOCKS = ("dense0", "dense1", "dense2", "dense3")
CHANNELS = (32, 64, 128, 256)
CLASSES = 7
INPUT_NAME = "image"
OUTPUT_NAME = "logits"
# ONNX Runtime 1.20+ reads opset 17 and IR 8 (the oldest the pinned runtime must accept).
_OPSET = 17
_IR_VERSION = 8

Float32Array = NDArray[np.float32]


def expected_shapes() -> dict[str, tuple[int, ...]]:
    """Every tensor the network needs, by its TF.js name, with its TF.js shape."""
    shapes: dict[str, tuple[int, ...]] = {}
    channels_in = 3
    for block, channels in zip(BLOCKS, CHANNELS, strict=True):
        for index in range(4):
            prefix = f"{block}/conv{index}"
            source = channels_in if index == 0 else channels
            if prefix == "dense0/conv0":
                shapes[f"{prefix}/filters"] = (3, 3, 3, channels)
            else:
                shapes[f"{prefix}/depthwise_filter"] = (3, 3, source, 1)
                shapes[f"{prefix}/pointwise_filter"] = (1, 1, source, channels)
            shapes[f"{prefix}/bias"] = (channels,)
        channels_in = channels
    shapes["fc/weights"] = (CHANNELS[-1], CLASSES)
    shapes["fc/bias"] = (CLASSES,)
    return shapes


class _GraphBuilder:
    """Nodes and initialisers of the graph under construction, named as they are added."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []

    def constant(self, name: str, value: NDArray[np.float32]) -> str:
        array = np.ascontiguousarray(value, dtype=np.float32)
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def node(self, op: str, inputs: list[str], output: str, **attributes: Any) -> str:
        self.nodes.append(helper.make_node(op, inputs, [output], **attributes))
        return output

    def conv3x3(
        self,
        x: str,
        filters: Float32Array,
        bias: Float32Array,
        stride: int,
        name: str,
        groups: int = 1,
    ) -> str:
        """A 3x3 convolution; ``filters`` in ONNX order (out, in / groups, 3, 3)."""
        # TensorFlow "same": stride 1 pads one on every side; stride 2 on an even size pads
        # only after (ONNX pads are [top, left, bottom, right]).
        pads = [1, 1, 1, 1] if stride == 1 else [0, 0, 1, 1]
        return self.node(
            "Conv",
            [x, self.constant(f"{name}/w", filters), self.constant(f"{name}/b", bias)],
            name,
            kernel_shape=[3, 3],
            strides=[stride, stride],
            pads=pads,
            group=groups,
        )

    def separable(
        self, x: str, weights: Mapping[str, Float32Array], prefix: str, stride: int
    ) -> str:
        """Depthwise 3x3 (no bias), then pointwise 1x1 with the layer's bias."""
        depthwise = weights[f"{prefix}/depthwise_filter"][:, :, :, 0]  # (3, 3, C)
        channels = depthwise.shape[2]
        mixed = self.conv3x3(
            x,
            depthwise.transpose(2, 0, 1)[:, np.newaxis],  # (C, 1, 3, 3): one group a channel
            np.zeros(channels, np.float32),
            stride,
            f"{prefix}/depthwise",
            groups=channels,
        )
        pointwise = weights[f"{prefix}/pointwise_filter"][0, 0]  # (C_in, C_out)
        return self.node(
            "Conv",
            [
                mixed,
                self.constant(f"{prefix}/pointwise/w", pointwise.T[:, :, np.newaxis, np.newaxis]),
                self.constant(f"{prefix}/pointwise/b", weights[f"{prefix}/bias"]),
            ],
            f"{prefix}/pointwise",
            kernel_shape=[1, 1],
        )

    def dense_block(self, x: str, weights: Mapping[str, Float32Array], block: str) -> str:
        if block == "dense0":
            filters = weights["dense0/conv0/filters"].transpose(3, 2, 0, 1)  # HWIO -> OIHW
            first = self.conv3x3(x, filters, weights["dense0/conv0/bias"], 2, "dense0/conv0")
        else:
            first = self.separable(x, weights, f"{block}/conv0", 2)
        total = self.node("Relu", [first], f"{block}/out1")
        for index in (1, 2, 3):
            source = total if index == 1 else self.node("Relu", [total], f"{block}/in{index}")
            out = self.separable(source, weights, f"{block}/conv{index}", 1)
            total = self.node("Add", [total, out], f"{block}/sum{index}")
        return self.node("Relu", [total], f"{block}/out")


def expression_model(weights: Mapping[str, Float32Array]) -> onnx.ModelProto:
    """The network as an ONNX model; ``weights`` by TF.js name (checked beforehand)."""
    graph = _GraphBuilder()
    x = INPUT_NAME
    for block in BLOCKS:
        x = graph.dense_block(x, weights, block)
    pooled = graph.node("GlobalAveragePool", [x], "pooled")
    features = graph.node("Flatten", [pooled], "features")
    graph.node(
        "Gemm",
        [
            features,
            graph.constant("fc/w", weights["fc/weights"]),
            graph.constant("fc/b", weights["fc/bias"]),
        ],
        OUTPUT_NAME,
    )
    model = helper.make_model(
        helper.make_graph(
            graph.nodes,
            "face_expression_net",
            [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["N", 3, 112, 112])],
            [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["N", CLASSES])],
            graph.initializers,
        ),
        opset_imports=[helper.make_opsetid("", _OPSET)],
        producer_name="salesmigo",
    )
    model.ir_version = _IR_VERSION
    onnx.checker.check_model(model)
    return model
