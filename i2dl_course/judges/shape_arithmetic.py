"""Shape arithmetic in an exported graph, folded into constants before its shapes are inferred.

The exporter writes some layers as small computations on shapes: nn.Unflatten becomes
Shape -> Mod / Slice / Concat -> Reshape, F.interpolate a Concat of its scales. onnx's shape
inference cannot follow all of them, so the grader could not tell such a model's sizes in advance.
Here every value computed only from constants and from the static shapes of other values is
evaluated with numpy and replaced by a Constant, as long as it is tiny (at most FOLD_LIMIT numbers
in and out: shape arithmetic, never a layer's data). Nothing the graph computes on its input is
evaluated; an operation this module does not know, or one that fails, is left as it was.
"""
import numpy as np
import onnx
from onnx import helper, numpy_helper, shape_inference

FOLD_LIMIT = 64
ROUNDS = 8


def _attr(node, name, default=None):
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def _axes(node, inputs, position):
    axes = inputs[position] if len(inputs) > position and inputs[position] is not None else _attr(node, "axes")
    return None if axes is None else [int(a) for a in np.ravel(axes)]


def _unsqueeze(node, x, *rest):
    axes = _axes(node, (x, *rest), 1)
    rank = x.ndim + len(axes)
    for axis in sorted(a % rank for a in axes):
        x = np.expand_dims(x, axis)
    return x


def _squeeze(node, x, *rest):
    axes = _axes(node, (x, *rest), 1)
    return np.squeeze(x) if axes is None else np.squeeze(x, axis=tuple(a % x.ndim for a in axes))


def _slice(node, x, starts, ends, axes=None, steps=None):
    axes = range(len(starts)) if axes is None else [int(a) % x.ndim for a in axes]
    steps = [1] * len(starts) if steps is None else steps
    index = [slice(None)] * x.ndim
    for axis, start, end, step in zip(axes, starts, ends, steps):
        index[axis] = slice(int(start), int(end), int(step))
    return x[tuple(index)]


def _reshape(node, x, shape):
    shape = [x.shape[i] if s == 0 and not _attr(node, "allowzero", 0) else int(s) for i, s in enumerate(shape)]
    return x.reshape(shape)


def _divide(node, a, b):
    if np.any(b == 0):
        raise ZeroDivisionError
    return (np.trunc(a / b).astype(np.result_type(a, b)) if a.dtype.kind in "iu" and b.dtype.kind in "iu"
            else a / b)


def _mod(node, a, b):
    if np.any(b == 0):
        raise ZeroDivisionError
    return np.fmod(a, b) if _attr(node, "fmod", 0) else np.mod(a, b)


def _constant_of_shape(node, shape):
    if np.prod(shape) > FOLD_LIMIT:
        raise ValueError
    value = _attr(node, "value")
    fill = numpy_helper.to_array(value).ravel()[0] if value is not None else np.float32(0)
    return np.full([int(s) for s in shape], fill)


FOLD = {
    "Add": lambda n, a, b: a + b, "Sub": lambda n, a, b: a - b, "Mul": lambda n, a, b: a * b, "Div": _divide,
    "Mod": _mod, "Neg": lambda n, a: -a, "Abs": lambda n, a: np.abs(a), "Floor": lambda n, a: np.floor(a),
    "Ceil": lambda n, a: np.ceil(a), "Sqrt": lambda n, a: np.sqrt(a),
    "Min": lambda n, *a: np.minimum.reduce(a), "Max": lambda n, *a: np.maximum.reduce(a),
    "Equal": lambda n, a, b: a == b, "Less": lambda n, a, b: a < b, "Greater": lambda n, a, b: a > b,
    "Not": lambda n, a: ~a, "Where": lambda n, c, a, b: np.where(c, a, b), "Identity": lambda n, a: a,
    "Cast": lambda n, a: a.astype(helper.tensor_dtype_to_np_dtype(_attr(n, "to"))),
    "Concat": lambda n, *a: np.concatenate(a, axis=_attr(n, "axis")),
    "Gather": lambda n, a, i: np.take(a, i, axis=_attr(n, "axis", 0)),
    "Unsqueeze": _unsqueeze, "Squeeze": _squeeze, "Slice": _slice, "Reshape": _reshape,
    "ConstantOfShape": _constant_of_shape,
}


def _constant(node):
    """The value of a Constant node, or None if it is not a small tensor of numbers."""
    for a in node.attribute:
        if a.name == "value" and a.type == onnx.AttributeProto.TENSOR:
            value = numpy_helper.to_array(a.t) if np.prod(a.t.dims) <= FOLD_LIMIT else None
        elif a.name in ("value_int", "value_ints"):
            value = np.array(helper.get_attribute_value(a), dtype=np.int64)
        elif a.name in ("value_float", "value_floats"):
            value = np.array(helper.get_attribute_value(a), dtype=np.float32)
        else:
            continue
        return value if value is not None and value.size <= FOLD_LIMIT and value.dtype.kind in "fiub" else None
    return None


def static_dims(value: onnx.ValueInfoProto):
    """The static shape of a value (a tuple), or None if shape inference could not tell it."""
    kind = value.type.WhichOneof("value")
    if kind != "tensor_type" or not value.type.tensor_type.HasField("shape"):
        return None
    dims = value.type.tensor_type.shape.dim
    if not all(d.HasField("dim_value") and d.dim_value >= 0 for d in dims):
        return None
    return tuple(d.dim_value for d in dims)


def _static_shapes(model) -> dict:
    """{value name: static shape} of every value whose shape inference can tell."""
    inferred = shape_inference.infer_shapes(model, check_type=False, strict_mode=False, data_prop=True)
    values = list(inferred.graph.input) + list(inferred.graph.value_info) + list(inferred.graph.output)
    return {value.name: dims for value in values if (dims := static_dims(value)) is not None}


def _value(node, known: dict, shapes: dict):
    """The node's single output evaluated, or None if it depends on data or is not shape arithmetic."""
    if node.op_type == "Constant":
        return _constant(node)
    if node.op_type in ("Shape", "Size"):
        shape = shapes.get(node.input[0])
        if shape is None:
            return None
        if node.op_type == "Size":
            return np.array(np.prod(shape), dtype=np.int64)
        return np.array(shape[_attr(node, "start", 0):_attr(node, "end", len(shape))], dtype=np.int64)
    if node.op_type not in FOLD or len(node.output) != 1:
        return None
    inputs = [known.get(i) if i else None for i in node.input]
    if any(x is None for i, x in zip(node.input, inputs) if i):
        return None
    with np.errstate(all="raise"):
        out = np.asarray(FOLD[node.op_type](node, *inputs))
    return out if out.size <= FOLD_LIMIT and out.dtype.kind in "fiub" else None


def fold_shape_arithmetic(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of `model` whose shape arithmetic is folded into Constant nodes (the model itself if none)."""
    folded, known = onnx.ModelProto(), {}
    folded.CopyFrom(model)
    for t in folded.graph.initializer:           # integer ones only: a float initializer is a weight
        if np.prod(t.dims) <= FOLD_LIMIT and t.data_type in (onnx.TensorProto.INT64, onnx.TensorProto.INT32):
            known[t.name] = numpy_helper.to_array(t)
    for _ in range(ROUNDS):
        shapes, changed = _static_shapes(folded), False
        nodes = []
        for node in folded.graph.node:
            try:
                value = None if node.output[0] in known else _value(node, known, shapes)
            except Exception:                   # noqa: BLE001  not foldable: leave it to the runtime
                value = None
            if value is not None:
                known[node.output[0]] = value
                if node.op_type != "Constant":
                    node = helper.make_node("Constant", [], [node.output[0]], name=node.name,
                                            value=numpy_helper.from_array(value))
                    changed = True
            nodes.append(node)
        if not changed:
            break
        del folded.graph.node[:]
        folded.graph.node.extend(nodes)
    return folded
