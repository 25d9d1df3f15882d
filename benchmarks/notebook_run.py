"""What the notebook benchmarks share: execute a notebook as the grader would (probes on, with the
grader's inputs), time it and judge it."""
import os
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from i2dl_course.judges import AssignmentJudges

ROOT = Path(__file__).resolve().parent.parent


def timed_execute(nb: nbformat.NotebookNode, notebook: str, threads: int, timeout: int = 1800, **env) -> tuple:
    """Execute nb in place in a fresh kernel (progress bars off, `threads` torch threads, errors
    recorded, not raised) with its probes exporting to a scratch folder, then judge them:
    (wall seconds, grade ids of the test cells that did not get full points)."""
    judges = AssignmentJudges("i2dl_course.judges.exercise_08", ROOT, "exercise_08")
    inputs = judges.inputs(0, notebook)
    with tempfile.TemporaryDirectory() as cwd:
        (Path(cwd) / "inputs.npz").write_bytes(judges.inputs_file(inputs))
        env = {**os.environ, "I2DL_PROGRESS_BAR": "0", "OMP_NUM_THREADS": str(threads),
               "I2DL_EXPORT_DIR": f"{cwd}/exports", "I2DL_PROBE_INPUTS": f"{cwd}/inputs.npz", **env}
        start = time.perf_counter()
        NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                       resources={"metadata": {"path": cwd}}).execute(env=env)
        seconds = time.perf_counter() - start
        exports = Path(cwd) / "exports"
        files = {p.relative_to(exports).as_posix(): p.read_bytes() for p in exports.glob("*/*") if p.is_file()}
        points = {c.metadata.nbgrader["grade_id"]: c.metadata.nbgrader["points"] for c in nb.cells
                  if c.metadata.get("nbgrader", {}).get("grade") and not c.metadata.nbgrader.get("solution")}
        verdicts = judges.judge_notebook(notebook, points, files, inputs)
        lost = [g for g, v in verdicts.items() if v.points < points[g]]
    return seconds, lost
