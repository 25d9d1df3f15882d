"""Students' mistakes that make torch or Python raise, as the probes export them, come back in the
exercise's words (judges/errors.py): no exception name, the sizes that do not match, what to do.
The errors are raised here by real torch code, not written out."""
import io
import json
import linecache

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from i2dl_course.judges import AssignmentJudges
from i2dl_course.judges.errors import EXCEPTION, in_words
from i2dl_course.judges.evidence import plain_error
from i2dl_utils.probes import _error
from notebooks import ROOT
from test_judges import npy


def raised(function) -> str:
    try:
        function()
    except Exception as err:           # what a probe exports for it
        return _error(err)
    raise AssertionError("expected an error")


MISTAKES = {
    "a head sized 20 on 7 codes": (lambda: nn.Linear(20, 10)(torch.zeros(4, 7)),
                                   ["a Linear layer takes 20 inputs but gets 7 numbers", "latent_dim"]),
    "reconstructions against unflattened images": (
        lambda: torch.zeros(4, 784) - torch.zeros(4, 1, 28, 28),
        ["sizes differ (784 and 28", "flatten the images"]),
    "a reshape to the wrong size": (lambda: torch.zeros(4, 784).reshape(4, 28, 27), ["cannot reshape 3136 numbers"]),
    "view on a transposed tensor": (lambda: torch.zeros(28, 28).t().view(784), ["use x.reshape(...)"]),
    "float64 input to a float32 layer": (lambda: nn.Linear(3, 2)(torch.zeros(4, 3, dtype=torch.float64)),
                                         ["mixes number types", ".float()"]),
    "a loss detached from the weights": (lambda: F.mse_loss(nn.Linear(3, 2)(torch.zeros(4, 3)).detach(),
                                                            torch.zeros(4, 2)).backward(),
                                         ["not connected to the model's weights"]),
    "BatchNorm sized for the wrong features": (lambda: nn.BatchNorm1d(20).eval()(torch.zeros(4, 7)),
                                               ["BatchNorm layer is built for 20 features but gets 7"]),
    "BatchNorm on one example": (lambda: nn.BatchNorm1d(3)(torch.zeros(1, 3)), ["more than one example per batch"]),
    "an unknown keyword": (lambda: nn.Linear(3, 2, latent_dim=4), ["does not accept the argument latent_dim"]),
    "a missing hparams key": (lambda: {"lr": 1}["learning_rate"], ["hparams['learning_rate']"]),
    "flat images into a convolution": (lambda: nn.Conv2d(1, 4, 3)(torch.zeros(4, 784)),
                                       ["gets inputs of shape [4, 784], not images", "(N, 1, 28, 28)"]),
    "a float layer size": (lambda: nn.Linear(784, 784 / 4), ["not a whole number", "use //"]),
    "a tuple into a layer": (lambda: nn.Linear(3, 2)((torch.zeros(4, 3), torch.zeros(4, 3))),
                             ["gets a tuple where it takes one tensor"]),
    "a misspelt layer": (lambda: nn.Sequential().nett, ["uses .nett, which the Sequential object does not have"]),
    "labels unpacked from images": (lambda: [None for images, labels in [torch.zeros(16, 1, 28, 28)]],
                                    ["batches are images only, no labels"]),
    "a dropout probability above 1": (lambda: nn.Dropout(1.5), ["dropout probability of 1.5"]),
    "a layer torch cannot export": (lambda: torch.onnx.export(nn.Bilinear(2, 2, 1), (torch.zeros(1, 2), torch.zeros(1, 2)),
                                                              io.BytesIO(), dynamo=False),
                                    ["uses bilinear, which the grader cannot trace into a graph"]),
}


@pytest.mark.parametrize("mistake", MISTAKES)
def test_a_mistake_is_said_in_the_exercises_words(mistake):
    function, says = MISTAKES[mistake]
    error = raised(function)
    words = in_words(error)
    assert words.startswith("failed: ") and all(s in words for s in says), (error, words)
    assert not EXCEPTION.search(words.split(": ", 1)[1]) and "Error" not in words, words


def in_a_cell(code: str, call: str) -> str:
    """What a probe exports for `call` raising in `code`, run as a notebook cell is (its lines kept
    by linecache under the cell's name, as IPython does)."""
    name, namespace = "<answer cell>", {"nn": nn, "torch": torch}
    linecache.cache[name] = (len(code), None, code.splitlines(True), name)
    exec(compile(code, name, "exec"), namespace)
    return raised(lambda: eval(call, namespace))


def test_an_error_no_rule_knows_is_said_by_its_kind_where_it_was_raised_and_its_message():
    error = in_a_cell("def hidden_size(latent_dim):\n    return 500 // (latent_dim - 20)\n", "hidden_size(20)")
    assert error.endswith(" [in hidden_size, line 2: `return 500 // (latent_dim - 20)`]"), error
    assert in_words(error) == ("failed: a division by zero at hidden_size, line 2: `return 500 // (latent_dim - 20)` "
                               "(integer division or modulo by zero)")
    assert in_words("returned list, not the tuple (dx, dgamma, dbeta)") == \
        "returned list, not the tuple (dx, dgamma, dbeta)"


def test_the_place_is_the_students_last_line_not_torchs():
    """An error raised inside torch is placed at the line of the answer cell that called it."""
    code = "class Encoder(nn.Module):\n    def forward(self, x):\n        return self.nett(x[0][1])\n"
    error = in_a_cell(code, "Encoder()(torch.zeros(2, 3))")
    words = in_words(error)
    assert words == ("failed: uses .nett, which the Encoder object does not have (misspelt, or never set in __init__?) "
                     "(at Encoder.forward, line 3: `return self.nett(x[0][1])`)"), words
    assert plain_error("ValueError: " + "x" * 500 + " [in f, line 1]").endswith(" [in f, line 1]")


def test_a_batchnorm_backward_that_raises_is_named_with_what_it_raised():
    """The probe exports the backward's error as '<case>.grads', not as '<case>.dx' (which was read
    before: the message said 'gave no result')."""
    judges = AssignmentJudges("i2dl_course.judges.exercise_08", ROOT, "exercise_08")
    inputs = judges.inputs(1, "2_batchnorm_dropout")
    mine, ref = inputs["test_batchnorm_backward"], judges.references["2_batchnorm_dropout"]
    files, errors = {}, {}
    for case in mine["cases"].tolist():
        x, gamma, beta = (mine[f"{case}.{k}"] for k in ("x", "gamma", "beta"))
        files[f"{case}.out.npy"] = npy(ref.batchnorm_forward(x, gamma, beta, {"mode": "train"})[0])
        errors[f"{case}.grads"] = raised(lambda: np.zeros((3, 4)) @ np.zeros((5, 4)))
    files["record.json"] = json.dumps({"values": {}, "errors": errors}).encode()
    verdict = judges.judge("2_batchnorm_dropout", "test_batchnorm_backward", 3, files, inputs)
    assert verdict.points == 0 and "batchnorm_backward(dout, cache)" in verdict.message, verdict.message
    assert "matmul" in verdict.message and "gave no result" not in verdict.message
