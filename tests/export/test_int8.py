"""INT8: the BatchNormalization rewrite, the quantized file it makes, and what verify says stayed
float. Real files: vgg4_bn exported by torch's exporter, quantized by onnxruntime, run by it."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

from harness.architectures import create_model
from harness.errors import HarnessError
from harness.export.int8_graph import float_ops, rewrite_batchnorms
from harness.export.onnx import export_onnx
from harness.export.quantize import check_rewrite, cpu_flags, quantize_int8, reduce_range
from harness.runtimes.documents import Preprocessing
from harness.views.tables import stayed_float

PREP: Preprocessing = {"scale": 1 / 255, "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}


def _ops(model: onnx.ModelProto) -> Counter[str]:
    return Counter(n.op_type for n in model.graph.node)


def _run(model: onnx.ModelProto | Path, x: np.ndarray) -> np.ndarray:
    source = model.SerializeToString() if isinstance(model, onnx.ModelProto) else str(model)
    session = ort.InferenceSession(source, providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {"input": x})[0])


@pytest.fixture(scope="module")
def vgg4(tmp_path_factory) -> Path:
    """vgg4_bn (BatchNorm after each ReLU, BatchNorm1d in the classifier) with BatchNorm statistics
    far from the identity, so a wrong rewrite shows in the outputs."""
    torch.manual_seed(0)
    model = create_model("vgg4_bn", in_shape=(3, 32, 32), num_outputs=10).eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm1d | torch.nn.BatchNorm2d):
                assert m.running_mean is not None and m.running_var is not None  # track_running_stats
                m.running_mean.uniform_(-1, 1)
                m.running_var.uniform_(0.2, 3)
                m.weight.uniform_(-1.5, 1.5)  # negative scales too
                m.bias.uniform_(-0.5, 0.5)
    path = tmp_path_factory.mktemp("int8") / "vgg4_bn.onnx"
    export_onnx(model=model, example=torch.randn(2, 3, 32, 32), out_path=path, metadata={})
    return path


def _images(n: int) -> np.ndarray:
    return np.random.default_rng(1).integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8)


def test_rewrite_replaces_every_batchnorm_and_keeps_float_outputs(vgg4):
    before = onnx.load(str(vgg4))
    assert _ops(before)["BatchNormalization"] == 5  # four after ReLU on (N, C, H, W), one on (N, C)
    after, n = rewrite_batchnorms(before)
    assert n == 5 and "BatchNormalization" not in _ops(after)
    onnx.checker.check_model(after)
    x = np.random.default_rng(0).standard_normal((16, 3, 32, 32), dtype=np.float32)
    want, got = _run(before, x), _run(after, x)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert check_rewrite(before, after, x) <= 1e-5


def test_check_rewrite_refuses_a_rewrite_that_changes_outputs(vgg4):
    before = onnx.load(str(vgg4))
    after, _ = rewrite_batchnorms(before)
    bias = next(t for t in after.graph.initializer if t.name.endswith("_dw_bias"))
    bias.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(bias) + 1.0, bias.name))
    x = np.random.default_rng(0).standard_normal((4, 3, 32, 32), dtype=np.float32)
    with pytest.raises(HarnessError, match="changed the float model's outputs"):
        check_rewrite(before, after, x)


def test_quantized_vgg4_bn_has_no_float_batchnorm(vgg4, tmp_path):
    out = quantize_int8(vgg4, tmp_path / "vgg4_bn.int8.onnx", train_images=_images(64), preprocessing=PREP, metadata={})
    proto = onnx.load(str(out))
    assert "BatchNormalization" not in _ops(proto)
    assert float_ops(proto) == Counter()  # integer throughout
    assert {p.key: p.value for p in proto.metadata_props}["quantize"] == "int8"
    # unsigned activations, signed weights (onnxruntime's x86 choice)
    init = {t.name: t for t in proto.graph.initializer}
    quantized = [n.input[2] for n in proto.graph.node if n.op_type == "QuantizeLinear"]
    assert {init[z].data_type for z in quantized} == {TensorProto.UINT8}
    constants = [init[n.input[0]] for n in proto.graph.node if n.op_type == "DequantizeLinear" and n.input[0] in init]
    assert {t.data_type for t in constants} == {TensorProto.INT8, TensorProto.INT32}  # weights, biases
    x = (_images(8).astype(np.float32) / 255 - 0.5) / 0.25
    assert _run(proto, x).shape == (8, 10)


def test_float_ops_names_the_batchnorm_a_plain_quantization_leaves(vgg4, tmp_path):
    """Quantized without the rewrite (as before issue 27), the BatchNormalizations stay float."""
    x = np.random.default_rng(0).standard_normal((32, 3, 32, 32), dtype=np.float32)

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter([{"input": x}])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.batches, None)

    out = tmp_path / "plain.int8.onnx"
    logging.getLogger().setLevel(logging.ERROR)
    quantize_static(str(vgg4), str(out), Reader(), quant_format=QuantFormat.QDQ, activation_type=QuantType.QUInt8)
    left = float_ops(onnx.load(str(out)))
    assert left["BatchNormalization"] == 5
    assert stayed_float(left).startswith("BatchNormalization x5")


def test_float_ops_counts_an_op_with_float_inputs():
    """A Gemm fed straight by the float graph input (the quantizer left it alone) and a Sigmoid
    between Q/DQ pairs both compute in float; a Conv between DQ and Q does not."""
    f = TensorProto.FLOAT
    inits = [
        numpy_helper.from_array(np.array(0.1, dtype=np.float32), "s"),
        numpy_helper.from_array(np.array(0, dtype=np.uint8), "z"),
        numpy_helper.from_array(np.ones((4, 4), dtype=np.float32), "w"),
        numpy_helper.from_array(np.ones((2, 4, 1, 1), dtype=np.float32), "cw"),
    ]
    nodes = [
        helper.make_node("Gemm", ["input", "w"], ["g"]),
        helper.make_node("Reshape", ["g", "shape"], ["g4"]),
        helper.make_node("QuantizeLinear", ["g4", "s", "z"], ["q"]),
        helper.make_node("DequantizeLinear", ["q", "s", "z"], ["dq"]),
        helper.make_node("Conv", ["dq", "cw"], ["c"]),
        helper.make_node("QuantizeLinear", ["c", "s", "z"], ["q2"]),
        helper.make_node("DequantizeLinear", ["q2", "s", "z"], ["dq2"]),
        helper.make_node("Sigmoid", ["dq2"], ["output"]),
    ]
    inits.append(numpy_helper.from_array(np.array([-1, 4, 1, 1], dtype=np.int64), "shape"))
    graph = helper.make_graph(
        nodes,
        "mixed",
        [helper.make_tensor_value_info("input", f, ["N", 4])],
        [helper.make_tensor_value_info("output", f, None)],
        initializer=inits,
    )
    left = float_ops(helper.make_model(graph))
    assert left == Counter({"Gemm": 1, "Sigmoid": 1})
    assert stayed_float(left) == "Gemm x1, Sigmoid x1 stayed float"
    assert stayed_float({}) == ""


def test_reduce_range_only_without_an_int8_dot_product(tmp_path):
    def flags(line: str) -> set[str]:
        (tmp_path / "cpuinfo").write_text(f"processor\t: 0\nflags\t\t: {line}\n")
        return cpu_flags(tmp_path / "cpuinfo")

    assert not reduce_range(flags("sse4_2 avx2 avx512f avx512_vnni"))
    assert not reduce_range(flags("avx2 avx_vnni"))
    assert not reduce_range(flags("avx512f amx_tile amx_int8"))
    assert reduce_range(flags("sse4_2 avx2 avx512f avx512bw"))
    assert not reduce_range(cpu_flags(tmp_path / "absent"))  # no /proc/cpuinfo: the full range


def test_rewrite_of_nameless_batchnorms_on_a_sequence():
    """Two BatchNormalizations without node names on (N, C, L): each becomes a Conv of its own
    name (onnxruntime refuses a graph with two nodes of one name) and the outputs stay equal."""
    rng = np.random.default_rng(0)
    inits = []
    for k in ("a", "b"):
        for part, values in (("g", rng.uniform(-2, 2, 4)), ("b", rng.normal(size=4)), ("m", rng.normal(size=4))):
            inits.append(numpy_helper.from_array(values.astype(np.float32), f"{k}{part}"))
        inits.append(numpy_helper.from_array(rng.uniform(0.1, 3, 4).astype(np.float32), f"{k}v"))
    nodes = [
        helper.make_node("BatchNormalization", ["input", "ag", "ab", "am", "av"], ["h"]),
        helper.make_node("BatchNormalization", ["h", "bg", "bb", "bm", "bv"], ["output"], epsilon=1e-3),
    ]
    graph = helper.make_graph(
        nodes,
        "seq",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 4, 7])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 4, 7])],
        initializer=inits,
    )
    before = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    before.ir_version = 8
    after, n = rewrite_batchnorms(before)
    assert n == 2 and _ops(after) == Counter({"Conv": 2}) and len(after.graph.initializer) == 4
    assert len({node.name for node in after.graph.node}) == 2
    x = rng.standard_normal((3, 4, 7)).astype(np.float32)
    np.testing.assert_allclose(_run(after, x), _run(before, x), rtol=1e-5, atol=1e-5)
