"""Trained models judged by what they compute, never by running the student's Python.

A probe exports a model as the ONNX graph its forward traces to in eval mode, and its output on
the probe's input (i2dl_utils.probes.Probe.model). Here the graph is parsed and costed before
anything runs (graphs.py), run with onnxruntime on the probe's input, where it must give what the
student's model gave, and then measured on the grader's test images.
"""
import re

import numpy as np
import torch

from .errors import in_words
from .evidence import Failed
from .graphs import Graph, parse_graph

SMALL_BATCH = 8          # as i2dl_utils.probes.SMALL_BATCH

MATMUL = re.compile(r"mat1 and mat2 shapes cannot be multiplied \(\d+x(\d+) and (\d+)x\d+\)")


def shape_mismatch(error: str):
    """(inputs a Linear layer takes, numbers it got) if torch's error says they differ, else None."""
    match = MATMUL.search(error)
    return (int(match[2]), int(match[1])) if match else None


def _explained(error: str) -> str:
    """What the student's model raised while running or exporting, in the exercise's words."""
    said = in_words(error)
    return said[len("failed: "):] if said.startswith("failed: ") else f"building or running it {said}"


# What the tracer warned about (the probe's <name>.tracer_warnings), in the exercise's words: for messages only.
TRACED = [("NumPy array", "turns a tensor into a NumPy array (numpy in forward)"),
          ("from_numpy", "makes tensors with torch.from_numpy"),
          ("Python number", "turns a tensor into a Python number (.item(), float())"),
          ("Python integer", "turns a tensor into a Python integer (int(), .item())"),
          ("Python boolean", "decides with an `if` on a tensor's values"),
          ("Python list", "turns a tensor into a list (.tolist())"),
          ("Python index", "uses a tensor's value as a Python index"),
          ("torch.tensor results", "makes tensors from Python values with torch.tensor(...)"),
          ("Iterating over a tensor", "loops over a tensor in Python")]


def _traced(ev, name: str) -> str:
    """" (when traced, forward turns a tensor into ...)" from what the tracer warned about, or ""."""
    warned = ev.values.get(f"{name}.tracer_warnings")
    warned = [w for w in warned if isinstance(w, str)] if isinstance(warned, list) else []
    said = [words for text, words in TRACED if any(text in w for w in warned)]
    return (f" (when traced, forward {' and '.join(said[:3])}: the graph keeps such values as they were for the "
            "traced batch; keep forward in tensor operations)") if said else ""


def load_graph(ev, name: str, what: str, x: np.ndarray) -> Graph:
    """The exported model `name` for the grader's inputs x (N, ...) the probe traced it on (Failed
    with the reason if there is none or it is refused), parsed once per evidence."""
    cache = ev.cache.setdefault("graphs", {})
    if (name, what) in cache:
        return cache[name, what]
    error = ev.error(name)
    if error is not None:
        raise Failed(f"{what}: " + ("not implemented yet (NotImplementedError)" if error.startswith("NotImplementedError")
                                    else _explained(error)))
    data = ev.file(f"{name}.onnx")
    if data is None:
        raise Failed(f"{what}: no model was exported")
    try:
        cache[name, what] = parse_graph(data, what, tuple(np.shape(x)[1:]))
    except Failed as err:
        raise Failed(f"{err}{_traced(ev, name)}") from None
    return cache[name, what]


def _why_other_outputs(ev, name: str) -> str:
    """Why a model's forward gave other outputs than its graph, from what the probe noticed (messages only)."""
    if ev.values.get(f"{name}.random") is True:
        return ("other outputs each time it runs on the same images in eval mode (random numbers, e.g. "
                "F.dropout(x, p) without training=self.training, or state that changes from call to call, e.g. a counter)")
    if ev.values.get(f"{name}.batchwise") is True:
        return ("an image other outputs in a smaller batch: in eval mode each image's output must depend on that "
                "image only (no statistics of the batch, e.g. x.mean(dim=0); nn.BatchNorm uses its running statistics "
                "in eval mode)" + _traced(ev, name))
    return "other outputs than the graph it traces to" + (
        _traced(ev, name) or " (does forward depend on Python values other than the input, or leave torch, e.g. "
                             "through numpy or .item()?)")


def expect_same_outputs(ev, model: Graph, name: str, x) -> torch.Tensor:
    """The graph's output on the probe's input x, which must equal what the student's own model gave
    on x and on its first SMALL_BATCH images alone (<name>.output, <name>.output_small): the graph is
    what the grader measures, batch by batch."""
    theirs = ev.array(f"{name}.output", f"{model.name}'s output", kind="f")
    expected = (len(x),) + model.output_shape
    if theirs.shape != expected:
        raise Failed(f"{model.name}: returned shape {theirs.shape} for a batch of {len(x)}, but its traced forward "
                     f"gives {expected}")
    ours = model(x)
    small = ev.array(f"{name}.output_small", f"{model.name}'s output on {SMALL_BATCH} images", kind="f",
                     shape=(min(len(x), SMALL_BATCH),) + model.output_shape)
    for got, wanted in ((ours, theirs), (model(x[:SMALL_BATCH]), small)):
        if not torch.allclose(got, torch.from_numpy(wanted.astype(np.float32)), rtol=1e-3, atol=1e-4):
            raise Failed(f"{model.name}: its forward gives " + _why_other_outputs(ev, name))
    return ours


def accuracy(model: Graph, images: np.ndarray, labels: np.ndarray) -> float:
    if model.output_shape != (10,):
        raise Failed(f"{model.name}: gives {model.output_shape} outputs per image, 10 class scores expected")
    logits = model(images)
    return float((logits.argmax(dim=1).numpy() == labels).mean())


def reconstruction_mse(model: Graph, images: np.ndarray) -> float:
    """Mean squared error per pixel between images (N, 1, 28, 28) and the model's reconstructions."""
    flat = torch.as_tensor(images).reshape(len(images), -1)
    if int(np.prod(model.output_shape)) != flat.shape[1]:
        raise Failed(f"{model.name}: gives {model.output_shape} outputs per image, {flat.shape[1]} expected")
    out = model(images)
    return float(((out.reshape(flat.shape) - flat) ** 2).mean())
