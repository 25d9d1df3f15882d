"""Judges of 1_autoencoder.ipynb: the grader's inputs for each graded cell, and the verdicts.

Augmentations are random: they are judged by exact properties (integer shifts within max_shift,
rotations that keep the ink). Models are judged by what their exported graphs compute (models.py,
graphs.py), measured here on the grader's test images, whose labels never leave this process.
Images are (N, 1, 28, 28) in [0, 1].
"""
import numpy as np
import torch
import torch.nn.functional as F

from i2dl_utils import config
from i2dl_utils.checks.autoencoder import expect_transform_output
from i2dl_utils.checks.common import expect

from .errors import in_words
from .evidence import Failed
from .models import accuracy, expect_same_outputs, load_graph, reconstruction_mse, shape_mismatch

PRELUDE = "import math\nimport torch\nimport torch.nn as nn\nimport torch.nn.functional as F"
PROBE_IMAGES = 256          # test images (without labels) on which the probes run the models


def inputs(rng: np.random.Generator, data) -> dict:
    """{grade id: {name: array}} for one grading run: test images chosen by the run's seed."""
    pick = rng.choice(len(data.test_images), PROBE_IMAGES + 64, replace=False)
    images, digits = data.test_images[pick[:PROBE_IMAGES]], data.test_images[pick[PROBE_IMAGES:]]
    labels = rng.integers(0, 10, PROBE_IMAGES)
    models = {"images": images, "labels": labels}
    return {
        "augmentation_selfcheck": {"digits": digits[:16]},
        "random_shift_hidden": {"digits": digits},
        "random_rotation_hidden": {"digits": digits},
        "augment_offline_hidden": {"digits": digits[:32], "labels": np.arange(32) % 10},
        "encoder_selfcheck": models,
        "encoder_hidden": dict(models, inputs_100=rng.random((64, 100), dtype=np.float32)),
        "classifier_selfcheck": models,
        "classifier_hidden": models,
        "baseline_accuracy": models,
        "autoencoder_selfcheck": models,
        "autoencoder_hidden": dict(models, codes_20=rng.standard_normal((32, 20), dtype=np.float32),
                                   codes_7=rng.standard_normal((32, 7), dtype=np.float32)),
        "reconstruction_hidden": models,
        "transfer_hidden": models,
    }


def _tensor(ev, name, what, **kw) -> torch.Tensor:
    return torch.from_numpy(ev.array(name, what, **kw))


def _expect_step(ev, name: str, what: str, x) -> None:
    """One Lightning training step on the grader's batch must change every weight the graph of the
    model exported as `name` applies (judged from its parameters before and after the step,
    optimizer.*); a bias feeding BatchNorm is exempt (it has no gradient)."""
    error = ev.error("optimizer")
    expect(error is None, f"{what}: one Lightning training step {in_words(error)}")
    graph = load_graph(ev, name, what, x)
    unchanged, checked = [], 0
    for value, initializer in graph.weight_values().items():
        if graph.feeds_batchnorm(value):
            continue
        expect(ev.has(f"optimizer.before.{value}"),
               f"{what}: {value[:60]} is not among the model's parameters (register layers as attributes or "
               "in nn.Sequential / nn.ModuleList, not in a Python list)")
        before = ev.array(f"optimizer.before.{value}", f"{what}: {value}")
        after = ev.array(f"optimizer.after.{value}", f"{what}: {value} after one step", shape=before.shape)
        expect(np.array_equal(before, graph.weights[initializer]),
               f"{what}: the training step started from other weights than the model's")
        checked += 1
        if np.array_equal(before, after):
            unchanged.append(value)
    expect(checked, f"{what}: no trainable layer to take a training step with")
    expect(len(unchanged) < checked, f"{what}: one training step changed no parameter: configure_optimizers should "
                                     "return an optimizer, and training_step the loss tensor")
    expect(not unchanged, f"{what}: one training step leaves {', '.join(unchanged[:4])} unchanged: build the "
                          "optimizer from self.parameters() after all layers exist, and freeze nothing "
                          "(no .detach(), torch.no_grad() or requires_grad_(False) in a forward or around the "
                          "encoder)")


def _expect_scalar_loss(ev, what: str, expected: float, loss_name: str) -> None:
    loss = ev.array("loss", f"{what}.training_step")
    expect(loss.shape == (), f"{what}.training_step should return the scalar loss")
    expect(abs(float(loss) - expected) <= 1e-3 * max(1.0, expected),
           f"{what}.training_step's loss is {float(loss):.4f}, the {loss_name} of the model's outputs is "
           f"{expected:.4f}: return the {loss_name}")


# ----------------------------------------------------------------------------- 1. augmentation
def augmentation_selfcheck(ev, ctx) -> str:
    x = torch.from_numpy(ctx.inputs["digits"])
    expect_transform_output("random_shift", _tensor(ev, "shift", "random_shift(images, 2)"), x)
    expect_transform_output("random_rotation", _tensor(ev, "rotation", "random_rotation(images, 10)"), x)
    what = "augment_offline(16 images, labels, 2, random_shift)"
    images, labels = ev.array("offline.images", what), ev.array("offline.labels", what)
    expect(len(images) == 48 and len(labels) == 48,
           f"augment_offline(16 images, copies=2) should give 48 images and labels, got {len(images)}, {len(labels)}")
    return "augmentations keep shape, dtype and range; offline augmentation grows the set"


def _shift_of(out: torch.Tensor, x: torch.Tensor, max_shift: int):
    """The (dy, dx) by which `out` (28, 28) is x (28, 28) moved in whole pixels, zero-filled, or None."""
    padded = F.pad(x, (max_shift,) * 4)
    for dy in range(2 * max_shift + 1):
        for dx in range(2 * max_shift + 1):
            if torch.allclose(out, padded[dy:dy + 28, dx:dx + 28], atol=1e-6):
                return max_shift - dy, max_shift - dx
    return None


def random_shift_hidden(ev, ctx) -> str:
    x = torch.from_numpy(ctx.inputs["digits"])
    out = _tensor(ev, "out", "random_shift(images, 2)")
    expect_transform_output("random_shift", out, x)
    again = _tensor(ev, "again", "random_shift(images, 2)", shape=x.shape)
    still = _tensor(ev, "still", "random_shift(images, 0)", shape=x.shape)
    wide = _tensor(ev, "wide", "random_shift(images, 4)", shape=(16,) + tuple(x.shape[1:]))
    expect(torch.equal(_tensor(ev, "input_after", "the images"), x),
           "random_shift changed its input in place: return a new tensor")
    expect(torch.allclose(still, x), "random_shift(images, 0) should return the images unchanged")
    offsets = [_shift_of(o[0], i[0], 2) for o, i in zip(out[:16], x[:16])]
    expect(None not in offsets, "random_shift should move each image by whole pixels, at most max_shift "
                                "in each direction, filling the border with 0")
    expect(len(set(offsets)) >= 3, f"16 images got only {len(set(offsets))} different offsets: draw a "
                                   "random offset for each image, not one for the whole batch")
    expect(not torch.equal(out, again), "two calls of random_shift gave the same result: draw random offsets")
    wide_offsets = [_shift_of(o[0], i[0], 4) for o, i in zip(wide, x[:16])]
    expect(None not in wide_offsets and max(max(map(abs, o)) for o in wide_offsets) > 2,
           "random_shift ignores max_shift (tried max_shift=4)")
    return "random_shift: integer shifts within max_shift, random per image, identity at 0"


def _orientation(images: torch.Tensor) -> tuple:
    """(angle of each image's principal axis in degrees, how elongated its ink is in 0..1) from the
    second moments of images (N, 1, 28, 28); a whole-pixel shift leaves both unchanged."""
    ink = images[:, 0].double()
    ys, xs = torch.meshgrid(torch.arange(28.0, dtype=torch.double), torch.arange(28.0, dtype=torch.double), indexing="ij")
    total = ink.sum(dim=(1, 2)).clamp_min(1e-9)
    cy, cx = (ink * ys).sum(dim=(1, 2)) / total, (ink * xs).sum(dim=(1, 2)) / total
    dy, dx = ys - cy.view(-1, 1, 1), xs - cx.view(-1, 1, 1)
    mu20, mu02, mu11 = ((ink * dx * dx).sum(dim=(1, 2)) / total, (ink * dy * dy).sum(dim=(1, 2)) / total,
                        (ink * dx * dy).sum(dim=(1, 2)) / total)
    angle = torch.rad2deg(0.5 * torch.atan2(2 * mu11, mu20 - mu02))
    return angle, ((mu20 - mu02) ** 2 + 4 * mu11 ** 2).sqrt() / (mu20 + mu02).clamp_min(1e-9)


def _turned_degrees(out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """By how many degrees each clearly elongated digit's principal axis turned from x to out."""
    before, elongated = _orientation(x)
    after, _ = _orientation(out)
    turn = (after - before + 90) % 180 - 90
    return turn[elongated > 0.3].abs()


def random_rotation_hidden(ev, ctx) -> str:
    x = torch.from_numpy(ctx.inputs["digits"])
    out = _tensor(ev, "out", "random_rotation(images, 15)")
    expect_transform_output("random_rotation", out, x)
    again = _tensor(ev, "again", "random_rotation(images, 15)", shape=x.shape)
    still = _tensor(ev, "still", "random_rotation(images, 0)", shape=x.shape)
    slight = _tensor(ev, "slight", "random_rotation(images, 5)", shape=x.shape)
    half_turn = _tensor(ev, "half_turn", "random_rotation(images, 180)", shape=(8,) + tuple(x.shape[1:]))
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
    turned = _turned_degrees(out, x)
    expect(len(turned) < 8 or float(turned.median()) > 2.0,
           f"random_rotation(images, 15) does not turn the digits (their principal axes turned by a median "
           f"{float(turned.median()) if len(turned) else 0:.1f} degrees): rotate by a random angle, not a shift")
    return "random_rotation: random per call, identity at 0, keeps the digit's ink and shape"


def augment_offline_hidden(ev, ctx) -> str:
    x, y = torch.from_numpy(ctx.inputs["digits"]), torch.from_numpy(ctx.inputs["labels"])
    what = "augment_offline(32 images, labels, copies=3, transform)"
    images, labels = _tensor(ev, "three.images", what), _tensor(ev, "three.labels", what, kind="iu")
    none_images = _tensor(ev, "none.images", "augment_offline with copies=0")
    none_labels = _tensor(ev, "none.labels", "augment_offline with copies=0", kind="iu")
    expect(torch.equal(_tensor(ev, "images_after", "the images"), x) and
           torch.equal(_tensor(ev, "labels_after", "the labels", kind="iu"), y),
           "augment_offline changed its inputs in place")
    expect(images.shape == (128, 1, 28, 28), f"augment_offline(32 images, copies=3) should return 128 images, "
                                             f"got {tuple(images.shape)}")
    expect(labels.shape == (128,) and torch.equal(labels, y.repeat(4)),
           "labels must stay with their images: originals first, then each copy in the same order "
           "(labels.repeat(copies + 1))")
    expect(torch.equal(images[:32], x), "the first block should be the unchanged originals")
    expect(all(torch.allclose(images[32 * k:32 * (k + 1)], x * 0.5) for k in (1, 2, 3)),
           "each copy should be transform(images): use the transform that was passed in")
    expect(torch.equal(none_images, x) and torch.equal(none_labels, y), "copies=0 should return the originals")
    return "augment_offline: originals plus transformed copies, labels unchanged"


# ----------------------------------------------------------------------------- 2. encoder
def _outputs(ev, name: str, what: str, x, width: int, should: str, hint: str = ""):
    """(the model's graph, its outputs on x), which must be (N, width); `hint` ends the message if not."""
    model = load_graph(ev, name, what, x)
    out = expect_same_outputs(ev, model, name, x)
    expect(out.shape == (len(x), width), f"{what} should {should}, got {tuple(out.shape)} for N = {len(x)}{hint}")
    return model, out


def _codes(ev, name: str, what: str, x, size: int, hint: str):
    return _outputs(ev, name, what, x, size, f"give codes of shape (N, {size})", f": {hint}")


def encoder_selfcheck(ev, ctx) -> str:
    model, _ = _codes(ev, "encoder", "Encoder(hparams)", ctx.inputs["images"], 20,
                      "flatten the images to (N, 784) and end with latent_dim units")
    return f"Encoder: (N, 1, 28, 28) -> (N, 20), {model.parameters:,} parameters"


def encoder_hidden(ev, ctx) -> str:
    images = ctx.inputs["images"]
    model, out = _codes(ev, "encoder", "Encoder(hparams)", images, 20, "end with latent_dim units")
    flat = _tensor(ev, "flat_output", "Encoder(hparams) on flattened images (N, 784)")
    expect(flat.numel() == out.numel() and torch.allclose(flat.reshape(out.shape), out, rtol=1e-3, atol=1e-4),
           f"flattened input ({len(images)}, 784) should give the same codes as ({len(images)}, 1, 28, 28)")
    _codes(ev, "small", "Encoder(hparams, latent_dim=7)", images, 7, "use the latent_dim argument, not a fixed 20")
    _codes(ev, "other_input", "Encoder(hparams, input_size=100)", ctx.inputs["inputs_100"], 20,
           "use the input_size argument for the first layer")
    return (f"Encoder: codes of latent_dim from input_size inputs, {model.parameters:,} parameters "
            f"(limit {config.MAX_PARAMETERS:,})")


# ----------------------------------------------------------------------------- 3. classifier
def _logits(ev, name: str, what: str, x, hint: str = ""):
    return _outputs(ev, name, what, x, 10, "return logits (N, 10)", hint)


def _on_your_encoder(ctx, check) -> None:
    """check(), a test of a model built on the student's Encoder: if it fails while Encoder(hparams)
    failed its own test, the message says so."""
    try:
        check()
    except (Failed, AssertionError) as err:
        verdict = (ctx.verdicts or {}).get("encoder_selfcheck")
        if verdict is None or verdict.points > 0:
            raise
        raise Failed(f"{err} (it is built on your Encoder, which fails its own test encoder_selfcheck: "
                     "fix Encoder first)") from None


def classifier_selfcheck(ev, ctx) -> str:
    def check():
        _logits(ev, "classifier", "Classifier(hparams, Encoder(hparams))", ctx.inputs["images"])
        _expect_step(ev, "classifier", "Classifier", ctx.inputs["images"])
    _on_your_encoder(ctx, check)
    return "Classifier: (N, 1, 28, 28) -> logits (N, 10), one training step trains every parameter"


def classifier_hidden(ev, ctx) -> str:
    images, labels = ctx.inputs["images"], torch.from_numpy(ctx.inputs["labels"])
    what = "Classifier(hparams, encoder) on the grader's encoder with latent_dim=7"
    sizes = shape_mismatch(ev.error("classifier") or "")
    expect(sizes is None, f"{what}: the head takes {sizes and sizes[0]} inputs, the encoder gives "
                          f"{sizes and sizes[1]} codes: size the head from encoder.latent_dim, not from hparams")
    _, logits = _logits(ev, "classifier", what, images,
                        ": the head must take encoder.latent_dim inputs (7 here), not a fixed 20")
    _expect_scalar_loss(ev, "Classifier", float(F.cross_entropy(logits[:32], labels[:32])), "cross-entropy")
    _expect_step(ev, "classifier", "Classifier", images)
    return "Classifier: head size from the encoder, cross-entropy step that trains encoder and head"


def _measured(ev, ctx, name: str, what: str):
    model = load_graph(ev, name, what, ctx.inputs["images"])
    expect_same_outputs(ev, model, name, ctx.inputs["images"])
    return model


def _expect_accuracy(ctx, model, what: str, at_least: float) -> str:
    acc = ctx.measure = accuracy(model, ctx.data.test_images, ctx.data.test_labels)
    # a miss shows 4 digits: 0.7996 must not read 0.800
    expect(acc >= at_least,
           f"{what}: accuracy {acc:.4f} on the grader's test images, at least {at_least:.2f} needed. "
           "Check the training cell's output (does the loss go down, is val accuracy high?), "
           "then the learning rate, the number of epochs and that the optimizer covers the head too.")
    return f"{what}: accuracy {acc:.3f} on the grader's test images (at least {at_least:.2f} needed)"


def baseline_accuracy(ev, ctx) -> str:
    model = _measured(ev, ctx, "classifier", "baseline classifier")
    _expect_class_architecture(ctx, model, "classifier")
    return _expect_accuracy(ctx, model, "baseline classifier", config.BASELINE_MIN_ACCURACY)


# ----------------------------------------------------------------------------- 4. autoencoder
def _reconstructions(ev, name: str, what: str, x):
    return _outputs(ev, name, what, x, 784, "reconstruct N images as (N, 784)")


def autoencoder_selfcheck(ev, ctx) -> str:
    def check():
        _reconstructions(ev, "autoencoder", "Autoencoder(hparams, Encoder(hparams), Decoder(hparams))",
                         ctx.inputs["images"])
        _expect_step(ev, "autoencoder", "Autoencoder", ctx.inputs["images"])
    _on_your_encoder(ctx, check)
    return "Autoencoder: (N, 1, 28, 28) -> (N, 784), one training step trains encoder and decoder"


def autoencoder_hidden(ev, ctx) -> str:
    i = ctx.inputs
    decoder = load_graph(ev, "decoder", "Decoder(hparams)", i["codes_20"])
    out = expect_same_outputs(ev, decoder, "decoder", i["codes_20"])
    expect(out.shape == (32, 784), f"Decoder(hparams) should map codes (32, 20) to (32, 784), got {tuple(out.shape)}")
    small = load_graph(ev, "small", "Decoder(hparams, latent_dim=7, output_size=100)", i["codes_7"])
    expect(expect_same_outputs(ev, small, "small", i["codes_7"]).shape == (32, 100),
           "Decoder(hparams, latent_dim=7, output_size=100) should map (32, 7) to (32, 100): use the arguments")
    far = decoder(torch.randn(256, 20, generator=torch.Generator().manual_seed(0)) * 10)
    expect(far.min() >= 0 and far.max() <= 1,
           f"the decoder's outputs should lie in [0, 1] like the pixels (got {float(far.min()):.2f}.."
           f"{float(far.max()):.2f} on random codes): end the decoder with nn.Sigmoid()")
    what = "Autoencoder(hparams, encoder, decoder) on the grader's encoder (latent_dim=20) and your decoder"
    through = ". Autoencoder.forward should be decoder(encoder(x)): everything must pass through the code"
    model, recon = _reconstructions(ev, "autoencoder", what, i["images"])
    expect(model.code <= 20, f"{what}: the narrowest point every path from the images to the reconstruction passes "
                             f"has {model.code:g} numbers per image, the code has 20{through}")
    flat = torch.from_numpy(i["images"][:32]).reshape(32, -1)
    _expect_scalar_loss(ev, "Autoencoder", float(F.mse_loss(recon[:32], flat)), "MSE")
    _expect_step(ev, "autoencoder", "Autoencoder", i["images"])
    return "Decoder/Autoencoder: shapes from the arguments, outputs in [0, 1], forward through the code, MSE loss, optimizer"


def reconstruction_hidden(ev, ctx) -> str:
    model, _ = _reconstructions(ev, "autoencoder", "autoencoder", ctx.inputs["images"])
    code = model.code
    expect(code <= config.MAX_LATENT_DIM,
           f"the reconstruction must pass through a code of at most {config.MAX_LATENT_DIM} numbers (latent_dim), "
           f"but the narrowest point every path from the images to the reconstruction passes has {code:g} numbers "
           "per image: a model that can copy its input learns nothing")
    images = ctx.data.test_images
    mean_image_mse = float(((images - images.mean(axis=0)) ** 2).mean())
    mse = reconstruction_mse(model, images)
    expect(mse < 0.5 * mean_image_mse,
           f"reconstruction error {mse:.4f} on the grader's images; the mean image alone gets "
           f"{mean_image_mse:.4f} and a trained autoencoder well under half of that. Train longer or "
           "check the loss (MSE between the flattened images and the reconstructions).")
    return f"autoencoder: reconstruction MSE {mse:.4f} through a {code:g}-number code (mean image: {mean_image_mse:.4f})"


# ----------------------------------------------------------------------------- 6. transfer
def _expect_class_architecture(ctx, model, what: str) -> None:
    """A measured classifier must be built like the Classifier the class tests judged (the same
    operations on the input, in the same order)."""
    tested = load_graph(ctx.evidence("classifier_selfcheck"), "classifier", "Classifier(hparams, Encoder(hparams))",
                        ctx.inputs["images"])
    expect(model.architecture() == tested.architecture(),
           f"{what} is not built like the Classifier the tests checked (its operations are "
           f"{', '.join(model.architecture())[:160]}): train a Classifier(hparams, encoder)")


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(F.cosine_similarity(torch.from_numpy(a), torch.from_numpy(b), dim=0)) if a.shape == b.shape else -1.0


def transfer_hidden(ev, ctx) -> str:
    expect(ctx.passed("reconstruction_hidden"),
           "transfer learning starts from the pretrained autoencoder, and `autoencoder` did not pass "
           "reconstruction_hidden: pretrain it first (section 4)")
    images = ctx.inputs["images"]
    pretrained = load_graph(ctx.evidence("reconstruction_hidden"), "autoencoder", "the pretrained autoencoder", images)
    now = load_graph(ev, "autoencoder", "autoencoder", images)
    expect(now.weights.keys() == pretrained.weights.keys() and
           all(np.array_equal(w, pretrained.weights[k]) for k, w in now.weights.items()),
           "fine-tuning changed the autoencoder's encoder: train a deep copy (copy.deepcopy(autoencoder.encoder))")
    weights = [torch.from_numpy(w.astype(np.float32)) for w in pretrained.weights.values() if w.dtype.kind == "f"]
    for key in sorted(n[len("pretrained."):-len(".npy")] for n in ev.files() if n.startswith("pretrained.")):
        state = ev.array(f"pretrained.{key}", "pretrained_state")
        if state.dtype.kind != "f":             # e.g. BatchNorm's num_batches_tracked
            continue
        state = torch.from_numpy(state.astype(np.float32))
        expect(any(w.shape == state.shape and torch.equal(w, state) for w in weights),
               f"pretrained_state ({key}) is not the encoder of the autoencoder judged in reconstruction_hidden: "
               "take the snapshot right after pretraining")
    model = _measured(ev, ctx, "transfer", "transfer classifier")
    _expect_class_architecture(ctx, model, "transfer_classifier")
    start = _cosine(model.first_weights(), pretrained.first_weights())
    expect(start > 0.5, f"the transfer classifier's first layer is unrelated to the pretrained encoder's (cosine "
                        f"similarity {start:.2f}): start from a copy of autoencoder.encoder")
    try:
        baseline = load_graph(ctx.evidence("baseline_accuracy"), "classifier", "baseline classifier", images)
    except Failed:
        baseline = None
    if baseline is not None:
        other = _cosine(model.first_weights(), baseline.first_weights())
        expect(start > other, f"the transfer classifier's first layer is closer to the baseline classifier's (cosine "
                              f"similarity {other:.2f}) than to the pretrained encoder's ({start:.2f}): start from a "
                              "copy of autoencoder.encoder, not from the baseline")
    return _expect_accuracy(ctx, model, "transfer classifier", config.TRANSFER_MIN_ACCURACY)


JUDGES = {f.__name__: f for f in (
    augmentation_selfcheck, random_shift_hidden, random_rotation_hidden, augment_offline_hidden, encoder_selfcheck,
    encoder_hidden, classifier_selfcheck, classifier_hidden, baseline_accuracy, autoencoder_selfcheck,
    autoencoder_hidden, reconstruction_hidden, transfer_hidden)}
