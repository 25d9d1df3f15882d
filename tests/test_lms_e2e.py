"""The LMS round trip on the fixture course, through the `i2dl` command: a Moodle download of two
mapped submissions (one the zip `i2dl handin` writes, one loose notebooks) and one unmapped
entry is graded; the Moodle grade CSV is filled and the feedback packed for Moodle's import."""
import csv
import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from grading import ASSIGNMENT, course_copy, notebooks, prepared_template, table

SAMPLES = Path(__file__).resolve().parent / "fixtures" / "lms"
COLUMN = "Assignment: Autoencoder (Real)"


def i2dl(root: Path, mnist_cache, *args) -> subprocess.CompletedProcess:
    env = dict(os.environ, I2DL_COURSE_ROOT=str(root), I2DL_DATA_DIR=str(mnist_cache.path.parent))
    return subprocess.run([sys.executable, "-m", "i2dl_course.cli", *map(str, args)], capture_output=True,
                          text=True, env=env, timeout=900)


def notebook_bytes(nb) -> bytes:
    return nbformat.writes(nb).encode()


@pytest.fixture(scope="module")
def round_trip(tmp_path_factory, mnist_cache):
    folder = tmp_path_factory.mktemp("lms")
    root = course_copy(prepared_template(folder / "template"), folder)
    handin = io.BytesIO()
    with zipfile.ZipFile(handin, "w") as zf:
        for name, nb in notebooks(root).items():
            zf.writestr(f"{ASSIGNMENT}/{name}", notebook_bytes(nb))
    members = {"Jane Doe_1234567_assignsubmission_file_/s1001.zip": handin.getvalue(),
               "Edgar Poe_1234569_assignsubmission_file_/tiny.ipynb": b"{}",
               "grading-notes.txt": b"not a submission"}
    for name, nb in notebooks(root, ["add"]).items():
        members[f"Richard Roe_1234568_assignsubmission_file_/{name}"] = notebook_bytes(nb)
    download = folder / "moodle-download.zip"
    with zipfile.ZipFile(download, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    roster = folder / "roster.csv"
    roster.write_text("lms_id,student_id\n1234567,s1001\n1234568,s1002\n")
    graded = i2dl(root, mnist_cache, "grade", download, "--lms", "moodle", "--roster", roster,
                  "--assignment", ASSIGNMENT, "--workers", 2, "--timeout", 120)
    exported = i2dl(root, mnist_cache, "export", "--template", SAMPLES / "moodle_grades.csv", "--out",
                    folder / "moodle-filled.csv", "--match", "ID number", "--column", COLUMN,
                    "--feedback-zip", folder / "feedback.zip", "--assignment", ASSIGNMENT)
    return root, folder, graded, exported


def test_the_download_is_graded_per_student_and_the_rest_listed(round_trip):
    root, _, graded, _ = round_trip
    assert graded.returncode == 0, graded.stderr[-3000:]
    grades = table(root / "grades.csv")
    assert sorted(grades) == ["s1001", "s1002"]
    assert (float(grades["s1001"]["total"]), grades["s1001"]["status"]) == (5.0, "graded")
    assert float(grades["s1002"]["test_add"]) == 1 and float(grades["s1002"]["test_square_sum"]) == 0
    assert "Edgar Poe (LMS id 1234569, 1 files): not in the roster: not graded" in graded.stderr
    assert "grading-notes.txt: not named as moodle names submissions: not graded" in graded.stderr


def test_the_moodle_csv_gets_the_totals_and_the_feedback_zip_moodles_names(round_trip):
    root, folder, _, exported = round_trip
    assert exported.returncode == 0, exported.stderr[-3000:]
    grades = table(root / "grades.csv")
    with open(folder / "moodle-filled.csv", newline="", encoding="utf-8") as fh:
        filled = {row["ID number"]: row[COLUMN] for row in csv.DictReader(fh)}
    assert filled == {"s1001": "5", "s1002": f"{float(grades['s1002']['total']):g}", "s1003": "-", "s1004": "-"}
    assert "s1003: no grade in the kit (not submitted): left as it was" in exported.stderr
    names = sorted(zipfile.ZipFile(folder / "feedback.zip").namelist())
    pages = sorted(p.name for p in (root / "feedback" / "s1002" / ASSIGNMENT).glob("*.html"))
    assert pages and names == sorted([f"Jane Doe_1234567_assignsubmission_file_{p}" for p in pages] +
                                     [f"Richard Roe_1234568_assignsubmission_file_{p}" for p in pages])
