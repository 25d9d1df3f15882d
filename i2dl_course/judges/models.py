"""Trained models judged from their weights, never from their `forward`.

A probe exports a model as the standard layers its forward called, in call order, with their
weights (i2dl_utils.probes.Probe.model). Here the grader rebuilds it from torch's own layers only
(the fully connected kind this exercise asks for), in eval mode, checks that it computes what the
student's model computed on the probe's input, and then measures it itself. A custom layer or
operation, a model over the parameter limit or one whose layers do not fit together cannot be
rebuilt and scores 0 with the reason.
"""
import numpy as np
import torch
import torch.nn as nn

from i2dl_utils import config

from .evidence import Failed

MAX_FEATURES = 100_000
MAX_LAYERS = 200


def _int(config_: dict, key: str) -> int:
    value = config_.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_FEATURES:
        raise Failed(f"{key} = {value!r} is not a layer size")
    return value


def _float(config_: dict, key: str, low: float, high: float, default=None) -> float:
    value = config_.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise Failed(f"{key} = {value!r} is out of range")
    return float(value)


def _bool(config_: dict, key: str, default: bool) -> bool:
    value = config_.get(key, default)
    if not isinstance(value, bool):
        raise Failed(f"{key} = {value!r} is not true or false")
    return value


def _linear(c):
    n_in, n_out, bias = _int(c, "in_features"), _int(c, "out_features"), _bool(c, "bias", True)
    return n_in * n_out + n_out * bias, lambda: nn.Linear(n_in, n_out, bias=bias)


def _batchnorm(c):
    n, eps = _int(c, "num_features"), _float(c, "eps", 1e-12, 1.0, 1e-5)
    affine, running = _bool(c, "affine", True), _bool(c, "track_running_stats", True)
    return 2 * n * affine, lambda: nn.BatchNorm1d(n, eps=eps, affine=affine, track_running_stats=running)


def _flatten(c):
    if c.get("start_dim", 1) != 1 or c.get("end_dim", -1) != -1:
        raise Failed("only Flatten(start_dim=1) is supported")
    return 0, nn.Flatten


def _dropout(c):
    _float(c, "p", 0.0, 1.0)
    return 0, nn.Dropout                       # the identity in eval mode


def _leaky_relu(c):
    slope = _float(c, "negative_slope", -10.0, 10.0, 0.01)
    return 0, lambda: nn.LeakyReLU(slope)


def _elu(c):
    alpha = _float(c, "alpha", 0.0, 10.0, 1.0)
    return 0, lambda: nn.ELU(alpha)


def _gelu(c):
    approximate = c.get("approximate", "none")
    if approximate not in ("none", "tanh"):
        raise Failed(f"approximate = {approximate!r} is not 'none' or 'tanh'")
    return 0, lambda: nn.GELU(approximate)


def _plain(make):
    return lambda c: (0, make)


# The layers this exercise asks for, by the name a probe exports: config -> (parameters, constructor).
LAYERS = {
    "torch.nn.modules.linear.Linear": _linear,
    "torch.nn.modules.batchnorm.BatchNorm1d": _batchnorm,
    "torch.nn.modules.dropout.Dropout": _dropout,
    "torch.nn.modules.activation.ReLU": _plain(nn.ReLU),
    "torch.nn.modules.activation.LeakyReLU": _leaky_relu,
    "torch.nn.modules.activation.ELU": _elu,
    "torch.nn.modules.activation.GELU": _gelu,
    "torch.nn.modules.activation.SiLU": _plain(nn.SiLU),
    "torch.nn.modules.activation.Tanh": _plain(nn.Tanh),
    "torch.nn.modules.activation.Sigmoid": _plain(nn.Sigmoid),
    "torch.nn.modules.linear.Identity": _plain(nn.Identity),
    "torch.nn.modules.flatten.Flatten": _flatten,
}
ALLOWED = "Linear, BatchNorm1d, Dropout, ReLU, LeakyReLU, ELU, GELU, SiLU, Tanh, Sigmoid, Identity, Flatten"


class Rebuilt:
    """A student's model as nn.Sequential(Flatten, *its layers in call order), in eval mode.

    widths: the number of features after each Linear layer, in order.
    """

    def __init__(self, module: nn.Sequential, widths: list, parameters: int, name: str):
        self.module, self.widths, self.parameters, self.name = module, widths, parameters, name

    @torch.no_grad()
    def __call__(self, x, batch_size: int = 2000) -> torch.Tensor:
        x = torch.as_tensor(x, dtype=torch.float32)
        try:
            return torch.cat([self.module(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])
        except RuntimeError as err:
            raise Failed(f"{self.name}: its layers do not fit together or to the input "
                         f"({' '.join(str(err).split())[:120]})") from None

    def linear_layers(self) -> list:
        return [m for m in self.module if isinstance(m, nn.Linear)]


def rebuild(ev, name: str, what: str) -> Rebuilt:
    """The exported model `name`, rebuilt from standard layers (Failed with the reason if it cannot be)."""
    error = ev.error(name)
    if error is not None:
        raise Failed(f"{what}: " + ("not implemented yet (NotImplementedError)" if error.startswith("NotImplementedError")
                                    else f"building or running it raised {error}"))
    spec = ev.models.get(name)
    if not isinstance(spec, dict) or not isinstance(spec.get("layers"), list) or not isinstance(spec.get("sequence"), list):
        raise Failed(f"{what}: no model was exported")
    layers, sequence = spec["layers"], spec["sequence"]
    if len(layers) > MAX_LAYERS or len(sequence) > MAX_LAYERS or \
            not all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < len(layers) for i in sequence):
        raise Failed(f"{what}: an implausible layer list")
    made, total = [], 0
    for position, layer in enumerate(layers):
        kind = layer.get("type") if isinstance(layer, dict) else None
        settings = layer.get("config") if isinstance(layer, dict) else None
        if kind not in LAYERS or not isinstance(settings, dict):
            short = str(kind).rsplit(".", 1)[-1][:60]
            raise Failed(f"{what}: uses {short}, which is not one of the standard layers the grader rebuilds "
                         f"models from ({ALLOWED}); build the model from these in nn.Sequential")
        try:
            count, make = LAYERS[kind](settings)
        except Failed as err:
            raise Failed(f"{what}: layer {position} ({kind.rsplit('.', 1)[-1]}): {err}") from None
        total += count
        if total > config.MAX_PARAMETERS:
            raise Failed(f"{what}: more than {config.MAX_PARAMETERS:,} parameters (the limit)")
        made.append(make())
    for position, module in enumerate(made):
        with torch.no_grad():
            for key, tensor in module.state_dict().items():
                if key == "num_batches_tracked":
                    continue
                array = ev.array(f"{name}.{position}.{key}", f"{what}: the weights {key} of layer {position}",
                                 shape=tuple(tensor.shape), kind="f")
                tensor.copy_(torch.from_numpy(array.astype(np.float32)))
    module = nn.Sequential(nn.Flatten(), *[made[i] for i in sequence]).eval()
    widths = [m.out_features for m in module if isinstance(m, nn.Linear)]
    return Rebuilt(module, widths, total, what)


def expect_same_outputs(ev, model: Rebuilt, name: str, x) -> torch.Tensor:
    """The rebuilt model's output on the probe's input x, which must equal what the student's own
    model gave (exported as <name>.output): otherwise forward does something its layers do not."""
    ours = model(x)
    theirs = ev.array(f"{name}.output", f"{model.name}'s output", kind="f")
    if theirs.size != ours.numel():
        raise Failed(f"{model.name}: returned shape {theirs.shape} for a batch of {len(x)}, but its layers in call "
                     f"order give {tuple(ours.shape)}")
    theirs = torch.from_numpy(theirs.astype(np.float32)).reshape(ours.shape)
    if not torch.allclose(ours, theirs, rtol=1e-3, atol=1e-4):
        raise Failed(f"{model.name}: its forward computes something else than its layers applied in the order it "
                     "calls them (an operation outside nn layers, e.g. F.relu or arithmetic in forward?); the "
                     "grader evaluates models as their standard layers in that order")
    return ours


def accuracy(model: Rebuilt, images: np.ndarray, labels: np.ndarray) -> float:
    logits = model(images)
    if logits.shape != (len(labels), 10):
        raise Failed(f"{model.name}: gives {tuple(logits.shape)[1:]} outputs per image, 10 class scores expected")
    return float((logits.argmax(dim=1).numpy() == labels).mean())


def reconstruction_mse(model: Rebuilt, images: np.ndarray) -> float:
    """Mean squared error per pixel between images (N, 1, 28, 28) and the model's reconstructions."""
    flat = torch.as_tensor(images).reshape(len(images), -1)
    out = model(images)
    if out.numel() != flat.numel():
        raise Failed(f"{model.name}: gives {tuple(out.shape)[1:]} outputs per image, {flat.shape[1]} expected")
    return float(((out.reshape(flat.shape) - flat) ** 2).mean())
