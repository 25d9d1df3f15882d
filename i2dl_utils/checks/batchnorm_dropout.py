"""Checks for 2_batchnorm_dropout.ipynb: quick self-checks (visible) and thorough hidden tests.

Every check takes the student's functions as arguments and calls them quietly. Expected values
come from the definitions (batch statistics, the momentum update, centred numerical gradients),
never from stored answers. Arrays are (N, D): N examples in a batch, D features.
"""
import numpy as np

from ..gradcheck import eval_numerical_gradient_array, rel_error
from .common import expect, passed, quiet, reports_stubs

EPS, MOMENTUM = 1e-5, 0.9                     # the defaults the notebook asks for
TOLERANCE = {"dx": 1e-7, "dgamma": 1e-9, "dbeta": 1e-9}
# (shape, seed) of the BatchNorm gradient checks (data drawn as in `_batchnorm_problem`): cases
# without near-zero gradient entries, on which centred differences are accurate to about 1e-9
# (rel_error divides by the entries' size, so a tiny entry alone can push it above 1e-7).
GRADIENT_CASES = (((4, 5), 0), ((5, 5), 2), ((10, 3), 2), ((7, 12), 0))


def _batchnorm(forward, x, gamma, beta, bn_param) -> np.ndarray:
    with quiet():
        out, _ = forward(x, gamma, beta, bn_param)
    expect(np.shape(out) == x.shape,
           f"batchnorm_forward should return `out` shaped like x {x.shape}, got {np.shape(out)}")
    return np.asarray(out)


def _dropout(forward, x, dropout_param):
    with quiet():
        out, cache = forward(x, dict(dropout_param))
    expect(np.shape(out) == x.shape,
           f"dropout_forward should return `out` shaped like x {x.shape}, got {np.shape(out)}")
    return np.asarray(out), cache


# ---------------------------------------------------------------- BatchNorm forward

@reports_stubs
def batchnorm_forward_quick(forward) -> None:
    """Visible: a small two-layer net's activations (200, 3), before and after train-mode BatchNorm."""
    rng = np.random.default_rng(231)
    x = np.maximum(0, rng.standard_normal((200, 50)) @ rng.standard_normal((50, 60))) @ rng.standard_normal((60, 3))
    gamma, beta = np.array([1.0, 2.0, 3.0]), np.array([11.0, 12.0, 13.0])
    out = _batchnorm(forward, x, gamma, beta, {"mode": "train"})
    print("before:  means", np.round(x.mean(axis=0), 2), " stds", np.round(x.std(axis=0), 2))
    print("after:   means", np.round(out.mean(axis=0), 2), " stds", np.round(out.std(axis=0), 2))
    print("wanted:  means", beta, "  stds", gamma)
    expect(np.allclose(out.mean(axis=0), beta, atol=1e-6) and np.allclose(out.std(axis=0), gamma, rtol=1e-4),
           "train mode: each output feature should have mean beta and std gamma: "
           "normalise with the batch mean and variance over axis 0, then scale by gamma and shift by beta")
    passed("train-mode BatchNorm gives every feature mean beta and std gamma")


def batchnorm_train_statistics(forward) -> None:
    """Hidden: per-feature output mean beta, std gamma * sqrt(var / (var + eps)), biased variance."""
    rng = np.random.default_rng(0)
    for n in (200, 4):                      # with 4 examples, N versus N - 1 makes a 13 % difference
        scales = np.array([20.0, 1.0, 0.5, 3e-3])       # the last feature's variance is about eps
        x = rng.standard_normal((n, 4)) * scales + rng.uniform(-10, 10, 4)
        gamma, beta = rng.uniform(0.5, 3, 4), rng.uniform(-5, 5, 4)
        out = _batchnorm(forward, x, gamma, beta, {"mode": "train"})
        mean, std = out.mean(axis=0), out.std(axis=0)
        expect(np.allclose(mean, beta, atol=1e-6),
               f"train mode, batch of {n}: output feature means {np.round(mean, 4)}, expected beta "
               f"{np.round(beta, 4)}: subtract the batch mean (over axis 0) before scaling and shifting")
        var = x.var(axis=0)
        wanted = gamma * np.sqrt(var / (var + EPS))
        expect(np.allclose(std, wanted, rtol=1e-5),
               f"train mode, batch of {n}: output feature stds {np.round(std, 4)}, expected "
               f"{np.round(wanted, 4)} (gamma, shrunk where the variance is close to eps): divide by "
               "sqrt(var + eps) with the biased batch variance (mean over the batch, divide by N)")
    passed("train mode: every feature has mean beta and std gamma (biased variance, eps)")


def batchnorm_running_statistics(forward) -> None:
    """Hidden: defaults (zeros, momentum 0.9) and three known momentum updates, stored in bn_param."""
    rng = np.random.default_rng(1)
    gamma, beta = np.ones(3), np.zeros(3)
    x = rng.standard_normal((16, 3)) * [1.0, 2.0, 4.0] + [5.0, -1.0, 0.0]
    bn_param = {"mode": "train"}
    _batchnorm(forward, x, gamma, beta, bn_param)
    expect("running_mean" in bn_param and "running_var" in bn_param,
           "write the updated running_mean and running_var back into bn_param")
    for key, stat in (("running_mean", x.mean(axis=0)), ("running_var", x.var(axis=0))):
        expect(np.allclose(bn_param[key], (1 - MOMENTUM) * stat, rtol=1e-7),
               f"after one training batch from empty bn_param, {key} is {np.round(bn_param[key], 4)}, expected "
               f"{np.round((1 - MOMENTUM) * stat, 4)}: start from zeros(D), use momentum 0.9 by default and "
               "running = momentum * running + (1 - momentum) * batch statistic (biased variance)")

    momentum = 0.7
    mean, var = rng.uniform(-1, 1, 3), rng.uniform(0.5, 2, 3)
    bn_param = {"mode": "train", "momentum": momentum, "running_mean": mean.copy(), "running_var": var.copy()}
    for _ in range(3):
        x = rng.standard_normal((16, 3)) * 2 + 3
        _batchnorm(forward, x, gamma, beta, bn_param)
        mean = momentum * mean + (1 - momentum) * x.mean(axis=0)
        var = momentum * var + (1 - momentum) * x.var(axis=0)
    expect(np.allclose(bn_param["running_mean"], mean, rtol=1e-7) and np.allclose(bn_param["running_var"], var, rtol=1e-7),
           f"with momentum {momentum} and given running statistics, three training batches should give "
           f"running_mean {np.round(mean, 4)} and running_var {np.round(var, 4)}, got "
           f"{np.round(bn_param['running_mean'], 4)} and {np.round(bn_param['running_var'], 4)}: "
           "use bn_param's momentum, running_mean and running_var when they are given")
    passed("running statistics: zeros to start, momentum updates, stored in bn_param")


def batchnorm_test_mode(forward) -> None:
    """Hidden: test mode uses running stats plus eps, per example, and leaves them unchanged."""
    rng = np.random.default_rng(2)
    mean = rng.uniform(-3, 3, 5)
    var = np.array([4.0, 0.5, 1e-6, 0.0, 2.0])       # a tiny and a zero running variance
    x = rng.standard_normal((6, 5)) * 2 + 1
    gamma, beta = rng.uniform(0.5, 2, 5), rng.uniform(-1, 1, 5)
    bn_param = {"mode": "test", "running_mean": mean.copy(), "running_var": var.copy()}
    out = _batchnorm(forward, x, gamma, beta, bn_param)
    expect(np.all(np.isfinite(out)),
           "test mode gave inf or nan for a feature whose running variance is 0: "
           "divide by sqrt(running_var + eps), eps keeps it finite")
    wanted = gamma * (x - mean) / np.sqrt(var + EPS) + beta
    expect(np.allclose(out, wanted, rtol=1e-7, atol=1e-9),
           "test mode should give gamma * (x - running_mean) / sqrt(running_var + eps) + beta, "
           "with the running statistics from bn_param (not the batch's own) and eps (also when "
           f"running_var is tiny); largest difference {np.max(np.abs(out - wanted)):.3g}")
    expect(np.array_equal(bn_param["running_mean"], mean) and np.array_equal(bn_param["running_var"], var),
           "test mode must not change running_mean or running_var")
    single = _batchnorm(forward, x[:1], gamma, beta, dict(bn_param))
    expect(np.allclose(single, wanted[:1], rtol=1e-7, atol=1e-9),
           "test mode should work on a single example, independently of the rest of the batch")
    passed("test mode: running statistics with eps, batch-independent, statistics unchanged")


def batchnorm_after_warmup(forward) -> None:
    """Hidden: after 50 training batches, test mode on a fresh batch gives means ~0 and stds ~1."""
    rng = np.random.default_rng(3)
    w1, w2 = rng.standard_normal((50, 60)), rng.standard_normal((60, 3))

    def batch():
        return np.maximum(0, rng.standard_normal((200, 50)) @ w1) @ w2

    gamma, beta, bn_param = np.ones(3), np.zeros(3), {"mode": "train"}
    for _ in range(50):
        _batchnorm(forward, batch(), gamma, beta, bn_param)
    bn_param["mode"] = "test"
    out = _batchnorm(forward, batch(), gamma, beta, bn_param)
    mean, std = out.mean(axis=0), out.std(axis=0)
    expect(np.all(np.abs(mean) < 0.3) and np.all(np.abs(std - 1) < 0.3),
           f"after 50 training batches, test mode on a new batch gave means {np.round(mean, 2)} and "
           f"stds {np.round(std, 2)}, expected about 0 and 1: update the running statistics in train "
           "mode and normalise with them in test mode")
    passed(f"after 50 training batches, test mode gives means {np.round(mean, 2)} and stds {np.round(std, 2)}")


def batchnorm_unknown_mode(forward) -> None:
    """Hidden: a mode other than 'train' or 'test' raises ValueError."""
    x = np.random.default_rng(4).standard_normal((4, 3))
    for mode in ("eval", "inference"):
        try:
            with quiet():
                forward(x, np.ones(3), np.zeros(3), {"mode": mode})
        except ValueError:
            continue
        except Exception as error:
            raise AssertionError(f"mode {mode!r} raised {type(error).__name__}: raise a ValueError "
                                 "for any mode other than 'train' and 'test'") from None
        raise AssertionError(f"batchnorm_forward accepted mode {mode!r}: raise a ValueError for any "
                             "mode other than 'train' and 'test'")
    passed("an unknown mode raises ValueError")


# ---------------------------------------------------------------- BatchNorm backward

def _batchnorm_problem(shape, seed):
    """x (N, D) far from 0, gamma, beta (D,), dout (N, D), as drawn for the gradient checks."""
    rng = np.random.default_rng(seed)
    x = 5 * rng.standard_normal(shape) + 12
    gamma, beta, dout = rng.standard_normal(shape[1]), rng.standard_normal(shape[1]), rng.standard_normal(shape)
    return x, gamma, beta, dout


def batchnorm_gradients(forward, backward, shape=(4, 5), seed=0) -> dict:
    """{name: (analytic, numerical)} for dx, dgamma, dbeta of train-mode BatchNorm at one point."""
    x, gamma, beta, dout = _batchnorm_problem(shape, seed)
    bn_param = {"mode": "train"}
    with quiet():
        numerical = {
            "dx": eval_numerical_gradient_array(lambda v: forward(v, gamma, beta, bn_param)[0], x.copy(), dout),
            "dgamma": eval_numerical_gradient_array(lambda v: forward(x, v, beta, bn_param)[0], gamma.copy(), dout),
            "dbeta": eval_numerical_gradient_array(lambda v: forward(x, gamma, v, bn_param)[0], beta.copy(), dout),
        }
        _, cache = forward(x, gamma, beta, bn_param)
        analytic = backward(dout, cache)
    expect(isinstance(analytic, (tuple, list)) and len(analytic) == 3,
           f"{backward.__name__} should return the tuple (dx, dgamma, dbeta)")
    return {name: (value, numerical[name]) for name, value in zip(("dx", "dgamma", "dbeta"), analytic)}


def expect_close_gradients(gradients: dict, what: str, verbose: bool = True) -> None:
    """gradients: {name: (analytic, numerical)}; shapes must match, rel_error below TOLERANCE."""
    for name, (analytic, numerical) in gradients.items():
        expect(np.shape(analytic) == numerical.shape,
               f"{what}: {name} should have shape {numerical.shape}, got {np.shape(analytic)}"
               + ("" if name == "dx" else " (sum over the batch axis, axis=0)"))
        error = rel_error(analytic, numerical)
        if verbose:
            print(f"{name:>6}: relative error {error:.1e} (below {TOLERANCE[name]:.0e} needed)")
        expect(error < TOLERANCE[name],
               f"{what}: {name} differs from the numerical gradient (relative error {error:.1e}, "
               f"below {TOLERANCE[name]:.0e} needed)")
    if verbose:
        passed(f"{what}: gradients agree with the numerical ones")


def _gradient_failure(forward, backward) -> str:
    """The first failing gradient check of `backward` on GRADIENT_CASES, or '' if all pass."""
    for shape, seed in GRADIENT_CASES:
        try:
            expect_close_gradients(batchnorm_gradients(forward, backward, shape, seed),
                                   f"{backward.__name__} with x of shape {shape}", verbose=False)
        except AssertionError as error:
            return str(error)
    return ""


def _passes_gradient_checks(forward, backward) -> bool:
    try:
        return not _gradient_failure(forward, backward)
    except Exception:               # e.g. NotImplementedError: not written yet
        return False


def batchnorm_backward_check(forward, backward) -> None:
    """Hidden: dx, dgamma, dbeta agree with numerical gradients on GRADIENT_CASES."""
    failure = _gradient_failure(forward, backward)
    expect(not failure, failure + ". This uses your batchnorm_forward in train mode: make its checks pass first.")
    passed(f"{backward.__name__} agrees with numerical gradients on {len(GRADIENT_CASES)} random problems")


def batchnorm_backward_alt_check(forward, backward_alt, backward) -> None:
    """Hidden: the closed form passes the gradient checks and agrees with the graph version on a
    large batch (compared only when batchnorm_backward passes its own checks)."""
    batchnorm_backward_check(forward, backward_alt)
    if not _passes_gradient_checks(forward, backward):
        print("(agreement with batchnorm_backward not compared: that one does not pass its own checks)")
        return
    x, gamma, beta, dout = _batchnorm_problem((256, 64), 5)
    with quiet():
        _, cache = forward(x, gamma, beta, {"mode": "train"})
        graph, closed = backward(dout, cache), backward_alt(dout, cache)
    expect_close_gradients(dict(zip(("dx", "dgamma", "dbeta"), zip(closed, graph))),
                           "batchnorm_backward_alt versus batchnorm_backward on a (256, 64) batch", verbose=False)
    passed("batchnorm_backward_alt agrees with batchnorm_backward on a (256, 64) batch")


# ---------------------------------------------------------------- Dropout

@reports_stubs
def dropout_forward_quick(forward) -> None:
    """Visible: dropped fraction and mean for a few p, in train and test mode."""
    x = np.random.default_rng(5).standard_normal((500, 500)) + 10
    for p in (0.25, 0.4, 0.7):
        train, _ = _dropout(forward, x, {"mode": "train", "p": p, "seed": 123})
        test, _ = _dropout(forward, x, {"mode": "test", "p": p})
        print(f"p = {p}: dropped {np.mean(train == 0):.3f} in train, {np.mean(test == 0):.3f} in test; "
              f"mean of x {x.mean():.3f}, of train output {train.mean():.3f}, of test output {test.mean():.3f}")
        expect(abs(np.mean(train == 0) - p) < 0.01,
               f"p = {p} should drop about {p:.0%} of the units in train mode (p is the probability of DROPPING)")
        expect(abs(train.mean() - x.mean()) < 0.03 * x.mean() and np.array_equal(test, x),
               "inverted dropout keeps the mean in train mode (scale kept units by 1/(1-p)) and "
               "returns x unchanged in test mode")
    passed("dropout drops a fraction p, keeps the mean, and is the identity at test time")


def dropout_forward_check(forward) -> None:
    """Hidden: fraction p dropped, kept units scaled by 1/(1-p), test mode identity, seeds, p = 0."""
    x = np.random.default_rng(6).standard_normal((500, 500)) + 10
    for p, seed in ((0.25, 1), (0.5, None), (0.75, 2)):
        param = {"mode": "train", "p": p} if seed is None else {"mode": "train", "p": p, "seed": seed}
        out, _ = _dropout(forward, x, param)
        dropped = np.mean(out == 0)
        expect(abs(dropped - p) < 0.01,
               f"with p = {p}, {dropped:.3f} of the units were dropped: p is the probability of DROPPING "
               "a unit, so keep each unit with probability 1 - p")
        kept = out != 0
        expect(np.allclose(out[kept], x[kept] / (1 - p), rtol=1e-7),
               f"with p = {p}, kept units should be x / (1 - p) (inverted dropout: scale during training)")
        expect(abs(out.mean() - x.mean()) < 0.03 * x.mean(),
               f"with p = {p}, the mean went from {x.mean():.3f} to {out.mean():.3f}: the 1/(1-p) "
               "scaling keeps it unchanged on average")
    out, _ = _dropout(forward, x, {"mode": "test", "p": 0.5})
    expect(np.array_equal(out, x), "test mode should return x unchanged (no dropping, no scaling)")
    first, _ = _dropout(forward, x, {"mode": "train", "p": 0.5, "seed": 3})
    again, _ = _dropout(forward, x, {"mode": "train", "p": 0.5, "seed": 3})
    other, _ = _dropout(forward, x, {"mode": "train", "p": 0.5, "seed": 4})
    expect(np.array_equal(first, again), "the same seed should give the same mask")
    expect(not np.array_equal(first, other), "different seeds should give different masks")
    out, _ = _dropout(forward, x, {"mode": "train", "p": 0.0, "seed": 5})
    expect(np.array_equal(out, x), "with p = 0 nothing is dropped and nothing rescaled: out should equal x")
    passed("dropout_forward: drops a fraction p, scales by 1/(1-p), seeds, test mode, p = 0")


def dropout_gradients(forward, backward, p=0.2, shape=(10, 10), seed=123) -> dict:
    """{'dx': (analytic, numerical)} for train-mode dropout with a fixed seed (so a fixed mask)."""
    rng = np.random.default_rng(seed)
    x, dout = rng.standard_normal(shape) + 10, rng.standard_normal(shape)
    param = {"mode": "train", "p": p, "seed": seed}
    with quiet():
        numerical = eval_numerical_gradient_array(lambda v: forward(v, dict(param))[0], x.copy(), dout)
        _, cache = forward(x, dict(param))
        analytic = backward(dout, cache)
    return {"dx": (analytic, numerical)}


def dropout_backward_check(forward, backward) -> None:
    """Hidden: gradient checks for several p, identity in test mode and for p = 0."""
    for p, shape, seed in ((0.2, (10, 10), 123), (0.8, (6, 7), 7), (0.5, (3, 20), 11)):
        expect_close_gradients(dropout_gradients(forward, backward, p, shape, seed),
                               f"dropout_backward with p = {p} (the check needs the same mask for the "
                               "same seed)", verbose=False)
    dout = np.random.default_rng(8).standard_normal((5, 4))
    for param in ({"mode": "test", "p": 0.5}, {"mode": "train", "p": 0.0, "seed": 1}):
        _, cache = _dropout(forward, np.ones((5, 4)), param)
        with quiet():
            dx = backward(dout, cache)
        expect(np.array_equal(dx, dout), f"dropout_backward with {param}: dx should equal dout")
    passed("dropout_backward agrees with numerical gradients; identity in test mode and for p = 0")
