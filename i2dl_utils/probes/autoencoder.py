"""Probes of 1_autoencoder.ipynb: one per graded cell, named by its grade id.

Functions are called on the grader's digits; models are exported as the graphs their forward
traces to (`Probe.model`), to be measured by the judges (i2dl_course.judges.autoencoder), and what
one training step does to them as their parameters before and after it. Nothing the student's
objects say about themselves (attributes, flags, counts) is exported. What is built on an encoder
(Classifier, Autoencoder) is tested on the grader's `GraderEncoder`, so that a mistake in Encoder
does not cost those tests too.
Images are (N, 1, 28, 28) in [0, 1].
"""
import torch
import torch.nn as nn

from ..checks.autoencoder import optimizers_after_one_step
from . import probe


class GraderEncoder(nn.Module):
    """The grader's encoder: images (N, 1, 28, 28) -> codes (N, latent_dim), with Encoder's attributes."""

    def __init__(self, hparams, input_size=28 * 28, latent_dim=7):
        super().__init__()
        self.hparams, self.input_size, self.latent_dim = hparams, input_size, latent_dim
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(input_size, latent_dim), nn.ReLU())

    def forward(self, x):
        return self.encoder(x)


def _pair(p, name, result):
    """Export a returned (images, labels) pair as <name>.images and <name>.labels."""
    if isinstance(result, (tuple, list)) and len(result) == 2:
        p.array(f"{name}.images", result[0])
        p.array(f"{name}.labels", result[1])
    elif result is not None:
        p.errors[name] = f"returned {type(result).__name__}, not (images, labels)"


def _step(p, model, batches):
    """Every parameter of `model` before and after one Lightning training step on the grader's
    batches (optimizer.before.<name>, optimizer.after.<name>): the judge sees what the step trains."""
    before = {n: q.detach().clone() for n, q in model.named_parameters()}
    if p.run("optimizer", optimizers_after_one_step, model, batches) is None and "optimizer" in p.errors:
        return
    for n, q in model.named_parameters():
        if n in before:
            p.array(f"optimizer.before.{n}", before[n])
            p.array(f"optimizer.after.{n}", q)


def _labelled(p, n=16):
    from ..data import LabelledImages
    return LabelledImages(p.tensor("images")[:n], p.tensor("labels")[:n]).loader(batch_size=n)


def _unlabelled(p, n=16):
    from ..data import UnlabelledImages
    return UnlabelledImages(p.tensor("images")[:n]).loader(batch_size=n)


def _loss(p, name, model, batch):
    """training_step(batch, 0) in eval mode (deterministic): the loss."""
    training = model.training
    model.eval()
    try:
        loss = p.run(name, model.training_step, batch, 0)
    finally:
        model.train(training)
    p.array(name, loss["loss"] if isinstance(loss, dict) and "loss" in loss else loss)


# ----------------------------------------------------------------------------- 1. augmentation
@probe
def augmentation_selfcheck(p, random_shift, random_rotation, augment_offline):
    x = p.tensor("digits")
    p.array("shift", p.run("shift", random_shift, x.clone(), 2))
    p.array("rotation", p.run("rotation", random_rotation, x.clone(), 10.0))
    _pair(p, "offline", p.run("offline", augment_offline, x.clone(), torch.arange(len(x)), 2, random_shift))


@probe
def random_shift_hidden(p, random_shift):
    given = p.tensor("digits")
    for name, args in (("out", (given, 2)), ("again", (given, 2)), ("still", (given, 0)), ("wide", (given[:16], 4))):
        p.array(name, p.run(name, random_shift, *args))
    p.array("input_after", given)


@probe
def random_rotation_hidden(p, random_rotation):
    given = p.tensor("digits")
    for name, args in (("out", (given, 15.0)), ("again", (given, 15.0)), ("still", (given, 0.0)),
                       ("slight", (given, 5.0)), ("half_turn", (given[:8], 180.0))):
        p.array(name, p.run(name, random_rotation, *args))


@probe
def augment_offline_hidden(p, augment_offline):
    x, y = p.tensor("digits"), p.tensor("labels")
    marker = lambda images: images * 0.5   # noqa: E731  a recognisable, deterministic 'augmentation'
    _pair(p, "three", p.run("three", augment_offline, x, y, 3, marker))
    _pair(p, "none", p.run("none", augment_offline, x, y, 0, marker))
    p.array("images_after", x)
    p.array("labels_after", y)


# ----------------------------------------------------------------------------- 2. encoder
def _encoder(p, name, Encoder, hparams, x, **kwargs):
    encoder = p.run(name, Encoder, hparams, **kwargs)
    if encoder is not None:
        p.model(name, encoder, x)
    return encoder


@probe
def encoder_selfcheck(p, Encoder, hparams):
    _encoder(p, "encoder", Encoder, hparams, p.tensor("images"))


@probe
def encoder_hidden(p, Encoder, hparams):
    images = p.tensor("images")
    encoder = _encoder(p, "encoder", Encoder, hparams, images)
    _encoder(p, "small", Encoder, hparams, images, latent_dim=7)
    _encoder(p, "other_input", Encoder, hparams, p.tensor("inputs_100"), input_size=100)
    if encoder is not None:
        encoder.eval()
        p.array("flat_output", p.run("flat_output", encoder, images.reshape(len(images), -1)))


# ----------------------------------------------------------------------------- 3. classifier
@probe
def classifier_selfcheck(p, Classifier, Encoder, hparams):
    classifier = p.run("classifier", lambda: Classifier(hparams, Encoder(hparams)))
    if classifier is not None:
        p.model("classifier", classifier, p.tensor("images"))
        _step(p, classifier, _labelled(p))


@probe
def classifier_hidden(p, Classifier, Encoder, hparams):
    images, labels = p.tensor("images"), p.tensor("labels")
    classifier = p.run("classifier", lambda: Classifier(hparams, GraderEncoder(hparams, latent_dim=7)))
    if classifier is None:
        return
    p.model("classifier", classifier, images)
    _loss(p, "loss", classifier, (images[:32], labels[:32]))
    _step(p, classifier, _labelled(p))


@probe
def baseline_accuracy(p, classifier):
    p.model("classifier", classifier, p.tensor("images"))


# ----------------------------------------------------------------------------- 4. autoencoder
@probe
def autoencoder_selfcheck(p, Autoencoder, Encoder, Decoder, hparams):
    autoencoder = p.run("autoencoder", lambda: Autoencoder(hparams, Encoder(hparams), Decoder(hparams)))
    if autoencoder is not None:
        p.model("autoencoder", autoencoder, p.tensor("images"))
        _step(p, autoencoder, _unlabelled(p))


@probe
def autoencoder_hidden(p, Autoencoder, Encoder, Decoder, hparams):
    images = p.tensor("images")
    decoder = p.run("decoder", Decoder, hparams)
    if decoder is not None:
        p.model("decoder", decoder, p.tensor("codes_20"))
    small = p.run("small", Decoder, hparams, latent_dim=7, output_size=100)
    if small is not None:
        p.model("small", small, p.tensor("codes_7"))
    autoencoder = p.run("autoencoder", lambda: Autoencoder(hparams, GraderEncoder(hparams, latent_dim=20), decoder))
    if autoencoder is not None:
        p.model("autoencoder", autoencoder, images)
        _loss(p, "loss", autoencoder, images[:32])
        _step(p, autoencoder, _unlabelled(p))


@probe
def reconstruction_hidden(p, autoencoder):
    p.model("autoencoder", autoencoder, p.tensor("images"))


# ----------------------------------------------------------------------------- 6. transfer
@probe
def transfer_hidden(p, transfer_classifier, autoencoder, pretrained_state):
    images = p.tensor("images")
    p.model("transfer", transfer_classifier, images)
    p.model("autoencoder", autoencoder, images)          # judged against the reconstruction cell's
    for key, tensor in dict(pretrained_state).items():
        p.array(f"pretrained.{key}", tensor)
