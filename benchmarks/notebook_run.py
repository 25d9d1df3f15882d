"""What the notebook benchmarks share: execute a notebook as the grader would and time it."""
import os
import tempfile
import time

import nbformat
from nbclient import NotebookClient


def timed_execute(nb: nbformat.NotebookNode, threads: int, timeout: int = 1800, **env) -> tuple:
    """Execute nb in place in a fresh kernel (progress bars off, `threads` torch threads, errors
    recorded, not raised): (wall seconds, grade ids of the graded cells that raised)."""
    env = {**os.environ, "I2DL_PROGRESS_BAR": "0", "OMP_NUM_THREADS": str(threads), **env}
    with tempfile.TemporaryDirectory() as cwd:
        start = time.perf_counter()
        NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                       resources={"metadata": {"path": cwd}}).execute(env=env)
        seconds = time.perf_counter() - start
    failed = [c.metadata["nbgrader"]["grade_id"] for c in nb.cells
              if c.metadata.get("nbgrader", {}).get("grade") and any(o.output_type == "error" for o in c.outputs)]
    return seconds, failed
