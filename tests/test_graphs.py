"""Models are judged by the graphs their forward traces to: any architecture built from torch
operations computes for the grader what it computed for the student, and a hostile graph is refused
from its description alone, fast, before anything is evaluated."""
import json
import time

import numpy as np
import onnx
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import TensorProto, helper, numpy_helper

from i2dl_course.judges.evidence import Evidence, Failed
from i2dl_course.judges.graphs import parse_graph
from i2dl_course.judges.models import accuracy, expect_same_outputs, load_graph
from i2dl_utils.probes import Probe
from test_judges import npy

X = torch.rand(64, 1, 28, 28)


def model_evidence(module: nn.Module, x=X) -> Evidence:
    probe = Probe("t")
    probe.model("m", module, x)
    return Evidence({"record.json": json.dumps({"errors": probe.errors}).encode(),
                     **{f"{k}.npy": npy(v) for k, v in probe.arrays.items()},
                     **{f"{k}.onnx": g for k, g in probe.graphs.items()}}, "t")


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp, self.block, self.out = nn.Linear(784, 64), nn.Linear(64, 64), nn.Linear(64, 20)

    def forward(self, x):
        h = F.relu(self.inp(x.reshape(len(x), -1)))
        return self.out(h + F.relu(self.block(h)))


def conv():
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(16 * 7 * 7, 20))


def unflatten_and_upsample():
    """Layers the exporter writes as shape arithmetic (Shape, Mod, Slice, Concat) and Resize."""
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 8 * 7 * 7), nn.Unflatten(1, (8, 7, 7)),
                         nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1), nn.Upsample(scale_factor=2), nn.ReLU(),
                         nn.Flatten(), nn.Linear(4 * 28 * 28, 20))


class Einsum(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(20, 784) / 28)

    def forward(self, x):
        return torch.einsum("ni,oi->no", x.flatten(1), self.weight)


@pytest.mark.parametrize("make", [Residual, conv, unflatten_and_upsample, Einsum],
                         ids=["residual", "conv", "unflatten", "einsum"])
def test_any_architecture_computes_for_the_grader_what_it_computed_for_the_student(make):
    module = make().eval()
    ev = model_evidence(module)
    graph = load_graph(ev, "m", "Encoder(hparams)", X.numpy())
    out = expect_same_outputs(ev, graph, "m", X.numpy())
    assert out.shape == (64, 20) and torch.allclose(out, module(X).detach(), atol=1e-5)
    assert graph.parameters >= sum(p.numel() for p in module.parameters())
    assert graph.code == 20 and graph.batch == 32


def test_a_forward_that_depends_on_the_batch_differs_from_its_graph():
    """Images twice over: the batch mean over all 64 equals each traced batch of 32's, so only the
    outputs on the first 8 images alone show that forward uses statistics of the batch."""
    class BatchMean(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(784, 20)

        def forward(self, x):
            x = x.flatten(1)
            return self.fc(x - x.mean(dim=0))
    twice = torch.cat([X[:32], X[:32]])
    ev = model_evidence(BatchMean().eval(), twice)
    graph = load_graph(ev, "m", "Encoder(hparams)", twice.numpy())
    with pytest.raises(Failed, match="gives other outputs"):
        expect_same_outputs(ev, graph, "m", twice.numpy())


def test_the_code_is_the_narrowest_point_every_path_passes():
    class Skip(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder, self.decoder = nn.Linear(784, 8), nn.Linear(8, 784)

        def forward(self, x):
            x = x.flatten(1)
            return self.decoder(self.encoder(x)) + 0.1 * x
    plain = nn.Sequential(nn.Flatten(), nn.Linear(784, 100), nn.ReLU(), nn.Linear(100, 8), nn.Linear(8, 784))
    assert load_graph(model_evidence(plain), "m", "ae", X.numpy()).code == 8
    assert load_graph(model_evidence(Skip()), "m", "ae", X.numpy()).code == 784


def test_an_unregistered_layer_is_named_in_the_exercise_words():
    class Listed(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = [nn.Linear(784, 20)]

        def forward(self, x):
            return self.layers[0](x.flatten(1))
    with pytest.raises(Failed, match="not registered in the model"):
        load_graph(model_evidence(Listed()), "m", "Encoder(hparams)", X.numpy())


def graph_bytes(nodes, initializers=(), output_shape=(32, 10), opset=17, domain=None) -> bytes:
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [32, 1, 28, 28])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(output_shape))],
                              initializer=list(initializers))
    opsets = [helper.make_opsetid("", opset)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    return helper.make_model(graph, opset_imports=opsets).SerializeToString()


def flat():
    return [helper.make_node("Flatten", ["x"], ["f"])]


def weight(name, shape):
    return numpy_helper.from_array(np.full(shape, 0.01, np.float32), name)


def big_linear_chain() -> bytes:
    """One 784x784 Linear called 197 times: within the parameter limit, far over the operations per image."""
    chain = flat() + [helper.make_node("MatMul", ["f" if i == 0 else f"h{i}", "W"], [f"h{i + 1}"]) for i in range(197)] \
        + [helper.make_node("Identity", ["h197"], ["y"])]
    return graph_bytes(chain, [weight("W", (784, 784))], (32, 784))


def wide_output(repeats: int = 128) -> bytes:
    """No weights at all; the input tiled to 784 x `repeats` outputs per image (128: 100,352)."""
    wide = flat() + [helper.make_node("Tile", ["f", "r"], ["y"])]
    return graph_bytes(wide, [numpy_helper.from_array(np.array([1, repeats]), "r")], (32, 784 * repeats))


def refused(data: bytes, words: str):
    start = time.process_time()
    with pytest.raises(Failed, match=words) as err:
        parse_graph(data, "Encoder(hparams)", (1, 28, 28))
    assert time.process_time() - start < 2, "refusing took long"
    return str(err.value)


def test_hostile_graphs_are_refused_before_evaluation():
    refused(b"\x08\x07garbage" * 100, "not a model graph")
    custom = flat() + [helper.make_node("Evil", ["f"], ["y"], domain="com.evil")]
    refused(graph_bytes(custom, domain="com.evil"), "operator sets other than the standard ones")
    loop = flat() + [helper.make_node("RandomNormalLike", ["f"], ["y"])]
    refused(graph_bytes(loop, output_shape=(32, 784)), "does not evaluate")
    message = refused(big_linear_chain(), "operations per image")
    assert message.split(": ")[1].startswith("121,0"), message          # 197 x 784 x 784 multiply-adds
    refused(wide_output(6000), "MB for a batch")                         # a 4.7-million-wide value
    external = weight("W", (784, 10))
    external.data_location = TensorProto.EXTERNAL
    external.external_data.add(key="location", value="/etc/passwd")
    refused(graph_bytes(flat() + [helper.make_node("MatMul", ["f", "W"], ["y"])], [external]), "stored outside")
    strings = helper.make_tensor("s", TensorProto.STRING, [1], [b"x"])
    refused(graph_bytes(flat() + [helper.make_node("MatMul", ["f", "W"], ["y"])], [strings]), "numbers only")
    refused(graph_bytes(flat() + [helper.make_node("MatMul", ["f", "W"], ["y"])], [weight("W", (784, 7000))]),
            "more than the limit 5,000,000")


def test_an_einsum_is_costed_as_its_multiply_adds():
    assert load_graph(model_evidence(Einsum().eval()), "m", "Encoder(hparams)", X.numpy()).operations >= 784 * 20


def test_shape_arithmetic_is_folded_and_what_it_sizes_is_costed():
    """A shape computed from the input's static shape (Shape -> Mod -> Slice -> Concat, as the exporter
    writes nn.Unflatten; onnx's own inference stops at Mod) is folded, so the Expand it sizes is costed
    before anything runs, and refused as too large."""
    def constant(name, values):
        return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.array(values, np.int64)))
    nodes = [helper.make_node("Flatten", ["x"], ["f"]), helper.make_node("Shape", ["f"], ["s"]),
             constant("zero", [0]), constant("one", [1]), constant("three", [3]), constant("two", [2]),
             constant("wide", [20_000, 784]), helper.make_node("Mod", ["three", "two"], ["end"]),
             helper.make_node("Slice", ["s", "zero", "end"], ["n"]),
             helper.make_node("Concat", ["n", "wide"], ["to"], axis=0),
             helper.make_node("Unsqueeze", ["f", "one"], ["u"]), helper.make_node("Expand", ["u", "to"], ["e"]),
             helper.make_node("ReduceSum", ["e", "one"], ["y"], keepdims=0)]
    refused(graph_bytes(nodes, output_shape=(32, 784)), "MB for a batch")


def test_a_100000_wide_output_is_never_run_on_the_test_images():
    graph = parse_graph(wide_output(128), "classifier", (1, 28, 28))
    start = time.process_time()
    with pytest.raises(Failed, match=r"gives \(100352,\) outputs per image, 10 class scores expected"):
        accuracy(graph, np.zeros((10_000, 1, 28, 28), np.float32), np.zeros(10_000, np.int64))
    assert time.process_time() - start < 1
