"""One submission's evidence is judged together, and no point rests on what the kernel asserts:
the transfer must start from the autoencoder judged in reconstruction_hidden (skipping it earns
nothing), the measured classifiers must be built like the tested Classifier, and a training step's
coverage is read from the parameters before and after it. Evidence is made here by the real probe
code on small models (no kernel, no training)."""
import json
import re

import numpy as np
import pytest
import torch
import torch.nn as nn

from i2dl_course.judges import AssignmentJudges
from i2dl_utils.probes import Probe
from i2dl_utils.probes import autoencoder as probes
from notebooks import ROOT
from test_judges import npy

NB = "1_autoencoder"


@pytest.fixture(scope="module")
def judges():
    return AssignmentJudges("i2dl_course.judges.exercise_08", ROOT, "exercise_08")


@pytest.fixture(scope="module")
def inputs(judges):
    return judges.inputs(5, NB)


def exported(probe: Probe) -> dict:
    """{"<grade id>/<name>": bytes}: what the probe would write to its export folder."""
    record = {"values": probe.values, "errors": probe.errors}
    files = {f"{probe.grade_id}/record.json": json.dumps(record).encode()}
    files.update({f"{probe.grade_id}/{k}.npy": npy(v) for k, v in probe.arrays.items()})
    files.update({f"{probe.grade_id}/{k}.onnx": graph for k, graph in probe.graphs.items()})
    return files


class Classifier(nn.Module):
    def __init__(self, encoder):
        super().__init__()
        self.encoder, self.head = encoder, nn.Linear(20, 10)

    def forward(self, x):
        return self.head(self.encoder(x))


def encoder():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 20), nn.ReLU())


def pca_autoencoder(images: np.ndarray) -> nn.Module:
    """A linear autoencoder with a 20-number code from the principal components: it reconstructs
    well enough for reconstruction_hidden without any training."""
    flat = torch.from_numpy(images.reshape(len(images), -1))
    mean = flat.mean(0)
    components = torch.linalg.svd(flat - mean, full_matrices=False).Vh[:20]
    model = Autoencoder()
    with torch.no_grad():
        model.encoder[1].weight.copy_(components), model.encoder[1].bias.copy_(-components @ mean)
        model.decoder.weight.copy_(components.T), model.decoder.bias.copy_(mean)
    return model


class Autoencoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder, self.decoder = nn.Sequential(nn.Flatten(), nn.Linear(784, 20)), nn.Linear(20, 784)

    def forward(self, x):
        return self.decoder(self.encoder(x))


def transfer_from(start: nn.Module) -> Classifier:
    """A classifier whose encoder starts as a copy of `start`'s first Linear layer, a little tuned."""
    enc = encoder()
    with torch.no_grad():
        enc[1].weight.copy_(start.weight + 0.01 * torch.randn_like(start.weight))
        enc[1].bias.copy_(start.bias)
    return Classifier(enc)


def evidence_of(inputs, autoencoder, transfer, baseline, autoencoder_now=None) -> dict:
    images = torch.from_numpy(inputs["transfer_hidden"]["images"])
    files = {}
    for grade_id, name, model in (("reconstruction_hidden", "autoencoder", autoencoder),
                                  ("baseline_accuracy", "classifier", baseline),
                                  ("classifier_selfcheck", "classifier", Classifier(encoder()))):
        p = Probe(grade_id)
        p.model(name, model, images)
        files.update(exported(p))
    p = Probe("transfer_hidden")
    p.model("transfer", transfer, images)
    p.model("autoencoder", autoencoder_now or autoencoder, images)
    for key, tensor in autoencoder.encoder.state_dict().items():
        p.array(f"pretrained.{key}", tensor)
    return {**files, **exported(p)}


POINTS = {"classifier_selfcheck": 1, "baseline_accuracy": 3, "reconstruction_hidden": 2, "transfer_hidden": 4}


def verdicts(judges, inputs, files) -> dict:
    return judges.judge_notebook(NB, POINTS, files, inputs)


def test_a_transfer_from_the_judged_autoencoder_is_judged_on_its_accuracy(judges, inputs):
    ae = pca_autoencoder(judges.data.test_images[:2000])
    files = evidence_of(inputs, ae, transfer_from(ae.encoder[1]), Classifier(encoder()))
    result = verdicts(judges, inputs, files)
    assert result["reconstruction_hidden"].points == 2, result["reconstruction_hidden"].message
    # untrained heads: everything about the start is right, the accuracy is what is missing
    message = result["transfer_hidden"].message
    assert re.search(r"accuracy \d\.\d{4} on the grader's test images, at least 0\.80 needed", message), message


def test_the_baseline_passed_off_as_the_transfer_earns_nothing(judges, inputs):
    ae = pca_autoencoder(judges.data.test_images[:2000])
    baseline = Classifier(encoder())
    files = evidence_of(inputs, ae, baseline, baseline)
    message = verdicts(judges, inputs, files)["transfer_hidden"].message
    assert "unrelated to the pretrained encoder" in message or "closer to the baseline" in message, message


def test_skipping_the_autoencoder_earns_no_transfer_points(judges, inputs):
    untrained = Autoencoder()
    files = evidence_of(inputs, untrained, transfer_from(untrained.encoder[1]), Classifier(encoder()))
    result = verdicts(judges, inputs, files)
    assert result["reconstruction_hidden"].points == 0
    assert result["transfer_hidden"].points == 0
    assert "did not pass reconstruction_hidden" in result["transfer_hidden"].message


def test_fine_tuning_the_autoencoders_own_encoder_is_named(judges, inputs):
    ae = pca_autoencoder(judges.data.test_images[:2000])
    changed = pca_autoencoder(judges.data.test_images[:2000])
    with torch.no_grad():
        changed.encoder[1].weight.add_(0.01)
    files = evidence_of(inputs, ae, transfer_from(ae.encoder[1]), Classifier(encoder()), autoencoder_now=changed)
    message = verdicts(judges, inputs, files)["transfer_hidden"].message
    assert "deep copy" in message, message


def test_a_classifier_not_built_like_the_tested_one_is_not_measured(judges, inputs):
    ae = pca_autoencoder(judges.data.test_images[:2000])
    ridge = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    files = evidence_of(inputs, ae, transfer_from(ae.encoder[1]), ridge)
    message = verdicts(judges, inputs, files)["baseline_accuracy"].message
    assert "not built like the Classifier the tests checked" in message, message


def student_classifier(optimize: str, frozen: bool):
    """A Lightning classifier whose optimizer covers `optimize` ("all" or "head"), its encoder
    optionally run under torch.no_grad()."""
    import pytorch_lightning as pl

    class Student(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.encoder, self.head = nn.Sequential(nn.Flatten(), nn.Linear(784, 20)), nn.Linear(20, 10)

        def forward(self, x):
            with torch.set_grad_enabled(torch.is_grad_enabled() and not frozen):
                code = self.encoder(x)
            return self.head(code)

        def training_step(self, batch, batch_idx):
            images, labels = batch
            return nn.functional.cross_entropy(self(images), labels)

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters() if optimize == "all" else self.head.parameters(), lr=0.1)

    return Student()


@pytest.mark.parametrize("optimize, frozen", [("all", False), ("head", False), ("all", True)])
def test_what_a_training_step_trains_is_read_from_the_weights(judges, inputs, optimize, frozen):
    p = Probe("classifier_selfcheck")
    p._inputs = dict(inputs["classifier_selfcheck"])
    model = student_classifier(optimize, frozen)
    p.model("classifier", model, p.tensor("images"))
    probes._step(p, model, probes._labelled(p))
    result = judges.judge_notebook(NB, {"classifier_selfcheck": 1}, exported(p), inputs)["classifier_selfcheck"]
    if optimize == "all" and not frozen:
        assert result.points == 1, result.message
    else:
        assert result.points == 0 and "encoder.1.weight, encoder.1.bias unchanged" in result.message, result.message


def test_a_forged_after_state_must_start_from_the_judged_weights(judges, inputs):
    p = Probe("classifier_selfcheck")
    p._inputs = dict(inputs["classifier_selfcheck"])
    model = student_classifier("head", False)
    p.model("classifier", model, p.tensor("images"))
    for name, q in model.named_parameters():
        p.array(f"optimizer.before.{name}", torch.zeros_like(q))
        p.array(f"optimizer.after.{name}", torch.ones_like(q))
    result = judges.judge_notebook(NB, {"classifier_selfcheck": 1}, exported(p), inputs)["classifier_selfcheck"]
    assert result.points == 0 and "started from other weights" in result.message, result.message
