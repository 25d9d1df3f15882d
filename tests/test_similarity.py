"""The similarity report: planted copies flagged on exactly the copied tasks, nothing else."""
import csv
import json
import shutil
import zipfile

import pytest

from i2dl_course import cli, examples
from i2dl_course.reports import similarity
from notebooks import RELEASE, SOURCE
from similarity_cases import ALTERNATIVES, THIRD, disguise

ASSIGNMENT = "exercise_08"
KIT = examples.solution_cells(SOURCE)
# Tasks where the second author's solution is long enough to be evidence (hparams_solution is not).
LONG = {"augmentation_solution", "encoder_solution", "classifier_solution", "autoencoder_solution",
        "transfer_solution", "batchnorm_forward", "batchnorm_backward", "batchnorm_backward_alt", "dropout_forward"}


def release_cell(grade_id: str) -> str:
    return next(c.source for nb in examples.build(SOURCE, RELEASE, solved=[]).values() for c in nb.cells
                if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def submit(folder, student: str, cells: dict, solved=()):
    """A submission: the release with the kit's solutions `solved` (grade ids), then `cells`, filled in."""
    nbs = examples.build(SOURCE, RELEASE, solved=solved)
    for nb in nbs.values():
        for c in nb.cells:
            grade_id = c.metadata.get("nbgrader", {}).get("grade_id")
            if grade_id in cells:
                c.source = cells[grade_id]
    return examples.write(folder, student, ASSIGNMENT, nbs)


def flagged(out) -> set:
    with open(out / "similarity.csv", newline="") as fh:
        return {(frozenset((r["student_a"], r["student_b"])), r["grade_id"]) for r in csv.DictReader(fh)
                if r["flagged"] == "yes"}


def rows(out) -> list:
    with open(out / "similarity.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def report(subs, out, **kwargs):
    return similarity.report(subs, out, SOURCE, RELEASE, ASSIGNMENT, **kwargs)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """alt (a second author), exact (its copy), disguised (its disguised copy), onecopy (a third author
    who copied alt's batchnorm_backward only, the kit's solution elsewhere), kit (the kit's solution),
    two untouched releases; and the report on them."""
    folder = tmp_path_factory.mktemp("cohort")
    subs, out = folder / "submissions", folder / "out"
    disguised = {g: disguise(code, release_cell(g)) for g, code in ALTERNATIVES.items()}
    submit(subs, "alt", ALTERNATIVES)
    submit(subs, "exact", ALTERNATIVES)
    submit(subs, "disguised", disguised)
    submit(subs, "onecopy", {**THIRD, "batchnorm_backward": ALTERNATIVES["batchnorm_backward"]}, solved=list(KIT))
    submit(subs, "kit", {}, solved=list(KIT))
    submit(subs, "untouched1", {})
    submit(subs, "untouched2", {})
    return subs, out, report(subs, out), disguised


def test_each_planted_copy_is_flagged_on_exactly_the_copied_tasks(cohort):
    subs, out, html_path, disguised = cohort
    source = disguised["batchnorm_backward"]
    assert "my_" in source and "# note: see the lecture" in source and "# x_hat = xmu * ivar" not in source
    assert source != ALTERNATIVES["batchnorm_backward"]
    copies = {frozenset(p) for p in [("alt", "exact"), ("alt", "disguised"), ("exact", "disguised")]}
    expected = {(pair, task) for pair in copies for task in LONG}
    expected |= {(frozenset((other, "onecopy")), "batchnorm_backward") for other in ("alt", "exact", "disguised")}
    assert flagged(out) == expected
    text = html_path.read_text()
    assert f"{len(expected)} pair(s) flagged on {len(LONG)} task(s)" in text
    assert text.count("<mark>") > len(expected)        # the side-by-side views mark the overlap


def test_independent_short_and_template_code_is_not_evidence(cohort):
    subs, out, html_path, _ = cohort
    listed = rows(out)
    # the third author and the second (onecopy and alt) on the tasks both wrote: listed, not flagged
    independent = [r for r in listed if {r["student_a"], r["student_b"]} == {"alt", "onecopy"}
                   and r["grade_id"] in set(THIRD) - {"batchnorm_backward"}]
    assert all(float(r["share"]) < similarity.THRESHOLD for r in independent)
    # identical short cells (hparams of alt and exact) and untouched releases: no row at all
    assert not [r for r in listed if r["grade_id"] in ("hparams_solution", "ae_hparams_solution", "dropout_backward")]
    assert not [r for r in listed if {"untouched1", "untouched2"} & {r["student_a"], r["student_b"]}]
    # the kit's own solution is not a student's: listed apart, never in a pair
    assert not [r for r in listed if "kit" in (r["student_a"], r["student_b"])]
    text = html_path.read_text()
    assert "kit: 2_batchnorm_dropout: batchnorm_forward (100%)" in text
    assert "onecopy: 1_autoencoder: augmentation_solution (100%)" in text


def test_demo_submissions_and_a_malformed_one_are_not_suspicious(tmp_path):
    subs = tmp_path / "submissions"
    examples.demo_submissions(SOURCE, RELEASE, subs, ASSIGNMENT)
    broken = subs / "broken" / ASSIGNMENT
    broken.mkdir(parents=True)
    (broken / "1_autoencoder.ipynb").write_text('{"cells": [{"source": "x = 1"')
    html_path = report(subs, tmp_path / "out")
    text = html_path.read_text()
    assert "Nothing is suspicious" in text
    assert "broken: 1_autoencoder.ipynb is not a readable notebook (malformed JSON" in text
    assert flagged(tmp_path / "out") == set()


def test_hostile_notebooks_each_give_a_line_and_the_rest_is_still_compared(tmp_path, monkeypatch):
    monkeypatch.setattr(similarity, "MAX_NOTEBOOK_BYTES", 1 << 20)
    monkeypatch.setattr(similarity, "MAX_CELLS", 1000)
    subs = tmp_path / "submissions"
    submit(subs, "alt", ALTERNATIVES)
    marker = tmp_path / "executed"
    # a copy whose cells would leave a file behind if they ran, one of them cut off mid-string
    cells = {g: f"open({str(marker)!r}, 'w').close()\n" + code for g, code in ALTERNATIVES.items()}
    cells["dropout_forward"] += '\nprint("""unterminated'
    submit(subs, "copier", cells)
    path = submit(subs, "weird", {}) / "2_batchnorm_dropout.ipynb"
    nb = json.loads(path.read_text())
    target = next(c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == "batchnorm_forward")
    target["source"] = 42
    path.write_text(json.dumps(nb))
    (path.parent / "1_autoencoder.ipynb").write_text(json.dumps({"cells": [{"metadata": {}}] * 1001}))
    big = submit(subs, "big", {})
    (big / "1_autoencoder.ipynb").write_text(" " * (2 << 20) + "{}")
    (big / "2_batchnorm_dropout.ipynb").write_text("[" * 100_000 + "]" * 100_000)
    listing = submit(subs, "listing", {}) / "1_autoencoder.ipynb"
    listing.write_text("[]")
    with zipfile.ZipFile(subs / "zipped.zip", "w") as zf:
        zf.writestr(f"{ASSIGNMENT}/2_batchnorm_dropout.ipynb", "not json at all")
    text = report(subs, tmp_path / "out").read_text()
    for line in ["weird: 2_batchnorm_dropout.ipynb: cell batchnorm_forward has a source that is not text",
                 "weird: 1_autoencoder.ipynb has 1,001 cells (more than 1,000): not read",
                 "big: 1_autoencoder.ipynb is larger than 1 MB: not read",
                 "big: 2_batchnorm_dropout.ipynb is not a readable notebook",
                 "listing: 1_autoencoder.ipynb is not a notebook (no list of cells)",
                 "zipped: 2_batchnorm_dropout.ipynb is not a readable notebook"]:
        assert line in text
    assert flagged(tmp_path / "out") == {(frozenset(("alt", "copier")), task) for task in LONG}
    assert not marker.exists()


def test_a_copy_from_an_earlier_year_is_flagged(tmp_path):
    earlier, subs = tmp_path / "2024", tmp_path / "submissions"
    submit(earlier, "alt", ALTERNATIVES)
    submit(earlier, "exact", ALTERNATIVES)             # earlier years among themselves: not compared
    submit(subs, "disguised", {g: disguise(code, release_cell(g)) for g, code in ALTERNATIVES.items()})
    submit(subs, "own", THIRD)
    text = report(subs, tmp_path / "out", earlier=earlier).read_text()
    assert flagged(tmp_path / "out") == {(frozenset((old, "disguised")), task)
                                         for old in ("2024/alt", "2024/exact") for task in LONG}
    assert "compared with 2 from 2024" in text


def test_the_i2dl_similarity_command(tmp_path, monkeypatch, capsys):
    root = tmp_path / "course"
    for folder in (SOURCE, RELEASE):
        shutil.copytree(folder, root / folder.parent.name / ASSIGNMENT)
    monkeypatch.setenv("I2DL_COURSE_ROOT", str(root))
    subs = tmp_path / "submissions"
    submit(subs, "alt", ALTERNATIVES)
    submit(subs, "exact", ALTERNATIVES)
    assert cli.main(["similarity", str(subs), "--threshold", "0.9"]) == 0
    assert f"similarity report: {root / 'similarity.html'}" in capsys.readouterr().out
    assert "threshold 0.90" in (root / "similarity.html").read_text()
    assert len(flagged(root)) == len(LONG)
    assert cli.main(["similarity", str(tmp_path / "missing")]) == 2
    with pytest.raises(SystemExit):
        cli.main(["similarity", str(subs), "--threshold", "1.5"])
