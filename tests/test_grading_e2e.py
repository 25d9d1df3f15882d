"""End to end on the fixture course: exact points, the CSV, feedback without hidden tests,
untouched originals, zip input, resume, determinism, parallel = sequential, a fresh --db."""
import os
import signal
import socket
import subprocess
import sys
import time
import zipfile
import csv

import pytest

from i2dl_course import examples
from i2dl_course.grading import sandbox
from i2dl_course.grading.grade import Options, grade
from i2dl_course.release import protected_lines
from grading import (ASSIGNMENT, PROBE_PORT, course_copy, notebooks, points, prepared_template, table,
                     tree_digest, write)

FULL = {"test_add": 1, "test_square_sum": 2, "sandbox_probe": 1, "test_greet": 1}
EXPECTED = {
    "demo-solution": dict(FULL, total=5),
    "demo-untouched": {"test_add": 0, "test_square_sum": 0, "sandbox_probe": 1, "test_greet": 0, "total": 1},
    "demo-partial": {"test_add": 0, "test_square_sum": 0, "sandbox_probe": 1, "test_greet": 1, "total": 2},
    "zipped": dict(FULL, total=5),
    "only-add": {"test_add": 1, "test_square_sum": 0, "sandbox_probe": 1, "test_greet": 0, "total": 2},
    "no-add": {"test_add": 0, "test_square_sum": 2, "sandbox_probe": 1, "test_greet": 1, "total": 4},
}


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return prepared_template(tmp_path_factory.mktemp("template"))


@pytest.fixture(scope="module")
def listener():
    """Something on the grader's loopback that a sandboxed kernel must not reach."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", PROBE_PORT))
    server.listen()
    yield server
    server.close()


@pytest.fixture(scope="module")
def graded(template, tmp_path_factory, listener):
    """Six submissions (one as a .zip) graded with two workers."""
    folder = tmp_path_factory.mktemp("graded")
    root = course_copy(template, folder)
    subs = folder / "submissions"
    examples.demo_submissions(root / "source" / ASSIGNMENT, root / "release" / ASSIGNMENT, subs, ASSIGNMENT)
    write(subs, "only-add", notebooks(root, ["add"]))
    write(subs, "no-add", notebooks(root, ["square_sum", "greet"]))
    staging = write(folder / "zip-staging", "zipped", notebooks(root))
    with zipfile.ZipFile(subs / "zipped.zip", "w") as zf:
        for path in sorted(staging.iterdir()):
            zf.write(path, f"zipped/{ASSIGNMENT}/{path.name}")
    before = tree_digest(subs)
    run = grade(subs, root, Options(assignment=ASSIGNMENT, workers=2, timeout=120, progress=False))
    return root, subs, run, before


def test_each_submission_gets_exactly_the_expected_points(graded):
    root, subs, run, _ = graded
    rows = table(run.csv)
    assert {s: points(rows[s]) | {"total": float(rows[s]["total"])} for s in EXPECTED} == \
        {s: {k: float(v) for k, v in e.items()} | {"max_score": 5.0} for s, e in EXPECTED.items()}
    assert rows["demo-solution"]["status"] == "graded"
    assert rows["demo-solution"]["reason"] == "all cells ran without errors"
    assert "test_add" in rows["demo-untouched"]["reason"] and "NotImplementedError" in rows["demo-untouched"]["reason"]


def test_csv_has_the_documented_columns(graded):
    header = graded[2].csv.read_text().splitlines()[0].split(",")
    assert header == ["student_id", "total", "max_score", "test_greet", "test_add", "test_square_sum",
                      "sandbox_probe", "status", "reason"]


def test_the_report_per_test_counts_full_marks_zeros_and_reasons(graded):
    root, _, run, _ = graded
    assert run.items == str(root / "items.html")
    with open(root / "items.csv", newline="") as fh:
        rows = {r["grade_id"]: r for r in csv.DictReader(fh)}
    assert list(rows) == ["test_greet", "test_add", "test_square_sum", "sandbox_probe"]   # notebooks, then cells in order
    add = rows["test_add"]                       # full marks: solution, zipped, only-add
    assert (add["submissions"], add["full_marks"], add["zeros"], add["mean_points"]) == ("6", "3", "3", "0.5")
    assert add["top_reasons"] == "3 x the test could not run (NotImplementedError)", add["top_reasons"]
    assert rows["sandbox_probe"]["full_marks"] == "6" and rows["sandbox_probe"]["top_reasons"] == ""
    page = (root / "items.html").read_text()
    assert "test_square_sum" in page and "<script" not in page


def test_the_originals_are_not_modified(graded):
    _, subs, _, before = graded
    assert tree_digest(subs) == before


def test_the_sandbox_kept_the_kernel_off_the_graders_loopback(graded, listener):
    listener.settimeout(0.1)
    with pytest.raises(socket.timeout):
        listener.accept()


def test_feedback_shows_tests_by_name_and_never_their_source(graded):
    root = graded[0]
    secrets = set()
    for source in (root / "source" / ASSIGNMENT).glob("*.ipynb"):
        secrets |= protected_lines(source)
    hidden = {line for line in secrets if "p.array(" in line or "p.value(" in line}
    assert hidden, "the fixture should have hidden tests"
    for student in EXPECTED:
        html = (root / "feedback" / student / ASSIGNMENT / "tiny.html").read_text()
        assert "test_add" in html and "test_square_sum" in html
        leaked = [line for line in hidden if line in html or line.replace('"', "&quot;") in html]
        assert not leaked, f"{student}: hidden test source in the feedback: {leaked}"
    untouched = (root / "feedback" / "demo-untouched" / ASSIGNMENT / "tiny.html").read_text()
    assert "0 / 1 points: the test could not run (NotImplementedError)" in untouched and "Grading note" in untouched
    solved = (root / "feedback" / "demo-solution" / ASSIGNMENT / "tiny.html").read_text()
    assert "✓ 2 / 2 points: square_sum sums the squares" in solved
    # the summary at the top: each test by name, what it checks, its points and the judge's message
    assert "<th>what it checks</th>" in solved and "<td>2 / 2</td>\n<td>square_sum sums the squares</td>" in solved
    assert "<td>No network: only the loopback interface, and the grader's own loopback is out of reach.</td>" in solved
    assert "<td>0 / 1</td>\n<td>the test could not run (NotImplementedError)</td>" in untouched


def test_a_second_run_skips_unchanged_submissions_with_the_same_grades(graded):
    root, subs, first, _ = graded
    again = grade(subs, root, Options(assignment=ASSIGNMENT, workers=2, timeout=120, progress=False))
    assert again.counts == {"graded now": 0, "unchanged": len(EXPECTED)}
    assert table(again.csv) == table(first.csv)


def test_sequential_grading_into_a_fresh_db_gives_the_same_gradebook(graded, tmp_path):
    root, subs, parallel, _ = graded
    expected = table(parallel.csv)
    run = grade(subs, root, Options(assignment=ASSIGNMENT, workers=1, timeout=120, progress=False, force=True,
                                    db_url=f"sqlite:///{tmp_path / 'fresh.db'}"))
    assert run.counts["graded now"] == len(EXPECTED)
    assert table(run.csv) == expected


def test_resume_after_an_interrupted_run_keeps_finished_grades(template, tmp_path, listener):
    root = course_copy(template, tmp_path)
    subs = tmp_path / "submissions"
    for i in range(3):
        write(subs, f"s{i}", notebooks(root))
    env = dict(os.environ, I2DL_COURSE_ROOT=str(root))
    proc = subprocess.Popen([sys.executable, "-m", "i2dl_course.cli", "grade", str(subs), "--assignment",
                             ASSIGNMENT, "--workers", "1", "--timeout", "120"], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    done = root / ".grading" / ASSIGNMENT / "done"
    deadline = time.monotonic() + 180
    while not (done.exists() and any(done.iterdir())) and time.monotonic() < deadline:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = {p.stem for p in done.glob("*.json")}
    assert 1 <= len(finished) < 3, "the run should have been interrupted after its first submission"
    run = grade(subs, root, Options(assignment=ASSIGNMENT, workers=2, timeout=120, progress=False))
    assert {o.student for o in run.outcomes if o.unchanged} == finished
    assert all(float(row["total"]) == 5 for row in table(run.csv).values())


def test_grading_refuses_without_bubblewrap(template, tmp_path, monkeypatch):
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    with pytest.raises(sandbox.SandboxUnavailable, match="--no-sandbox"):
        grade(tmp_path, template, Options(assignment=ASSIGNMENT))


def test_without_the_sandbox_the_probe_cell_fails(template, tmp_path):
    """The probe is honest: run unsandboxed, the same solution loses exactly the probe's point."""
    root = course_copy(template, tmp_path)
    subs = tmp_path / "submissions"
    write(subs, "trusted", notebooks(root))
    run = grade(subs, root, Options(assignment=ASSIGNMENT, sandbox=False, timeout=120, progress=False))
    row = table(run.csv)["trusted"]
    assert points(row) == dict(FULL, sandbox_probe=0.0, total=4.0, max_score=5.0)
    assert "(sandbox_probe) raised AssertionError" in row["reason"]


def test_grading_writes_the_similarity_report_beside_the_grades(graded):
    root, _, run, _ = graded
    assert run.similarity == str(root / "similarity.html"), run.similarity
    assert (root / "similarity.csv").is_file() and "Nothing is suspicious" in (root / "similarity.html").read_text()
