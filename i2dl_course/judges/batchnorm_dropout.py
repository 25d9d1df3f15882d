"""Judges of 2_batchnorm_dropout.ipynb: the grader's inputs for each hidden test, and the verdicts.

BatchNorm is compared with the reference solution (source/, run here) and with its defining
properties, so that a wrong result gets a message naming the likely mistake. Dropout is random:
it is judged by exact properties (fraction dropped, 1/(1-p) scaling, seeds) and the backward pass
on caches the grader made (its own masks), so it neither rides on nor suffers from the student's
forward. Arrays are (N, D).
"""
import numpy as np

from i2dl_utils.checks.batchnorm_dropout import expect_close_gradients
from i2dl_utils.checks.common import expect

from .errors import in_words

PRELUDE = "import numpy as np"
EPS, MOMENTUM = 1e-5, 0.9
GRADIENT_SHAPES = ((4, 5), (5, 5), (10, 3), (7, 12))     # one square (N = D), as the notebook says
DROPOUT_SHAPE = (250, 250)                                # 62,500 units: the dropped share is within 1 % of p


def _bn_problem(rng, shape):
    return {"x": 5 * rng.standard_normal(shape) + 12, "gamma": rng.standard_normal(shape[1]),
            "beta": rng.standard_normal(shape[1]), "dout": rng.standard_normal(shape)}


def inputs(rng: np.random.Generator, data=None) -> dict:
    """{grade id: {name: array}} for one grading run (arrays of float64 unless said otherwise)."""
    train = {}
    for n in (200, 4):                                     # with 4 examples, N versus N - 1 makes 13 %
        scales = np.array([20.0, 1.0, 0.5, 3e-3])          # the last feature's variance is about eps
        train[f"x_{n}"] = rng.standard_normal((n, 4)) * scales + rng.uniform(-10, 10, 4)
        train[f"gamma_{n}"], train[f"beta_{n}"] = rng.uniform(0.5, 3, 4), rng.uniform(-5, 5, 4)
    train["first_x"] = rng.standard_normal((16, 3)) * [1.0, 2.0, 4.0] + [5.0, -1.0, 0.0]
    train["momentum"] = np.array(round(rng.uniform(0.5, 0.8), 2))
    train["running_mean"], train["running_var"] = rng.uniform(-1, 1, 3), rng.uniform(0.5, 2, 3)
    for k in range(3):
        train[f"batch_{k}"] = rng.standard_normal((16, 3)) * 2 + 3

    test = {"x": rng.standard_normal((6, 5)) * 2 + 1, "running_mean": rng.uniform(-3, 3, 5),
            "running_var": np.array([4.0, 0.5, 1e-6, 0.0, 2.0]),      # a tiny and a zero running variance
            "gamma": rng.uniform(0.5, 2, 5), "beta": rng.uniform(-1, 1, 5)}
    w1, w2 = rng.standard_normal((50, 60)), rng.standard_normal((60, 3))
    for k in range(51):                                  # 50 training batches, then one in test mode
        test[f"warmup_{k}"] = np.maximum(0, rng.standard_normal((200, 50)) @ w1) @ w2

    backward, backward_alt = {"cases": np.array(["a", "b", "c", "d"])}, {"cases": np.array(["a", "b", "c", "d", "big"])}
    for case, shape in zip("abcd", GRADIENT_SHAPES):
        for key, value in _bn_problem(rng, shape).items():
            backward[f"{case}.{key}"] = value
            backward_alt[f"{case}.{key}"] = value
    for key, value in _bn_problem(rng, (256, 64)).items():
        backward_alt[f"big.{key}"] = value

    seeds = rng.integers(0, 2**31, 8)
    forward = {"x": rng.standard_normal(DROPOUT_SHAPE) + 10, "p": np.array([0.25, 0.5, 0.75]),
               "seeds": np.array([seeds[0], -1, seeds[1]]),     # -1: no seed given
               "same_seed": np.array(seeds[2]), "other_seed": np.array(seeds[3]),
               "x_1d": rng.standard_normal(5000) + 10, "x_3d": rng.standard_normal((20, 20, 25)) + 10}
    dropout_back = {"p": np.array([0.2, 0.8, 0.5, 0.4]), "identity_dout": rng.standard_normal((5, 4))}
    for k, (p, shape) in enumerate(zip(dropout_back["p"], ((10, 10), (6, 7), (3, 20), (4, 5, 6)))):
        dropout_back[f"case_{k}.mask"] = (rng.random(shape) >= p) / (1 - p)     # the task's mask: out = x * mask
        dropout_back[f"case_{k}.dout"] = rng.standard_normal(shape)
    return {"test_batchnorm_forward_train": train, "test_batchnorm_forward_test": test,
            "test_batchnorm_backward": backward, "test_batchnorm_backward_alt": backward_alt,
            "test_dropout_forward": forward, "test_dropout_backward": dropout_back}


# ---------------------------------------------------------------- BatchNorm forward

def _train_call(n):
    return f"batchnorm_forward in train mode (a batch of {n})"


def test_batchnorm_forward_train(ev, ctx) -> str:
    i, ref = ctx.inputs, ctx.reference
    for n in (200, 4):
        x, gamma, beta = i[f"x_{n}"], i[f"gamma_{n}"], i[f"beta_{n}"]
        out = ev.array(f"out_{n}", _train_call(n), shape=x.shape)
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
        expected, _ = ref.batchnorm_forward(x, gamma, beta, {"mode": "train"})
        expect(np.allclose(out, expected, rtol=1e-6, atol=1e-8),
               f"train mode, batch of {n}: the output differs from the reference by up to "
               f"{np.max(np.abs(out - expected)):.3g}: normalise each feature, then out = gamma * x_hat + beta")

    expect(ev.has("first.running_mean") and ev.has("first.running_var"),
           "write the updated running_mean and running_var back into bn_param")
    x = i["first_x"]
    for key, stat in (("running_mean", x.mean(axis=0)), ("running_var", x.var(axis=0))):
        got = ev.array(f"first.{key}", f"bn_param['{key}'] after one training batch", shape=(3,))
        expect(np.allclose(got, (1 - MOMENTUM) * stat, rtol=1e-7),
               f"after one training batch from empty bn_param, {key} is {np.round(got, 4)}, expected "
               f"{np.round((1 - MOMENTUM) * stat, 4)}: start from zeros(D), use momentum 0.9 by default and "
               "running = momentum * running + (1 - momentum) * batch statistic (biased variance)")

    momentum = float(i["momentum"])
    mean, var = i["running_mean"], i["running_var"]
    for k in range(3):
        batch = i[f"batch_{k}"]
        mean = momentum * mean + (1 - momentum) * batch.mean(axis=0)
        var = momentum * var + (1 - momentum) * batch.var(axis=0)
    got_mean = ev.array("momentum.running_mean", "bn_param['running_mean'] after three batches", shape=(3,))
    got_var = ev.array("momentum.running_var", "bn_param['running_var'] after three batches", shape=(3,))
    expect(np.allclose(got_mean, mean, rtol=1e-7) and np.allclose(got_var, var, rtol=1e-7),
           f"with momentum {momentum} and given running statistics, three training batches should give "
           f"running_mean {np.round(mean, 4)} and running_var {np.round(var, 4)}, got "
           f"{np.round(got_mean, 4)} and {np.round(got_var, 4)}: "
           "use bn_param's momentum, running_mean and running_var when they are given")
    return "train mode: every feature has mean beta and std gamma (biased variance, eps); running " \
           "statistics start from zeros, follow the momentum updates and are stored in bn_param"


def test_batchnorm_forward_test(ev, ctx) -> str:
    i, ref = ctx.inputs, ctx.reference
    x, gamma, beta, mean, var = i["x"], i["gamma"], i["beta"], i["running_mean"], i["running_var"]
    out = ev.array("test", "batchnorm_forward in test mode", shape=x.shape, finite=False)
    expect(np.all(np.isfinite(out)),
           "test mode gave inf or nan for a feature whose running variance is 0: "
           "divide by sqrt(running_var + eps), eps keeps it finite")
    wanted, _ = ref.batchnorm_forward(x, gamma, beta, {"mode": "test", "running_mean": mean, "running_var": var})
    expect(np.allclose(out, wanted, rtol=1e-7, atol=1e-9),
           "test mode should give gamma * (x - running_mean) / sqrt(running_var + eps) + beta, "
           "with the running statistics from bn_param (not the batch's own) and eps (also when "
           f"running_var is tiny); largest difference {np.max(np.abs(out - wanted)):.3g}")
    after = [ev.array(f"test.{k}", f"bn_param['{k}'] after test mode", shape=(5,)) for k in ("running_mean", "running_var")]
    expect(np.array_equal(after[0], mean) and np.array_equal(after[1], var),
           "test mode must not change running_mean or running_var")
    single = ev.array("single", "batchnorm_forward in test mode on one example", shape=(1, 5))
    expect(np.allclose(single, wanted[:1], rtol=1e-7, atol=1e-9),
           "test mode should work on a single example, independently of the rest of the batch")

    warm = ev.array("after_warmup", "batchnorm_forward in test mode after 50 training batches", shape=(200, 3))
    m, s = warm.mean(axis=0), warm.std(axis=0)
    expect(np.all(np.abs(m) < 0.3) and np.all(np.abs(s - 1) < 0.3),
           f"after 50 training batches, test mode on a new batch gave means {np.round(m, 2)} and "
           f"stds {np.round(s, 2)}, expected about 0 and 1: update the running statistics in train "
           "mode and normalise with them in test mode")

    raised = ev.value("unknown_modes", dict, "batchnorm_forward with an unknown mode")
    for mode in ("eval", "inference"):
        error = raised.get(mode)
        expect(error is not None, f"batchnorm_forward accepted mode {mode!r}: raise a ValueError for any "
                                  "mode other than 'train' and 'test'")
        expect(error == "ValueError", f"mode {mode!r} raised {str(error)[:40]}: raise a ValueError "
                                      "for any mode other than 'train' and 'test'")
    return "test mode: running statistics with eps, batch-independent, statistics unchanged; " \
           "means about 0 and stds about 1 after 50 training batches; an unknown mode raises ValueError"


# ---------------------------------------------------------------- BatchNorm backward

def _gradients(ev, ctx, backward: str) -> str:
    ref = ctx.reference
    for case in ctx.inputs["cases"].tolist():
        x, gamma, beta, dout = (ctx.inputs[f"{case}.{k}"] for k in ("x", "gamma", "beta", "dout"))
        expected_out, cache = ref.batchnorm_forward(x, gamma, beta, {"mode": "train"})
        expected = getattr(ref, backward)(dout, cache)
        out = ev.array(f"{case}.out", f"batchnorm_forward in train mode (x of shape {x.shape})", shape=x.shape)
        error = ev.error(f"{case}.grads")           # the probe's call of the backward, before dx, dgamma, dbeta
        if error is not None:
            blame = "" if np.allclose(out, expected_out, rtol=1e-6, atol=1e-8) else (
                f"; your batchnorm_forward's train-mode output is wrong too and {backward} uses its cache: "
                "make batchnorm_forward's checks pass first")
            raise AssertionError(f"{backward}(dout, cache) with x of shape {x.shape} {in_words(error)}{blame}")
        got = [ev.array(f"{case}.{k}", f"{backward}'s {k}") for k in ("dx", "dgamma", "dbeta")]
        try:
            expect_close_gradients(dict(zip(("dx", "dgamma", "dbeta"), zip(got, expected))),
                                   f"{backward} with x of shape {x.shape}", verbose=False,
                                   against="the correct gradient")
        except AssertionError as failure:
            if not np.allclose(out, expected_out, rtol=1e-6, atol=1e-8):
                raise AssertionError(f"{failure}. Your batchnorm_forward's train-mode output is wrong too and "
                                     f"{backward} uses its cache: make batchnorm_forward's checks pass first") from None
            raise
    return f"{backward} gives the correct gradients on {len(ctx.inputs['cases'])} random problems"


def test_batchnorm_backward(ev, ctx) -> str:
    return _gradients(ev, ctx, "batchnorm_backward")


def test_batchnorm_backward_alt(ev, ctx) -> str:
    return _gradients(ev, ctx, "batchnorm_backward_alt") + " (one of them a (256, 64) batch)"


# ---------------------------------------------------------------- Dropout

def _expect_inverted_dropout(out, x, p, what):
    dropped = np.mean(out == 0)
    tolerance = 0.01 if out.size >= 50_000 else 0.03
    expect(abs(dropped - p) < tolerance,
           f"{what}: {dropped:.3f} of the units were dropped: p is the probability of DROPPING a unit, "
           "so keep each unit with probability 1 - p")
    kept = out != 0
    expect(np.allclose(out[kept], x[kept] / (1 - p), rtol=1e-7),
           f"{what}: kept units should be x / (1 - p) (inverted dropout: scale during training)")
    expect(abs(out.mean() - x.mean()) < 0.03 * x.mean(),
           f"{what}: the mean went from {x.mean():.3f} to {out.mean():.3f}: the 1/(1-p) scaling keeps it "
           "unchanged on average")


def test_dropout_forward(ev, ctx) -> str:
    i = ctx.inputs
    x = i["x"]
    for k, (p, seed) in enumerate(zip(i["p"].tolist(), i["seeds"].tolist())):
        what = f"dropout_forward with p = {p}" + ("" if seed < 0 else " and a seed")
        _expect_inverted_dropout(ev.array(f"train_{k}", what, shape=x.shape), x, p, f"with p = {p}")
    test = ev.array("test", "dropout_forward in test mode", shape=x.shape)
    expect(np.array_equal(test, x), "test mode should return x unchanged (no dropping, no scaling)")
    a, b, c = (ev.array(n, "dropout_forward with a seed", shape=x.shape) for n in ("seed_a", "seed_b", "seed_c"))
    expect(np.array_equal(a, b), "the same seed should give the same mask")
    expect(not np.array_equal(a, c), "different seeds should give different masks")
    expect(np.array_equal(ev.array("p0", "dropout_forward with p = 0", shape=x.shape), x),
           "with p = 0 nothing is dropped and nothing rescaled: out should equal x")
    for shape in ("1d", "3d"):
        given = i[f"x_{shape}"]
        out = ev.array(f"shape_{shape}", f"dropout_forward on an input of shape {given.shape} (x may have any shape)",
                       shape=given.shape)
        _expect_inverted_dropout(out, given, 0.3, f"on an input of shape {given.shape} (x may have any shape)")
    mask = ev.array("train_0.mask", "the mask in dropout_forward's cache (dropout_param, mask)", shape=x.shape)
    expect(np.allclose(x * mask, ev.array("train_0", "dropout_forward", shape=x.shape), rtol=1e-7),
           "the cache's mask should be what out = x * mask uses: 1/(1-p) for kept units, 0 for dropped ones "
           "(dropout_backward gets this cache)")
    return ("dropout_forward: drops a fraction p, scales by 1/(1-p), seeds, test mode, p = 0, inputs of any shape, "
            "the mask in its cache")


def test_dropout_backward(ev, ctx) -> str:
    i = ctx.inputs
    for k, p in enumerate(i["p"].tolist()):
        mask, dout = i[f"case_{k}.mask"], i[f"case_{k}.dout"]
        what = f"dropout_backward with p = {p} on the grader's cache (dropout_param, mask)"
        dx = ev.array(f"case_{k}.dx", what, shape=dout.shape)
        if np.allclose(dx, dout * mask, rtol=1e-7, atol=1e-12):
            continue
        kept = mask != 0
        expect(np.any(dx != 0), f"{what}: returned only zeros")
        expect(not np.allclose(dx, dout), f"{what}: returned dout unchanged in train mode: let the gradient "
                                          "through the kept units only")
        expect(not np.allclose(dx, dout * kept), f"{what}: the gradient of the kept units is not scaled: "
                                                 "dx = dout * mask (the mask holds 1/(1-p) for kept units)")
        expect(not np.allclose(dx, dout * mask / (1 - p)), f"{what}: scaled by 1/(1-p) twice: the mask in the "
                                                           "cache already holds the scaling, so dx = dout * mask")
        expect(not np.allclose(dx * kept, 0) or not kept.any(),
               f"{what}: the gradient goes through the dropped units only: the mask is nonzero where a unit is kept")
        raise AssertionError(f"{what}: dx should be dout * mask; largest difference "
                             f"{np.max(np.abs(dx - dout * mask)):.3g}")
    dout = i["identity_dout"]
    for name, what in (("test_mode", "in test mode (mask None)"), ("p0", "with p = 0 (a mask of ones)")):
        dx = ev.array(f"{name}.dx", f"dropout_backward {what}", shape=dout.shape)
        expect(np.array_equal(dx, dout), f"dropout_backward {what}: dx should equal dout")
    return "dropout_backward: dx = dout * mask on the grader's masks; identity in test mode and for p = 0"


JUDGES = {f.__name__: f for f in (test_batchnorm_forward_train, test_batchnorm_forward_test, test_batchnorm_backward,
                                  test_batchnorm_backward_alt, test_dropout_forward, test_dropout_backward)}
