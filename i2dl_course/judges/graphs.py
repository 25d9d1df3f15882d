"""A student's model as an ONNX graph, parsed as hostile data, costed, then run with onnxruntime.

A probe exports each model as the graph its forward traces to in eval mode, for a fixed batch
(i2dl_utils.probes.Probe.model). Before anything is evaluated, `parse_graph` checks the graph (one
float input of the probe's shape, standard operators of an allow-list, no control flow, functions,
custom domains, external data or strings), folds its shape arithmetic into constants
(shape_arithmetic.py: the folded graph is the one that runs) and computes its cost from the
shapes alone: parameters (initializers and constants), operations per image (multiply-adds of
Gemm/MatMul/Conv, one per element elsewhere) and the bytes of every value of one batch. A graph over any budget is refused
with the reason; one within them is run one batch at a time on one thread.
"""
import math

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import numpy_helper, shape_inference

from i2dl_utils import config

from .evidence import Failed
from .shape_arithmetic import fold_shape_arithmetic, static_dims

MAX_GRAPH_BYTES = 64 << 20
MAX_NODES = 1000
MAX_OPERATIONS = 20_000_000         # per image: at most ~6 CPU-s per 10,000 images (~30 G/s on one core)
MAX_BATCH_BYTES = 512 << 20         # all values of one batch together, weights included
OPSETS = range(13, 23)

# Standard operators whose output shapes follow from input shapes (no control flow, no data-dependent shapes).
OPERATORS = set("""
Gemm MatMul Einsum Conv ConvTranspose BatchNormalization InstanceNormalization LayerNormalization GroupNormalization
Relu LeakyRelu PRelu Elu Selu Celu Gelu Sigmoid HardSigmoid HardSwish Tanh Softplus Softsign Mish Erf
Softmax LogSoftmax Add Sub Mul Div Mod Pow Sqrt Reciprocal Exp Log Abs Neg Sign Clip Max Min Mean Sum Floor Ceil Round
Reshape Flatten Transpose Squeeze Unsqueeze Concat Split Slice Gather Expand Tile Pad Identity Dropout Cast
Constant ConstantOfShape Shape Size Where Equal Less LessOrEqual Greater GreaterOrEqual Not And Or
MaxPool AveragePool GlobalAveragePool GlobalMaxPool LpPool ReduceMean ReduceSum ReduceMax ReduceMin ReduceProd
ReduceL2 ReduceSumSquare ArgMax ArgMin Resize Upsample DepthToSpace SpaceToDepth
""".split())
# Operators that change nothing in eval mode, or only the layout: left out of a model's architecture.
LAYOUT = {"Identity", "Dropout", "Flatten", "Reshape", "Squeeze", "Unsqueeze", "Shape", "Size", "Constant", "Cast"}
WEIGHTED = {"Gemm": (1, 2), "MatMul": (1,), "Conv": (1, 2), "ConvTranspose": (1, 2), "BatchNormalization": (1, 2),
            "LayerNormalization": (1, 2), "InstanceNormalization": (1, 2), "GroupNormalization": (1, 2), "PRelu": (1,)}
# How an operator reads in the exercise's words.
WORDS = {"Gemm": "Linear", "MatMul": "Linear", "Conv": "Conv", "ConvTranspose": "ConvTranspose",
         "BatchNormalization": "BatchNorm", "Relu": "ReLU", "LeakyRelu": "LeakyReLU", "Elu": "ELU", "Gelu": "GELU",
         "Sigmoid": "Sigmoid", "Tanh": "Tanh", "MaxPool": "MaxPool", "AveragePool": "AvgPool", "Add": "+",
         "Sub": "-", "Mul": "*", "Div": "/"}
TENSOR_TYPES = {onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16, onnx.TensorProto.INT64,
                onnx.TensorProto.INT32, onnx.TensorProto.BOOL}
GRAPH_ATTRIBUTES = {onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS, onnx.AttributeProto.SPARSE_TENSOR,
                    onnx.AttributeProto.SPARSE_TENSORS, onnx.AttributeProto.TYPE_PROTO, onnx.AttributeProto.TYPE_PROTOS}


def _tensor(t: onnx.TensorProto, what: str) -> int:
    """The number of values in t, checked to be plain numbers stored in the graph itself."""
    if t.data_type not in TENSOR_TYPES:
        raise Failed(f"{what}: holds a tensor of type {onnx.TensorProto.DataType.Name(t.data_type)}; numbers only")
    if t.data_location == onnx.TensorProto.EXTERNAL or len(t.external_data) or t.HasField("segment"):
        raise Failed(f"{what}: its weights are stored outside the graph; the grader reads only the exported file")
    if not all(0 <= d <= config.MAX_PARAMETERS for d in t.dims):
        raise Failed(f"{what}: a tensor of impossible shape {tuple(t.dims)[:8]}")
    return math.prod(t.dims)


def _einsum_operations(node, ins: list) -> int:
    """Multiply-adds of an Einsum: the product of the sizes of all its indices (with "...", a bound:
    every input's size times the output's)."""
    equation = next((a.s.decode("ascii", "replace") for a in node.attribute if a.name == "equation"), "")
    terms = equation.replace(" ", "").split("->")[0].split(",")
    if "..." in equation or len(terms) != len(ins) or any(len(t) != len(s) for t, s in zip(terms, ins)):
        return math.prod(math.prod(s) for s in ins) or 1
    sizes = {}
    for term, shape in zip(terms, ins):
        for letter, dim in zip(term, shape):
            sizes[letter] = max(sizes.get(letter, 1), dim)
    return math.prod(sizes.values())


def _operations(node, shapes: dict) -> int:
    """Operations of one node for the whole batch: multiply-adds where weights are applied, else one per value."""
    out = math.prod(shapes[node.output[0]]) if node.output and node.output[0] in shapes else 0
    ins = [shapes[i] for i in node.input if i in shapes]
    if node.op_type in ("MatMul", "Gemm") and ins:
        attrs = {a.name: a.i for a in node.attribute}
        a = ins[0]
        k = a[0] if node.op_type == "Gemm" and attrs.get("transA") else (a[-1] if a else 1)
        return out * k
    if node.op_type == "Conv" and len(ins) > 1:
        return out * math.prod(ins[1][1:])
    if node.op_type == "ConvTranspose" and len(ins) > 1:
        return math.prod(ins[0]) * math.prod(ins[1][1:])
    if node.op_type == "Einsum":
        return _einsum_operations(node, ins)
    if node.op_type in ("MaxPool", "AveragePool", "LpPool"):
        kernel = next((list(a.ints) for a in node.attribute if a.name == "kernel_shape"), [1])
        return out * math.prod(kernel)
    return max([out] + [math.prod(s) for s in ins])


class Graph:
    """An exported model that passed the checks: call it on inputs (N, *input shape) -> tensor (N, *output shape).

    batch: the graph's fixed batch; input_shape, output_shape: per image; parameters: numbers in its
    initializers and constants; operations: per image; batch_bytes: all values of one batch together;
    weights: {initializer name: array}; code: the narrowest width (numbers per image) that every path
    from the input to the output passes through.
    """

    def __init__(self, model: onnx.ModelProto, data: bytes, shapes: dict, what: str, parameters: int,
                 operations: int, batch_bytes: int):
        graph = model.graph
        self.parameters, self.operations, self.batch_bytes = parameters, operations, batch_bytes
        self.name, self.nodes = what, list(graph.node)
        self.input, self.output = graph.input[0].name, graph.output[0].name
        self.shapes = shapes
        self.batch = shapes[self.input][0]
        self.input_shape, self.output_shape = shapes[self.input][1:], shapes[self.output][1:]
        self.weights = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        self._data = data
        self._session = None
        self._from_input = self._reachable()
        self.code = self._narrowest()

    # -- structure -------------------------------------------------------------------------------
    def _reachable(self) -> set:
        """Values computed from the input's numbers (its shape alone, Shape/Size, is static here)."""
        reached = {self.input}
        for node in self.nodes:
            if node.op_type not in ("Shape", "Size") and any(i in reached for i in node.input):
                reached.update(node.output)
        return reached

    def width(self, value: str) -> float:
        return math.prod(self.shapes[value]) / self.batch

    def _narrowest(self) -> float:
        """min width over the values that dominate the output (every path from the input passes them)."""
        dominators = {self.input: {self.input}}
        for node in self.nodes:
            sources = [dominators[i] for i in node.input if i in dominators]
            if not sources:
                continue
            common = set.intersection(*sources)
            for out in node.output:
                if out in self._from_input:
                    dominators[out] = common | {out}
        if self.output not in dominators:
            return 0.0                                  # the output does not depend on the input at all
        return min(self.width(v) for v in dominators[self.output])

    def _consumers(self, value: str) -> list:
        return [n for n in self.nodes if value in n.input]

    def weight_values(self) -> dict:
        """{name: initializer name} of the weights that layers apply (Linear, Conv, norms), seen
        through Identity (the exporter shares equal weights that way)."""
        alias = {t: t for t in self.weights}
        for node in self.nodes:
            if node.op_type == "Identity" and node.input[0] in alias:
                alias[node.output[0]] = alias[node.input[0]]
        used = {}
        for node in self.nodes:
            for i in WEIGHTED.get(node.op_type, ()):
                if i < len(node.input) and node.input[i] in alias and self.weights[alias[node.input[i]]].dtype.kind == "f":
                    used[node.input[i]] = alias[node.input[i]]
        return used

    def feeds_batchnorm(self, value: str) -> bool:
        """Whether `value` is a bias whose layer's output goes only into BatchNorm: it then has no
        gradient in training (BatchNorm subtracts the batch mean), so a step need not change it."""
        layers = [n for n in self._consumers(value) if n.op_type in ("Gemm", "Conv", "ConvTranspose") and
                  list(n.input).index(value) == 2]
        after = [c for n in layers for c in self._consumers(n.output[0])]
        return bool(layers) and bool(after) and all(c.op_type == "BatchNormalization" and c.input[0] in
                                                    {n.output[0] for n in layers} for c in after)

    def first_weights(self) -> np.ndarray:
        """The weights (flattened) of the first Linear or Conv applied to the input."""
        for node in self.nodes:
            if node.op_type in ("Gemm", "MatMul", "Conv", "ConvTranspose") and node.input[0] in self._from_input \
                    and node.input[1] in self.weight_values():
                return self.weights[self.weight_values()[node.input[1]]].astype(np.float32).ravel()
        raise Failed(f"{self.name} has no Linear or Conv layer applied to its input")

    def architecture(self) -> list:
        """The operations applied to the input, in the exercise's words, without layout-only ones."""
        return [WORDS.get(n.op_type, n.op_type) for n in self.nodes
                if n.op_type not in LAYOUT and any(i in self._from_input for i in n.input)]

    # -- evaluation ------------------------------------------------------------------------------
    def _run(self, x: np.ndarray) -> np.ndarray:
        if self._session is None:
            options = ort.SessionOptions()
            options.intra_op_num_threads = options.inter_op_num_threads = 1
            options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
            options.enable_cpu_mem_arena = False
            options.log_severity_level = 3
            self._session = ort.InferenceSession(self._data, options, providers=["CPUExecutionProvider"])
        return self._session.run(None, {self.input: x})[0]

    def __call__(self, x) -> torch.Tensor:
        """The outputs (N, *output_shape) on x (N, *input_shape), one batch at a time (the last padded)."""
        x = np.asarray(x, dtype=np.float32)
        if x.shape[1:] != self.input_shape and math.prod(x.shape[1:]) == math.prod(self.input_shape):
            x = x.reshape((len(x),) + self.input_shape)
        if x.shape[1:] != self.input_shape:
            raise Failed(f"{self.name} takes inputs of shape (N, {', '.join(map(str, self.input_shape))}), "
                         f"not {x.shape[1:]}")
        n, out = len(x), []
        for start in range(0, n, self.batch):
            chunk = x[start:start + self.batch]
            if len(chunk) < self.batch:
                chunk = np.concatenate([chunk, np.zeros((self.batch - len(chunk),) + self.input_shape, np.float32)])
            try:
                out.append(self._run(chunk)[:min(self.batch, n - start)])
            except Exception as err:             # noqa: BLE001  onnxruntime's own errors
                raise Failed(f"{self.name}: running its exported graph failed ({_native(err)})") from None
        return torch.from_numpy(np.concatenate(out).astype(np.float32))


def _native(err: Exception) -> str:
    """A native library's error in one line, or MemoryError if it could not allocate (the judging
    process's limit, reported as such: judging.py)."""
    text = " ".join(str(err).split())
    if "bad_alloc" in text or "allocate" in text.lower():
        raise MemoryError(text[:120])
    return text[:120]


def parse_graph(data: bytes, what: str, input_shape: tuple) -> Graph:
    """The graph in `data` (.onnx bytes) for inputs (batch, *input_shape), checked and within the
    budgets, or Failed with the reason. Nothing in it is evaluated here."""
    if len(data) > MAX_GRAPH_BYTES:
        raise Failed(f"{what}: its exported graph is larger than {MAX_GRAPH_BYTES >> 20} MB")
    try:
        model = onnx.load_from_string(data)
    except Exception:                                # noqa: BLE001  protobuf's decode errors
        raise Failed(f"{what}: the exported file is not a model graph") from None
    graph = model.graph
    if len(model.functions) or any(o.domain not in ("", "ai.onnx") or o.version not in OPSETS
                                   for o in model.opset_import):
        raise Failed(f"{what}: its graph uses functions or operator sets other than the standard ones")
    if len(graph.node) > MAX_NODES:
        raise Failed(f"{what}: more than {MAX_NODES} operations in its graph")
    if not len(graph.input):
        raise Failed(f"{what}: its traced graph does not use its input: forward's result was traced as a constant "
                     "(e.g. through numpy or .item() in forward)")
    if len(graph.input) != 1 or len(graph.output) != 1 or len(graph.sparse_initializer):
        raise Failed(f"{what}: its forward should take one tensor and return one tensor (not a tuple or list)")
    parameters = sum(_tensor(t, what) for t in graph.initializer)
    for node in graph.node:
        if node.domain not in ("", "ai.onnx") or node.op_type not in OPERATORS:
            raise Failed(f"{what}: uses the operation {node.domain + '.' if node.domain else ''}{node.op_type[:40]}, "
                         "which the grader does not evaluate (control flow, random numbers or custom operations); "
                         "build the model from torch layers and tensor operations")
        for attribute in node.attribute:
            if attribute.type in GRAPH_ATTRIBUTES:
                raise Failed(f"{what}: an operation {node.op_type} with a subgraph or type attribute")
            if attribute.type == onnx.AttributeProto.TENSOR:
                parameters += _tensor(attribute.t, what)
            elif attribute.type == onnx.AttributeProto.TENSORS:
                raise Failed(f"{what}: an operation {node.op_type} with a list of tensors")
            elif node.op_type == "Constant":
                parameters += len(attribute.floats) + len(attribute.ints)
    if parameters > config.MAX_PARAMETERS:
        raise Failed(f"{what}: {parameters:,} parameters (weights and constants), more than the limit "
                     f"{config.MAX_PARAMETERS:,}")
    try:
        onnx.checker.check_model(model)
        model = fold_shape_arithmetic(model)
        inferred = shape_inference.infer_shapes(model, check_type=True, strict_mode=True, data_prop=True)
    except Exception as err:                         # noqa: BLE001  onnx's validation and inference errors
        raise Failed(f"{what}: its exported graph is not valid ({_native(err)})") from None
    values = list(inferred.graph.input) + list(inferred.graph.value_info) + list(inferred.graph.output)
    shapes, itemsizes = {}, {}
    for value in values:
        shapes[value.name], itemsizes[value.name] = static_dims(value), value.type.tensor_type.elem_type
    for t in graph.initializer:
        shapes[t.name], itemsizes[t.name] = tuple(t.dims), t.data_type
    for node in graph.node:
        for out in node.output:
            if shapes.get(out) is None:
                raise Failed(f"{what}: the grader cannot tell the size of {node.op_type}'s result in advance "
                             "(shapes must follow from the input's shape)")
    x = shapes.get(graph.input[0].name)
    if x is None or graph.input[0].type.tensor_type.elem_type != onnx.TensorProto.FLOAT or len(x) < 2 \
            or tuple(x[1:]) != tuple(input_shape) or x[0] < 1:
        raise Failed(f"{what}: its graph takes {x}, not a batch of float inputs {tuple(input_shape)}")
    if not shapes.get(graph.output[0].name) or shapes[graph.output[0].name][0] != x[0]:
        raise Failed(f"{what}: returns shape {shapes.get(graph.output[0].name)} for a batch of {x[0]}: one output "
                     "per input expected")
    nbytes = sum(math.prod(s) * onnx.helper.tensor_dtype_to_np_dtype(itemsizes[v]).itemsize
                 for v, s in shapes.items() if s is not None and itemsizes.get(v))
    if nbytes > MAX_BATCH_BYTES:
        raise Failed(f"{what}: its values need {nbytes / 2 ** 20:,.0f} MB for a batch of {x[0]}, more than the "
                     f"grader's {MAX_BATCH_BYTES >> 20} MB: use narrower layers")
    operations = sum(_operations(n, shapes) for n in graph.node) // x[0]
    if operations > MAX_OPERATIONS:
        raise Failed(f"{what}: {operations:,} operations per image, more than the grader's {MAX_OPERATIONS:,}: "
                     "use smaller or fewer layers")
    try:
        return Graph(model, model.SerializeToString(), shapes, what, parameters, operations, nbytes)
    except (ValueError, TypeError, KeyError) as err:
        raise Failed(f"{what}: its exported graph is not valid ({' '.join(str(err).split())[:120]})") from None
