"""Graph rewrites before INT8 quantization, and what a quantized graph left in float.

onnxruntime's CPU kernels run a quantized file fast only where an op sits between a
DequantizeLinear and a QuantizeLinear that it can fuse into one integer kernel (Conv, Gemm,
MatMul, pooling). A BatchNormalization that does not follow a Conv (the uchile2020 VGGs put it
after the ReLU) cannot fold into the convolution, so the quantizer leaves it in float between
Q/DQ pairs: every such layer dequantizes, normalises in float and quantizes again, which made
vgg4_bn's INT8 file 0.54-0.68x the float one on an Intel Xeon with AMX (0.95-1.3x on an AMD EPYC
with VNNI). Rewritten as a depthwise 1x1 convolution (the same
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


def _names_used(graph: onnx.GraphProto) -> set[str]:
    """Every tensor name a node reads, in this graph or a subgraph of it (If, Loop bodies read the
    outer graph's initializers by name), and the graph's outputs."""
    used = {o.name for o in graph.output}
    for node in graph.node:
        used.update(node.input)
        for attr in node.attribute:
            for sub in [attr.g] if attr.HasField("g") else list(attr.graphs):
                used |= _names_used(sub)
    return used


def rewrite_batchnorms(model: onnx.ModelProto) -> tuple[onnx.ModelProto, int]:
    """A copy of `model` in which each BatchNormalization with constant parameters is a depthwise
    1x1 Conv: weight scale/sqrt(var+eps), bias B - mean*scale/sqrt(var+eps), one group per channel.
    On (N, C) it is unsqueezed to (N, C, 1) around the Conv. (Folding it into the Gemm after it
    instead is exact in float but ruins the INT8 file: a unit that ReLU leaves dead has a tiny
    variance, so its column of the folded weight is ~300x the others and takes the whole per-channel
    int8 range; measured on a trained vgg4_bn, test accuracy 51% -> 10%.) Returns the copy and how
    many were rewritten; the rest stay (and float_ops names them)."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    init = _initializers(graph)
    ranks = _ranks(model)
    nodes: list[onnx.NodeProto] = []
    rewritten = 0
    for node in graph.node:
        affine = _affine(node, init) if node.op_type == "BatchNormalization" else None
        rank = ranks.get(node.input[0], 0)
        if affine is None or rank < 2:
            nodes.append(node)
            continue
        scale, shift = affine
        x, y = node.input[0], node.output[0]
        weight, bias, axes = f"{y}_dw_weight", f"{y}_dw_bias", f"{y}_dw_axes"
        graph.initializer.extend(
            [
                numpy_helper.from_array(scale.reshape(-1, 1, *[1] * max(rank - 2, 1)).astype(np.float32), weight),
                numpy_helper.from_array(shift.astype(np.float32), bias),
            ]
        )
        group, name = len(scale), f"{y}_as_conv"  # named after its output: unique where node names may not be
        if rank >= 3:
            nodes.append(helper.make_node("Conv", [x, weight, bias], [y], name=name, group=group))
        else:  # Conv needs a spatial axis
            graph.initializer.append(numpy_helper.from_array(np.array([2], dtype=np.int64), axes))
            nodes += [
                helper.make_node("Unsqueeze", [x, axes], [f"{y}_3d"], name=f"{y}_unsqueeze"),
                helper.make_node("Conv", [f"{y}_3d", weight, bias], [f"{y}_conv"], name=name, group=group),
                helper.make_node("Squeeze", [f"{y}_conv", axes], [y], name=f"{y}_squeeze"),
            ]
        rewritten += 1
    del graph.node[:]
    graph.node.extend(nodes)
    used = _names_used(graph)
    kept = [t for t in graph.initializer if t.name in used]  # the BatchNormalizations' own parameters go
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
