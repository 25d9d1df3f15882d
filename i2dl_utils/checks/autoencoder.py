"""Visible self-checks of the autoencoder notebook (1_autoencoder.ipynb), run in the student's
kernel: each takes the student's objects, prints one line on success and raises AssertionError
with an actionable message otherwise. They decide no points: the graded cells' hidden probes
(i2dl_utils.probes.autoencoder) export data that judges outside the kernel score.
`expect_transform_output` is shared with those judges."""
import copy
import functools

import torch
import torch.nn as nn

from .. import config
from .common import count_parameters, expect, passed, quiet
from .stubs import reports_stubs


@functools.lru_cache(maxsize=1)
def _val_images() -> torch.Tensor:
    from ..data import load_splits
    return load_splits().val.images


def _digits(n: int = 64) -> torch.Tensor:
    """Real digits (n, 1, 28, 28) from the student's own val set."""
    return _val_images()[:n].clone()


def _shape(x) -> str:
    return str(tuple(x.shape)) if isinstance(x, torch.Tensor) else type(x).__name__


# ----------------------------------------------------------------------------- 1. augmentation
def expect_transform_output(name, out, x):
    """out (tensor) has x's shape and dtype and values in [0, 1]."""
    expect(isinstance(out, torch.Tensor), f"{name} should return a tensor, got {type(out).__name__}")
    expect(out.shape == x.shape, f"{name} changed the shape from {tuple(x.shape)} to {tuple(out.shape)}: "
                                 "return images of the input's shape")
    expect(out.dtype == x.dtype, f"{name} changed the dtype from {x.dtype} to {out.dtype}")
    expect(out.min() >= 0 and out.max() <= 1, f"{name} left the range [0, 1] "
                                               f"({float(out.min()):.2f}..{float(out.max()):.2f}): clamp or fill with 0")


@reports_stubs
def check_augmentations(random_shift, random_rotation, augment_offline) -> None:
    x = _digits(16)
    with quiet():
        expect_transform_output("random_shift", random_shift(x, 2), x)
        expect_transform_output("random_rotation", random_rotation(x, 10.0), x)
        images, labels = augment_offline(x, torch.arange(16), 2, random_shift)
    expect(len(images) == 48 and len(labels) == 48,
           f"augment_offline(16 images, copies=2) should give 48 images and labels, got {len(images)}, {len(labels)}")
    passed("augmentations keep shape, dtype and range; offline augmentation grows the set")


# ----------------------------------------------------------------------------- 2. encoder
@reports_stubs
def check_encoder(Encoder, hparams) -> None:
    with quiet():
        encoder = Encoder(hparams)
        z = encoder(_digits(8))
    expect(isinstance(z, torch.Tensor) and z.shape == (8, 20),
           f"Encoder(hparams) should map 8 images to codes of shape (8, 20), got {_shape(z)}: "
           "flatten the images to (N, 784) in forward")
    expect(count_parameters(encoder) < config.MAX_PARAMETERS, "the encoder is over the parameter limit")
    passed(f"Encoder: (8, 1, 28, 28) -> (8, 20), {count_parameters(encoder):,} parameters")


# ----------------------------------------------------------------------------- 3. classifier
def optimizers_after_one_step(model, batches) -> list:
    """The optimizers a Lightning Trainer builds from configure_optimizers (one training step)."""
    import pytorch_lightning as pl
    trainer = pl.Trainer(max_steps=1, accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                         enable_checkpointing=False, enable_model_summary=False, limit_val_batches=0,
                         num_sanity_val_steps=0)
    trainer.fit(model, train_dataloaders=batches)
    return trainer.optimizers


def _expect_optimizer_covers(model: nn.Module, batches, what: str) -> None:
    with quiet():
        optimizers = optimizers_after_one_step(model, batches)
    covered = {id(p) for o in optimizers for g in o.param_groups for p in g["params"]}
    missing = [name for name, p in model.named_parameters() if p.requires_grad and id(p) not in covered]
    expect(optimizers, f"{what}.configure_optimizers should return an optimizer")
    expect(not missing, f"{what}.configure_optimizers leaves out {missing[:4]}: build the optimizer from "
                        "self.parameters() after all layers exist")


def _labelled_batches(n: int = 16):
    from ..data import LabelledImages
    return LabelledImages(_digits(n), torch.arange(n) % 10).loader(batch_size=n)


def _image_batches(n: int = 16):
    from ..data import UnlabelledImages
    return UnlabelledImages(_digits(n)).loader(batch_size=n)


@reports_stubs
def check_classifier(Classifier, Encoder, hparams) -> None:
    with quiet():
        classifier = Classifier(hparams, Encoder(hparams))
        logits = classifier(_digits(8))
    expect(isinstance(logits, torch.Tensor) and logits.shape == (8, 10),
           f"Classifier should return logits (8, 10) for 8 images, got {_shape(logits)}")
    _expect_optimizer_covers(classifier, _labelled_batches(), "Classifier")
    passed("Classifier: (8, 1, 28, 28) -> logits (8, 10), optimizer covers every parameter")


# ----------------------------------------------------------------------------- 4. autoencoder
@reports_stubs
def check_autoencoder(Autoencoder, Encoder, Decoder, hparams) -> None:
    with quiet():
        autoencoder = Autoencoder(hparams, Encoder(hparams), Decoder(hparams))
        out = autoencoder(_digits(8))
    expect(isinstance(out, torch.Tensor) and out.numel() == 8 * 784,
           f"Autoencoder should reconstruct 8 images as (8, 784), got {_shape(out)}")
    _expect_optimizer_covers(autoencoder, _image_batches(), "Autoencoder")
    passed("Autoencoder: (8, 1, 28, 28) -> (8, 784), optimizer covers encoder and decoder")


# ----------------------------------------------------------------------------- 6. transfer
def snapshot(module: nn.Module) -> dict:
    """A detached copy of a module's state (to prove later that it was left unchanged)."""
    return copy.deepcopy({k: v.detach().clone() for k, v in module.state_dict().items()})
