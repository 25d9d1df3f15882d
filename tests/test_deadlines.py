"""Due dates, extensions and late penalties (i2dl_course/grading/deadlines.py): nbgrader's
gradebook fields and plugins, recomputed on every run; end to end on the fixture course."""
import datetime

import pytest
from nbgrader.api import Gradebook
from nbgrader.utils import parse_utc
from traitlets.config import Config

from i2dl_course.grading import report
from i2dl_course.grading.deadlines import Deadlines, read_extensions
from i2dl_course.grading.grade import Options, grade
from i2dl_utils import config
from grading import ASSIGNMENT, course_copy, notebooks, prepared_template, table, write


def gradebook(tmp_path) -> str:
    """Assignment a (one notebook, one 4-point test), s1 submitted 11 h and s2 30 h after 2026-12-01 23:59 UTC."""
    config.interpreter_tools_on_path()
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    with Gradebook(url) as gb:
        gb.add_assignment("a")
        gb.add_notebook("nb", "a")
        gb.add_grade_cell("t1", "nb", "a", max_score=4, cell_type="code")
        for student, stamp in (("s1", "2026-12-02 10:59:00 UTC"), ("s2", "2026-12-03 05:59:00 UTC")):
            gb.add_student(student)
            gb.add_submission("a", student, timestamp=parse_utc(stamp))
            gb.find_grade("t1", "nb", "a", student).auto_score = 4
        gb.db.commit()
    return url


def course(tmp_path, extensions: str = None, **penalty) -> Config:
    cfg = Config()
    cfg.Grading.duedates = {"a": "2026-12-01 23:59:00 UTC"}
    if extensions is not None:
        (tmp_path / "extensions.csv").write_text(extensions)
        cfg.Grading.extensions = "extensions.csv"
    cfg.AssignLatePenalties.plugin_class = "i2dl_course.grading.deadlines.PerDayPenalty"
    cfg.PerDayPenalty.percent_per_day = 25
    for name, value in penalty.items():
        setattr(cfg.PerDayPenalty, name, value)
    return cfg


def totals(url: str) -> dict:
    with Gradebook(url) as gb:
        return {row["student_id"]: row["total"] for row in report.rows(gb, "a", {})[1]}


def test_per_started_day_penalty_and_an_extension_in_hours(tmp_path):
    url = gradebook(tmp_path)
    result = Deadlines(course(tmp_path, "student_id,hours\ns2,24\n"), tmp_path, "a").apply(url)
    assert totals(url) == {"s1": 3.0, "s2": 3.0}      # s1: 11 h late (-25 %); s2: 6 h after 24 h more (-25 %)
    late, changed = result["s2"]
    assert changed and late.due == datetime.datetime(2026, 12, 2, 23, 59) and late.seconds == 6 * 3600
    assert late.line() == ("submitted 6.0 h after the due date (2026-12-02 23:59 UTC, extension included): "
                           "-1 points for lateness")


def test_a_changed_extension_is_applied_again_without_regrading(tmp_path):
    url = gradebook(tmp_path)
    Deadlines(course(tmp_path, "student_id,hours\ns2,24\n"), tmp_path, "a").apply(url)
    again = Deadlines(course(tmp_path, "student_id,due\ns2,2026-12-04 00:00:00 Europe/Berlin\n"), tmp_path, "a")
    result = again.apply(url)
    assert result["s2"] == (None, True) and result["s1"][1] is False
    assert totals(url) == {"s1": 3.0, "s2": 4.0}
    assert Deadlines(course(tmp_path), tmp_path, "a").apply(url)["s2"][1]      # extension gone: late again
    assert totals(url) == {"s1": 3.0, "s2": 2.0}


def test_zero_after_days_and_nbgraders_own_plugin(tmp_path):
    url = gradebook(tmp_path)
    Deadlines(course(tmp_path, zero_after_days=1.0), tmp_path, "a").apply(url)
    assert totals(url) == {"s1": 3.0, "s2": 0.0}
    cfg = course(tmp_path)
    cfg.AssignLatePenalties.plugin_class = "nbgrader.plugins.LateSubmissionPlugin"
    cfg.LateSubmissionPlugin.penalty_method = "zero"
    Deadlines(cfg, tmp_path, "a").apply(url)
    assert totals(url) == {"s1": 0.0, "s2": 0.0}


@pytest.mark.parametrize("text, error", [
    ("student,hours\ns1,2\n", "needs the columns student_id and due or hours"),
    ("student_id,hours,due\ns1,2,2026-12-01 00:00:00 UTC\n", "line 2 \\(s1\\): give either due or hours"),
    ("student_id,hours\ns1,soon\n", "line 2 \\(s1\\)"),
])
def test_a_bad_extensions_file_is_refused_in_one_line(tmp_path, text, error):
    (tmp_path / "e.csv").write_text(text)
    with pytest.raises(ValueError, match=error):
        read_extensions(tmp_path / "e.csv")


def test_late_penalty_in_grades_csv_and_feedback_recomputed_on_a_rerun(tmp_path):
    root = course_copy(prepared_template(tmp_path / "template"), tmp_path)
    with open(root / "nbgrader_config.py", "a") as fh:
        fh.write('c.Grading.duedates = {"tiny": "2026-12-01 12:00:00 UTC"}\n'
                 'c.Grading.extensions = "extensions.csv"\n'
                 'c.AssignLatePenalties.plugin_class = "i2dl_course.grading.deadlines.PerDayPenalty"\n'
                 'c.PerDayPenalty.percent_per_day = 50\n')
    (root / "extensions.csv").write_text("student_id,hours\n")
    subs = tmp_path / "submissions"
    folder = write(subs, "late-1", notebooks(root))
    (folder / "timestamp.txt").write_text("2026-12-01 14:00:00 UTC")
    garbled = write(subs, "garbled-1", notebooks(root))
    (garbled / "timestamp.txt").write_bytes(b"\xff soon\n")                # nbgrader would fail the submission
    options = Options(assignment=ASSIGNMENT, workers=1, timeout=120, progress=False)
    run = grade(subs, root, options)
    row = table(run.csv)["late-1"]
    assert float(row["total"]) == 2.5 and float(row["test_add"]) == 1        # the tests' points stay
    unread = table(run.csv)["garbled-1"]
    assert float(unread["total"]) == 5 and "timestamp.txt is not a time" in unread["reason"], unread
    assert "submitted 2.0 h after the due date (2026-12-01 12:00 UTC): -2.5 points for lateness" in row["reason"]
    pages = "".join(p.read_text() for p in (root / "feedback" / "late-1" / ASSIGNMENT).glob("*.html"))
    assert "Late submission penalty" in pages and "after the due date" in pages

    (root / "extensions.csv").write_text("student_id,hours\nlate-1,3\n")
    run = grade(subs, root, options)
    assert run.counts["unchanged"] == 2
    row = table(run.csv)["late-1"]
    assert float(row["total"]) == 5 and "after the due date" not in row["reason"]
    pages = "".join(p.read_text() for p in (root / "feedback" / "late-1" / ASSIGNMENT).glob("*.html"))
    assert "Late submission penalty" not in pages and "after the due date" not in pages
