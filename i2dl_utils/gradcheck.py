"""Numerical gradients (centred differences) and the relative error used to compare them."""
import numpy as np


def eval_numerical_gradient_array(f, x: np.ndarray, df: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Gradient of sum(f(x) * df) with respect to x, by centred differences.

    f: function of the array x (evaluated with x changed in place, then restored);
    df: upstream gradient, same shape as f(x). Returns an array shaped like x.
    """
    grad = np.zeros_like(x, dtype=np.float64)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    while not it.finished:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        pos = np.array(f(x), dtype=np.float64, copy=True)
        x[i] = old - h
        neg = np.array(f(x), dtype=np.float64, copy=True)
        x[i] = old
        grad[i] = np.sum((pos - neg) * df) / (2 * h)
        it.iternext()
    return grad


def rel_error(x: np.ndarray, y: np.ndarray) -> float:
    """max |x - y| / max(1e-8, |x| + |y|), elementwise: about 1e-7 or less means 'agrees'."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))
