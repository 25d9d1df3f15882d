"""Targeted regrades (`i2dl grade --student ID`, `--cell GRADE_ID`) and the list of what they changed.

--student: only those students are graded again (whatever their markers say); everybody else's
gradebook records, autograded/ and feedback/ files, stored exports and markers stay as they are.
--cell: the given test cells of the recorded students (all in the folder, or those of --student)
are judged again from their stored exports (stored_exports.py) with the seed of their recorded
inputs; no notebook runs. The new points replace only those cells' autograded scores in the
gradebook (manual scores stay, and are marked for review again as after any regrade), the cells'
verdicts in autograded/ and the feedback are rewritten, the marker gets the new verdicts. A
student without stored exports (graded before the kit kept them, or whose notebook did not run) is
not re-judged and the run says so: a full regrade of that student is `--student ID` without --cell.

changes.csv (beside grades.csv, written by every run): one row per test cell whose autograded
points a regrade in this run changed: student_id, grade_id, old_points, new_points, why. A student
graded for the first time has no old points and no rows.
"""
import csv
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook, MissingEntry

from . import stored_exports
from .record import verdict_output
from .safe_files import Refused, read_file

COLUMNS = ["student_id", "grade_id", "old_points", "new_points", "why"]
MAX_AUTOGRADED_BYTES = 50 << 20


def targets(found: list, students: tuple) -> set:
    """The --student ids, each of which must have an entry in the folder (ValueError, one line)."""
    present = {student for student, _, _ in found}
    missing = [s for s in dict.fromkeys(students) if s not in present]
    if missing:
        raise ValueError(f"no submission in the folder for {', '.join(missing)}: nothing graded")
    return set(students)


def check_cells(cells: tuple, known: dict) -> dict:
    """{notebook: [grade ids]} of the --cell ids; ValueError (one line) for an id that is no test cell."""
    tests = {gid: name for name, c in known.items() for gid in c["points"]}
    unknown = [g for g in dict.fromkeys(cells) if g not in tests]
    if unknown:
        raise ValueError(f"no test cell {', '.join(unknown)} in the assignment (its test cells: "
                         f"{', '.join(sorted(tests))}): nothing graded")
    wanted = {}
    for gid in dict.fromkeys(cells):
        wanted.setdefault(tests[gid], []).append(gid)
    return wanted


def write_json(path: Path, data: dict) -> None:
    """Write a marker atomically (a reader sees the old one or the new one)."""
    stored_exports.write_atomically(path, json.dumps(data).encode())


def auto_scores(db_url: str, assignment: str, students) -> dict:
    """{student: {(notebook, grade id): autograded points}} of those students that have a submission."""
    scores = {}
    with Gradebook(db_url) as gb:
        for student in students:
            try:
                sub = gb.find_submission(assignment, student)
            except MissingEntry:
                continue
            scores[student] = {(nb.name, g.name): g.auto_score for nb in sub.notebooks for g in nb.grades}
    return scores


@dataclass
class Rejudged:
    student: str
    verdicts: dict = field(default_factory=dict)   # {notebook: {grade id: Verdict}}
    notes: list = field(default_factory=list)      # why something was not re-judged


def rejudge(grader, student: str, wanted: dict) -> Rejudged:
    """Judge the cells `wanted` ({notebook: [grade ids]}) of a recorded student again from the
    stored exports (a worker thread: reads only)."""
    result = Rejudged(student)
    try:
        stored = stored_exports.load(grader.state, student)
    except Refused as err:
        result.notes.append(f"{student}: not re-judged: {err}")
        return result
    if stored is None:
        result.notes.append(f"{student}: not re-judged: no stored exports (graded before the grader kept them); "
                            f"regrade it in full with --student {student}")
        return result
    for name, grade_ids in wanted.items():
        if name not in stored.notebooks:
            result.notes.append(f"{student}: {', '.join(grade_ids)} not re-judged: {name}.ipynb did not run "
                                "when it was graded (its recorded points stay)")
            continue
        cells, exports = stored.notebooks[name]
        judged, failure = grader.judge(name, cells, exports, grader.judges.inputs(stored.seed, name))
        if failure:
            result.notes.append(f"{student}: {name}.ipynb: {failure}")
        result.verdicts[name] = {gid: judged[gid] for gid in grade_ids}
    return result


def record_rejudged(grader, rejudged: Rejudged) -> None:
    """Put re-judged verdicts into autograded/, the gradebook, the feedback and the marker (main thread)."""
    if not rejudged.verdicts:
        return
    student, assignment = rejudged.student, grader.assignment
    for output in (grader.root / "autograded" / student, grader.root / "feedback" / student):
        if output.is_symlink():
            raise Refused(f"{output} is a link: not written through")
    folder = grader.root / "autograded" / student / assignment
    notebooks = {}
    for name, verdicts in rejudged.verdicts.items():
        data = read_file(folder / f"{name}.ipynb", MAX_AUTOGRADED_BYTES)
        nb = nbformat.reads(data.decode("utf-8"), as_version=4)
        for cell in nb.cells:
            gid = cell.metadata.get("nbgrader", {}).get("grade_id")
            if gid in verdicts:
                most = float(grader.cells[name]["points"][gid])
                cell.outputs = [verdict_output(min(verdicts[gid].points, most), most, verdicts[gid].message)]
        notebooks[name] = nb
    with Gradebook(grader.db_url) as gb:
        for name, verdicts in rejudged.verdicts.items():
            for gid, verdict in verdicts.items():
                grade = gb.find_grade(gid, name, assignment, student)
                grade.auto_score = min(float(verdict.points), float(grader.cells[name]["points"][gid]))
                grade.needs_manual_grade = grade.manual_score is not None
        gb.db.commit()
    for name, nb in notebooks.items():
        stored_exports.write_atomically(folder / f"{name}.ipynb", nbformat.writes(nb).encode())
    marker = json.loads(grader.marker(student).read_text())
    for name, verdicts in rejudged.verdicts.items():
        for gid, verdict in verdicts.items():
            marker["verdicts"].setdefault(name, {})[gid] = [float(verdict.points), verdict.message]
            if verdict.measure is not None:
                marker["measures"][gid] = verdict.measure
            else:
                marker["measures"].pop(gid, None)
            if "receipt" in marker:
                marker["receipt"]["rejudged"][gid] = grader.judges.fingerprint
    write_json(grader.marker(student), marker)
    grader.feedback(student, marker["reason"])


def changes(before: dict, after: dict, whys: dict, messages: dict) -> list:
    """Rows for changes.csv: every (student, cell) whose autograded points differ between the
    gradebook before (`before`, auto_scores) and after the run. whys: {student: prefix of the why};
    messages: {student: {(notebook, grade id): the new message}}."""
    notebooks = {}
    for cells in after.values():
        for notebook, gid in cells:
            notebooks.setdefault(gid, set()).add(notebook)
    rows = []
    for student in sorted(set(before) & set(after)):
        for (notebook, gid), new in after[student].items():
            old = before[student].get((notebook, gid))
            if old is not None and new is not None and abs(float(old) - float(new)) < 1e-9:
                continue
            message = messages.get(student, {}).get((notebook, gid), "")
            why = ": ".join(part for part in (whys.get(student), message) if part)
            column = gid if len(notebooks[gid]) == 1 else f"{notebook}/{gid}"        # as in grades.csv
            rows.append({"student_id": student, "grade_id": column, "old_points": _points(old),
                         "new_points": _points(new), "why": why})
    return rows


def _points(value) -> str:
    return "" if value is None else f"{float(value):g}"


def write_changes(path: Path, rows: list) -> Path:
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return Path(path)


def marker_messages(marker: dict) -> dict:
    """{(notebook, grade id): message} of a marker's verdicts."""
    return {(nb, gid): str(v[1]) for nb, cells in marker.get("verdicts", {}).items() for gid, v in cells.items()}


def read_marker(path: Path) -> dict:
    """A marker, or None if there is none or it cannot be read."""
    try:
        return json.loads(Path(path).read_text()) if os.path.lexists(path) else None
    except (OSError, ValueError):
        return None
