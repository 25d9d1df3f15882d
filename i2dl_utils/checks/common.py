"""Helpers shared by the checks of both notebooks."""
import contextlib
import io
import logging
import warnings

import torch

from ..evaluate import accuracy


def expect(condition, message: str) -> None:
    """Like `assert`, but not removed by `python -O`."""
    if not condition:
        raise AssertionError(message)


def passed(message: str) -> None:
    print(f"✓ {message}")


@contextlib.contextmanager
def quiet():
    """Swallow warnings, Lightning log lines and stderr from student code while checking."""
    logger = logging.getLogger("pytorch_lightning")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def grader_test_accuracy(model: torch.nn.Module) -> float:
    """Accuracy on the grader-only test split (images the model never saw)."""
    from ..data import load_grader_test
    test = load_grader_test()
    with quiet():
        try:
            return accuracy(model, test.images, test.labels)
        except ValueError as err:
            raise AssertionError(str(err)) from None


def expect_test_accuracy(model: torch.nn.Module, at_least: float, what: str) -> None:
    acc = grader_test_accuracy(model)
    expect(acc >= at_least,
           f"{what}: accuracy {acc:.3f} on the grader's test images, at least {at_least:.2f} needed. "
           "Check the training cell's output (does the loss go down, is val accuracy high?), "
           "then the learning rate, the number of epochs and that the optimizer covers the head too.")
    passed(f"{what}: accuracy {acc:.3f} on the grader's test images (at least {at_least:.2f} needed)")
