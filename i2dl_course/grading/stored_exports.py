"""A recorded submission's exports, kept on the trusted side so that `i2dl grade --cell` can judge
its tests again without running its notebooks.

.grading/<assignment>/exports/<student>.zip, written when the grade is recorded (a temporary file
renamed over the old one, so a reader finds the old file or the new one, never half of one):
    seed.json                   {"seed": the seed of this student's probe inputs, "notebooks": [names]}
    <notebook>/cells.ipynb      the executed notebook's cells: metadata and error outputs only (what
                                the judges read of it: each test cell's first error)
    <notebook>/exports/<key>    each export as the runner took it ("<grade id>/<relative path>")
A notebook that did not run has no entry. The file is read back with the careful reader
(safe_files: no links, size-capped) and opened as a zip in memory: member names never become paths
on disk, and every member's size is checked before it is read.
"""
import hashlib
import io
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat.v4 import new_notebook

from .exports import MAX_EXPORT_FILE, MAX_EXPORTS
from .safe_files import Refused, read_file

MAX_CELLS_BYTES = 50 << 20        # cells.ipynb of one notebook
MAX_STORE_BYTES = 1 << 30         # one student's file


def probe_seed(run_seed: int, student: str) -> int:
    """The seed of a student's probe inputs in a run with `run_seed` (Grader.process draws them with it)."""
    return int.from_bytes(hashlib.sha256(f"{run_seed}/{student}".encode()).digest()[:8], "big")


@dataclass
class Stored:
    seed: int                     # of the probe inputs (AssignmentJudges.inputs)
    notebooks: dict               # {notebook: (cells notebook, {"<grade id>/<path>": bytes})}


def path(state: Path, student: str) -> Path:
    return Path(state) / "exports" / f"{student}.zip"


def errors_only(nb):
    """The notebook's cells with their nbgrader metadata and error outputs (name and message) only."""
    cells = []
    for cell in nb.cells:
        kept = nbformat.from_dict({"cell_type": cell.cell_type, "source": "", "metadata": {}})
        if "id" in cell:
            kept.id = cell.id
        if "nbgrader" in cell.metadata:
            kept.metadata["nbgrader"] = cell.metadata["nbgrader"]
        if cell.cell_type == "code":
            kept.execution_count = None
            kept.outputs = [nbformat.from_dict({"output_type": "error", "ename": str(o.get("ename", "")),
                                                "evalue": str(o.get("evalue", ""))[:300], "traceback": []})
                            for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        else:
            kept.pop("outputs", None)
        cells.append(kept)
    return new_notebook(cells=cells)


def write_atomically(target: Path, data: bytes, mode: int = 0o644) -> None:
    """Write `target` through a temporary file renamed over it (a link at `target` is replaced, not followed)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def save(state: Path, student: str, seed: int, notebooks: dict) -> Path:
    """Keep {notebook: (executed notebook, exports)} of one recorded submission."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr("seed.json", json.dumps({"seed": seed, "notebooks": sorted(notebooks)}))
        for name, (nb, exports) in sorted(notebooks.items()):
            zf.writestr(f"{name}/cells.ipynb", nbformat.writes(errors_only(nb)))
            for key, data in sorted(exports.items()):
                zf.writestr(f"{name}/exports/{key}", data)
    write_atomically(path(state, student), buffer.getvalue(), mode=0o600)
    return path(state, student)


def remove(state: Path, student: str) -> None:
    path(state, student).unlink(missing_ok=True)


def load(state: Path, student: str) -> Stored:
    """The kept exports of `student`, or None if there are none; Refused (one line) if the file is
    not what save() writes."""
    where = path(state, student)
    if not os.path.lexists(where):
        return None
    data = read_file(where, MAX_STORE_BYTES, f"the stored exports of {student}")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            members = {info.filename: info for info in zf.infolist()}

            def member(name: str, cap: int) -> bytes:
                info = members.get(name)
                if info is None or info.file_size > cap:
                    raise Refused(f"the stored exports of {student}: {name} is missing or too large")
                blob = zf.open(info).read(cap + 1)
                if len(blob) > cap:
                    raise Refused(f"the stored exports of {student}: {name} is larger than it says")
                return blob

            head = json.loads(member("seed.json", 1 << 16))
            seed, names = int(head["seed"]), [str(n) for n in head["notebooks"]]
            notebooks = {}
            for name in names:
                cells = nbformat.reads(member(f"{name}/cells.ipynb", MAX_CELLS_BYTES).decode(), as_version=4)
                prefix, exports, total = f"{name}/exports/", {}, 0
                for key in members:
                    if key.startswith(prefix):
                        exports[key[len(prefix):]] = member(key, min(MAX_EXPORT_FILE, MAX_EXPORTS - total))
                        total += len(exports[key[len(prefix):]])
                notebooks[name] = (cells, exports)
    except Refused:
        raise
    except Exception as err:          # not a zip, not our layout: refused, never guessed at
        raise Refused(f"the stored exports of {student} are unreadable ({type(err).__name__})") from None
    return Stored(seed, notebooks)
