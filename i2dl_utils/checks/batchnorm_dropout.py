"""Visible self-checks of 2_batchnorm_dropout.ipynb, run in the student's kernel; they decide no
points (the hidden tests' probes and judges do). Each takes the student's functions and calls them
quietly; expected values come from the definitions (batch statistics, centred numerical
gradients). `expect_close_gradients` is shared with the judges. Arrays are (N, D).
"""
import numpy as np

from ..gradcheck import eval_numerical_gradient_array, rel_error
from .common import expect, passed, quiet
from .stubs import reports_stubs

TOLERANCE = {"dx": 1e-7, "dgamma": 1e-9, "dbeta": 1e-9}


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


def expect_close_gradients(gradients: dict, what: str, verbose: bool = True,
                           against: str = "the numerical gradient") -> None:
    """gradients: {name: (analytic, expected)}; shapes must match, rel_error below TOLERANCE.
    `against` names where the expected values come from (in the messages)."""
    for name, (analytic, numerical) in gradients.items():
        expect(np.shape(analytic) == numerical.shape,
               f"{what}: {name} should have shape {numerical.shape}, got {np.shape(analytic)}"
               + ("" if name == "dx" else " (sum over the batch axis, axis=0)"))
        error = rel_error(analytic, numerical)
        if verbose:
            print(f"{name:>6}: relative error {error:.1e} (below {TOLERANCE[name]:.0e} needed)")
        expect(error < TOLERANCE[name],
               f"{what}: {name} differs from {against} (relative error {error:.1e}, "
               f"below {TOLERANCE[name]:.0e} needed)")
    if verbose:
        passed(f"{what}: gradients agree with the numerical ones")


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
