"""Evaluate trained models on whole in-memory splits (eval mode, no gradients)."""
import contextlib

import torch
import torch.nn.functional as F
import torchmetrics


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


def predict(model: torch.nn.Module, images: torch.Tensor, batch_size: int = 2000) -> torch.Tensor:
    """model(images) batch by batch, concatenated, in eval mode."""
    with eval_mode(model):
        return torch.cat([model(images[i:i + batch_size]) for i in range(0, len(images), batch_size)])


def accuracy(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Top-1 accuracy (0..1) of the logits model(images) (N, 10) against labels (N,)."""
    logits = predict(model, images)
    if not isinstance(logits, torch.Tensor) or logits.shape != (len(labels), 10):
        raise ValueError(f"the classifier should return logits of shape ({len(labels)}, 10), "
                         f"got {getattr(logits, 'shape', type(logits).__name__)}")
    return float(torchmetrics.functional.accuracy(logits.float(), labels, task="multiclass", num_classes=10))


def reconstruction_mse(autoencoder: torch.nn.Module, images: torch.Tensor) -> float:
    """Mean squared error per pixel between images (N, 1, 28, 28) in [0, 1] and their reconstructions."""
    flat = images.reshape(len(images), -1)
    reconstructions = predict(autoencoder, images)
    if not isinstance(reconstructions, torch.Tensor) or reconstructions.numel() != flat.numel():
        raise ValueError(f"the autoencoder should return {tuple(flat.shape)} or {tuple(images.shape)} "
                         f"reconstructions, got {getattr(reconstructions, 'shape', type(reconstructions).__name__)}")
    return float(F.mse_loss(reconstructions.reshape(flat.shape).float(), flat))
