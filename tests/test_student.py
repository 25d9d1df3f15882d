"""`i2dl start` (the working copy, the private Jupyter config) and `i2dl handin` (what it refuses,
and that what it writes is what `i2dl grade` collects)."""
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from i2dl_course import student
from i2dl_course.cli import main
from i2dl_course.grading import collect
from notebooks import RELEASE

NAMES = sorted(p.name for p in RELEASE.glob("*.ipynb"))


@pytest.fixture
def work(tmp_path):
    """A student's working folder as `i2dl start` leaves it."""
    folder = tmp_path / "work"
    student.working_copy(folder)
    return folder


# ------------------------------------------------------------------ start
def test_working_copy_copies_the_release_once_and_keeps_the_students_work(tmp_path):
    release_before = {p.name: p.read_bytes() for p in RELEASE.glob("*.ipynb")}
    exercise, copied, kept = student.working_copy(tmp_path / "work")
    assert exercise == tmp_path / "work" / "exercise_08" and copied == NAMES and kept == []
    assert {p.name: p.read_bytes() for p in exercise.glob("*.ipynb")} == release_before
    (exercise / NAMES[0]).write_text("my work")
    (exercise / NAMES[1]).unlink()
    _, copied, kept = student.working_copy(tmp_path / "work")
    assert copied == [NAMES[1]] and kept == [NAMES[0]]
    assert (exercise / NAMES[0]).read_text() == "my work"
    assert {p.name: p.read_bytes() for p in RELEASE.glob("*.ipynb")} == release_before


def test_start_refuses_to_work_in_the_release_itself():
    with pytest.raises(ValueError, match="the release itself"):
        student.working_copy(RELEASE.parent)
    assert main(["start", str(RELEASE.parent), "--no-browser"]) == 1


def test_lab_config_hides_the_instructor_tools_and_puts_the_kit_first_on_path(tmp_path):
    config_dir = student.jupyter_config(tmp_path)
    server = json.loads((config_dir / "jupyter_server_config.json").read_text())["ServerApp"]
    assert server["jpserver_extensions"] == {name: False for name in student.SERVER_EXTENSIONS_OFF}
    page = json.loads((config_dir / "labconfig" / "page_config.json").read_text())
    assert page["disabledExtensions"]["@jupyter/nbgrader"] is True
    env = student.lab_environment(config_dir)
    assert env["PATH"].split(os.pathsep)[0] == str(Path(sys.executable).parent)
    assert env["JUPYTER_CONFIG_PATH"].split(os.pathsep)[0] == str(config_dir)
    # the terminal's shell: a login shell's environment, then the kit first on PATH (/etc/profile resets it)
    shell = server["terminado_settings"]["shell_command"]
    out = subprocess.run(shell + ["-c", "command -v tensorboard"], env={**env, "PATH": "/usr/bin:/bin"},
                         capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert out.stdout.strip() == str(Path(sys.executable).parent / "tensorboard"), out


# ------------------------------------------------------------------ handin
def test_handin_writes_what_the_grader_collects(work, tmp_path, capsys):
    assert main(["handin", str(work), "--student", "ada.lovelace", "--out", str(tmp_path / "submissions")]) == 0
    archive = tmp_path / "submissions" / "ada.lovelace.zip"
    assert f"handed in: {archive}" in capsys.readouterr().out
    with zipfile.ZipFile(archive) as z:
        assert sorted(z.namelist()) == [f"exercise_08/{n}" for n in NAMES]
        assert z.read(f"exercise_08/{NAMES[0]}") == (work / "exercise_08" / NAMES[0]).read_bytes()
    [(student_id, path, problem)] = collect.find(tmp_path / "submissions")
    assert (student_id, problem) == ("ada.lovelace", None)
    got = collect.collect(student_id, path, "exercise_08", notebooks=[n[:-len(".ipynb")] for n in NAMES])
    assert sorted(got.files) == NAMES and not got.notes and not got.dropped


def test_handin_notes_unfilled_tasks_but_hands_in(work, tmp_path):
    path, notes = student.handin(work, "s1", tmp_path)
    assert path == tmp_path / "s1.zip" and path.is_file()
    assert len(notes) == len(NAMES) and all("raise NotImplementedError()" in n for n in notes)


def test_handin_default_out_is_the_working_folder(work):
    path, _ = student.handin(work / "exercise_08", "s1")
    assert path == work / "s1.zip"


@pytest.mark.parametrize("student_id", ["", "../x", "a b", "x" * 65, ".hidden"])
def test_handin_refuses_a_student_id_the_grader_would_refuse(work, tmp_path, student_id, capsys):
    assert main(["handin", str(work), "--student", student_id, "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("i2dl handin: refused: ") and "not a valid student id" in err
    assert not list(tmp_path.glob("*.zip"))


def test_handin_refuses_a_missing_notebook(work, tmp_path, capsys):
    (work / "exercise_08" / NAMES[1]).unlink()
    assert main(["handin", str(work), "--student", "s1", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"i2dl handin: refused: {NAMES[1]} is missing in ") and "`i2dl start`" in err
    assert "\n" not in err.split("refused: ")[1].split("\ni2dl handin: done")[0] and not list(tmp_path.glob("*.zip"))


def test_handin_refuses_a_folder_without_the_exercise(tmp_path):
    with pytest.raises(student.HandinError, match="no folder exercise_08/"):
        student.handin(tmp_path, "s1")


def test_handin_refuses_a_notebook_that_is_not_valid_json(work, tmp_path, capsys):
    broken = work / "exercise_08" / NAMES[0]
    broken.write_text(broken.read_text()[:-200])         # e.g. a save cut short
    assert main(["handin", str(work), "--student", "s1", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"{NAMES[0]} is not valid JSON (line " in err and ".ipynb_checkpoints" in err
    assert not list(tmp_path.glob("*.zip"))


def test_handin_refuses_json_that_is_not_a_notebook(work, tmp_path):
    (work / "exercise_08" / NAMES[0]).write_text(json.dumps({"cells": "none"}))
    with pytest.raises(student.HandinError, match="JSON but not a Jupyter notebook"):
        student.handin(work, "s1", tmp_path)


def test_a_refused_handin_keeps_an_earlier_zip(work, tmp_path):
    path, _ = student.handin(work, "s1", tmp_path)
    before = path.read_bytes()
    (work / "exercise_08" / NAMES[0]).write_text("{")
    with pytest.raises(student.HandinError):
        student.handin(work, "s1", tmp_path)
    assert path.read_bytes() == before and sorted(tmp_path.glob("*s1*")) == [path]   # no leftover temporary file
