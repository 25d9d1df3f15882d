"""What the student's code raised, in the exercise's words: `in_words("RuntimeError: mat1 and mat2
shapes cannot be multiplied (64x784 and 20x10)")` is "failed: a Linear layer takes 20 inputs but
gets 784 numbers (the sizes of two layers in a row do not match: check input_size, latent_dim and
the hidden sizes)". Errors it does not know stay as they were exported ("raised Name: message").
The probes export an error as "Name: message" (i2dl_utils.probes); a probe's own sentence (e.g.
"returned list, not the tuple ...") is passed on as it is.
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
    (r"^NotImplementedError", "is not implemented yet (NotImplementedError)"),
]
_COMPILED = [(re.compile(pattern), text) for pattern, text in _RULES]
EXCEPTION = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Warning|Interrupt|Exit)\b")


def in_words(error: str) -> str:
    """"failed: <what went wrong, in the exercise's words>", or "raised <error>" when unknown, or
    the probe's own sentence (error: as exported, "Name: message" or a sentence)."""
    error = " ".join(str(error).split())
    for pattern, text in _COMPILED:
        match = pattern.search(error)
        if match:
            said = text.format(**match.groupdict())
            return said if said.startswith("is not implemented") else "failed: " + said
    return f"raised {error}" if EXCEPTION.match(error) else error
