"""The grade table: one row per student, as a CSV (an nbgrader export plugin) and as a summary.

CSV columns: student_id, total, max_score, one column of points per graded cell (its grade id;
"<notebook>/<grade id>" where two notebooks share an id), status, reason. Where the assignment has
cells graded by hand (a written answer: an answer cell with points), also "<column> comment" after
each such cell's points (empty until a grader has given them, in the formgrader) and
"to_grade_by_hand": how many of the submission's such cells have no points yet.
status: "graded" (every notebook ran to its end; the reason names the first cell whose code
failed), "problem" (graded, but a limit, a crash or a bad file stopped part of it: the reason says
what), "error" (not graded: the reason says why), "not submitted".
"""
import csv
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.plugins import ExportPlugin
from traitlets import Dict, Unicode

FIXED = ["student_id", "total", "max_score"]


def rows(gradebook: Gradebook, assignment: str, outcomes: dict) -> tuple:
    """(columns, rows as dicts) for every student in the gradebook plus those only in `outcomes`.

    outcomes: {student: (status, reason)} from the grader's records.
    """
    a = gradebook.find_assignment(assignment)
    cells = [(nb.name, c.name) for nb in a.notebooks for c in nb.grade_cells]
    by_hand = {(nb.name, c.name) for nb in a.notebooks for c in nb.solution_cells} & set(cells)
    ids = [name for _, name in cells]
    column = {cell: cell[1] if ids.count(cell[1]) == 1 else f"{cell[0]}/{cell[1]}" for cell in cells}
    columns = FIXED + [name for c in cells for name in [column[c]] + [f"{column[c]} comment"] * (c in by_hand)]
    columns += ["to_grade_by_hand"] * bool(by_hand) + ["status", "reason"]
    table = {}
    for student in gradebook.students:
        row = {"student_id": student.id, "max_score": a.max_score}
        try:
            sub = gradebook.find_submission(assignment, student.id)
        except MissingEntry:
            row.update(total=0.0, status="not submitted", reason="")
        else:
            row["total"] = max(0.0, sub.score - (sub.late_submission_penalty or 0.0))
            pending = 0
            for nb in sub.notebooks:
                comments = {c.name: c.comment for c in nb.comments}
                for grade in nb.grades:
                    cell = (nb.name, grade.name)
                    if cell not in by_hand:
                        row[column[cell]] = grade.score
                    elif grade.manual_score is None:
                        pending += 1
                    else:
                        row[column[cell]] = grade.manual_score
                        row[f"{column[cell]} comment"] = comments.get(grade.name) or ""
            if by_hand:
                row["to_grade_by_hand"] = pending
            row["status"], row["reason"] = outcomes.get(student.id, ("graded", ""))
        table[student.id] = row
    for student, (status, reason) in outcomes.items():
        if student not in table:
            table[student] = {"student_id": student, "total": "", "max_score": a.max_score,
                              "status": status, "reason": reason}
    return columns, [table[s] for s in sorted(table)]


class GradeTableExport(ExportPlugin):
    """nbgrader export plugin writing the kit's grade table (see the module docstring)."""

    assignment_id = Unicode("").tag(config=True)
    outcomes = Dict(help="{student: [status, reason]}").tag(config=True)

    def export(self, gradebook: Gradebook) -> None:
        columns, table = rows(gradebook, self.assignment_id, self.outcomes)
        with open(self.to or "grades.csv", "w", newline="") as fh:
            writer = csv.DictWriter(fh, columns, restval="")
            writer.writeheader()
            writer.writerows(table)


def write_csv(path: Path, db_url: str, assignment: str, outcomes: dict) -> Path:
    plugin = GradeTableExport(to=str(path), assignment_id=assignment, outcomes=outcomes)
    with Gradebook(db_url) as gb:
        plugin.export(gb)
    return Path(path)


def summary(path: Path, width: int = 60) -> str:
    """The CSV as an aligned text table: student, points, status, reason."""
    with open(path, newline="") as fh:
        table = list(csv.DictReader(fh))
    lines = [f"{'student':<20} {'points':>13}  {'status':<13} reason"]
    for row in table:
        points = f"{float(row['total']):g} / {float(row['max_score']):g}" if row["total"] != "" else "-"
        reason = row["reason"] if len(row["reason"]) <= width else row["reason"][:width - 1] + "…"
        lines.append(f"{row['student_id']:<20} {points:>13}  {row['status']:<13} {reason}")
    return "\n".join(lines)
