"""Targeted and verifiable regrades on the fixture course (issue 21, items 3 and 4): receipts and
stored exports with every recorded grade, `--student` regrades only those students, `--cell`
judges tests again from the stored exports without running a notebook, changes.csv lists what a
regrade changed, `--verify` grades again from the receipts and lists every score that differs.

Two submissions are graded once (module fixture); each test works on a copy of that course."""
import hashlib
import json
import shutil
import subprocess
import zipfile

import pytest
from nbgrader.api import Gradebook

from i2dl_course import cli
from i2dl_course.grading import collect, receipts, stored_exports
from i2dl_course.grading.cluster import kit_digest
from i2dl_course.grading.grade import Grader, Options, grade
from i2dl_course.grading.safe_files import Refused
from i2dl_course.judges import AssignmentJudges
from grading import ASSIGNMENT, course_copy, notebooks, points, prepared_template, table, tree_digest, write

SEED = 11


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """a: everything solved (5 / 5); b: only add solved (2 / 5). Graded with seed 11."""
    folder = tmp_path_factory.mktemp("regrades")
    root = course_copy(prepared_template(folder), folder)
    subs = folder / "submissions"
    write(subs, "a", notebooks(root))
    write(subs, "b", notebooks(root, ["add"]))
    run = grade(subs, root, Options(assignment=ASSIGNMENT, workers=2, timeout=120, progress=False, seed=SEED))
    assert {s: float(r["total"]) for s, r in table(run.csv).items()} == {"a": 5.0, "b": 2.0}
    return root, subs, run


@pytest.fixture
def course(graded, tmp_path):
    """A copy of the graded course and its submissions (the students' data view is built again)."""
    root, subs, _ = graded
    shutil.copytree(root, tmp_path / "course", ignore=shutil.ignore_patterns("data-view"), symlinks=True)
    shutil.copytree(subs, tmp_path / "submissions", symlinks=True)
    return tmp_path / "course", tmp_path / "submissions"


def options(**kw) -> Options:
    return Options(assignment=ASSIGNMENT, workers=2, timeout=120, progress=False, **kw)


def marker(root, student) -> dict:
    return json.loads((root / ".grading" / ASSIGNMENT / "done" / f"{student}.json").read_text())


def records(root, student) -> str:
    """A digest of everything recorded for one student outside the gradebook."""
    state = root / ".grading" / ASSIGNMENT
    return "/".join(tree_digest(p) if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
                    for p in (root / "autograded" / student, root / "feedback" / student,
                              state / "done" / f"{student}.json", state / "exports" / f"{student}.zip"))


def grades(root, student) -> dict:
    """{grade id: (auto score, manual score)} of the student's recorded submission."""
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        sub = gb.find_submission(ASSIGNMENT, student)
        return {g.name: (g.auto_score, g.manual_score) for nb in sub.notebooks for g in nb.grades}


def changes(root) -> list:
    lines = (root / "changes.csv").read_text().splitlines()
    assert lines[0] == "student_id,grade_id,old_points,new_points,why"
    return lines[1:]


def test_every_recorded_grade_carries_a_receipt_and_its_exports(graded):
    root, subs, run = graded
    judges = AssignmentJudges("judges.py", root, ASSIGNMENT)
    commit = subprocess.run(["git", "-C", str(receipts.KIT), "rev-parse", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    constraints = hashlib.sha256((receipts.KIT / "constraints.txt").read_bytes()).hexdigest()
    for student in ("a", "b"):
        receipt = marker(root, student)["receipt"]
        sub = collect.collect(student, subs / student, ASSIGNMENT, ["second", "tiny"], ["timestamp.txt"])
        assert receipt["submission"] == sub.digest
        assert (receipt["judges"], receipt["kit"], receipt["constraints"]) == (judges.fingerprint, kit_digest(),
                                                                               constraints)
        assert receipt["commit"] == (commit or None) and receipt["seed"] == SEED
        assert (receipt["timeout"], receipt["cell_timeout"], receipt["sandbox"]) == (120, 10, True)
        stored = stored_exports.load(root / ".grading" / ASSIGNMENT, student)
        assert stored.seed == stored_exports.probe_seed(SEED, student)
        assert sorted(stored.notebooks) == ["second", "tiny"]
        cells, exports = stored.notebooks["tiny"]
        assert "test_add/sums.npy" in exports
        assert all(not cell.source for cell in cells.cells), "the stored cells keep no code"
    solved = stored_exports.load(root / ".grading" / ASSIGNMENT, "a").notebooks["tiny"][1]
    assert any(key.startswith("test_square_sum/") for key in solved) and not any(
        key.startswith("test_square_sum/") for key in exports), "b's square_sum raised: it exported nothing"
    assert run.changes == root / "changes.csv" and changes(root) == [], "a first grading changes nothing"


def test_an_unknown_student_is_one_line_and_nothing_is_graded(course, monkeypatch, capsys):
    root, subs = course
    before = tree_digest(root)
    monkeypatch.setenv("I2DL_COURSE_ROOT", str(root))
    code = cli.main(["grade", str(subs), "--assignment", ASSIGNMENT, "--student", "a", "--student", "nobody"])
    err = capsys.readouterr().err.splitlines()
    assert code == 2 and err[0] == "i2dl grade: no submission in the folder for nobody: nothing graded", err
    assert tree_digest(root) == before


def test_student_regrades_only_that_student(course):
    root, subs = course
    write(subs, "b", notebooks(root))                      # b hands in a complete solution
    untouched, b_before = records(root, "a"), marker(root, "b")
    a_grades = grades(root, "a")
    run = grade(subs, root, options(students=("b",), seed=3))
    assert run.counts["graded now"] == 1 and [o.student for o in run.outcomes if not o.unchanged] == ["b"]
    assert records(root, "a") == untouched and grades(root, "a") == a_grades
    assert float(table(run.csv)["b"]["total"]) == 5.0 and float(table(run.csv)["a"]["total"]) == 5.0
    assert marker(root, "b")["receipt"]["submission"] != b_before["receipt"]["submission"]
    assert marker(root, "b")["receipt"]["seed"] == 3
    assert sorted(changes(root)) == [
        "b,test_greet,0,1,submission changed: greet greets",
        "b,test_square_sum,0,2,submission changed: square_sum sums the squares"]


def test_cell_rejudges_from_the_stored_exports_without_running_a_notebook(course, monkeypatch):
    root, subs = course
    monkeypatch.setattr(Grader, "execute", lambda *a: pytest.fail("a notebook ran during a --cell regrade"))
    before = {s: grades(root, s) for s in ("a", "b")}
    run = grade(subs, root, options(cells=("test_add", "test_greet")))
    assert run.counts["re-judged"] == 2 and changes(root) == [], "the same judges and inputs give the same points"
    assert {s: grades(root, s) for s in ("a", "b")} == before

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:   # a manual score given in the formgrader
        gb.find_grade("test_square_sum", "tiny", ASSIGNMENT, "a").manual_score = 1.5
        gb.db.commit()
    judges = root / "judges.py"
    judges.write_text(judges.read_text().replace('    return "add adds"',
                                                 '    expect(False, "add is judged anew")\n    return "add adds"'))
    b_records = records(root, "b")
    run = grade(subs, root, options(cells=("test_add",), students=("a",)))
    assert run.counts == {"graded now": 0, "unchanged": 1, "re-judged": 1}
    assert changes(root) == ["a,test_add,1,0,regraded with --cell: add is judged anew"]
    now = grades(root, "a")
    assert now["test_add"] == (0.0, None) and now["test_square_sum"] == (2.0, 1.5), "manual score kept"
    assert {k: v for k, v in now.items() if k != "test_add"} == {
        k: v for k, v in before["a"].items() if k != "test_add"} | {"test_square_sum": (2.0, 1.5)}
    assert records(root, "b") == b_records and grades(root, "b") == before["b"]
    row = table(run.csv)["a"]
    assert points(row)["test_add"] == 0.0 and float(row["total"]) == 3.5    # 0 + 1.5 (manual) + 1 + 1
    feedback = (root / "feedback" / "a" / ASSIGNMENT / "tiny.html").read_text()
    assert "0 / 1 points: add is judged anew" in feedback
    done = marker(root, "a")
    assert done["verdicts"]["tiny"]["test_add"] == [0.0, "add is judged anew"]
    assert done["verdicts"]["tiny"]["sandbox_probe"] == [1.0, "the kernel was isolated"]
    assert done["receipt"]["rejudged"] == {"test_add": AssignmentJudges("judges.py", root, ASSIGNMENT).fingerprint,
                                           "test_greet": done["receipt"]["judges"]}     # the first --cell run

    (root / ".grading" / ASSIGNMENT / "exports" / "b.zip").unlink()        # graded before exports were kept
    run = grade(subs, root, options(cells=("test_add",), students=("b",)))
    assert run.counts["re-judged"] == 0 and changes(root) == []
    assert run.notes == ["b: not re-judged: no stored exports (graded before the grader kept them); "
                         "regrade it in full with --student b"]
    assert grades(root, "b") == before["b"]


def test_an_unknown_cell_is_one_line(course, monkeypatch, capsys):
    root, subs = course
    monkeypatch.setenv("I2DL_COURSE_ROOT", str(root))
    assert cli.main(["grade", str(subs), "--assignment", ASSIGNMENT, "--cell", "test_nothing"]) == 2
    err = capsys.readouterr().err.splitlines()[0]
    assert err.startswith("i2dl grade: no test cell test_nothing in the assignment (its test cells: sandbox_probe,")


def test_verify_grades_again_from_the_receipts_and_lists_what_differs(course, monkeypatch, capsys):
    root, subs = course
    monkeypatch.setenv("I2DL_COURSE_ROOT", str(root))
    verify = ["grade", str(subs), "--assignment", ASSIGNMENT, "--verify", "--timeout", "120"]
    assert cli.main(verify + ["--student", "a"]) == 0
    assert "verify: 1 receipts re-run, 0 scores differ, 0 with other inputs, 0 not verifiable" in capsys.readouterr().out

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:   # a recorded score that is not what a's work earns
        gb.find_grade("test_add", "tiny", ASSIGNMENT, "a").auto_score = 0.0
        gb.db.commit()
    write(subs, "b", notebooks(root))                               # b's file is no longer the one graded
    state = root / ".grading" / ASSIGNMENT
    before = [tree_digest(p) for p in (state / "done", state / "exports", root / "autograded", root / "feedback")]
    db, csv = (root / "gradebook.db").read_bytes(), (root / "grades.csv").read_bytes()
    assert cli.main(verify) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[:2] == ["differs: a test_add: recorded 0, now 1 (add adds)",
                       "inputs changed: b: the submission in the folder is not the one recorded (not re-run)"], out
    assert "verify: 1 receipts re-run, 1 scores differ, 1 with other inputs, 0 not verifiable" in out
    assert [tree_digest(p) for p in (state / "done", state / "exports", root / "autograded", root / "feedback")] \
        == before
    assert (root / "gradebook.db").read_bytes() == db and (root / "grades.csv").read_bytes() == csv


def test_receipts_name_the_inputs_that_changed():
    now = receipts.kit()
    recorded = receipts.receipt("sub", "judges", 1, 120, 10, True)
    assert receipts.changed_inputs(recorded, "sub", "judges") == []
    recorded = dict(recorded, kit="old", constraints="old", commit="0123456789abcdef", rejudged={"x": "new"})
    assert receipts.changed_inputs(recorded, "other", "new") == [
        "the submission in the folder is not the one recorded", "the judges changed since",
        "the kit's sources changed since (recorded at commit 0123456789ab)", "constraints.txt changed since"]
    assert now["kit"] == kit_digest()


def test_stored_exports_are_read_back_carefully(tmp_path):
    import nbformat
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("secret = 1", metadata={
        "nbgrader": {"grade_id": "t", "grade": True, "points": 1}})])
    nb.cells[0].outputs = [nbformat.v4.new_output("error", ename="ValueError", evalue="bad", traceback=["tb"]),
                           nbformat.v4.new_output("stream", name="stdout", text="noise")]
    stored_exports.save(tmp_path, "s", 42, {"tiny": (nb, {"t/x.npy": b"123"})})
    back = stored_exports.load(tmp_path, "s")
    cells, exports = back.notebooks["tiny"]
    assert back.seed == 42 and exports == {"t/x.npy": b"123"}
    assert cells.cells[0].source == "" and [(o.ename, o.evalue) for o in cells.cells[0].outputs] == [("ValueError", "bad")]
    assert stored_exports.load(tmp_path, "nobody") is None
    path = stored_exports.path(tmp_path, "s")
    elsewhere = tmp_path / "elsewhere.zip"
    path.rename(elsewhere)
    path.symlink_to(elsewhere)
    with pytest.raises(Refused, match="symbolic link"):
        stored_exports.load(tmp_path, "s")
    path.unlink()
    path.write_bytes(b"not a zip")
    with pytest.raises(Refused, match="unreadable"):
        stored_exports.load(tmp_path, "s")
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("seed.json", json.dumps({"seed": 1, "notebooks": ["tiny"]}))
    with pytest.raises(Refused, match="tiny/cells.ipynb is missing"):
        stored_exports.load(tmp_path, "s")
