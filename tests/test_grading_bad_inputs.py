"""Bad submissions, graded in one batch next to a good one: each gets a clear result (zero where it
fails) and a one-line reason, and none of them stops or changes the grading of the others."""
import copy
import json
import os
import warnings
import zipfile
from pathlib import Path

import nbformat
import pytest

from i2dl_course.grading import grade as grade_module
from i2dl_course.grading.collect import collect
from i2dl_course.grading.grade import Options, grade
from i2dl_course.grading.sandbox import FIRST_UID, SLOTS
from grading import ASSIGNMENT, course_copy, insert_after, notebooks, points, prepared_template, table, write
from notebooks import cell

FULL = {"test_add": 1.0, "test_square_sum": 2.0, "sandbox_probe": 1.0, "test_greet": 1.0}


def solved(root):
    return notebooks(root)


def with_tiny(root, nb):
    return dict(solved(root), **{"tiny.ipynb": nb})


def build(root, subs):
    good = solved(root)
    tiny = good["tiny.ipynb"]
    write(subs, "good", good)

    bad_json = write(subs, "bad-json", good)
    (bad_json / "tiny.ipynb").write_text('{"cells": [ this is not json')

    write(subs, "foreign", with_tiny(root, nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])))

    edited = copy.deepcopy(tiny)
    edited.cells.remove(cell(edited, "test_add"))
    cell(edited, "test_square_sum").source = "pass"
    cell(edited, "test_square_sum").metadata.nbgrader["points"] = 100
    write(subs, "edited-tests", with_tiny(root, edited))

    syntax = copy.deepcopy(tiny)
    cell(syntax, "add").source = "def add(a, b) return a + b"
    write(subs, "syntax-error", with_tiny(root, syntax))

    early = copy.deepcopy(tiny)
    [numbers] = [c for c in early.cells if "NUMBERS =" in c.source]
    numbers.source = 'raise RuntimeError("boom")'
    write(subs, "early-exception", with_tiny(root, early))

    write(subs, "infinite-loop", with_tiny(root, insert_after(tiny, None, "while True:\n    pass")))
    # 8 GB fit in the machine's memory: only the kernel's RLIMIT_AS makes this fail
    write(subs, "memory-bomb", with_tiny(root, insert_after(tiny, None, "hog = bytearray(8 << 30)")))
    write(subs, "huge-output", with_tiny(root, insert_after(tiny, None, 'print("x" * 30_000_000)')))
    write(subs, "kernel-crash", with_tiny(root, insert_after(tiny, "test_add", "import os\nos._exit(3)")))
    write(subs, "background", with_tiny(root, insert_after(tiny, None, (
        "import subprocess\nsubprocess.Popen(['sleep', '600'])\n"
        "subprocess.Popen(['sh', '-c', '(sleep 600 &)'])"))))
    write(subs, "network", with_tiny(root, insert_after(tiny, None, (
        "import urllib.request\nurllib.request.urlopen('http://127.0.0.1:47811/', timeout=3)"))))
    outside = [str(root / "gradebook.db"), str(root / "source" / ASSIGNMENT / "tiny.ipynb"), str(subs / "good"),
               "/etc/passwd-i2dl", str(Path.home() / "i2dl-probe")]
    write(subs, "writes-outside", with_tiny(root, insert_after(tiny, None, (
        f"for path in {outside!r}:\n    open(path, 'a').write('x')"))))
    patched = insert_after(tiny, None, (
        "import i2dl_utils.checks.common as checks\nchecks.expect = lambda condition, message: None"))
    cell(patched, "add").source = "def add(a, b):\n    return 3 if (a, b) == (1, 2) else 0"
    write(subs, "monkeypatch", with_tiny(root, patched))

    folder = write(subs, "symlink", good)
    os.symlink("/etc/shadow", folder / "secret.txt")
    staging = write(subs.parent / "staging", "traversal", good)
    with zipfile.ZipFile(subs / "traversal.zip", "w") as zf:
        for path in staging.iterdir():
            zf.write(path, f"{ASSIGNMENT}/{path.name}")
        zf.writestr(f"{ASSIGNMENT}/../../escaped.txt", "out")
    (subs / "bomb.zip").write_bytes(b"PK\x03\x04 definitely not a zip")
    with zipfile.ZipFile(subs / "duplicate.zip", "w") as zf, warnings.catch_warnings():
        warnings.simplefilter("ignore")                   # zipfile warns of the duplicate name
        for path in staging.iterdir():
            zf.write(path, f"{ASSIGNMENT}/{path.name}")
        zf.writestr(f"{ASSIGNMENT}/tiny.ipynb", nbformat.writes(nbformat.v4.new_notebook()))


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bad")
    root = course_copy(prepared_template(folder), folder)
    subs = folder / "submissions"
    build(root, subs)
    run = grade(subs, root, Options(assignment=ASSIGNMENT, workers=2, timeout=60, progress=False))
    return root, subs, run, table(run.csv)


def result(batch, student):
    row = batch[3][student]
    return points(row), row["status"], row["reason"]


def expect_points(batch, student, **changed):
    got, status, reason = result(batch, student)
    want = dict(FULL, **changed)
    assert {k: got[k] for k in want} == want, reason
    assert got["total"] == sum(want.values())
    assert reason and "\n" not in reason
    return status, reason


def test_a_good_submission_in_the_same_batch_gets_full_marks(batch):
    assert expect_points(batch, "good") == ("graded", "all cells ran without errors")


def test_malformed_notebook_json_scores_zero_there_and_the_other_notebook_counts(batch):
    status, reason = expect_points(batch, "bad-json", test_add=0.0, test_square_sum=0.0, sandbox_probe=0.0)
    assert status == "problem" and "tiny.ipynb is not a valid notebook" in reason


def test_a_notebook_that_is_not_the_assignments_scores_zero(batch):
    status, reason = expect_points(batch, "foreign", test_add=0.0, test_square_sum=0.0, sandbox_probe=0.0)
    assert status == "problem" and "not the exercise's notebook" in reason


def test_deleted_and_edited_test_cells_are_restored(batch):
    expect_points(batch, "edited-tests")
    autograded = nbformat.read(batch[0] / "autograded" / "edited-tests" / ASSIGNMENT / "tiny.ipynb", as_version=4)
    assert "square_sum([1, 2]) == 5" in cell(autograded, "test_square_sum").source


def test_a_syntax_error_costs_only_its_task(batch):
    status, reason = expect_points(batch, "syntax-error", test_add=0.0)
    assert status == "graded" and "SyntaxError" in reason


def test_an_exception_in_an_early_cell_is_reported(batch):
    status, reason = expect_points(batch, "early-exception", test_square_sum=0.0)
    assert "RuntimeError: boom" in reason


def test_an_infinite_loop_is_stopped_by_the_cell_timeout(batch):
    status, reason = expect_points(batch, "infinite-loop")
    assert status == "problem" and "time limit of a cell" in reason


def test_a_memory_bomb_hits_the_memory_limit(batch):
    status, reason = expect_points(batch, "memory-bomb")
    assert "cell 1 raised MemoryError" in reason


def test_gigantic_output_is_cut(batch):
    status, reason = expect_points(batch, "huge-output")
    assert status == "problem" and "output" in reason
    nb = nbformat.read(batch[0] / "autograded" / "huge-output" / ASSIGNMENT / "tiny.ipynb", as_version=4)
    assert len(json.dumps(nb)) < 3_000_000


def test_a_kernel_crash_keeps_earlier_grades_and_marks_the_rest_not_run(batch):
    status, reason = expect_points(batch, "kernel-crash", test_square_sum=0.0, sandbox_probe=0.0)
    assert status == "problem" and "crashed the kernel" in reason
    nb = nbformat.read(batch[0] / "autograded" / "kernel-crash" / ASSIGNMENT / "tiny.ipynb", as_version=4)
    assert "(NotRun: not run: the kernel died in an earlier cell)" in cell(nb, "sandbox_probe").outputs[0].evalue


def test_background_processes_do_not_outlive_their_kernel(batch):
    expect_points(batch, "background")
    uids = set(range(FIRST_UID, FIRST_UID + SLOTS))
    left = [p for p in Path("/proc").iterdir() if p.name.isdigit() and _uid(p) in uids]
    assert not left, [(p.read_bytes() if p.exists() else b"") for p in (q / "cmdline" for q in left)]


def _uid(proc: Path):
    try:
        return proc.stat().st_uid
    except FileNotFoundError:
        return None


def test_network_access_fails_and_is_reported(batch):
    status, reason = expect_points(batch, "network")
    assert "URLError" in reason


def test_writes_outside_the_scratch_folder_fail(batch):
    subs = batch[1]
    status, reason = expect_points(batch, "writes-outside")
    assert "Error" in reason
    assert not (subs / "good").is_file() and not Path("/etc/passwd-i2dl").exists()
    assert not (Path.home() / "i2dl-probe").exists()


def test_a_patched_checker_gives_no_points(batch):
    expect_points(batch, "monkeypatch", test_add=0.0)


def test_symlinks_in_a_submission_are_not_followed(batch):
    status, reason = expect_points(batch, "symlink")
    assert "dropped secret.txt" in reason
    assert not (batch[0] / "autograded" / "symlink" / ASSIGNMENT / "secret.txt").exists()


def test_zip_members_cannot_leave_the_submission(batch):
    status, reason = expect_points(batch, "traversal")
    assert "path leaves the submission" in reason
    assert not list(batch[1].parent.rglob("escaped.txt"))


def test_a_broken_zip_is_graded_as_nothing_handed_in(batch):
    status, reason = expect_points(batch, "bomb", test_add=0.0, test_square_sum=0.0, sandbox_probe=0.0,
                                   test_greet=0.0)
    assert "not a readable zip file" in reason


def test_a_zip_with_two_entries_of_one_name_is_graded_as_nothing_handed_in(batch):
    status, reason = expect_points(batch, "duplicate", test_add=0.0, test_square_sum=0.0, sandbox_probe=0.0,
                                   test_greet=0.0)
    assert f"the zip holds 2 entries named {ASSIGNMENT}/tiny.ipynb: refused" in reason


def _zip(path, names):
    with zipfile.ZipFile(path, "w") as zf, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, name in enumerate(names):
            zf.writestr(name, f'{{"n": {i}}}')
    return path


@pytest.mark.parametrize("names, said", [
    ([f"{ASSIGNMENT}/tiny.ipynb", f"{ASSIGNMENT}/tiny.ipynb"], f"2 entries named {ASSIGNMENT}/tiny.ipynb"),
    ([f"{ASSIGNMENT}/tiny.ipynb", f"{ASSIGNMENT}//tiny.ipynb"], "one file when unpacked"),
    ([f"{ASSIGNMENT}/tiny.ipynb", f"{ASSIGNMENT}/./tiny.ipynb"], "one file when unpacked"),
    ([f"{ASSIGNMENT}/tiny.ipynb", f"{ASSIGNMENT.upper()}/Tiny.ipynb"], "one file when unpacked"),
    ([f"{ASSIGNMENT}/tiny.ipynb", f"{ASSIGNMENT}\\tiny.ipynb"], "one file when unpacked"),
    ([f"{ASSIGNMENT}/tiny.ipynb", f"s1/{ASSIGNMENT}/tiny.ipynb"], "are both tiny.ipynb of the submission"),
    (["tiny.ipynb", "s1/tiny.ipynb"], "are both tiny.ipynb of the submission"),
    (["timestamp.txt", "timestamp.txt", "tiny.ipynb"], "2 entries named timestamp.txt"),
])
def test_a_zip_whose_entries_are_one_graded_file_is_refused_with_the_reason(tmp_path, names, said):
    got = collect("s1", _zip(tmp_path / "s1.zip", names), ASSIGNMENT, ["tiny"])
    assert got.files == {} and len(got.notes) == 1 and said in got.notes[0] and "refused" in got.notes[0]
    assert "\n" not in got.notes[0]


def test_duplicates_of_files_not_graded_do_not_refuse_a_zip(tmp_path):
    names = [f"{ASSIGNMENT}/tiny.ipynb", f"{ASSIGNMENT}/notes.md", f"{ASSIGNMENT}/notes.md", f"{ASSIGNMENT}/Notes.md"]
    got = collect("s1", _zip(tmp_path / "s1.zip", names), ASSIGNMENT, ["tiny"])
    assert got.files == {"tiny.ipynb": b'{"n": 0}'} and got.notes == [] and "notes.md" in got.dropped


def test_a_folder_with_two_copies_of_a_graded_file_is_refused(tmp_path):
    for rel in (f"{ASSIGNMENT}/tiny.ipynb", f"s1/{ASSIGNMENT}/tiny.ipynb"):
        (tmp_path / "s1" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "s1" / rel).write_text("{}")
    got = collect("s1", tmp_path / "s1", ASSIGNMENT, ["tiny"])
    assert got.files == {} and "are both tiny.ipynb of the submission: refused" in got.notes[0]


def test_the_notebook_time_budget_stops_later_cells(tmp_path):
    root = course_copy(prepared_template(tmp_path), tmp_path)
    subs = tmp_path / "submissions"
    tiny = notebooks(root)["tiny.ipynb"]
    for i in range(3):
        tiny = insert_after(tiny, None, "import time\ntime.sleep(4)")
    write(subs, "slow", {"tiny.ipynb": tiny})
    run = grade(subs, root, Options(assignment=ASSIGNMENT, timeout=9, progress=False))
    row = table(run.csv)["slow"]
    assert row["status"] == "problem" and "time limit" in row["reason"]
    assert float(row["total"]) == 0
    nb = nbformat.read(root / "autograded" / "slow" / ASSIGNMENT / "tiny.ipynb", as_version=4)
    assert "(NotRun: not run: the notebook used up its time limit of 9 s)" in cell(nb, "test_add").outputs[0].evalue


def test_a_stuck_worker_is_killed_and_scores_zero(tmp_path, monkeypatch):
    root = course_copy(prepared_template(tmp_path), tmp_path)
    subs = tmp_path / "submissions"
    write(subs, "stuck", notebooks(root))
    # two notebooks with 30 s each, minus 58 s: the worker gets 2 s, too little to start two kernels
    monkeypatch.setattr(grade_module, "STARTUP_SECONDS", -58)
    run = grade(subs, root, Options(assignment=ASSIGNMENT, timeout=30, progress=False))
    row = table(run.csv)["stuck"]
    assert float(row["total"]) == 0 and row["status"] == "problem"
    assert "stopped by the grader after 2 s" in row["reason"]


@pytest.mark.parametrize("names, graded, said", [
    ([f"{ASSIGNMENT}/tiny-1.ipynb"], "tiny-1.ipynb", "graded tiny-1.ipynb as tiny.ipynb"),        # Canvas
    (["tiny (2).ipynb", "timestamp.txt"], "tiny (2).ipynb", "graded tiny (2).ipynb as tiny.ipynb"),  # a browser
    ([f"{ASSIGNMENT}/tiny.ipynb", f"{ASSIGNMENT}/tiny-1.ipynb"], "tiny.ipynb", "dropped tiny-1.ipynb"),
])
def test_a_notebook_renamed_by_an_lms_or_a_browser_is_graded(tmp_path, names, graded, said):
    path = tmp_path / "s1.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for name in names:
            zf.writestr(name, "2026-12-01 14:00:00 UTC" if name.endswith(".txt") else name.split("/")[-1])
    got = collect("s1", path, ASSIGNMENT, ["tiny"])
    assert got.files["tiny.ipynb"] == graded.encode() and got.notes == [] and said in got.dropped, got


def test_two_renamed_copies_of_a_notebook_are_not_guessed_between(tmp_path):
    for name in ("tiny-1.ipynb", "tiny-2.ipynb", "second.ipynb"):
        (tmp_path / "s1" / ASSIGNMENT).mkdir(parents=True, exist_ok=True)
        (tmp_path / "s1" / ASSIGNMENT / name).write_text(name)
    got = collect("s1", tmp_path / "s1", ASSIGNMENT, ["tiny", "second"])
    assert got.files == {"second.ipynb": b"second.ipynb"}
    assert got.notes == ["tiny-1.ipynb and tiny-2.ipynb could each be tiny.ipynb: none graded "
                         "(hand in one copy named tiny.ipynb)"]
