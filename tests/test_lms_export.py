"""`i2dl export`: an LMS's gradebook CSV filled with the totals, all else byte-for-byte as it was
(the sample files in tests/fixtures/lms), formula-safe cells, unmatched ids listed."""
import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from i2dl_course.lms import gradebook_csv
from i2dl_course.lms.gradebook_csv import TemplateError, fill, safe_cell

SAMPLES = Path(__file__).resolve().parent / "fixtures" / "lms"
CANVAS = (SAMPLES / "canvas_gradebook.csv").read_bytes()
MOODLE = (SAMPLES / "moodle_grades.csv").read_bytes()
# grades.csv of the kit: two graded (one total 83.456), one not submitted, one whose grading failed
GRADES = ("student_id,total,max_score,status,reason\n"
          "jane.doe@uni.example,4.5,5,graded,\n"
          "richard.roe@uni.example,3.456,5,problem,a cell ran out of time\n"
          "edgar.poe@uni.example,0.0,5,not submitted,\n"
          "ghost@uni.example,2,5,graded,\n")


@pytest.fixture
def totals(tmp_path):
    """({student: total}, {student: why none}) as read from GRADES written as a file."""
    return gradebook_csv.read_totals(_write(tmp_path / "grades.csv", GRADES))


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def lines(data: bytes) -> list:
    return data.decode("utf-8-sig").splitlines(keepends=True)


def rows(text: str) -> list:
    return list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))


def test_canvas_fills_the_column_and_keeps_every_other_byte(totals):
    result = fill(CANVAS, "SIS Login ID", "Autoencoder (48213)", *totals)
    out = result.text.encode("utf-8")
    assert out.startswith(b"\xef\xbb\xbf") and b"\r" not in out
    before, after = lines(CANVAS), lines(out)
    assert len(before) == len(after)
    changed = [i for i, (a, b) in enumerate(zip(before, after)) if a != b]
    assert changed == [2, 3]                       # Jane's and Richard's rows only
    assert after[2] == before[2].replace("I2DL 2026,,8.00", "I2DL 2026,4.5,8.00")
    assert after[3] == before[3].replace('""B""",,7.50', '""B""",3.46,7.50')   # quoting of the section kept
    assert result.written == {"jane.doe@uni.example": "4.5", "richard.roe@uni.example": "3.46"}


def test_canvas_lists_who_is_missing_on_either_side(totals):
    result = fill(CANVAS, "SIS Login ID", "Autoencoder (48213)", *totals)
    assert result.not_in_template == ["ghost@uni.example"]
    assert result.no_grade == ["edgar.poe@uni.example", "0b4e1f0c-test"]     # Points Possible has no login id
    assert rows(result.text)[4][5] == '=HYPERLINK("http://x.example")'       # a template cell is data, kept


def test_missing_as_zero_fills_only_students_without_a_submission(totals):
    t, missing = totals
    missing["jane.doe@uni.example"] = "error: grader error"
    del t["jane.doe@uni.example"]
    result = fill(CANVAS, "SIS Login ID", "Autoencoder (48213)", t, missing, missing_as_zero=True)
    table = rows(result.text)
    assert table[2][6] == ""                       # grading failed: never a 0
    assert result.not_graded == ["jane.doe@uni.example: error: grader error"]
    assert table[4][6] == "0" and table[5][6] == "0"
    assert table[1][6] == "5.00"                   # the Points Possible row as it was


def test_moodle_crlf_all_quoted_keeps_its_quoting():
    t = {"s1001": 5.0, "s1004": 1.25}
    result = fill(MOODLE, "ID number", "Assignment: Autoencoder (Real)", t, {"s1003": "not submitted"})
    out = result.text.encode("utf-8")
    assert not out.startswith(b"\xef\xbb\xbf")
    before, after = MOODLE.split(b"\r\n"), out.split(b"\r\n")
    assert [i for i, (a, b) in enumerate(zip(before, after)) if a != b] == [1, 4]
    assert after[1] == before[1].replace(b'"-"', b"5")
    assert after[4].decode() == '"Zoë","Ärger","s1004","TUM","Informatik; Mathe","zoe@uni.example",1.25,"1764763200"'
    assert result.no_grade == ["s1002", "s1003"]


def test_semicolon_and_tab_templates_keep_their_delimiter():
    for delimiter in (";", "\t"):
        text = MOODLE.decode().replace('","', f'"{delimiter}"')
        result = fill(text.encode(), "ID number", "Assignment: Autoencoder (Real)", {"s1002": 2.0}, {})
        assert rows(result.text) != [] and result.text.split("\r\n")[2].split(delimiter)[6] == "2"


def test_ambiguous_keys_are_listed_and_not_filled():
    t = {"S1001": 1.0, "s1001": 2.0}
    result = fill(MOODLE, "ID number", "Assignment: Autoencoder (Real)", t, {})
    assert result.written == {} and result.ambiguous and "S1001" in result.ambiguous[0]


def test_formula_like_values_are_escaped_and_numbers_are_plain():
    assert [safe_cell(v) for v in ("=1+1", "+1", "-2", "@SUM(A1)", "\t=1", "3.5")] == \
           ["'=1+1", "'+1", "'-2", "'@SUM(A1)", "'\t=1", "3.5"]
    assert gradebook_csv.number(2.0) == "2" and gradebook_csv.number(0.125) == "0.12"
    with pytest.raises(ValueError):
        gradebook_csv.number(float("nan"))


def test_unknown_column_and_non_utf8_template_are_refused_in_one_line():
    with pytest.raises(TemplateError, match="0 columns named 'Autoencoder'.*SIS Login ID"):
        fill(CANVAS, "SIS Login ID", "Autoencoder", {}, {})
    with pytest.raises(TemplateError, match="not UTF-8"):
        fill("Name;Punkte\nJürgen;1\n".encode("latin-1"), "Name", "Punkte", {}, {})


def test_the_cli_writes_beside_the_template_and_lists_on_stderr(tmp_path):
    template = tmp_path / "canvas.csv"
    template.write_bytes(CANVAS)
    grades = _write(tmp_path / "grades.csv", GRADES)
    done = subprocess.run([sys.executable, "-m", "i2dl_course.cli", "export", "--template", str(template),
                           "--match", "SIS Login ID", "--column", "Autoencoder (48213)", "--grades", str(grades)],
                          capture_output=True, text=True, env=dict(os.environ, I2DL_COURSE_ROOT=str(tmp_path)))
    assert done.returncode == 0, done.stderr
    assert template.read_bytes() == CANVAS
    assert rows((tmp_path / "canvas-graded.csv").read_text("utf-8"))[2][6] == "4.5"
    assert "ghost@uni.example: graded, but no row of the template" in done.stderr
    assert "edgar.poe@uni.example: no grade in the kit (not submitted): left as it was" in done.stderr
