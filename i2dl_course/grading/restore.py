"""Careful restoration of a submitted notebook against the exercise (the source's cells as the
gradebook holds them), before it runs: what nbgrader's DeduplicateIds, OverwriteKernelspec,
OverwriteCells (add_missing_cells) and CheckCellMetadata mean to do, for the notebooks students
really hand in, where those preprocessors stop with a KeyError and the notebook scores 0.

`restore(nb, exercise)` returns (notebook, notes): notes are plain-words lines saying what was
restored. The rules (one line each in the notes when they apply):

* Every test, read-only and task cell of the exercise appears exactly once, of the source's type
  and with the source's content and metadata; an edited or retyped one is restored. A missing one
  comes back after the exercise cell before it, among the cells that follow that one: after those
  the source has before it (the exercise's own markdown and code, found by their text) and the
  ones the student added, before those the source has after it.
* An answer (solution) cell keeps the student's text; retyped (e.g. as markdown), it gets the
  source's type back. A missing answer cell is not brought back (its stub would overwrite an
  answer the student may have written elsewhere): its tests use what the notebook defines.
* The graded cells run in the exercise's order. The student's own cells stay after the graded cell
  they followed; cells after a graded cell that was out of order stay where they were (they follow
  the graded cell before it that was in order).
* Several cells with the same grade id: one keeps the grade id. For an answer cell that is the copy
  of the source's type that differs from the released stub, then the one the student ran last
  (highest execution count), then the last one; the other copies become ordinary code that runs
  just before it, so the graded copy's definitions are what its tests see. For a test or read-only
  cell the first copy of the source's type keeps it; the others become raw (not run) cells: the
  test runs once, from the exercise.
* nbgrader metadata that the exercise does not know (another grade id, no grade id, unreadable) is
  removed: the cell stays, as an ordinary cell.
* The kernelspec is the exercise's.
"""
import copy
import json
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_raw_cell
from nbgrader.api import Gradebook

HIDDEN = ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS")     # nbgrader's ClearHiddenTests delimiters
CELL_ID = re.compile(r"[a-zA-Z0-9_-]{1,64}")             # nbformat 4.5


@dataclass(frozen=True)
class SourceCell:
    """One nbgrader cell of the exercise, as the gradebook holds it (an answer cell: its stub)."""
    grade_id: str
    cell_type: str
    source: str
    checksum: str
    locked: bool
    grade: bool
    solution: bool
    task: bool
    points: float = None

    @property
    def fixed(self) -> bool:
        """Its content comes from the exercise (a test or read-only cell), never from the student."""
        return self.locked or self.grade and not self.solution

    @property
    def kind(self) -> str:
        if self.solution:
            return "answer cell"
        if self.task:
            return "task cell"
        return "test cell" if self.grade else "read-only cell"

    def metadata(self) -> dict:
        meta = {"grade": self.grade, "grade_id": self.grade_id, "locked": self.locked, "schema_version": 3,
                "solution": self.solution, "task": self.task}
        if self.grade or self.task:
            meta["points"] = self.points
        if self.checksum:
            meta["checksum"] = self.checksum
        return meta


@dataclass(frozen=True)
class Exercise:
    notebook: str
    cells: tuple                  # SourceCell, in the source notebook's order
    kernelspec: dict = None
    # {stripped text of an ordinary cell of the source: (lowest, highest) number of `cells` before it}:
    # where a restored cell goes among the student's copies of the exercise's own ordinary cells
    slots: dict = None

    @classmethod
    def load(cls, db_url: str, assignment: str, notebook: str, source: Path = None) -> "Exercise":
        """The notebook's cells from the gradebook, in the order of the source notebook `source`
        (the gradebook keeps no order); cells the source file lacks follow in the gradebook's order."""
        with Gradebook(db_url) as gb:
            nb = gb.find_notebook(notebook, assignment)
            graded = {c.name: float(c.max_score) for c in nb.grade_cells}
            tasks = {c.name: float(c.max_score) for c in nb.task_cells}
            solutions = {c.name for c in nb.solution_cells}
            cells = [SourceCell(c.name, c.cell_type, c.source, c.checksum, bool(c.locked), c.name in graded,
                                c.name in solutions, c.name in tasks, graded.get(c.name, tasks.get(c.name)))
                     for c in nb.source_cells]
            kernelspec = json.loads(nb.kernelspec) if nb.kernelspec else None
        known, order, slots = {c.grade_id for c in cells}, {}, {}
        try:
            for cell in nbformat.read(source, as_version=4).cells if source else ():
                gid, text = _metadata(cell)[1], _text(cell).strip()
                if gid in known:
                    order.setdefault(gid, len(order))
                elif gid is None and text:
                    low, high = slots.get(text, (len(order), len(order)))
                    slots[text] = (min(low, len(order)), max(high, len(order)))
        except (OSError, ValueError):
            order, slots = {}, {}                               # no readable source: the gradebook's order
        cells.sort(key=lambda c: order.get(c.grade_id, len(order)))   # stable: the rest keep their order
        return cls(notebook, tuple(cells), kernelspec, slots)


def _metadata(cell):
    """(the cell's nbgrader metadata or None, its grade id or None); never raises."""
    metadata = cell.get("metadata") if isinstance(cell, dict) else None
    meta = metadata.get("nbgrader") if isinstance(metadata, dict) else None
    gid = meta.get("grade_id") if isinstance(meta, dict) else None
    return meta, gid if isinstance(gid, str) and gid else None


def grade_ids(nb) -> set:
    """The grade ids a notebook's cells claim (whatever their metadata looks like otherwise)."""
    return {_metadata(cell)[1] for cell in nb.get("cells", [])} - {None}


def visible(source: str) -> list:
    """A test cell's lines as released: nbgrader's hidden-test regions dropped, trailing blanks off."""
    lines, inside = [], False
    for line in source.splitlines():
        if HIDDEN[0] in line:
            inside = True
        elif HIDDEN[1] in line and inside:
            inside = False
        elif not inside:
            lines.append(line.rstrip())
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _count(cell) -> int:
    count = cell.get("execution_count")
    return count if isinstance(count, int) else -1


def _new_cell(cell_type: str, source: str, metadata: dict, like=None):
    make = {"code": new_code_cell, "markdown": new_markdown_cell}.get(cell_type, new_raw_cell)
    cell = make(source=source, metadata=metadata)
    if like is not None and isinstance(like.get("id"), str):
        cell["id"] = like["id"]
    return cell


def _ordinary(cell):
    """The cell without nbgrader metadata (and valid as the cell type it claims to be)."""
    metadata = {k: v for k, v in (cell.get("metadata") or {}).items() if k != "nbgrader"}
    cell_type = cell.get("cell_type") if cell.get("cell_type") in ("code", "markdown", "raw") else "raw"
    new = _new_cell(cell_type, _text(cell), metadata, like=cell)
    if cell_type == "code":
        new["execution_count"] = cell.get("execution_count")
        new["outputs"] = cell.get("outputs", [])
    return new


def _text(cell) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _other_metadata(cell) -> dict:
    return {k: v for k, v in (cell.get("metadata") or {}).items() if k != "nbgrader"}


def _in_order(keepers: list, position: dict) -> set:
    """The grade ids of the longest run of kept cells that is in the exercise's order (answer cells
    preferred on ties): those stay anchors for the student's own cells."""
    if not keepers:
        return set()
    weights = [1000 + (1 if solution else 0) for _, solution in keepers]
    best, before = list(weights), [None] * len(keepers)
    for j in range(len(keepers)):
        for i in range(j):
            if position[keepers[i][0]] < position[keepers[j][0]] and best[i] + weights[j] > best[j]:
                best[j], before[j] = best[i] + weights[j], i
    j = max(range(len(keepers)), key=lambda k: best[k])
    chosen = set()
    while j is not None:
        chosen.add(keepers[j][0])
        j = before[j]
    return chosen


def restore(nb, exercise: Exercise):
    """(a copy of nb that nbgrader's sanitizing preprocessors accept unchanged, notes in words)."""
    nb = copy.deepcopy(nb)
    specs = {c.grade_id: c for c in exercise.cells}
    position = {c.grade_id: i for i, c in enumerate(exercise.cells)}
    notes = []

    # 1. Who claims which grade id; metadata the exercise does not know goes.
    claims, ordinary = {}, {}                 # grade id -> [cell index]; cell index -> cleaned cell
    for index, cell in enumerate(nb.cells):
        meta, gid = _metadata(cell)
        where = f"cell {index + 1}"
        if gid in specs:
            claims.setdefault(gid, []).append(index)
            continue
        if meta is not None and not isinstance(meta, dict):
            notes.append(f"{where} had unreadable nbgrader metadata; it is kept as an ordinary cell")
        elif gid is not None:
            notes.append(f"{where} had nbgrader metadata for a cell '{gid}' that the exercise does not have; "
                         "it is kept as an ordinary cell")
        elif isinstance(meta, dict) and any(meta.get(k) for k in ("grade", "solution", "locked", "task")):
            notes.append(f"{where} had nbgrader metadata without a grade id; it is kept as an ordinary cell")
        ordinary[index] = _ordinary(cell)

    # 2. One keeper per grade id; the other copies become ordinary (answer) or raw (test) cells.
    keeper, copies = {}, {}                   # grade id -> kept index; grade id -> [cleaned answer copies]
    for gid, indexes in claims.items():
        spec = specs[gid]
        if spec.fixed:
            rank = {i: (nb.cells[i].get("cell_type") == spec.cell_type, -i) for i in indexes}
        else:
            stub = spec.source.strip()
            rank = {i: (nb.cells[i].get("cell_type") == spec.cell_type, _text(nb.cells[i]).strip() != stub,
                        _count(nb.cells[i]), i) for i in indexes}
        keeper[gid] = kept = max(indexes, key=rank.get)
        for i in indexes:
            if i == kept:
                continue
            if spec.fixed:
                ordinary[i] = _new_cell("raw", _text(nb.cells[i]), _other_metadata(nb.cells[i]), like=nb.cells[i])
                notes.append(f"cell {i + 1} was a second copy of {spec.kind} {gid}; it is kept as text and not run "
                             f"(the {spec.kind.split()[0]} runs once, from the exercise)")
            else:
                copy_cell = _ordinary(nb.cells[i])
                if copy_cell["cell_type"] != "code" and spec.cell_type == "code":
                    copy_cell = _new_cell("code", _text(nb.cells[i]), _other_metadata(nb.cells[i]), like=nb.cells[i])
                copies.setdefault(gid, []).append(copy_cell)
                runs = "runs as ordinary code" if spec.cell_type == "code" else "is kept as an ordinary cell"
                notes.append(f"cell {i + 1} was a copy of {spec.kind} {gid}; it {runs} just before "
                             f"cell {kept + 1}, the copy that is graded")

    # 3. The student's own cells stay after the in-order graded cell they followed.
    kept_order = sorted(keeper.items(), key=lambda item: item[1])
    anchors = _in_order([(gid, specs[gid].solution) for gid, _ in kept_order], position)
    moved = [(gid, index) for gid, index in kept_order if gid not in anchors]
    if moved:
        listed = ", ".join(f"{gid} (cell {index + 1})" for gid, index in moved)
        notes.append(f"graded cells out of the exercise's order run at their place in it: {listed}")
    kept_at = {index: gid for gid, index in keeper.items()}
    groups, anchor = {None: []}, None
    for index in range(len(nb.cells)):
        if kept_at.get(index) in anchors:
            anchor = kept_at[index]
            groups[anchor] = []
        elif index in ordinary:
            groups[anchor].append(ordinary[index])

    # 4. The exercise's cells in its order, each followed by the student's cells that followed it. A
    #    missing one goes after those of them that the source has before it (or the student added).
    cells, pending = [], list(groups[None])
    for place, spec in enumerate(exercise.cells):
        gid = spec.grade_id
        if gid not in keeper:
            if spec.fixed or spec.grade or spec.task:
                cut = _cut(pending, place, exercise.slots or {})
                cells += pending[:cut] + [_new_cell(spec.cell_type, spec.source, _locked_metadata(spec))]
                pending = pending[cut:]
                notes.append(f"{spec.kind} {gid} was missing and is restored from the exercise")
            else:
                notes.append(f"{spec.kind} {gid} was missing; its tests use what the notebook defines elsewhere")
            continue
        cells += pending + copies.get(gid, []) + [_restored(nb.cells[keeper[gid]], spec, notes)]
        pending = list(groups.get(gid, []))
    nb.cells = cells + pending

    # 5. The course's kernel.
    if exercise.kernelspec:
        theirs = nb.metadata.get("kernelspec")
        name = theirs.get("name") if isinstance(theirs, dict) else None
        if theirs and name != exercise.kernelspec.get("name"):
            notes.append(f"the kernel was set to '{name}'; the course's kernel is used" if isinstance(name, str)
                         else "the notebook named no usable kernel; the course's kernel is used")
        nb.metadata["kernelspec"] = copy.deepcopy(exercise.kernelspec)
    _cell_ids(nb)
    return nb, notes


def _cut(pending: list, place: int, slots: dict) -> int:
    """How many of the pending student cells go before the restored exercise cell number `place`:
    up to the last one the source has before it, then the student's own ones, up to the first that
    the source has after it."""
    where = [slots.get(_text(cell).strip()) for cell in pending]
    before = [i for i, slot in enumerate(where) if slot and slot[1] <= place]
    start = before[-1] + 1 if before else 0
    after = [i for i, slot in enumerate(where) if slot and slot[0] > place and i >= start]
    return after[0] if after else len(pending)


def _locked_metadata(spec: SourceCell) -> dict:
    metadata = {"nbgrader": spec.metadata()}
    if spec.fixed:
        metadata.update(deletable=False, editable=False)
    return metadata


def _restored(cell, spec: SourceCell, notes: list):
    """The kept cell of grade id spec.grade_id: the exercise's type and metadata, the exercise's
    content for a test or read-only cell, the student's for an answer cell."""
    cell_type = cell.get("cell_type")
    retyped = cell_type != spec.cell_type
    what = {"markdown": "markdown", "raw": "a raw cell", "code": "code"}.get(cell_type, "another kind of cell")
    if spec.fixed:
        metadata = dict(_other_metadata(cell), **_locked_metadata(spec))
        if retyped:
            notes.append(f"{spec.kind} {spec.grade_id} had been turned into {what} and is restored as {spec.cell_type}")
        elif visible(_text(cell)) != visible(spec.source) or _claimed_points(cell) not in (None, spec.points):
            notes.append(f"{spec.kind} {spec.grade_id} had been edited and is restored from the exercise")
        return _new_cell(spec.cell_type, spec.source, metadata, like=cell)
    metadata = dict(_other_metadata(cell), nbgrader=spec.metadata())
    if not retyped:
        restored = copy.deepcopy(cell)
        restored["metadata"] = metadata
        return restored
    again = "runs as code again" if spec.cell_type == "code" else f"is {spec.cell_type} again"
    notes.append(f"{spec.kind} {spec.grade_id} had been turned into {what}; it {again}, keeping its text")
    return _new_cell(spec.cell_type, _text(cell), metadata, like=cell)


def _claimed_points(cell):
    meta, _ = _metadata(cell)
    points = meta.get("points") if isinstance(meta, dict) else None
    try:
        return float(points) if points is not None else None
    except (TypeError, ValueError):
        return -1.0


def _cell_ids(nb) -> None:
    """Cell ids as nbformat wants them: none before format 4.5, unique ones from 4.5 on."""
    if (nb.get("nbformat"), nb.get("nbformat_minor", 0)) < (4, 5):
        for cell in nb.cells:
            cell.pop("id", None)
        return
    seen = set()
    for cell in nb.cells:
        cid = cell.get("id")
        if not isinstance(cid, str) or not CELL_ID.fullmatch(cid) or cid in seen:
            cid = secrets.token_hex(4)
            while cid in seen:
                cid = secrets.token_hex(4)
            cell["id"] = cid
        seen.add(cid)
