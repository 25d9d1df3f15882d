"""One submission's execution, in its own process (grade.py starts it with `main(JOB.json)`).

The job's folder is a private nbgrader course root (submitted/, source/ support files, a snapshot
gradebook). Each notebook of the assignment runs through nbgrader's Autograde with only the
sanitize steps (ClearOutput, OverwriteCells, ...) and the sandboxed Execute; the executed notebook
is copied to executed/ (out of the kernel's reach) and result.json says, per notebook, whether it
ran and why not. Grades are recorded later by the main process (grade.py), the only writer of the
real gradebook.
"""
import ctypes
import json
import os
import re
import shutil
import signal
from pathlib import Path

import nbformat
from traitlets.config import Config

from .gradebook import graded_cell_ids
from ..nbgrader_app import make_api

PR_SET_PDEATHSIG = 1       # prctl option (linux/prctl.h)
SANITIZE = ["nbgrader.preprocessors.ClearOutput", "nbgrader.preprocessors.DeduplicateIds",
            "nbgrader.preprocessors.OverwriteKernelspec", "nbgrader.preprocessors.OverwriteCells",
            "nbgrader.preprocessors.CheckCellMetadata"]
EXECUTE = ["i2dl_course.grading.execute.SandboxedExecute"]


def nbgrader_error(result: dict) -> str:
    """The last exception line nbgrader logged, e.g. "KeyError: 'square'"."""
    text = (result.get("log") or "") + "\n" + (result.get("error") or "")
    lines = [line for line in re.findall(r"^(?:\w+\.)*\w*(?:Error|Exception)\b.*$", text, flags=re.M)
             if "NbGraderException" not in line]      # its own summary says "see the traceback above"
    return lines[-1][:200] if lines else "nbgrader could not process it"


def check_notebook(path: Path, db_url: str, assignment: str, notebook: str) -> str:
    """Why the submitted notebook cannot be run, or None."""
    if not path.exists():
        return f"{notebook}.ipynb was not submitted"
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as err:   # not JSON, not a notebook, an unknown nbformat: all the same to a student
        first = (str(err).splitlines() or [""])[0][:120]
        return f"{notebook}.ipynb is not a valid notebook ({type(err).__name__}: {first})"
    ids = {c.get("metadata", {}).get("nbgrader", {}).get("grade_id") for c in nb.cells}
    if not ids & graded_cell_ids(db_url, assignment, notebook):
        return f"{notebook}.ipynb is not the exercise's notebook (none of its graded cells is there)"
    return None


def run(job: dict) -> dict:
    root = Path(job["root"])
    student, assignment = job["student"], job["assignment"]
    submitted = root / "submitted" / student / assignment
    executed = root / "executed"
    executed.mkdir(exist_ok=True)
    results = {}
    for notebook in job["notebooks"]:
        problem = check_notebook(submitted / f"{notebook}.ipynb", job["db_url"], assignment, notebook)
        if problem:
            results[notebook] = {"ran": False, "reason": problem}
            continue
        cfg = Config()
        cfg.CourseDirectory.root = str(root)
        cfg.CourseDirectory.db_url = job["db_url"]
        cfg.CourseDirectory.notebook_id = notebook
        cfg.Autograde.sanitize_preprocessors = SANITIZE
        cfg.Autograde.autograde_preprocessors = EXECUTE
        cfg.SandboxedExecute.sandbox = dict(job["sandbox"], scratch=str(root / "autograded" / student / assignment))
        cfg.SandboxedExecute.notebook_timeout = job["timeout"]
        cfg.SandboxedExecute.kernel_name = "python3"
        result = make_api(Path(job["course_root"]), cfg).autograde(assignment, student, force=True, create=True)
        out = root / "autograded" / student / assignment / f"{notebook}.ipynb"
        if result.get("success") and out.exists():
            shutil.copyfile(out, executed / f"{notebook}.ipynb")
            results[notebook] = {"ran": True, "reason": None}
        else:
            results[notebook] = {"ran": False, "reason": f"{notebook}.ipynb could not be run: {nbgrader_error(result)}"}
    return results


def main(job_file: str) -> None:
    """Run the job; its output and its kernels' go to worker.log beside it. The worker dies with the
    process that started it (and its kernel with the worker), so a killed grader leaves nothing running."""
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    job_file = Path(job_file)
    with open(job_file.parent / "worker.log", "wb") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
    job = json.loads(job_file.read_text())
    (job_file.parent / "result.json").write_text(json.dumps(run(job), indent=1))

