"""LMS downloads (Moodle's "Download all submissions", Canvas's submissions zip) as `i2dl grade`
takes them: mapped through the roster into <student>.zip files that collect.py reads, everything
else listed and not graded; hostile members skipped; the feedback zip named as each LMS reads it."""
import io
import json
import stat
import zipfile
from pathlib import Path

import pytest

from i2dl_course.grading import collect
from i2dl_course.lms import feedback_zip, intake as lms
from i2dl_course.lms.intake import IntakeError, intake, load_roster

NOTEBOOK = b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'


def handin_zip(student: str) -> bytes:
    """What `i2dl handin` writes: <assignment>/*.ipynb inside (a fixed time: the same bytes on every call)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr(zipfile.ZipInfo("tiny/tiny.ipynb", (2026, 12, 1, 10, 0, 0)), NOTEBOOK + student.encode())
    return buffer.getvalue()


def download(path: Path, members: dict, links=()) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        for name in links:
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, "/etc/passwd")
    return path


def roster(path: Path, text: str) -> dict:
    path.write_text(text)
    return load_roster(path)


MOODLE = {   # Moodle >= 3.1, "Download submissions in folders"
    "Jane Doe_1234567_assignsubmission_file_/s1001.zip": handin_zip("s1001"),
    "Richard Roe_1234568_assignsubmission_file_/tiny.ipynb": NOTEBOOK,
    "Richard Roe_1234568_assignsubmission_file_/timestamp.txt": b"2026-12-01 10:00:00.000000 UTC",
    "Richard Roe_1234568_assignsubmission_onlinetext_/onlinetext.html": b"<p>hi</p>",
    "Edgar Poe_1234569_assignsubmission_file_/tiny.ipynb": NOTEBOOK,
    "grading-notes.txt": b"not a submission",
    "Jane Doe_1234567_assignsubmission_file_/../../escape.ipynb": NOTEBOOK,
}


def test_moodle_download_is_mapped_through_the_roster(tmp_path):
    r = roster(tmp_path / "roster.csv", "lms_id,student_id\nParticipant 1234567,s1001\n1234568,s1002\n")
    result = intake(download(tmp_path / "moodle.zip", MOODLE, links=[
        "Richard Roe_1234568_assignsubmission_file_/link.ipynb"]), "moodle", tmp_path / "out", r)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["s1001.zip", "s1002.zip"]
    assert (tmp_path / "out" / "s1001.zip").read_bytes() == handin_zip("s1001")     # their zip as it is
    assert result.unmapped == [
        "grading-notes.txt: not named as moodle names submissions: not graded",
        "Edgar Poe (LMS id 1234569, 1 files): not in the roster: not graded"]
    assert any("escape.ipynb (path leaves the download)" in n for n in result.notes)
    assert any("link.ipynb (a symbolic link)" in n for n in result.notes)
    sub = collect.collect("s1002", tmp_path / "out" / "s1002.zip", "tiny", ["tiny"])
    assert sub.files == {"tiny.ipynb": NOTEBOOK, "timestamp.txt": MOODLE[
        "Richard Roe_1234568_assignsubmission_file_/timestamp.txt"]}
    assert "onlinetext.html" in sub.dropped and "link" not in sub.dropped
    assert collect.collect("s1001", tmp_path / "out" / "s1001.zip", "tiny", ["tiny"]).files["tiny.ipynb"] \
        == NOTEBOOK + b"s1001"
    manifest = json.loads((tmp_path / "lms.json").read_text())
    assert manifest["lms"] == "moodle" and manifest["students"]["s1002"]["lms_id"] == "1234568"
    assert manifest["students"]["s1002"]["name"] == "Richard Roe"


def test_moodle_without_folders_or_with_41_folders_and_a_new_download_replaces_the_folder(tmp_path):
    out = tmp_path / "out"
    (out / "stale").mkdir(parents=True)
    result = intake(download(tmp_path / "flat.zip", {"Jane Doe_77_assignsubmission_file_tiny.ipynb": NOTEBOOK,
                                                     "Jim Doe_78_assignsubmission_file/tiny.ipynb": NOTEBOOK}),
                    "moodle", out)
    assert sorted(p.name for p in out.iterdir()) == ["77.zip", "78.zip"] and result.unmapped == []   # LMS ids
    for student in ("77", "78"):
        assert collect.collect(student, out / f"{student}.zip", "tiny", ["tiny"]).files == {"tiny.ipynb": NOTEBOOK}


def test_canvas_names_late_marker_and_attachment_ids(tmp_path):
    r = roster(tmp_path / "roster.csv", "student_id,lms_id,name\ns1001,1001,Jane\ns1002,1002,Richard\n")
    result = intake(download(tmp_path / "canvas.zip", {
        "doejane_1001_550123_s1001.zip": handin_zip("s1001"),
        "roerichard_late_1002_550124_tiny.ipynb": NOTEBOOK,
        "roerichard_late_1002_550125_second.ipynb": NOTEBOOK,
        "Jane Doe_1234567_assignsubmission_file_/tiny.ipynb": NOTEBOOK,
    }), "canvas", tmp_path / "out", r)
    assert sorted(result.students) == ["s1001", "s1002"]
    assert result.students["s1002"].late and not result.students["s1001"].late
    assert result.students["s1002"].attachments == ["550124", "550125"]
    assert collect.collect("s1002", tmp_path / "out" / "s1002.zip", "tiny", ["tiny", "second"]).files == {
        "tiny.ipynb": NOTEBOOK, "second.ipynb": NOTEBOOK}
    assert result.unmapped == ["Jane Doe_1234567_assignsubmission_file_/tiny.ipynb: not named as canvas names "
                               "submissions: not graded"]


def test_two_lms_ids_for_one_student_and_bad_ids_are_never_graded(tmp_path):
    r = roster(tmp_path / "roster.csv", "lms_id,student_id\n1,s1\n2,s1\n3,../evil\n")
    result = intake(download(tmp_path / "d.zip", {f"N_{i}_assignsubmission_file_/tiny.ipynb": NOTEBOOK
                                                  for i in (1, 2, 3)}), "moodle", tmp_path / "out", r)
    assert list((tmp_path / "out").iterdir()) == []
    assert result.unmapped == [
        "N (LMS id 3, 1 files): student id '../evil' is not one the kit takes (letters, digits, _.@+-): not graded",
        "s1: LMS ids 1, 2 all map to this student: none graded"]


def test_two_files_of_one_name_are_refused_by_collect(tmp_path):
    result = intake(download(tmp_path / "d.zip", {
        "Jane_5_assignsubmission_file_/tiny.ipynb": NOTEBOOK,
        "Jane_5_assignsubmission_file_tiny.ipynb": NOTEBOOK + b" "}), "moodle", tmp_path / "out")
    sub = collect.collect("5", result.folder / "5.zip", "tiny", ["tiny"])
    assert sub.files == {} and "2 entries named tiny.ipynb" in sub.notes[0]


def test_a_student_over_the_size_cap_is_listed_and_not_graded(tmp_path, monkeypatch):
    monkeypatch.setattr(lms, "MAX_STUDENT_BYTES", 1000)
    result = intake(download(tmp_path / "d.zip", {"A_1_assignsubmission_file_/tiny.ipynb": b"x" * 600,
                                                  "A_1_assignsubmission_file_/second.ipynb": b"y" * 600,
                                                  "B_2_assignsubmission_file_/tiny.ipynb": b"z" * 900}),
                    "moodle", tmp_path / "out")
    assert [p.name for p in result.folder.iterdir()] == ["2.zip"]
    assert result.unmapped == ["1: the files of LMS id 1 unpack to more than 1,000 bytes (or the download to "
                               f"more than {lms.MAX_TOTAL_BYTES:,}): not graded"]


def test_the_download_as_a_whole_is_capped_too(tmp_path, monkeypatch):
    monkeypatch.setattr(lms, "MAX_TOTAL_BYTES", 1500)
    result = intake(download(tmp_path / "d.zip", {f"S_{i}_assignsubmission_file_/tiny.ipynb": b"x" * 600
                                                  for i in (1, 2, 3)}), "moodle", tmp_path / "out")
    assert sorted(result.students) == ["1", "2"] and len(result.unmapped) == 1
    assert result.unmapped[0].startswith("3: the files of LMS id 3 unpack to more than")


def test_unusable_inputs_are_refused_in_one_line(tmp_path):
    (tmp_path / "not.zip").write_bytes(b"PK\x03\x04 broken")
    with pytest.raises(IntakeError, match="not a readable zip"):
        intake(tmp_path / "not.zip", "moodle", tmp_path / "out")
    with pytest.raises(IntakeError, match="needs the columns lms_id and student_id"):
        roster(tmp_path / "r.csv", "id,student\n1,s1\n")
    with pytest.raises(IntakeError, match="LMS id 1 is both s1 and s2"):
        roster(tmp_path / "r.csv", "lms_id,student_id\n1,s1\n1,s2\n")


def feedback(root: Path, students) -> Path:
    for student in students:
        folder = root / "feedback" / student / "tiny"
        folder.mkdir(parents=True)
        (folder / "tiny.html").write_text(f"<p>{student}</p>")
    return root / "feedback"


def test_moodle_feedback_zip_names_parse_as_moodles_importer_reads_them(tmp_path):
    manifest = {"lms": "moodle", "students": {
        "s1001": {"lms_id": "1234567", "name": "Jane Doe", "attachments": []},
        "s1003": {"lms_id": "1234569", "name": "Edgar_Poe/..", "attachments": []}}}
    packed = feedback_zip.pack(feedback(tmp_path, ["s1001", "s1002"]), "tiny", manifest, tmp_path / "fb.zip")
    assert packed.entries == ["Jane Doe_1234567_assignsubmission_file_tiny.html"]
    assert packed.not_in_lms == ["s1002"] and packed.no_feedback == ["s1003"]
    name = packed.entries[0]
    info = name.split("_", 4)              # assignfeedback_file: explode('_', name, 5)
    assert info[1] == "1234567" and info[2:4] == ["assignsubmission", "file"] and info[4] == "tiny.html"
    assert zipfile.ZipFile(tmp_path / "fb.zip").read(name) == b"<p>s1001</p>"
    assert feedback_zip.entry("moodle", manifest["students"]["s1003"], "x").split("_")[:2] == ["Edgar Poe", "1234569"]


def test_canvas_feedback_zip_names_the_user_and_a_submitted_file(tmp_path):
    manifest = {"lms": "canvas", "students": {
        "s1002": {"lms_id": "1002", "name": "roerichard", "attachments": ["550124", "550125"]}}}
    packed = feedback_zip.pack(feedback(tmp_path, ["s1002"]), "tiny", manifest, tmp_path / "fb.zip")
    assert packed.entries == ["roerichard_1002_550124_tiny.html"]
