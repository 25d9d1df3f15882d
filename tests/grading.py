"""Helpers for the grading tests: a prepared copy of the fixture course, submissions, results."""
import copy
import csv
import hashlib
import shutil
from pathlib import Path

import nbformat

from i2dl_course import examples
from i2dl_course.release import generate
from notebooks import cell

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "tiny_course"
ASSIGNMENT = "tiny"
PROBE_PORT = 47811          # the fixture's sandbox_probe cell tries to reach it


def prepared_template(folder: Path) -> Path:
    """The fixture course with its release generated and its gradebook holding the assignment."""
    root = folder / "tiny_course"
    shutil.copytree(FIXTURE, root)
    generate(root, assignment=ASSIGNMENT)
    return root


def course_copy(template: Path, folder: Path) -> Path:
    root = folder / "course"
    shutil.copytree(template, root)
    return root


def notebooks(root: Path, solved=None) -> dict:
    """{file name: notebook} built from the fixture's release (solved: grade ids, None: all)."""
    return examples.build(root / "source" / ASSIGNMENT, root / "release" / ASSIGNMENT, solved)


def write(folder: Path, student: str, nbs: dict) -> Path:
    return examples.write(folder, student, ASSIGNMENT, nbs)


def insert_after(nb, grade_id, source: str):
    """A copy of nb with a new (ungraded) code cell after the cell `grade_id` (None: at the top)."""
    nb = copy.deepcopy(nb)
    index = 0 if grade_id is None else nb.cells.index(cell(nb, grade_id)) + 1
    nb.cells.insert(index, nbformat.v4.new_code_cell(source))
    return nb


def table(csv_path: Path) -> dict:
    with open(csv_path, newline="") as fh:
        return {row["student_id"]: row for row in csv.DictReader(fh)}


def points(row: dict) -> dict:
    return {k: float(v) for k, v in row.items() if k not in ("student_id", "status", "reason") and v != ""}


def gradebook_rows(db_url: str, assignment: str = ASSIGNMENT) -> dict:
    """{student: {(notebook, "grade" | "comment", cell name): auto score | auto comment}} of every
    submission of the assignment in the gradebook (asserting one per student: no duplicates)."""
    from nbgrader.api import Gradebook, SubmittedAssignment
    rows = {}
    with Gradebook(db_url) as gb:
        for sub in gb.db.query(SubmittedAssignment).all():
            if sub.assignment.name != assignment:
                continue
            grades = {}
            for nb in sub.notebooks:
                grades.update({(nb.name, "grade", g.name): g.auto_score for g in nb.grades})
                grades.update({(nb.name, "comment", c.name): c.auto_comment for c in nb.comments})
            assert sub.student.id not in rows, f"{sub.student.id} has two submissions"
            rows[sub.student.id] = grades
    return rows


def tree_digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(Path(folder).rglob("*")):
        h.update(str(path.relative_to(folder)).encode())
        if path.is_file():
            h.update(path.read_bytes())
    return h.hexdigest()
