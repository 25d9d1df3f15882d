"""What the student's code raised, in the exercise's words: `in_words("RuntimeError: mat1 and mat2
shapes cannot be multiplied (64x784 and 20x10)")` is "failed: a Linear layer takes 20 inputs but
gets 784 numbers (the sizes of two layers in a row do not match: check input_size, latent_dim and
the hidden sizes)". An error no rule knows is said by its kind, where it was raised and its own
message: "failed: a division by zero at Encoder.__init__, line 6: `h = 500 // k` (division by zero)".
The probes export an error as "Name: message [in where]" (i2dl_utils.probes; where: the function
and line of the student's code that raised it); a probe's own sentence (e.g. "returned list, not
the tuple ...") is passed on as it is.
"""
import re

_RULES = [
    (r"mat1 and mat2 shapes cannot be multiplied \(\d+x(?P<got>\d+) and (?P<takes>\d+)x\d+\)",
     "a Linear layer takes {takes} inputs but gets {got} numbers (the sizes of two layers in a row do not match: "
     "check input_size, latent_dim and the hidden sizes)"),
    (r"Cannot insert a Tensor that requires grad as a constant",
     "a layer or weight is not registered in the model (kept in a Python list?): register layers as attributes "
     "or in nn.Sequential / nn.ModuleList"),
    (r"The size of tensor a \((?P<a>\d+)\) must match the size of tensor b \((?P<b>\d+)\) at non-singleton "
     r"dimension (?P<d>\d+)",
     "two tensors whose sizes differ ({a} and {b} in dimension {d}) were combined element by element "
     "(e.g. reconstructions (N, 784) against images (N, 1, 28, 28): flatten the images first)"),
    (r"shape '\[(?P<shape>[-\d, ]*)\]' is invalid for input of size (?P<n>\d+)",
     "cannot reshape {n} numbers into the shape [{shape}]: check the sizes in view/reshape"),
    (r"view size is not compatible with input tensor's size and stride",
     "x.view(...) cannot reshape this tensor (it is not contiguous): use x.reshape(...)"),
    (r"expected scalar type \w+ but found \w+|m1 and m2 to have the same dtype|mat1 and mat2 must have the same dtype|"
     r"found dtype \w+ but expected \w+|expected both vectors to have same dtype",
     "mixes number types (float32 with float64 or int64): keep tensors float32, e.g. torch.from_numpy(x).float()"),
    (r"element 0 of tensors does not require grad",
     "the loss is not connected to the model's weights (a .detach(), .item(), numpy step or torch.no_grad() "
     "in between), so no gradient can flow"),
    (r"running_mean should contain (?P<got>\d+) elements not (?P<built>\d+)",
     "a BatchNorm layer is built for {built} features but gets {got}"),
    (r"Expected more than 1 value per channel when training",
     "BatchNorm in training mode needs more than one example per batch"),
    (r"expected input\[(?P<shape>[\d, ]*)\] to have (?P<want>\d+) channels, but got (?P<got>\d+) channels",
     "a convolution expects {want} input channels but gets {got} (input shape [{shape}])"),
    (r"Expected all tensors to be on the same device",
     "uses tensors on two devices (CPU and GPU): create new tensors on the input's device (x.device)"),
    (r"unexpected keyword argument '(?P<arg>\w+)'",
     "does not accept the argument {arg}: keep the signature the notebook gives"),
    (r"missing (?P<n>\d+) required positional arguments?: (?P<args>.+)",
     "was called without {args}: keep the signature the notebook gives (and its default values)"),
    (r"^KeyError: '(?P<key>[^']+)'",
     "looks up '{key}' in a dictionary that does not have it (e.g. hparams['{key}']: add it to the hparams cell)"),
    (r"^NameError: name '(?P<name>\w+)' is not defined",
     "uses {name}, which is not defined where it runs (define it, or import it, in your answer cell)"),
    (r"Expected [\w ()]+ input to (?P<op>\w+), but got input of size: ?\[(?P<shape>[\d, ]*)\]",
     "a layer ({op}) gets inputs of shape [{shape}], not images (N, C, H, W): reshape flat inputs, e.g. to "
     "(N, 1, 28, 28), before the convolution (forward also gets images as (N, input_size))"),
    (r"must be tuple of ints, but found element of type float",
     "a layer's size is not a whole number (e.g. input_size / 4 is a float): use // or int(...)"),
    (r"argument 'input' \(position 1\) must be Tensor, not (?P<type>tuple|list)",
     "a layer gets a {type} where it takes one tensor (does a forward return more than one tensor?)"),
    (r"'(?P<cls>\w+)' object has no attribute '(?P<attr>\w+)'",
     "uses .{attr}, which the {cls} object does not have (misspelt, or never set in __init__?)"),
    (r"(too many|not enough) values to unpack \(expected 2",
     "unpacks two values from something that does not hold two (e.g. `images, labels = batch` on a batch of "
     "images: the autoencoder's batches are images only, no labels)"),
    (r"dropout probability has to be between 0 and 1, but got (?P<p>[-\d.e]+)",
     "uses a dropout probability of {p}: it must lie between 0 and 1 (see hparams[\"dropout\"])"),
    (r"Exporting the operator '(?:aten::)?(?P<op>\w+)' to ONNX opset version \d+ is not supported",
     "uses {op}, which the grader cannot trace into a graph (torch cannot export it): build that part from "
     "other layers or tensor operations"),
    (r"ONNX export of operator (?P<op>\w+), (?P<why>[^.]*)",
     "uses {op} in a form the grader cannot trace into a graph ({why}): e.g. give adaptive pooling an output "
     "size that divides the input's size"),
    (r"^NotImplementedError", "is not implemented yet (NotImplementedError)"),
]
# What an exception no rule knows means, by its type.
KINDS = {
    "ZeroDivisionError": "a division by zero", "IndexError": "an index out of range",
    "TypeError": "a value of the wrong type", "ValueError": "a value that could not be used",
    "AttributeError": "an attribute that does not exist", "AssertionError": "an assert that failed",
    "KeyError": "a key that is not in the dictionary", "RuntimeError": "an operation torch could not do",
    "RecursionError": "a function that calls itself without end", "OverflowError": "a number too large",
    "MemoryError": "running out of memory", "NotImplementedError": "a part not implemented yet",
    "UnboundLocalError": "a variable used before it was assigned", "ImportError": "an import that failed",
    "ModuleNotFoundError": "an import that failed", "FileNotFoundError": "a file that does not exist",
    "StopIteration": "an iterator that ran out",
}
WHERE = re.compile(r" \[in (?P<where>(?:(?! \[in ).)*)\]$")
_COMPILED = [(re.compile(pattern), text) for pattern, text in _RULES]
EXCEPTION = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Warning|Interrupt|Exit)\b")


def split_where(error: str) -> tuple:
    """(the error without its " [in where]", where or "") of an exported error, on one line."""
    error = " ".join(str(error).split())
    match = WHERE.search(error)
    return (error[:match.start()], match["where"]) if match else (error, "")


def in_words(error: str) -> str:
    """"failed: <what went wrong, in the exercise's words>[ in <where>]", or the probe's own sentence
    (error: as exported, "Name: message [in where]" or a sentence)."""
    error, where = split_where(error)
    where = f" at {where}" if where else ""
    for pattern, text in _COMPILED:
        match = pattern.search(error)
        if match:
            said = text.format(**match.groupdict())
            if said.startswith("is not implemented"):
                return said
            return f"failed: {said}" + (f" ({where[1:]})" if where else "")
    match = EXCEPTION.match(error)
    if not match:
        return error
    name, detail = match[0], error[match.end():].lstrip(": ")
    kind = KINDS.get(name.rsplit(".", 1)[-1], "an error of its own")
    return f"failed: {kind}{where}" + (f" ({detail})" if detail else "")
