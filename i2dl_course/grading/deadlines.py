"""Due dates, extensions and late penalties, with nbgrader's own pieces, recomputed on every run.

    c.Grading.duedates = {"exercise_08": "2026-12-18 23:59:00 Europe/Berlin"}   # nbgrader's timestamp format
    c.Grading.extensions = "extensions.csv"        # in the course root: student_id, and due or hours
    c.AssignLatePenalties.plugin_class = "i2dl_course.grading.deadlines.PerDayPenalty"   # or nbgrader's own
    c.PerDayPenalty.percent_per_day = 10           # of the notebook's score, per started day late

The due date is the gradebook assignment's duedate (set from c.Grading.duedates when given, else
whatever nbgrader's `db assignment add --duedate` put there); an extension is nbgrader's
SubmittedAssignment.extension (`due`: a new due date, `hours`: hours added). A submission's time
is its timestamp.txt (nbgrader's format), which nbgrader's Autograde stores; the penalty per
notebook is the AssignLatePenalties plugin's (nbgrader's LateSubmissionPlugin: none or zero), at
most the notebook's score. After every run `apply` sets the due date and every student's
extension again and recomputes every penalty from the stored times, so a changed due date or
extensions file changes the grades of unchanged (skipped) submissions too.

A timestamp.txt is only as trustworthy as whoever wrote it: nbgrader's exchange writes it on
submission, but a zip a student hands in may hold any.
"""
import csv
import datetime
import math
from dataclasses import dataclass
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.plugins import LateSubmissionPlugin
from nbgrader.preprocessors import AssignLatePenalties
from nbgrader.utils import parse_utc
from traitlets import Float


class PerDayPenalty(LateSubmissionPlugin):
    """percent_per_day of the notebook's score per started day late; all of it after zero_after_days."""

    percent_per_day = Float(10.0, help="share of the score (percent) lost per started day late").tag(config=True)
    zero_after_days = Float(7.0, help="from this many days late on, the whole score (0: never)").tag(config=True)

    def late_submission_penalty(self, student_id: str, score: float, total_seconds_late: float) -> float:
        days = total_seconds_late / 86400
        if self.zero_after_days and days > self.zero_after_days:
            return score
        return min(score, score * self.percent_per_day / 100 * math.ceil(days))


@dataclass
class Late:
    seconds: float                 # after the student's due date (extension included)
    penalty: float                 # points taken off, all notebooks together
    due: datetime.datetime         # the student's due date, UTC
    extended: bool                 # the due date includes an extension

    def line(self) -> str:
        return (f"submitted {self.seconds / 3600:.1f} h after the due date ({self.due:%Y-%m-%d %H:%M} UTC"
                f"{', extension included' if self.extended else ''}): -{self.penalty:g} points for lateness")


class Deadlines:
    def __init__(self, course, root: Path, assignment: str):
        """Read the due date and the extensions file now (ValueError: one line on what is wrong)."""
        self.assignment = assignment
        due = course.Grading.get("duedates", {}).get(assignment)
        self.due = parse_utc(due) if due else None
        name = course.Grading.get("extensions")
        self.extensions = read_extensions(Path(root) / name) if name else {}
        step = AssignLatePenalties(config=course)
        self.plugin = step.plugin_class(parent=step)

    def apply(self, db_url: str) -> dict:
        """Set the due date and every submission's extension, recompute every late penalty;
        {student: (Late or None, changed)}: changed when a notebook's penalty differs from before."""
        result = {}
        with Gradebook(db_url) as gb:
            try:
                assignment = gb.find_assignment(self.assignment)
            except MissingEntry:
                return result
            if self.due is not None:
                assignment.duedate = self.due
            for sub in assignment.submissions:
                student = sub.student.id
                given = self.extensions.get(student)
                if isinstance(given, datetime.datetime):
                    if assignment.duedate is None:
                        raise ValueError(f"the extensions give {student} a new due date, but {self.assignment} "
                                         "has none (c.Grading.duedates)")
                    given = given - assignment.duedate
                sub.extension = given
                seconds, total, changed = sub.total_seconds_late, 0.0, False
                for nb in sub.notebooks:
                    penalty = None
                    if seconds > 0:
                        penalty = self.plugin.late_submission_penalty(student, nb.score, seconds)
                        penalty = None if penalty is None else min(max(0.0, penalty), nb.score)
                    changed |= penalty != nb.late_submission_penalty
                    nb.late_submission_penalty = penalty
                    total += penalty or 0.0
                late = Late(seconds, total, sub.duedate, given is not None) if seconds > 0 else None
                result[student] = (late, changed)
            gb.db.commit()
        return result

    def record(self, db_url: str, recorded: dict, feedback) -> dict:
        """apply(), then for every late student or changed penalty: the reason with the late line
        and the feedback generated again with it, by `feedback(student, note)` (None, or why the
        page is plain). recorded: {student: (status, reason)}, as returned."""
        recorded = dict(recorded)
        for student, (late, changed) in self.apply(db_url).items():
            if not (late or changed) or student not in recorded:
                continue
            status, reason = recorded[student]
            note = f"{reason}; {late.line()}" if late else reason
            failure = feedback(student, note)
            recorded[student] = (status, f"{note}; {failure}" if failure else note)
        return recorded


def read_extensions(path: Path) -> dict:
    """{student: new due date (naive UTC) or timedelta} from a CSV: student_id, and due or hours."""
    try:
        fh = open(path, newline="", encoding="utf-8-sig")
    except OSError as err:
        raise ValueError(f"extensions file {path}: {err.strerror}") from None
    with fh:
        reader = csv.DictReader(fh)
        if "student_id" not in (reader.fieldnames or ()) or not {"due", "hours"} & set(reader.fieldnames):
            raise ValueError(f"extensions file {path}: needs the columns student_id and due or hours")
        extensions = {}
        for line, row in enumerate(reader, 2):
            student, due, hours = [(row.get(k) or "").strip() for k in ("student_id", "due", "hours")]
            try:
                if bool(due) == bool(hours):
                    raise ValueError("give either due or hours")
                extensions[student] = parse_utc(due) if due else datetime.timedelta(hours=float(hours))
            except (ValueError, OverflowError) as err:
                raise ValueError(f"extensions file {path}, line {line} ({student}): {err}") from None
    return extensions
