"""The gradebook side of grading: the assignment's cells in a (fresh) database, the snapshot of
them that submissions are sanitized against, and stand-ins for notebooks that could not be run.
"""
import hashlib
import json
import re
import tempfile
from pathlib import Path

from nbformat.v4 import new_notebook
from nbgrader.api import Base, Gradebook, MissingEntry
from sqlalchemy import create_engine, text
from nbgrader.preprocessors import OverwriteCells

from .execute import error_output
from ..release import generate


def has_assignment(db_url: str, assignment: str) -> bool:
    with Gradebook(db_url) as gb:
        try:
            return bool(gb.find_assignment(assignment).notebooks)
        except MissingEntry:
            return False


def ensure_assignment(root: Path, db_url: str, assignment: str) -> bool:
    """Give a gradebook without the assignment its cells (generate_assignment into a temporary
    release folder, never the committed release/). True if it had to be added."""
    if has_assignment(db_url, assignment):
        return False
    with tempfile.TemporaryDirectory(prefix="i2dl-release-") as scratch:
        generate(root, Path(scratch) / "release", db_url, assignment)
    return True


def notebook_names(db_url: str, assignment: str) -> list:
    with Gradebook(db_url) as gb:
        return [nb.name for nb in gb.find_assignment(assignment).notebooks]


def fingerprint(db_url: str, assignment: str) -> str:
    """sha256 of the assignment's cells as the gradebook knows them (changes when the source does)."""
    h = hashlib.sha256()
    with Gradebook(db_url) as gb:
        for nb in gb.find_assignment(assignment).notebooks:
            for cell in sorted(nb.source_cells, key=lambda c: c.name):
                h.update(f"{nb.name}/{cell.name}/{cell.checksum}\0".encode())
            for cell in sorted(nb.grade_cells, key=lambda c: c.name):
                h.update(f"{nb.name}/{cell.name}/{cell.max_score}\0".encode())
    return h.hexdigest()


def snapshot(db_url: str, assignment: str, path: Path) -> str:
    """Copy the assignment's notebooks and cells (no students, no grades) into a new SQLite file."""
    url = f"sqlite:///{path}"
    with Gradebook(db_url) as master:
        version = master.db.execute(text("SELECT version_num FROM alembic_version")).scalar()
    # The schema and the master's schema version, so that nbgrader does not run alembic (seconds) for it.
    engine = create_engine(url)
    Base.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
        conn.execute(text("INSERT INTO alembic_version (version_num) VALUES (:version)"), {"version": version})
    engine.dispose()
    with Gradebook(db_url) as master, Gradebook(url) as copy:
        a = master.find_assignment(assignment)
        copy.update_or_create_assignment(assignment, duedate=a.duedate)
        for nb in a.notebooks:
            copy.update_or_create_notebook(nb.name, assignment, kernelspec=nb.kernelspec)
            for c in nb.source_cells:
                copy.update_or_create_source_cell(c.name, nb.name, assignment, cell_type=c.cell_type,
                                                  locked=c.locked, source=c.source, checksum=c.checksum)
            for c in nb.grade_cells:
                copy.update_or_create_grade_cell(c.name, nb.name, assignment, max_score=c.max_score,
                                                 cell_type=c.cell_type)
            for c in nb.solution_cells:
                copy.update_or_create_solution_cell(c.name, nb.name, assignment)
            for c in nb.task_cells:
                copy.update_or_create_task_cell(c.name, nb.name, assignment, max_score=c.max_score,
                                                cell_type=c.cell_type)
    return url


def cells(db_url: str, assignment: str, notebook: str) -> dict:
    """{"all": grade ids of the notebook's nbgrader cells, "points": {grade id: max score} of its test
    cells (judged), "manual": {grade id: max score} of its answer cells graded by hand (e.g. a written answer)}."""
    with Gradebook(db_url) as gb:
        nb = gb.find_notebook(notebook, assignment)
        solutions = {c.name for c in nb.solution_cells}
        judged = {c.name for c in nb.grade_cells if c.name not in solutions and c.cell_type == "code"}
        return {"all": sorted(c.name for c in nb.source_cells),
                "points": {c.name: float(c.max_score) for c in nb.grade_cells if c.name in judged},
                "manual": {c.name: float(c.max_score) for c in nb.grade_cells if c.name not in judged}}


def test_order(root: Path, assignment: str, notebook: str, points: dict) -> list:
    """The grade ids of `points` in the order of the exercise's source notebook (the gradebook keeps none)."""
    import nbformat
    source = nbformat.read(Path(root) / "source" / assignment / f"{notebook}.ipynb", as_version=4)
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in source.cells]
    return [g for g in ids if g in points] + [g for g in points if g not in ids]


def nbgrader_error(result: dict) -> str:
    """The last exception line nbgrader logged, e.g. "KeyError: 'square'"."""
    text = (result.get("log") or "") + "\n" + (result.get("error") or "")
    lines = [line for line in re.findall(r"^(?:\w+\.)*\w*(?:Error|Exception)\b.*$", text, flags=re.M)
             if "NbGraderException" not in line]      # its own summary says "see the traceback above"
    return lines[-1][:200] if lines else "nbgrader could not process it"


def placeholder(db_url: str, assignment: str, notebook: str, reason: str):
    """A stand-in for a notebook that could not be run: its graded cells as released, each code
    cell holding `reason` as its error (so each scores 0 and the feedback says why)."""
    with Gradebook(db_url) as gb:
        nb = gb.find_notebook(notebook, assignment)
        graded = {c.name: c for c in nb.grade_cells + nb.task_cells}
        solutions = {c.name for c in nb.solution_cells}
        cells = []
        for source in nb.source_cells:
            if source.name not in graded:
                continue
            cell = OverwriteCells().missing_cell_transform(
                source, graded[source.name].max_score, is_solution=source.name in solutions,
                is_task=source.name in {c.name for c in nb.task_cells})
            cell.source = source.source          # unchanged, so an answer cell counts as "no response"
            if cell.cell_type == "code":
                cell.outputs = [error_output("NotGraded", reason)]
            cells.append(cell)
        kernelspec = json.loads(nb.kernelspec) if nb.kernelspec else {}
    result = new_notebook(cells=cells)
    if kernelspec:
        result.metadata.kernelspec = kernelspec
    return result

