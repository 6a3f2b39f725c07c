"""Graph rewrites before INT8 quantization, and what a quantized graph left in float.

onnxruntime's CPU kernels run a quantized file fast only where an op sits between a
DequantizeLinear and a QuantizeLinear that it can fuse into one integer kernel (Conv, Gemm,
MatMul, pooling). A BatchNormalization that does not follow a Conv (the uchile2020 VGGs put it
after the ReLU) cannot fold into the convolution, so the quantizer leaves it in float between
Q/DQ pairs: every such layer dequantizes, normalises in float and quantizes again, which made
vgg4_bn's INT8 file 0.5-0.7x the float one. Rewritten as a depthwise 1x1 convolution (the same
per-channel affine map), it quantizes like any convolution.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import onnx
from onnx import helper, numpy_helper

# Ops whose quantized form onnxruntime runs in integer (their QDQ "node units" fuse); anything else
# computed in float between Q/DQ pairs is named by float_ops. Shape-only ops and Q/DQ themselves
# move or convert data without arithmetic worth naming.
INTEGER_OPS = frozenset({"Conv", "ConvTranspose", "Gemm", "MatMul", "MaxPool", "AveragePool", "GlobalAveragePool"})
DATA_OPS = frozenset(
    {
        "QuantizeLinear",
        "DequantizeLinear",
        "Reshape",
        "Flatten",
        "Squeeze",
        "Unsqueeze",
        "Transpose",
        "Identity",
        "Shape",
        "Gather",
        "Slice",
        "Concat",
        "Cast",
        "Constant",
    }
)
_QUANTIZED_OPS = frozenset({"QLinearConv", "QLinearMatMul", "QGemm", "QLinearAdd", "QLinearMul"})


def _initializers(graph: onnx.GraphProto) -> dict[str, onnx.TensorProto]:
    return {t.name: t for t in graph.initializer}


def _ranks(model: onnx.ModelProto) -> dict[str, int]:
    """The rank of every tensor whose shape onnx's shape inference knows."""
    inferred = onnx.shape_inference.infer_shapes(model)
    infos = [*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output]
    return {v.name: len(v.type.tensor_type.shape.dim) for v in infos if v.type.tensor_type.HasField("shape")}


def _affine(node: onnx.NodeProto, init: dict[str, onnx.TensorProto]) -> tuple[np.ndarray, np.ndarray] | None:
    """A BatchNormalization in inference form as y = x * scale + shift per channel (float64), or
    None when its parameters are not constants or it is in training mode."""
    if len(node.output) != 1 or any(a.name == "training_mode" and a.i for a in node.attribute):
        return None
    if not all(name in init for name in node.input[1:5]):
        return None
    gamma, beta, mean, var = (numpy_helper.to_array(init[n]).astype(np.float64) for n in node.input[1:5])
    eps = next((a.f for a in node.attribute if a.name == "epsilon"), 1e-5)
    scale = gamma / np.sqrt(var + eps)
    return scale, beta - mean * scale


def _fold_into_gemm(
    gemm: onnx.NodeProto, scale: np.ndarray, shift: np.ndarray, init: dict[str, onnx.TensorProto]
) -> list[onnx.TensorProto] | None:
    """New weight and bias for a Gemm fed by the BatchNormalization's output as A (x @ W' + c,
    alpha = beta = 1, A not transposed): W' scales W's input rows, c gains shift @ W. None when the
    Gemm is not of that plain form."""
    attrs = {a.name: a for a in gemm.attribute}
    if attrs.get("transA") and attrs["transA"].i or any(k in attrs and attrs[k].f != 1.0 for k in ("alpha", "beta")):
        return None
    if gemm.input[1] not in init or (len(gemm.input) > 2 and gemm.input[2] not in init):
        return None
    w = numpy_helper.to_array(init[gemm.input[1]]).astype(np.float64)
    w_in_out = w.T if attrs.get("transB") and attrs["transB"].i else w  # (in, out)
    bias = numpy_helper.to_array(init[gemm.input[2]]).astype(np.float64) if len(gemm.input) > 2 else 0.0
    folded = w_in_out * scale[:, None]
    new_w = folded.T if attrs.get("transB") and attrs["transB"].i else folded
    new_b = np.broadcast_to(bias + shift @ w_in_out, (w_in_out.shape[1],))
    return [
        numpy_helper.from_array(new_w.astype(np.float32), gemm.input[1] + "_bn_folded"),
        numpy_helper.from_array(np.ascontiguousarray(new_b, dtype=np.float32), gemm.input[1] + "_bn_bias"),
    ]


def rewrite_batchnorms(model: onnx.ModelProto) -> tuple[onnx.ModelProto, int]:
    """A copy of `model` in which each BatchNormalization with constant parameters is gone: on
    (N, C, spatial...) as a depthwise 1x1 Conv (weight scale/sqrt(var+eps), bias B - mean*scale/
    sqrt(var+eps)); on (N, C) folded into the Gemm that alone consumes it. Returns the copy and
    how many were rewritten; the rest stay (and float_ops will name them)."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    init = _initializers(graph)
    ranks = _ranks(model)
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    outputs = {o.name for o in graph.output}
    nodes: list[onnx.NodeProto] = []
    rewritten = 0
    for node in graph.node:
        affine = _affine(node, init) if node.op_type == "BatchNormalization" else None
        rank = ranks.get(node.input[0], 0)
        if affine is None:
            nodes.append(node)
            continue
        scale, shift = affine
        x, y = node.input[0], node.output[0]
        users = consumers.get(y, [])
        if rank >= 3:
            weight = scale.reshape(-1, 1, *[1] * (rank - 2)).astype(np.float32)
            names = (f"{y}_dw_weight", f"{y}_dw_bias")
            graph.initializer.extend(
                [numpy_helper.from_array(weight, names[0]), numpy_helper.from_array(shift.astype(np.float32), names[1])]
            )
            conv = helper.make_node("Conv", [x, *names], [y], name=f"{node.name}_as_conv", group=len(scale))
            nodes.append(conv)
            rewritten += 1
            continue
        gemm = users[0] if len(users) == 1 and users[0].op_type == "Gemm" and y not in outputs else None
        folded = _fold_into_gemm(gemm, scale, shift, init) if gemm and gemm.input[0] == y else None
        if gemm is None or folded is None:
            nodes.append(node)
            continue
        graph.initializer.extend(folded)
        gemm.input[0] = x
        del gemm.input[1:]
        gemm.input.extend([t.name for t in folded])
        rewritten += 1
    del graph.node[:]
    graph.node.extend(nodes)
    used = {name for n in graph.node for name in n.input}
    kept = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    return model, rewritten


def float_ops(model: onnx.ModelProto) -> Counter[str]:
    """Op types a quantized graph computes in float, counted per type; empty when it stays integer.

    Walks the graph in order (ONNX keeps nodes topologically sorted) telling integer tensors
    (outputs of QuantizeLinear and of QLinear ops, and what shape ops and pooling make of them)
    from float ones. An op counts as float when it reads a float activation, unless it is one
    onnxruntime fuses with the DequantizeLinear in front of it (INTEGER_OPS, all activations
    dequantized: QDQ's node units). So a BatchNormalization between Q/DQ pairs counts, and so
    does a Gemm the quantizer left with float inputs."""
    graph = model.graph
    init = _initializers(graph)
    integer: set[str] = set()
    produced = {o: n.op_type for n in graph.node for o in n.output}
    left: Counter[str] = Counter()
    for node in graph.node:
        op = node.op_type
        activations = [i for i in node.input if i and i not in init]
        if op == "QuantizeLinear" or op in _QUANTIZED_OPS:
            integer.update(node.output)
            continue
        if op == "DequantizeLinear" or not activations:
            continue
        if activations[0] in integer and (op in DATA_OPS or op in INTEGER_OPS):
            integer.update(node.output)  # a reshape or a max-pool of integers stays integer
            continue
        if op in DATA_OPS or node.domain not in ("", "ai.onnx"):
            continue
        if op in INTEGER_OPS and all(produced.get(i) == "DequantizeLinear" for i in activations):
            continue
        left[op] += 1
    return left
