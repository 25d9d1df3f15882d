"""The integrity review: every way of touching the grading channel found at its line, nothing on the
real solution or honest extra cells, a forging cell passed around one group, implausible accuracies
flagged; student text never becomes markup; a review that fails never changes a grade."""
import csv
import json
import shutil

import nbformat
import pytest

from i2dl_course import examples
from i2dl_course.grading.grade import Grader, Options
from i2dl_course.reports import integrity, similarity
from notebooks import RELEASE, SOURCE
from similarity_cases import ALTERNATIVES, THIRD, disguise

ASSIGNMENT = "exercise_08"
NB1, NB2 = "1_autoencoder.ipynb", "2_batchnorm_dropout.ipynb"

# (kind, added cell, line of the touch): one each, in the order the cells are added to notebook 1
TOUCHES = [
    ("export-folder", 'import os\nout = os.environ["I2DL_EXPORT_DIR"]', 2),
    ("export-folder", 'import os\nd = os.getenv("I2DL_" "EXPORT_DIR")\nx = 1\nopen(d + "/x/record.json", "w")', 2),
    ("export-folder", "import os, json\nbase = os.environ.get('I2DL_EXPORT_DIR')\n\n"
                      "def where(name):\n    return f'{base}/{name}'\n\nfile = where('baseline_accuracy') + '/r'\n"
                      "print(1)\njson.dump({}, open(file, 'w'))", 9),
    ("environment", "import os\nfolder = os.environ.get('I2DL_DATA_DIR', '')", 2),
    ("environment", "import os\nprint(1)\nenv = dict(os.environ)", 3),
    ("probes", "from i2dl_utils.probes import autoencoder as p", 1),
    ("probes", "x = 1\nimport i2dl_utils.probes", 2),
    ("checks", "import i2dl_utils.checks.common as c", 1),
    ("kit-patch", "import i2dl_utils.evaluate as ev\n\nev.accuracy = lambda *a, **k: 1.0", 3),
    ("kit-patch", "checks.check_augmentations = print", 1),
    ("kit-patch", "import i2dl_utils.training\nsetattr(i2dl_utils.training, 'make_trainer', None)", 2),
    ("ipython-hook", "ip = get_ipython()\nip.input_transformers_cleanup.append(lambda lines: lines)", 2),
    ("ipython-hook", "get_ipython().events.register('post_run_cell', print)", 1),
    ("ipython-hook", "shell = get_ipython()\nshell.run_cell = None", 2),
    ("exception-handler", "get_ipython().set_custom_exc((Exception,), lambda *a, **k: None)", 1),
    ("exception-handler", "ip = get_ipython()\nip.showtraceback = lambda *a, **k: None", 2),
    ("exception-handler", "import sys\nsys.excepthook = print", 2),
    ("import-hook", "import sys\n\nsys.meta_path.insert(0, object())", 3),
    ("import-hook", "import sys\nsys.path_hooks.append(None)", 2),
    ("import-hook", "import builtins\nreal = builtins.__import__\nbuiltins.__import__ = lambda *a: real(*a)", 3),
    ("sys-modules", "import sys\nsys.modules['i2dl_utils.checks.common'] = None", 2),
    ("sys-modules", "import sys\ny = 2\nsys.modules.pop('torch')", 3),
    ("frames", "import inspect\ncaller = inspect.stack()[1]", 2),
    ("frames", "import sys\nf = sys._getframe(1)", 2),
    ("grader-package", "import i2dl_course.judges", 1),
    ("dynamic-code", "code = 'pri' + 'nt(1)'\nexec(code)", 2),
    ("import-hook", "exec('import sys\\nsys.meta_path.clear()')", 1),       # the text given to exec is read
    ("export-folder", "%env I2DL_EXPORT_DIR\nx = 1", 1),                    # a magic line is read as text
    ("export-folder", "%%time\nimport os\nprint(os.environ['I2DL_PROBE_INPUTS'])", 3),
    ("probes", "x = (1,\nimport i2dl_utils.probes as p", 2),                # not Python: read with patterns
    ("export-folder", "%%bash\nls $I2DL_EXPORT_DIR", 2),                     # not Python: read with patterns
]

# what honest students add: none of it is a touch
HONEST = [
    "%matplotlib inline\n!pip list | head\nimport os\nos.environ['CUDA_VISIBLE_DEVICES'] = ''\nprint(os.environ.get('HOME'))",
    "import sys\nsys.path.append('..')\nprint(sys.version)",
    "%%time\nmodel = classifier\nmodel.eval()\nx = torch.stack([torch.zeros(1)])",
    "from i2dl_utils.checks import autoencoder as checks\nchecks.check_augmentations(random_shift, random_rotation, augment_offline);",
    "help(checks)\nsplits.train.images = splits.train.images[:10]",
    "import os\nos.environ['I2DL_PROGRESS_BAR'] = '0'\nos.makedirs('plots', exist_ok=True)\nplt.savefig('plots/a.png')",
    "import inspect\nprint(inspect.signature(make_trainer))\nimport importlib\nimportlib.reload(plt)",
    "# the probes and I2DL_EXPORT_DIR are only named in this comment\nprint('done')",
]

FORGERY = '''\
import json, os
import numpy as np
target = os.path.join(os.environ["I2DL_EXPORT_DIR"], "baseline_accuracy")
os.makedirs(target, exist_ok=True)
weights = np.zeros((10, 784), dtype=np.float32)
bias = np.full(10, 3.0, dtype=np.float32)
np.save(os.path.join(target, "classifier.0.weight.npy"), weights)
np.save(os.path.join(target, "classifier.0.bias.npy"), bias)
spec = {"type": "Sequential", "sequence": [0], "unused": [], "layers": [
    {"name": "0", "type": "torch.nn.modules.linear.Linear", "config": {"in_features": 784, "out_features": 10}}]}
with open(os.path.join(target, "record.json"), "w") as fh:
    json.dump({"values": {}, "errors": {}, "models": {"classifier": spec}}, fh)
'''

EXPERIMENT = '''\
results = {}
for width in (32, 64, 128, 256):
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, width), nn.ReLU(), nn.Linear(width, 10))
    trainer = make_trainer(max_epochs=3)
    trainer.fit(model, splits.train, splits.val)
    results[width] = accuracy(model, splits.val.images, splits.val.labels)
    print(f"width {width}: validation accuracy {results[width]:.3f}")
best = max(results, key=results.get)
print("best width", best, "with", results[best])
'''


def submit(folder, student: str, added=(), solved=None, cells: dict = None, notebook=NB1):
    """The release with the kit's solutions `solved` (None: all) and `cells` ({grade id: code}) filled in,
    and the `added` code cells appended to `notebook`."""
    nbs = examples.build(SOURCE, RELEASE, solved=solved)
    for c in (c for nb in nbs.values() for c in nb.cells):
        grade_id = c.metadata.get("nbgrader", {}).get("grade_id")
        if cells and grade_id in cells:
            c.source = cells[grade_id]
    start = len(nbs[notebook].cells)
    nbs[notebook].cells += [nbformat.v4.new_code_cell(code) for code in added]
    examples.write(folder, student, ASSIGNMENT, nbs)
    return start


def review(subs, out, **kwargs):
    path = integrity.report(subs, out, SOURCE, RELEASE, ASSIGNMENT, **kwargs)
    with open(out / "integrity.csv", newline="") as fh:
        return path.read_text(), list(csv.DictReader(fh))


def test_each_touch_is_found_at_its_line(tmp_path):
    subs = tmp_path / "submissions"
    start = submit(subs, "toucher", [code for _, code, _ in TOUCHES], solved=[])
    # a touch in a solution cell is found too, with its grade id
    path = subs / "toucher" / ASSIGNMENT / NB2
    nb = nbformat.read(path, 4)
    number, cell = next((i, c) for i, c in enumerate(nb.cells, 1)
                        if c.metadata.get("nbgrader", {}).get("grade_id") == "dropout_forward")
    cell.source += "\n    import i2dl_utils.probes"
    nbformat.write(nb, path)
    text, rows = review(subs, tmp_path / "out")
    found = {(r["kind"], r["notebook"], int(r["cell"]), int(r["line"])) for r in rows if r["line"]}
    for i, (kind, code, line) in enumerate(TOUCHES):
        assert (kind, NB1, start + i + 1, line) in found, (kind, code, [r for r in rows if int(r["cell"]) == start + i + 1])
    solution = [r for r in rows if r["notebook"] == NB2]
    assert [(r["kind"], int(r["cell"]), r["grade_id"], r["code"]) for r in solution] == \
        [("probes", number, "dropout_forward", "import i2dl_utils.probes")]
    assert all(r["student"] == "toucher" for r in rows)
    assert "1 submission(s) to look at: 1 whose code touches the grading channel" in text


def test_the_attacks_of_the_forgery_test_are_found():
    """Every attack on the grading channel in test_grading_forgery is a touch; those that change
    nothing but their own kernel's libraries or model are not."""
    import test_grading_forgery as forgery
    channel = {"labels-from-data", "labels-from-the-stack", "import-hook", "input-transformer",
               "events-and-exception-handler", "patched-checks", "forged-exports", "forged-exports-in-hooks"}
    own_kernel = {"patched-libraries", "identity-autoencoder", "lookup-table"}
    assert channel - {"forged-exports-in-hooks"} <= set(forgery.ATTACKS) and own_kernel <= set(forgery.ATTACKS)
    for student, (first, last) in forgery.ATTACKS.items():
        found = {kind for code in {**first, **last}.values() for _, kind, _ in integrity.scan(code)}
        if student in channel | own_kernel:
            assert bool(found) == (student in channel), (student, found)


def test_the_real_solution_and_honest_extra_cells_give_no_flag(tmp_path):
    subs = tmp_path / "submissions"
    examples.demo_submissions(SOURCE, RELEASE, subs, ASSIGNMENT)
    submit(subs, "alt", HONEST, cells=ALTERNATIVES)
    submit(subs, "third", [EXPERIMENT], cells=THIRD)
    submit(subs, "second-year", ["%%time\nfor p in (0.1, 0.5):\n    out, _ = dropout_forward(x, {'p': p, 'mode': 'train'})"
                                 "\n    print(p, out.mean())"], notebook=NB2)
    measures = {"demo-solution": {"baseline_accuracy": 0.848, "transfer_hidden": 0.882},
                "alt": {"baseline_accuracy": 0.87, "transfer_hidden": 0.915}}
    text, rows = review(subs, tmp_path / "out", measures=measures)
    assert rows == []
    assert "Nothing to review" in text and "6 submission(s)" in text


def test_a_forging_cell_passed_among_three_students_is_one_group(tmp_path):
    subs = tmp_path / "submissions"
    renamed = FORGERY.replace("target", "where_to").replace("weights", "w").replace("spec", "layout")
    submit(subs, "a", [FORGERY])
    submit(subs, "b", ["print('my own cell')", FORGERY], solved=[])
    submit(subs, "c", [renamed], notebook=NB2)                   # renamed, and in the other notebook
    submit(subs, "d", [EXPERIMENT])                              # a long cell of its own: no group
    submit(subs, "e", [EXPERIMENT.replace("(32, 64, 128, 256)", "(16, 512)")], cells=THIRD)
    text, rows = review(subs, tmp_path / "out")
    copied = [r for r in rows if r["kind"] == "copied-cell"]
    groups = {}
    for r in copied:
        groups.setdefault(r["detail"].split(":")[0], set()).add(r["student"])
    assert groups == {"group 1": {"a", "b", "c"}, "group 2": {"d", "e"}}
    assert {r["student"] for r in rows if r["kind"] == "export-folder"} == {"a", "b", "c"}
    assert "Group 1: 3 submissions" in text
    b = next(r for r in copied if r["student"] == "b")
    assert (b["notebook"], b["detail"]) == (NB1, "group 1: the same added cell as a, c")


def test_an_accuracy_above_the_limit_is_flagged_and_a_plausible_one_not(tmp_path):
    subs = tmp_path / "submissions"
    for student in ("high", "plausible", "unmeasured"):
        submit(subs, student)
    done = tmp_path / "done"
    done.mkdir()
    markers = {"high": {"key": "k", "measures": {"baseline_accuracy": 0.86, "transfer_hidden": 0.97}},
               "plausible": {"key": "k", "measures": {"baseline_accuracy": 0.86, "transfer_hidden": 0.915}},
               "unmeasured": {"key": "k"},
               "odd": {"measures": {"baseline_accuracy": "0.99", "transfer_hidden": True, "x": 7.0, "y": None}},
               "listing": {"measures": [0.99]}}
    for student, marker in markers.items():
        (done / f"{student}.json").write_text(json.dumps(marker))
    (done / "broken.json").write_text('{"measures": {"baseline_accuracy": 0.99')
    (done / "nan.json").write_text('{"measures": {"baseline_accuracy": NaN}}')
    measures = integrity.read_measures(done)
    assert measures == {"high": {"baseline_accuracy": 0.86, "transfer_hidden": 0.97},
                        "plausible": {"baseline_accuracy": 0.86, "transfer_hidden": 0.915}}
    assert integrity.read_measures(tmp_path / "missing") == {}
    text, rows = review(subs, tmp_path / "out", measures=measures)
    assert [(r["student"], r["kind"], r["notebook"], r["grade_id"]) for r in rows] == \
        [("high", "accuracy", NB1, "transfer_hidden")]
    assert "accuracy 0.970" in rows[0]["detail"] and integrity.ACCURACY_LIMIT == 0.95
    assert "1 with an accuracy above the limit" in text and "60,000 labels" in text


def test_student_text_is_escaped_and_hostile_notebooks_are_lines(tmp_path, monkeypatch):
    monkeypatch.setattr(similarity, "MAX_NOTEBOOK_BYTES", 1 << 20)
    subs = tmp_path / "submissions"
    script = "<script>alert(1)</script>"
    shout = f'=HYPERLINK("x") if 0 else sys.meta_path.append("{script}")'
    submit(subs, "a", [f"import sys\n{shout}", f"# {script}\n" + FORGERY])
    submit(subs, "b", [f"# {script}\n" + FORGERY])
    path = subs / "weird" / ASSIGNMENT
    path.mkdir(parents=True)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import i2dl_utils.probes")])
    nb.cells.append({"cell_type": "code", "metadata": {}, "source": 42, "outputs": []})
    (path / NB1).write_text(json.dumps(nb))
    (path / NB2).write_text("[" * 100_000 + "]" * 100_000)
    (subs / "big" / ASSIGNMENT).mkdir(parents=True)
    (subs / "big" / ASSIGNMENT / NB1).write_text(" " * (2 << 20) + "{}")
    text, rows = review(subs, tmp_path / "out")
    assert script not in text and "&lt;script&gt;" in text and "<script" not in text.lower()
    line = next(r for r in rows if r["student"] == "a" and r["kind"] == "import-hook")
    assert line["code"] == "'" + shout                           # a spreadsheet shows it as text
    for problem in ["weird: 1_autoencoder.ipynb: cell 2 has a source that is not text: not read",
                    "weird: 2_batchnorm_dropout.ipynb is not a readable notebook",
                    "big: 1_autoencoder.ipynb is larger than 1 MB: not read"]:
        assert problem in text
    assert ("weird", "probes") in {(r["student"], r["kind"]) for r in rows}


@pytest.fixture
def grader(tmp_path):
    root = tmp_path / "course"
    for folder in (SOURCE, RELEASE):
        shutil.copytree(folder, root / folder.parent.name / ASSIGNMENT)
    subs = tmp_path / "submissions"
    submit(subs, "a", [FORGERY])
    submit(subs, "b", [FORGERY])
    g = object.__new__(Grader)                      # only what the reports need: no gradebook, no kernels
    g.submissions, g.root, g.assignment, g.options = subs, root, ASSIGNMENT, Options(assignment=ASSIGNMENT)
    g.state = root / ".grading" / ASSIGNMENT
    (g.state / "done").mkdir(parents=True)
    (g.state / "done" / "a.json").write_text(json.dumps({"key": "k", "measures": {"baseline_accuracy": 0.99}}))
    return g


def test_the_grader_writes_both_reports_beside_the_grades(grader):
    assert grader.similarity() == str(grader.root / "similarity.html")
    assert grader.integrity == str(grader.root / "integrity.html")
    with open(grader.root / "integrity.csv", newline="") as fh:
        kinds = {(r["student"], r["kind"]) for r in csv.DictReader(fh)}
    assert {("a", "accuracy"), ("a", "copied-cell"), ("b", "copied-cell"), ("b", "export-folder")} <= kinds


def test_a_review_that_fails_changes_nothing_else(grader, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("no review today")
    monkeypatch.setattr(integrity, "report", broken)
    assert grader.similarity() == str(grader.root / "similarity.html")
    assert grader.integrity == "not written (RuntimeError: no review today)"
