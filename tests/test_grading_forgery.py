"""Points that student code cannot forge, on the real exercise: the solution gets every point, the
untouched release none, the half-solved demo its points, and every attack below, added to blank
notebooks (each its own submission, graded in one batch), scores no more than the blank one.

The attacks own their kernel completely (patches, import hooks, IPython hooks, their own stack,
every file they can see, forged exports): it does not matter, because the kernel only probes and
the judges outside it decide. Typing MNIST's public test labels into a notebook is not covered:
that is a case for a human (README)."""
import copy
import json
import os
import shutil

import nbformat
import pytest

from i2dl_course import examples
from i2dl_course.grading.grade import Options, grade
from grading import points, table
from notebooks import ROOT, SOURCE

ASSIGNMENT = "exercise_08"
NB1, NB2 = "1_autoencoder.ipynb", "2_batchnorm_dropout.ipynb"

FIND_LABELS = f"""
import glob, os
import numpy as np
found = []
paths = [os.environ.get("I2DL_DATA_DIR", "") + "/mnist.npz", {str(ROOT / "datasets" / "mnist" / "mnist.npz")!r}]
paths += glob.glob({str(ROOT)!r} + "/**/*.npz", recursive=True) + glob.glob("/root/**/*.npz", recursive=True)
paths += glob.glob("/tmp/**/*.npz", recursive=True)
for path in paths:
    try:
        with np.load(path) as f:
            if "test_labels" in f.files and len(f["test_labels"]):
                found.append(path)
    except Exception:
        pass
try:
    from i2dl_utils.data import load_grader_test
    found.append("load_grader_test")
except ImportError:
    pass
from i2dl_utils.data.provision import load_mnist
if len(load_mnist().test_labels):
    found.append("load_mnist")
print("LABELS FOUND" if found else "NO LABELS", found)
"""

STACK = """
import inspect, torch, torch.nn as nn
class Peek(nn.Module):
    def forward(self, x):
        for frame in inspect.stack():
            for name in ("labels", "y", "test_labels"):
                value = frame.frame.f_locals.get(name)
                if isinstance(value, torch.Tensor) and len(value) == len(x):
                    return torch.nn.functional.one_hot(value.long(), 10).float() * 10
        return torch.zeros(len(x), 10)
classifier = transfer_classifier = Peek()
"""

PATCH_LIBRARIES = """
import numpy as np, torch, torch.nn as nn, torch.nn.functional as F, torchmetrics
torchmetrics.functional.accuracy = lambda *a, **k: torch.tensor(1.0)
F.mse_loss = lambda *a, **k: torch.tensor(0.0, requires_grad=True)
F.cross_entropy = lambda *a, **k: torch.tensor(0.0, requires_grad=True)
np.allclose = np.array_equal = lambda *a, **k: True
torch.allclose = torch.equal = lambda *a, **k: True
encoder = nn.Sequential(nn.Flatten(), nn.Linear(784, 20))
encoder.latent_dim = 20
classifier = transfer_classifier = nn.Sequential(encoder, nn.Linear(20, 10))
autoencoder = nn.Sequential(encoder, nn.Linear(20, 784), nn.Sigmoid())
autoencoder.encoder = encoder
"""

IMPORT_HOOK = """
import sys, types, importlib.abc, importlib.machinery
class Neuter(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path, target=None):
        return importlib.machinery.ModuleSpec(name, self) if name.startswith("i2dl_utils.probes") else None
    def create_module(self, spec):
        module = types.ModuleType(spec.name)
        module.__path__ = []
        module.__getattr__ = lambda attr: (lambda *a, **k: None)
        return module
    def exec_module(self, module):
        pass
for name in [m for m in sys.modules if m.startswith("i2dl_utils.probes")]:
    del sys.modules[name]
sys.meta_path.insert(0, Neuter())
"""

INPUT_TRANSFORMER = """
def neuter(lines):
    return ["pass\\n"] if any("probes" in line or "HIDDEN" in line for line in lines) else lines
get_ipython().input_transformers_post.append(neuter)
"""

EVENTS = """
import sys
ip = get_ipython()
ip.set_custom_exc((BaseException,), lambda shell, etype, evalue, tb, tb_offset=None: None)
ip.events.register("pre_run_cell", lambda info: sys.displayhook(1))
def clear(result):
    result.error_before_exec = result.error_in_exec = None
ip.events.register("post_run_cell", clear)
"""

PATCH_CHECKS = """
import i2dl_utils.checks.common as common
import i2dl_utils.probes as probes
common.expect = lambda *a, **k: None
probes.enabled = lambda: False
"""

IDENTITY = """
import torch.nn as nn
class Same(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Identity()
        self.encoder.latent_dim = 20
    def forward(self, x):
        return x.flatten(1)
autoencoder = Same()
"""

LOOKUP = """
import torch, torch.nn as nn
class Lookup(nn.Module):
    def __init__(self):
        super().__init__()
        self.table = nn.Embedding(1 << 16, 10)
    def forward(self, x):
        keys = (x.flatten(1) * 255).long().sum(1) % (1 << 16)
        return self.table(keys)
classifier = transfer_classifier = Lookup()
"""

FORGED_EXPORTS = r"""
import io, json, os, pickle
import numpy as np
out = os.environ["I2DL_EXPORT_DIR"]
def folder(name):
    os.makedirs(f"{out}/{name}", exist_ok=True)
    for f in os.listdir(f"{out}/{name}"):
        os.remove(f"{out}/{name}/{f}")
    return f"{out}/{name}"
class Boom:
    def __reduce__(self):
        return (os.system, ("touch /tmp/i2dl-forged-pwned",))
spec = {"type": "Sequential", "sequence": [0], "unused": [], "layers": [
    {"name": "0", "type": "torch.nn.modules.linear.Linear", "config": {"in_features": 784, "out_features": 10, "bias": True}}]}
d = folder("baseline_accuracy")
json.dump({"values": {}, "errors": {}, "models": {"classifier": spec}}, open(f"{d}/record.json", "w"))
np.save(f"{d}/classifier.0.weight.npy", np.array([Boom()], dtype=object), allow_pickle=True)
np.save(f"{d}/classifier.0.bias.npy", np.zeros(10, np.float32))
d = folder("transfer_hidden")
open(f"{d}/record.json", "w").write('{"values": {"has_encoder": 1' + "0" * 100000 + '}}')
d = folder("reconstruction_hidden")
json.dump({"values": {"latent_dim": 20}, "errors": {}, "models": {"autoencoder": spec}}, open(f"{d}/record.json", "w"))
with open(f"{d}/autoencoder.output.npy", "wb") as f:
    try:
        f.truncate(3 << 30)                    # a sparse file: the kernel's file size limit (1 GB) stops it
    except OSError:
        f.truncate((1 << 30) - 1)              # just under the limit: the export cap (64 MB) refuses it
d = folder("encoder_hidden")
os.symlink("/etc/passwd", f"{d}/record.json")
d = folder("classifier_hidden")
os.mkfifo(f"{d}/record.json")
d = folder("random_shift_hidden")
json.dump({"values": {}, "errors": {}, "models": {}}, open(f"{d}/record.json", "w"))
np.save(f"{d}/out.npy", np.array([Boom()], dtype=object), allow_pickle=True)
d = folder("random_rotation_hidden")
json.dump({"values": {}, "errors": {}, "models": {}}, open(f"{d}/record.json", "w"))
for name in ("out", "again", "still", "slight", "half_turn"):
    np.save(f"{d}/{name}.npy", np.full((64, 1, 28, 28), np.nan, np.float32))
d = folder("augment_offline_hidden")
json.dump({"values": {}, "errors": {}, "models": {}}, open(f"{d}/record.json", "w"))
np.save(f"{d}/three.images.npy", np.array(["not", "images"]))
"""

# The same forgery written from an IPython hook while each cell runs (test cells included): only
# the running test cell's own folder counts, and the careful reader refuses what is in it.
FORGED_IN_HOOKS = ("def forge(result):\n" + "\n".join("    " + line for line in FORGED_EXPORTS.splitlines())
                   + "\nget_ipython().events.register('post_run_cell', forge)\n")

# The transfer skipped: the baseline passed off as the transfer classifier, its own encoder as the
# pretrained state (the baseline alone beats 0.80 on this data).
SKIPPED_TRANSFER = """
transfer_classifier = classifier
pretrained_state = checks.snapshot(classifier.encoder)
"""

# student: ({notebook: code run first}, {notebook: code run last})
ATTACKS = {
    "labels-from-data": ({NB1: FIND_LABELS}, {}),
    "labels-from-the-stack": ({NB1: STACK}, {}),
    "patched-libraries": ({NB1: PATCH_LIBRARIES, NB2: PATCH_LIBRARIES}, {}),
    "import-hook": ({NB1: IMPORT_HOOK, NB2: IMPORT_HOOK}, {}),
    "input-transformer": ({NB1: INPUT_TRANSFORMER, NB2: INPUT_TRANSFORMER}, {}),
    "events-and-exception-handler": ({NB1: EVENTS, NB2: EVENTS}, {}),
    "patched-checks": ({NB1: PATCH_CHECKS, NB2: PATCH_CHECKS}, {}),
    "identity-autoencoder": ({NB1: IDENTITY}, {}),
    "lookup-table": ({NB1: LOOKUP}, {}),
    "forged-exports": ({}, {NB1: FORGED_EXPORTS}),
    "forged-exports-in-hooks": ({NB1: FORGED_IN_HOOKS}, {}),
}


def attacked(release: dict, first: dict, last: dict) -> dict:
    notebooks = copy.deepcopy(release)
    for name, code in first.items():
        notebooks[name].cells.insert(0, nbformat.v4.new_code_cell(code))
    for name, code in last.items():
        notebooks[name].cells.append(nbformat.v4.new_code_cell(code))
    return notebooks


@pytest.fixture(scope="module")
def graded(fresh_release, mnist_cache, tmp_path_factory):
    folder = tmp_path_factory.mktemp("forgery")
    subs = folder / "submissions"
    examples.demo_submissions(SOURCE, fresh_release, subs, ASSIGNMENT)
    blank = examples.build(SOURCE, fresh_release, solved=[])
    for student, (first, last) in ATTACKS.items():
        examples.write(subs, student, ASSIGNMENT, attacked(blank, first, last))
    skipped = examples.build(SOURCE, fresh_release)
    next(c for c in skipped[NB1].cells
         if c.metadata.get("nbgrader", {}).get("grade_id") == "transfer_solution").source = SKIPPED_TRANSFER
    examples.write(subs, "skipped-transfer", ASSIGNMENT, skipped)
    root = folder / "course"
    shutil.copytree(SOURCE, root / "source" / ASSIGNMENT)
    (root / "nbgrader_config.py").write_text(
        f"c = get_config()\nload_subconfig({str(ROOT / 'nbgrader_config.py')!r})\n"
        f"c.CourseDirectory.root = {str(root)!r}\n"
        f"c.CourseDirectory.db_url = 'sqlite:///{root / 'gradebook.db'}'\n")
    run = grade(subs, root, Options(assignment=ASSIGNMENT, workers=2, progress=False, seed=11))
    return root, table(run.csv)


def total(rows, student) -> float:
    return float(rows[student]["total"])


def test_the_solution_gets_every_point(graded):
    rows = graded[1]
    assert total(rows, "demo-solution") == 40.0, rows["demo-solution"]["reason"]
    assert rows["demo-solution"]["status"] == "graded"


def test_the_untouched_release_gets_none_and_the_half_solved_demo_its_points(graded):
    rows = graded[1]
    assert total(rows, "demo-untouched") == 0.0
    partial = points(rows["demo-partial"])
    assert partial["total"] == 19.0, rows["demo-partial"]["reason"]
    assert partial["transfer_hidden"] == 0.0 and partial["baseline_accuracy"] == 3.0


@pytest.mark.parametrize("student", list(ATTACKS))
def test_an_attack_scores_no_more_than_the_blank_submission(graded, student):
    rows = graded[1]
    assert total(rows, student) <= total(rows, "demo-untouched"), rows[student]["reason"]


def test_no_labels_are_reachable_from_a_kernel(graded):
    root = graded[0]
    nb = nbformat.read(root / "autograded" / "labels-from-data" / ASSIGNMENT / NB1, as_version=4)
    text = "".join(o.get("text", "") for o in nb.cells[0].outputs)
    assert text.startswith("NO LABELS"), text


def test_exports_written_outside_their_test_cell_are_ignored_and_noted(graded):
    reason = graded[1]["forged-exports"]["reason"]
    assert "exports for 'baseline_accuracy' written while cell" in reason, reason
    assert "not by the test cell 'baseline_accuracy' itself: ignored" in reason, reason


def test_hostile_exports_are_refused_with_a_reason_and_never_run(graded):
    rows = graded[1]
    reason = rows["forged-exports-in-hooks"]["reason"]
    assert "record.json is a symbolic link: refused" in reason and "record.json is a FIFO: refused" in reason
    assert "autoencoder.output.npy is larger than" in reason
    assert not os.path.exists("/tmp/i2dl-forged-pwned")
    feedback = (graded[0] / "feedback" / "forged-exports-in-hooks" / ASSIGNMENT / "1_autoencoder.html").read_text()
    assert "not accepted" in feedback and "NaN or inf" in feedback
    assert json.dumps(rows)  # every row was written: the grader lived through it


def test_skipping_the_autoencoder_earns_no_transfer_points(graded):
    row = points(graded[1]["skipped-transfer"])
    assert row["transfer_hidden"] == 0.0 and row["baseline_accuracy"] == 3.0, graded[1]["skipped-transfer"]["reason"]
    assert row["total"] == 40.0 - 4.0
