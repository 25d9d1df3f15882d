"""`i2dl check`: the grader's own verdict before handing in, on the fixture course. Its points
equal what `i2dl grade` gives for the same notebooks and seed; it never writes into the student's
folder; a missing or broken notebook gets one clear line; the command prints one line per test
and the total."""
import json

import pytest

from i2dl_course import check, cli
from i2dl_course.grading.grade import Options, grade
from grading import ASSIGNMENT, course_copy, notebooks, points, prepared_template, table, tree_digest, write


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    folder = tmp_path_factory.mktemp("check")
    return course_copy(prepared_template(folder), folder)


def working_folder(folder, nbs) -> object:
    """A student's folder as `i2dl start` lays it out: FOLDER/<assignment>/*.ipynb."""
    write(folder, "", nbs)
    return folder


def test_check_gives_the_points_grade_gives(root, tmp_path):
    student = working_folder(tmp_path / "work", notebooks(root, ["add", "greet"]))
    before = tree_digest(student)
    result = check.check(student, ASSIGNMENT, seed=7, root=root)
    assert tree_digest(student) == before, "check wrote into the student's folder"
    assert result.sandboxed
    got = {grade_id: p for _, grade_id, p, _, _ in result.lines}
    assert [name for name, *_ in result.lines] == ["second.ipynb"] + ["tiny.ipynb"] * 3

    subs = tmp_path / "submissions"
    write(subs, "s", notebooks(root, ["add", "greet"]))
    run = grade(subs, root, Options(assignment=ASSIGNMENT, workers=1, timeout=120, progress=False, seed=7))
    row = points(table(run.csv)["s"])
    assert got == {k: v for k, v in row.items() if k not in ("total", "max_score")}
    assert result.total == (row["total"], row["max_score"]) == (3.0, 5.0)
    square = next(line for line in result.lines if line[1] == "test_square_sum")
    assert square[2] == 0 and "NotImplementedError" in square[4]


def test_a_folder_holding_the_notebooks_directly_and_one_notebook_only(root, tmp_path):
    exercise = working_folder(tmp_path / "work", notebooks(root)) / ASSIGNMENT
    result = check.check(exercise, ASSIGNMENT, notebooks=["second.ipynb"], root=root)
    assert [(line[1], line[2]) for line in result.lines] == [("test_greet", 1.0)]
    assert result.total == (1.0, 1.0)


def test_missing_and_broken_notebooks_get_one_clear_line_each(root, tmp_path, monkeypatch, capsys):
    student = working_folder(tmp_path / "work", notebooks(root))
    (student / ASSIGNMENT / "second.ipynb").unlink()
    (student / ASSIGNMENT / "tiny.ipynb").write_text(json.dumps({"cells": "oops"}))
    monkeypatch.setenv("I2DL_COURSE_ROOT", str(root))
    assert cli.main(["check", str(student), "--assignment", ASSIGNMENT]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "total: 0 / 5"
    notes = [line for line in out if line.startswith("note: ")]
    assert any("second.ipynb was not submitted" in n for n in notes), out
    assert any("tiny.ipynb is not a valid notebook" in n for n in notes), out
    tests = [line for line in out if line.startswith("  ✗ ")]
    assert len(tests) == 4 and all(" 0 / " in line for line in tests), out


def test_no_folder_is_one_line(tmp_path, capsys):
    assert cli.main(["check", str(tmp_path / "nowhere")]) == 2
    assert "no notebooks in" in capsys.readouterr().err
