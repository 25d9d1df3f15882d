"""Checks of the autoencoder notebook (1_autoencoder.ipynb): `check_*` are the visible
self-checks, `hidden_*` what the hidden tests call. Each takes the student's objects."""
import copy

import torch
import torch.nn as nn
import torch.nn.functional as F

from .. import config
from ..evaluate import eval_mode, reconstruction_mse
from .common import count_parameters, expect, expect_test_accuracy, passed, quiet, reports_stubs

FULLY_CONNECTED = (nn.Linear, nn.BatchNorm1d, nn.Dropout, nn.ReLU, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU,
                   nn.Tanh, nn.Sigmoid, nn.Identity, nn.Flatten, nn.Unflatten, nn.Sequential, nn.ModuleList)


def _digits(n: int = 64) -> torch.Tensor:
    """Real digits (n, 1, 28, 28) from the grader's split (any images would do)."""
    from ..data import load_grader_test
    return load_grader_test().images[:n].clone()


def _shape(x) -> str:
    return str(tuple(x.shape)) if isinstance(x, torch.Tensor) else type(x).__name__


# ----------------------------------------------------------------------------- 1. augmentation
def _check_transform_output(name, out, x):
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
        _check_transform_output("random_shift", random_shift(x, 2), x)
        _check_transform_output("random_rotation", random_rotation(x, 10.0), x)
        images, labels = augment_offline(x, torch.arange(16), 2, random_shift)
    expect(len(images) == 48 and len(labels) == 48,
           f"augment_offline(16 images, copies=2) should give 48 images and labels, got {len(images)}, {len(labels)}")
    passed("augmentations keep shape, dtype and range; offline augmentation grows the set")


def _shift_of(out: torch.Tensor, x: torch.Tensor, max_shift: int):
    """The (dy, dx) by which `out` (28, 28) is x (28, 28) moved in whole pixels, zero-filled, or None."""
    padded = F.pad(x, (max_shift,) * 4)
    for dy in range(2 * max_shift + 1):
        for dx in range(2 * max_shift + 1):
            if torch.allclose(out, padded[dy:dy + 28, dx:dx + 28], atol=1e-6):
                return max_shift - dy, max_shift - dx
    return None


def hidden_random_shift(random_shift) -> None:
    x = _digits(64)
    before = x.clone()
    with quiet():
        out = random_shift(x, 2)
        again = random_shift(x, 2)
        still = random_shift(x, 0)
        wide = random_shift(x[:16], 4)
    _check_transform_output("random_shift", out, x)
    expect(torch.equal(x, before), "random_shift changed its input in place: return a new tensor")
    expect(torch.allclose(still, x), "random_shift(images, 0) should return the images unchanged")
    expect(not torch.equal(out, again), "two calls of random_shift gave the same result: draw random offsets")
    offsets = [_shift_of(o[0], i[0], 2) for o, i in zip(out[:16], x[:16])]
    expect(None not in offsets, "random_shift should move each image by whole pixels, at most max_shift "
                                "in each direction, filling the border with 0")
    expect(len(set(offsets)) >= 3, f"16 images got only {len(set(offsets))} different offsets: draw a "
                                   "random offset for each image, not one for the whole batch")
    wide_offsets = [_shift_of(o[0], i[0], 4) for o, i in zip(wide, x[:16])]
    expect(None not in wide_offsets and max(max(map(abs, o)) for o in wide_offsets) > 2,
           "random_shift ignores max_shift (tried max_shift=4)")
    passed("random_shift: integer shifts within max_shift, random per image, identity at 0")


def hidden_random_rotation(random_rotation) -> None:
    x = _digits(64)
    with quiet():
        out = random_rotation(x, 15.0)
        again = random_rotation(x, 15.0)
        still = random_rotation(x, 0.0)
        slight = random_rotation(x, 5.0)
        half_turn = random_rotation(x[:8], 180.0)
    _check_transform_output("random_rotation", out, x)
    expect(torch.allclose(still, x, atol=1e-4), "random_rotation(images, 0) should return the images unchanged")
    expect(not torch.equal(out, again), "two calls of random_rotation gave the same result: draw random angles")
    mass_in, mass_out = x.sum(dim=(1, 2, 3)), out.sum(dim=(1, 2, 3))
    expect(((mass_out - mass_in).abs() / mass_in).max() < 0.15,
           "random_rotation should move pixels, not add or remove ink (the digit's total brightness "
           "changed by more than 15 %): interpolate, and keep the digit centred")
    similarity = F.cosine_similarity(slight.flatten(1), x.flatten(1))
    expect(similarity.min() > 0.75, "after a rotation of at most 5 degrees the digits should still look alike: "
                                    "rotate about the image centre, by degrees (not radians)")
    expect(F.cosine_similarity(half_turn.flatten(1), x[:8].flatten(1)).min() < 0.9,
           "random_rotation ignores max_degrees (tried 180 degrees)")
    passed("random_rotation: random per call, identity at 0, keeps the digit's ink and shape")


def hidden_augment_offline(augment_offline) -> None:
    x = _digits(32)
    y = torch.arange(32) % 10
    x_before, y_before = x.clone(), y.clone()
    marker = lambda images: images * 0.5   # noqa: E731  a recognisable, deterministic 'augmentation'
    with quiet():
        images, labels = augment_offline(x, y, 3, marker)
        none_images, none_labels = augment_offline(x, y, 0, marker)
    expect(torch.equal(x, x_before) and torch.equal(y, y_before), "augment_offline changed its inputs in place")
    expect(images.shape == (128, 1, 28, 28), f"augment_offline(32 images, copies=3) should return 128 images, "
                                             f"got {_shape(images)}")
    expect(torch.equal(labels, y.repeat(4)), "labels must stay with their images: originals first, "
                                             "then each copy in the same order (labels.repeat(copies + 1))")
    expect(torch.equal(images[:32], x), "the first block should be the unchanged originals")
    expect(all(torch.allclose(images[32 * k:32 * (k + 1)], x * 0.5) for k in (1, 2, 3)),
           "each copy should be transform(images): use the transform that was passed in")
    expect(torch.equal(none_images, x) and torch.equal(none_labels, y), "copies=0 should return the originals")
    passed("augment_offline: originals plus transformed copies, labels unchanged")


# ----------------------------------------------------------------------------- 2. encoder
def _leaf_types(model: nn.Module) -> set:
    return {type(m) for m in model.modules() if not list(m.children())}


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


def hidden_encoder(Encoder, hparams) -> None:
    torch.manual_seed(0)
    x = _digits(32)
    with quiet():
        encoder = Encoder(hparams)
        small = Encoder(hparams, latent_dim=7)
        other_input = Encoder(hparams, input_size=100)
        z_flat = encoder(x.reshape(32, -1))
        z7 = small(x)
        z100 = other_input(torch.rand(32, 100))
        encoder.train()
        a, b = encoder(x), encoder(x)
        with eval_mode(encoder):
            c, d = encoder(x), encoder(x)
    expect(z_flat.shape == (32, 20), f"flattened input (32, 784) should give (32, 20), got {_shape(z_flat)}")
    expect(z7.shape == (32, 7), f"Encoder(hparams, latent_dim=7) should give codes (32, 7), got {_shape(z7)}: "
                                "use the latent_dim argument, not a fixed 20")
    expect(z100.shape == (32, 20), "Encoder(hparams, input_size=100) should accept (N, 100) inputs")
    expect(getattr(encoder, "latent_dim", None) == 20 and getattr(small, "latent_dim", None) == 7,
           "store the code size as self.latent_dim (the classifier head needs it)")
    n = count_parameters(encoder)
    expect(n < config.MAX_PARAMETERS, f"{n:,} parameters, the limit is {config.MAX_PARAMETERS:,}")
    others = {t.__name__ for t in _leaf_types(encoder) if not issubclass(t, FULLY_CONNECTED)}
    expect(not others, f"the encoder must be fully connected; found {sorted(others)}")
    expect(any(issubclass(t, nn.BatchNorm1d) for t in _leaf_types(encoder)), "use BatchNorm1d as in the tutorial")
    expect(not torch.allclose(a, b), "in train mode two passes should differ (dropout): add nn.Dropout")
    expect(torch.allclose(c, d), "in eval mode the encoder should be deterministic")
    passed("Encoder: shapes, latent size, fully connected, dropout only in train mode")


# ----------------------------------------------------------------------------- 3. classifier
def _optimizers_after_one_step(model, batches) -> list:
    """The optimizers a Lightning Trainer builds from configure_optimizers (one training step)."""
    import pytorch_lightning as pl
    trainer = pl.Trainer(max_steps=1, accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                         enable_checkpointing=False, enable_model_summary=False, limit_val_batches=0,
                         num_sanity_val_steps=0)
    trainer.fit(model, train_dataloaders=batches)
    return trainer.optimizers


def _expect_optimizer_covers(model: nn.Module, batches, what: str) -> None:
    with quiet():
        optimizers = _optimizers_after_one_step(model, batches)
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


def hidden_classifier(Classifier, Encoder, hparams) -> None:
    torch.manual_seed(0)
    x, y = _digits(32), torch.arange(32) % 10
    with quiet():
        classifier = Classifier(hparams, Encoder(hparams, latent_dim=7))
        logits = classifier(x)
        loss = classifier.training_step((x, y), 0)
    expect(logits.shape == (32, 10), "with Encoder(latent_dim=7) the head must take 7 inputs: "
                                     "use encoder.latent_dim, not a fixed 20")
    loss = loss["loss"] if isinstance(loss, dict) else loss
    expect(isinstance(loss, torch.Tensor) and loss.dim() == 0 and loss.requires_grad,
           "training_step should return the scalar loss (with gradients)")
    expect(abs(float(loss.detach()) - float(F.cross_entropy(logits.detach(), y))) < 0.5,
           "training_step's loss should be the cross-entropy of the logits and the labels")
    _expect_optimizer_covers(classifier, _labelled_batches(), "Classifier")
    expect(classifier.encoder is not None and any(p is q for p in classifier.parameters()
                                                  for q in classifier.encoder.parameters()),
           "the classifier must train its encoder (self.encoder = encoder)")
    passed("Classifier: head size from the encoder, cross-entropy step, optimizer covers everything")


def hidden_baseline_accuracy(classifier) -> None:
    expect_test_accuracy(classifier, config.BASELINE_MIN_ACCURACY, "baseline classifier")


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


def hidden_decoder_autoencoder(Autoencoder, Encoder, Decoder, hparams) -> None:
    torch.manual_seed(0)
    x = _digits(32)
    with quiet():
        decoder = Decoder(hparams)
        out = decoder(torch.randn(32, 20))
        small = Decoder(hparams, latent_dim=7, output_size=100)(torch.randn(32, 7))
        encoder = Encoder(hparams)
        autoencoder = Autoencoder(hparams, encoder, decoder)
        step = autoencoder.training_step(x, 0)
        with eval_mode(autoencoder):
            direct = autoencoder(x)
            composed = decoder(encoder(x))
    expect(out.shape == (32, 784), f"Decoder(hparams) should map codes (32, 20) to (32, 784), got {_shape(out)}")
    expect(small.shape == (32, 100), "Decoder(hparams, latent_dim=7, output_size=100) should map (32, 7) to "
                                     "(32, 100): use the arguments")
    expect(direct.reshape(32, -1).shape == composed.reshape(32, -1).shape and
           torch.allclose(direct.reshape(32, -1), composed.reshape(32, -1), atol=1e-5),
           "Autoencoder.forward should be decoder(encoder(x)): everything must pass through the 20-d code")
    step = step["loss"] if isinstance(step, dict) else step
    expect(isinstance(step, torch.Tensor) and step.dim() == 0 and step.requires_grad,
           "Autoencoder.training_step(images, batch_idx) should return the scalar reconstruction loss")
    _expect_optimizer_covers(autoencoder, _image_batches(), "Autoencoder")
    passed("Decoder/Autoencoder: shapes from the arguments, forward through the code, loss, optimizer")


def hidden_reconstruction(autoencoder) -> None:
    """Better than the best 'identity-free' guess: the mean image of the test images themselves."""
    from ..data import load_grader_test
    images = load_grader_test().images
    mean_image_mse = float(((images - images.mean(dim=0)) ** 2).mean())
    with quiet():
        try:
            mse = reconstruction_mse(autoencoder, images)
        except ValueError as err:
            raise AssertionError(str(err)) from None
    expect(mse < 0.5 * mean_image_mse,
           f"reconstruction error {mse:.4f} on the grader's images; the mean image alone gets "
           f"{mean_image_mse:.4f} and a trained autoencoder well under half of that. Train longer or "
           "check the loss (MSE between the flattened images and the reconstructions).")
    passed(f"autoencoder: reconstruction MSE {mse:.4f} (mean image: {mean_image_mse:.4f})")


# ----------------------------------------------------------------------------- 6. transfer
def snapshot(module: nn.Module) -> dict:
    """A detached copy of a module's state (to prove later that it was left unchanged)."""
    return copy.deepcopy({k: v.detach().clone() for k, v in module.state_dict().items()})


def hidden_transfer(transfer_classifier, autoencoder, pretrained_state: dict) -> None:
    encoder = getattr(transfer_classifier, "encoder", None)
    expect(isinstance(encoder, nn.Module), "transfer_classifier.encoder should be the (copied) encoder")
    expect(encoder is not autoencoder.encoder, "fine-tune a copy (copy.deepcopy) of the pretrained encoder, "
                                               "not the autoencoder's own encoder")
    now = autoencoder.encoder.state_dict()
    changed = [k for k, v in pretrained_state.items() if k not in now or not torch.equal(now[k], v)]
    expect(not changed, f"fine-tuning changed the autoencoder's encoder ({changed[:3]}): train a deep copy")
    pretrained = [v for k, v in pretrained_state.items() if v.dim() == 2]
    tuned = [p for p in encoder.state_dict().values() if p.dim() == 2]
    expect(len(tuned) == len(pretrained) and tuned and tuned[0].shape == pretrained[0].shape,
           "the transfer classifier's encoder should have the pretrained encoder's layers")
    similarity = float(F.cosine_similarity(tuned[0].flatten(), pretrained[0].flatten(), dim=0))
    expect(similarity > 0.5, f"the first layer's weights are unrelated to the pretrained ones "
                             f"(cosine similarity {similarity:.2f}): start from the pretrained encoder")
    expect_test_accuracy(transfer_classifier, config.TRANSFER_MIN_ACCURACY, "transfer classifier")
