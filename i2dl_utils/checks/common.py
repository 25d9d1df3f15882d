"""Helpers shared by the checks of both notebooks."""
import contextlib
import io
import logging
import warnings

import torch
import torchmetrics


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


@contextlib.contextmanager
def eval_mode(model: torch.nn.Module):
    """Evaluate without gradients in eval mode, then restore the model's mode."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield model
    finally:
        model.train(was_training)


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def accuracy(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 2000) -> float:
    """Top-1 accuracy of model(images) (logits (N, 10)) against labels (N,), in eval mode."""
    metric = torchmetrics.classification.MulticlassAccuracy(num_classes=10, average="micro")
    with quiet(), eval_mode(model):
        for start in range(0, len(images), batch_size):
            logits = model(images[start:start + batch_size])
            expect(isinstance(logits, torch.Tensor) and logits.shape == (len(labels[start:start + batch_size]), 10),
                   f"the classifier should return logits of shape (N, 10), got "
                   f"{getattr(logits, 'shape', type(logits).__name__)}")
            metric.update(logits.float().cpu(), labels[start:start + batch_size])
    return float(metric.compute())


def grader_test_accuracy(model: torch.nn.Module) -> float:
    """Accuracy on the grader-only test split (images the model never saw)."""
    from ..data import load_grader_test
    test = load_grader_test()
    return accuracy(model, test.images, test.labels)


def expect_test_accuracy(model: torch.nn.Module, at_least: float, what: str) -> None:
    acc = grader_test_accuracy(model)
    expect(acc >= at_least,
           f"{what}: accuracy {acc:.3f} on the grader's test images, at least {at_least:.2f} needed. "
           "Check the training cell's output (does the loss go down, is val accuracy high?), "
           "then the learning rate, the number of epochs and that the optimizer covers the head too.")
    passed(f"{what}: accuracy {acc:.3f} on the grader's test images (at least {at_least:.2f} needed)")
