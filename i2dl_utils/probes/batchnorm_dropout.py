"""Probes of 2_batchnorm_dropout.ipynb: one per hidden-test cell, named by its grade id.

Each calls the student's NumPy functions on the grader's inputs and exports the outputs; the
judges (i2dl_course.judges.batchnorm_dropout) compare them with the reference solution. A backward
pass is judged alone where it can be: dropout_backward gets caches the grader made.
Arrays are (N, D): N examples, D features.
"""
import numpy as np

from . import probe

UNKNOWN_MODES = ("eval", "inference")


def _forward(p, name, forward, x, gamma, beta, bn_param):
    """out of batchnorm_forward (exported as `name`), or None; returns (out, cache)."""
    result = p.run(name, forward, x, gamma, beta, bn_param)
    if not isinstance(result, tuple) or len(result) != 2:
        if result is not None:
            p.errors[name] = f"returned {type(result).__name__}, not the pair (out, cache)"
        return None, None
    p.array(name, result[0])
    return result


def _running(p, name, bn_param):
    for key in ("running_mean", "running_var"):
        if key in bn_param:
            p.array(f"{name}.{key}", bn_param[key])


@probe
def test_batchnorm_forward_train(p, batchnorm_forward):
    for n in (200, 4):
        _forward(p, f"out_{n}", batchnorm_forward, p.input(f"x_{n}"), p.input(f"gamma_{n}"), p.input(f"beta_{n}"),
                 {"mode": "train"})
    bn_param = {"mode": "train"}
    _forward(p, "first", batchnorm_forward, p.input("first_x"), np.ones(3), np.zeros(3), bn_param)
    _running(p, "first", bn_param)
    bn_param = {"mode": "train", "momentum": float(p.input("momentum")),
                "running_mean": p.input("running_mean"), "running_var": p.input("running_var")}
    for k in range(3):
        _forward(p, f"batch_{k}", batchnorm_forward, p.input(f"batch_{k}"), np.ones(3), np.zeros(3), bn_param)
    _running(p, "momentum", bn_param)


@probe
def test_batchnorm_forward_test(p, batchnorm_forward):
    x, gamma, beta = p.input("x"), p.input("gamma"), p.input("beta")
    bn_param = {"mode": "test", "running_mean": p.input("running_mean"), "running_var": p.input("running_var")}
    _forward(p, "test", batchnorm_forward, x, gamma, beta, bn_param)
    _running(p, "test", bn_param)
    _forward(p, "single", batchnorm_forward, x[:1], gamma, beta, {"mode": "test", "running_mean": p.input("running_mean"),
                                                                  "running_var": p.input("running_var")})
    bn_param = {"mode": "train"}
    ones, zeros = np.ones(3), np.zeros(3)
    for k in range(50):
        p.run("warmup", batchnorm_forward, p.input(f"warmup_{k}"), ones, zeros, bn_param)
    bn_param["mode"] = "test"
    _forward(p, "after_warmup", batchnorm_forward, p.input("warmup_50"), ones, zeros, bn_param)
    raised = {}
    for mode in UNKNOWN_MODES:
        try:
            batchnorm_forward(p.input("x"), gamma, beta, {"mode": mode})
            raised[mode] = None
        except Exception as err:
            raised[mode] = type(err).__name__
    p.value("unknown_modes", raised)


def _gradients(p, forward, backward, case: str):
    x, gamma, beta, dout = (p.input(f"{case}.{k}") for k in ("x", "gamma", "beta", "dout"))
    _, cache = _forward(p, f"{case}.out", forward, x, gamma, beta, {"mode": "train"})
    if cache is None and f"{case}.out" in p.errors:
        return
    grads = p.run(f"{case}.grads", backward, dout, cache)
    if not isinstance(grads, (tuple, list)) or len(grads) != 3:
        if grads is not None:
            p.errors[f"{case}.grads"] = f"returned {type(grads).__name__}, not the tuple (dx, dgamma, dbeta)"
        return
    for key, value in zip(("dx", "dgamma", "dbeta"), grads):
        p.array(f"{case}.{key}", value)


@probe
def test_batchnorm_backward(p, batchnorm_forward, batchnorm_backward):
    for case in p.input("cases").tolist():
        _gradients(p, batchnorm_forward, batchnorm_backward, case)


@probe
def test_batchnorm_backward_alt(p, batchnorm_forward, batchnorm_backward_alt):
    for case in p.input("cases").tolist():
        _gradients(p, batchnorm_forward, batchnorm_backward_alt, case)


def _dropout(p, name, forward, x, dropout_param):
    """out of dropout_forward (exported as `name`, the cache's mask as `name`.mask)."""
    result = p.run(name, forward, x, dict(dropout_param))
    if not isinstance(result, tuple) or len(result) != 2:
        if result is not None:
            p.errors[name] = f"returned {type(result).__name__}, not the pair (out, cache)"
        return
    p.array(name, result[0])
    cache = result[1]
    if isinstance(cache, tuple) and len(cache) == 2:
        p.array(f"{name}.mask", cache[1])


@probe
def test_dropout_forward(p, dropout_forward):
    x = p.input("x")
    for k, (prob, seed) in enumerate(zip(p.input("p").tolist(), p.input("seeds").tolist())):
        param = {"mode": "train", "p": prob} if seed < 0 else {"mode": "train", "p": prob, "seed": seed}
        _dropout(p, f"train_{k}", dropout_forward, x, param)
    _dropout(p, "test", dropout_forward, x, {"mode": "test", "p": 0.5})
    same, other = p.input("same_seed").tolist(), p.input("other_seed").tolist()
    for name, seed in (("seed_a", same), ("seed_b", same), ("seed_c", other)):
        _dropout(p, name, dropout_forward, x, {"mode": "train", "p": 0.5, "seed": seed})
    _dropout(p, "p0", dropout_forward, x, {"mode": "train", "p": 0.0, "seed": same})
    for shape in ("1d", "3d"):
        _dropout(p, f"shape_{shape}", dropout_forward, p.input(f"x_{shape}"),
                 {"mode": "train", "p": 0.3, "seed": same})


@probe
def test_dropout_backward(p, dropout_backward):
    """dropout_backward alone, on caches the grader made: (dropout_param, mask) with the grader's masks."""
    for k, prob in enumerate(p.input("p").tolist()):
        cache = ({"mode": "train", "p": prob}, p.input(f"case_{k}.mask"))
        p.array(f"case_{k}.dx", p.run(f"case_{k}.dx", dropout_backward, p.input(f"case_{k}.dout"), cache))
    dout = p.input("identity_dout")
    for name, cache in (("test_mode", ({"mode": "test", "p": 0.5}, None)),
                        ("p0", ({"mode": "train", "p": 0.0}, np.ones_like(dout)))):
        p.array(f"{name}.dx", p.run(f"{name}.dx", dropout_backward, dout.copy(), cache))
