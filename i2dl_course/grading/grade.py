"""`i2dl grade`: autograde a folder of submissions with nbgrader, sandboxed and in parallel.

For each submission (collect.py copies it; the original is never touched):
1. a worker process (worker.py) runs nbgrader's Autograde with only the sanitize steps and the
   sandboxed Execute (execute.py, sandbox.py) against a private course root and a snapshot of
   the assignment's cells: it never sees the real gradebook. An outer wall-clock limit kills a
   stuck worker.
2. the main process, the only writer of the gradebook, runs nbgrader's Autograde again with
   Execute and ClearOutput left out (like `--no-execute`) on the executed notebooks, or on
   stand-ins with the reason for notebooks that could not be run: OverwriteCells, IgnorePattern,
   ClearMetadata, LimitOutput, SaveAutoGrades, late penalties. Then generate_feedback
   (feedback.py) and a marker with the input's hash: unchanged submissions are skipped on the
   next run unless --force, so an interrupted run resumes without losing finished grades.
Finally the grade table (report.py) goes to <course root>/grades.csv.
"""
import hashlib
import json
import multiprocessing
import os
import queue
import shutil
import sys
import tempfile
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook, MissingEntry
from tqdm import tqdm
from traitlets.config import Config

from i2dl_utils import config
from . import collect, feedback, gradebook, report, worker
from ..nbgrader_app import course_config, make_api
from .sandbox import FIRST_UID, bwrap_path

RECORD_SANITIZE = ["nbgrader.preprocessors.DeduplicateIds", "nbgrader.preprocessors.OverwriteKernelspec",
                   "nbgrader.preprocessors.OverwriteCells", "nbgrader.preprocessors.CheckCellMetadata"]
RECORD = ["i2dl_course.grading.execute.RequireExecuted", "nbgrader.preprocessors.IgnorePattern",
          "nbconvert.preprocessors.ClearMetadataPreprocessor", "nbgrader.preprocessors.LimitOutput",
          "nbgrader.preprocessors.SaveAutoGrades", "nbgrader.preprocessors.AssignLatePenalties",
          "nbgrader.preprocessors.CheckCellMetadata"]
# Workers are forked from a server that has imported nbgrader once (seconds saved per submission).
WORKERS = multiprocessing.get_context("forkserver")
WORKERS.set_forkserver_preload(["i2dl_course.grading.worker"])
STARTUP_SECONDS = 120      # per submission on top of the notebooks' budgets: interpreter, nbgrader, kernels
INCIDENTS = {"CellTimeoutError": "hit the time limit of a cell",
             "KernelDied": "crashed the kernel (the cells after it were not run)",
             "NotRun": "was not run (the notebook's time limit was used up)"}


@dataclass
class Options:
    assignment: str = config.ASSIGNMENT
    workers: int = 1
    db_url: str = None            # default: the course's gradebook (nbgrader_config.py)
    timeout: int = 1800           # seconds per notebook (each cell also has nbgrader's Execute.timeout)
    sandbox: bool = True
    force: bool = False
    progress: bool = True
    threads: int = None           # per kernel; default: the cores divided among the workers


@dataclass
class Outcome:
    student: str
    status: str                   # graded | problem | error (see report.py)
    reason: str
    unchanged: bool = False       # skipped: graded before from the same input


@dataclass
class Run:
    outcomes: list
    csv: Path
    feedback: Path
    seconds: float
    counts: dict = field(default_factory=dict)


def describe(nb, notebook: str) -> tuple:
    """(incident?, one line) for the first failing cell of an executed notebook, or (False, None)."""
    failing = []
    for index, cell in enumerate(nb.cells, 1):
        errors = [o for o in cell.get("outputs", []) if o.output_type == "error"]
        cut = any(o.output_type == "stream" and "[grader] output cut" in o.text for o in cell.get("outputs", []))
        if errors or cut:
            first = next((e for e in errors if e.ename in INCIDENTS), errors[0] if errors else None)
            failing.append((index, cell, first, cut))
    if not failing:
        return False, None
    index, cell, error, cut = failing[0]
    grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
    where = f"{notebook}.ipynb cell {index}" + (f" ({grade_id})" if grade_id else "")
    if error is None:
        what = "printed more output than allowed (cut)"
    elif error.ename in INCIDENTS:
        what = INCIDENTS[error.ename]
    else:
        evalue = " ".join(error.evalue.split())
        what = f"raised {error.ename}" + (f": {evalue[:80]}" if evalue else "")
    more = f" (+{len(failing) - 1} more cells with errors)" if len(failing) > 1 else ""
    incident = any(c or (e is not None and e.ename in INCIDENTS) for _, _, e, c in failing)
    return incident, f"{where} {what}{more}"


class Grader:
    def __init__(self, submissions: Path, root: Path = None, options: Options = Options()):
        self.submissions = Path(submissions).resolve()
        self.root = Path(root or config.course_root()).resolve()
        self.options = options
        self.assignment = options.assignment
        self.db_url = options.db_url or course_config(self.root).CourseDirectory.db_url
        self.state = self.root / ".grading" / self.assignment
        self.slots = queue.Queue()
        self.running = {}
        self.lock = threading.Lock()

    # -- preparation -------------------------------------------------------------------------
    def key(self, digest: str) -> str:
        settings = [digest, self.fingerprint, self.db_url, self.options.timeout, self.options.sandbox]
        return hashlib.sha256(json.dumps(settings).encode()).hexdigest()

    def marker(self, student: str) -> Path:
        return self.state / "done" / f"{student}.json"

    def is_done(self, student: str, key: str) -> bool:
        path = self.marker(student)
        if not path.exists() or json.loads(path.read_text())["key"] != key:
            return False
        with Gradebook(self.db_url) as gb:
            try:
                gb.find_submission(self.assignment, student)
            except MissingEntry:
                return False
        return True

    def sandbox_spec(self, slot: int) -> dict:
        import i2dl_utils
        package = Path(i2dl_utils.__file__).resolve().parent
        hidden = [self.root, package.parent, self.submissions, Path.home(), Path("/tmp"), Path(tempfile.gettempdir())]
        if self.db_url.startswith("sqlite:///"):
            hidden.append(Path(self.db_url[len("sqlite:///"):]).resolve().parent)
        readable = [Path(sys.prefix), Path(sys.base_prefix), package, config.data_dir()]
        as_root = os.geteuid() == 0 and self.options.sandbox
        return dict(runtime=str(self.runtime(slot)), data_dir=str(config.data_dir()),
                    hidden=[str(p) for p in hidden], readable=[str(p) for p in readable],
                    threads=self.options.threads or max(1, (os.cpu_count() or 1) // self.options.workers),
                    uid=FIRST_UID + slot if as_root else None, enabled=self.options.sandbox)

    def runtime(self, slot: int) -> Path:
        """The kernel's runtime folder: short, as IPC socket paths may not exceed 107 characters."""
        return Path(tempfile.gettempdir()) / f"i2dl-grade-{os.getpid()}-{slot}"

    def prepare_work(self, sub: collect.Collected, slot: int) -> Path:
        """The worker's private course root: its submission, the support files, a gradebook copy."""
        work = self.state / "work" / sub.student
        for folder in (work, self.runtime(slot)):
            if folder.exists():
                shutil.rmtree(folder)
        shutil.copytree(sub.folder, work / "submitted" / sub.student / self.assignment)
        source = self.root / "source" / self.assignment
        support = work / "source" / self.assignment
        if source.is_dir():
            shutil.copytree(source, support, ignore=shutil.ignore_patterns("*.ipynb", ".ipynb_checkpoints",
                                                                            "__pycache__"))
        support.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.state / "snapshot.db", work / "gradebook.db")
        job = dict(root=str(work), course_root=str(self.root), student=sub.student, assignment=self.assignment,
                   notebooks=self.notebooks, db_url=f"sqlite:///{work / 'gradebook.db'}",
                   timeout=self.options.timeout, sandbox=self.sandbox_spec(slot))
        (work / "job.json").write_text(json.dumps(job, indent=1))
        return work

    # -- step 1: execute (in parallel) -------------------------------------------------------
    def execute(self, sub: collect.Collected) -> dict:
        """Run the worker for one submission: {notebook: {"ran", "reason"}}, or {"killed": reason}."""
        slot = self.slots.get()
        try:
            work = self.prepare_work(sub, slot)
            limit = self.options.timeout * len(self.notebooks) + STARTUP_SECONDS
            proc = WORKERS.Process(target=worker.main, args=(str(work / "job.json"),))
            proc.start()
            with self.lock:
                self.running[sub.student] = proc
            proc.join(limit)
            with self.lock:
                self.running.pop(sub.student, None)
            if proc.is_alive():
                proc.kill()                    # its kernel dies with it (bwrap --die-with-parent)
                proc.join()
                return {"killed": f"stopped by the grader after {limit} s (the submission's time limit)"}
            result = work / "result.json"
            return json.loads(result.read_text()) if result.exists() else \
                {"killed": f"the grading process ended unexpectedly (exit code {proc.exitcode})"}
        finally:
            shutil.rmtree(self.runtime(slot), ignore_errors=True)
            self.slots.put(slot)

    # -- step 2: record (main process only) --------------------------------------------------
    def stage(self, sub: collect.Collected, results: dict) -> tuple:
        """Executed notebooks (or stand-ins) plus the submitted support files, for Autograde to record."""
        folder = self.state / "stage" / sub.student / self.assignment
        if folder.exists():
            shutil.rmtree(folder)
        shutil.copytree(sub.folder, folder, ignore=shutil.ignore_patterns("*.ipynb"))
        notes, incident = list(sub.notes), bool(sub.notes)
        extra = sorted(p.stem for p in sub.folder.glob("*.ipynb") if p.stem not in self.notebooks)
        notes += [f"ignored {name}.ipynb (not a notebook of {self.assignment})" for name in extra]
        for notebook in self.notebooks:
            outcome = results.get(notebook) or {"ran": False, "reason": results.get("killed", "not run")}
            target = folder / f"{notebook}.ipynb"
            executed = self.state / "work" / sub.student / "executed" / f"{notebook}.ipynb"
            if outcome["ran"]:
                shutil.copyfile(executed, target)
                bad, line = describe(nbformat.read(target, as_version=4), notebook)
                incident |= bad
                if line:
                    notes.append(line)
            else:
                nbformat.write(gradebook.placeholder(self.db_url, self.assignment, notebook, outcome["reason"]), target)
                incident = True
                notes.append(outcome["reason"])
        return "problem" if incident else "graded", "; ".join(notes) or "all cells ran without errors"

    def record_config(self) -> Config:
        """nbgrader's Autograde without Execute and ClearOutput, reading the staged notebooks."""
        cfg = Config()
        cfg.CourseDirectory.db_url = self.db_url
        cfg.CourseDirectory.submitted_directory = str(self.state / "stage")
        cfg.Autograde.sanitize_preprocessors = RECORD_SANITIZE
        cfg.Autograde.autograde_preprocessors = RECORD
        return cfg

    def record(self, sub: collect.Collected, results: dict) -> Outcome:
        status, reason = self.stage(sub, results)
        api = make_api(self.root, self.record_config())
        result = api.autograde(self.assignment, sub.student, force=True, create=True)
        if not result.get("success"):
            status, reason = "problem", f"could not be recorded ({worker.nbgrader_error(result)}): graded as not run"
            self.stage(sub, {"killed": reason})
            result = api.autograde(self.assignment, sub.student, force=True, create=True)
            if not result.get("success"):
                return Outcome(sub.student, "error", f"nbgrader failed on it: {worker.nbgrader_error(result)}")
        feedback.generate(self.root, self.db_url, self.assignment, sub.student, note=reason)
        self.marker(sub.student).parent.mkdir(parents=True, exist_ok=True)
        self.marker(sub.student).write_text(json.dumps(
            {"key": self.key(sub.digest), "status": status, "reason": reason}))
        work = self.state / "work" / sub.student
        (self.state / "logs").mkdir(exist_ok=True)
        if (work / "worker.log").exists():
            shutil.copyfile(work / "worker.log", self.state / "logs" / f"{sub.student}.log")
        for folder in (work, sub.folder, self.state / "stage" / sub.student):
            shutil.rmtree(folder, ignore_errors=True)
        return Outcome(sub.student, status, reason)

    # -- the whole run -------------------------------------------------------------------------
    def run(self) -> Run:
        with warnings.catch_warnings():      # nbgrader's known harmless SQLAlchemy/nbformat warnings
            warnings.simplefilter("ignore")
            return self._run()

    def _run(self) -> Run:
        start = time.perf_counter()
        if not self.submissions.is_dir():
            raise NotADirectoryError(f"no such folder: {self.submissions}")
        if self.options.sandbox:
            bwrap_path()                                 # refuse early without bubblewrap
        gradebook.ensure_assignment(self.root, self.db_url, self.assignment)
        self.notebooks = gradebook.notebook_names(self.db_url, self.assignment)
        self.fingerprint = gradebook.fingerprint(self.db_url, self.assignment)
        self.state.mkdir(parents=True, exist_ok=True)
        (self.state / "snapshot.db").unlink(missing_ok=True)
        gradebook.snapshot(self.db_url, self.assignment, self.state / "snapshot.db")
        for slot in range(self.options.workers):
            self.slots.put(slot)
        for stale in Path(tempfile.gettempdir()).glob("i2dl-grade-*-*"):   # left by a killed grader
            if not Path("/proc", stale.name.split("-")[2]).exists():
                shutil.rmtree(stale, ignore_errors=True)

        outcomes, pending = [], []
        for student, origin, error in collect.find(self.submissions):
            if error:
                outcomes.append(Outcome(student, "error", error))
                continue
            sub = collect.collect(student, origin, self.state / "incoming" / student, self.assignment)
            if not self.options.force and self.is_done(student, self.key(sub.digest)):
                done = json.loads(self.marker(student).read_text())
                outcomes.append(Outcome(student, done["status"], done["reason"], unchanged=True))
            else:
                pending.append(sub)

        bar = tqdm(total=len(pending), unit="sub", desc="grading", disable=not self.options.progress or None,
                   bar_format="{desc}: {n}/{total} |{bar}| {elapsed} elapsed, {rate_fmt}{postfix}")
        pool = ThreadPoolExecutor(max_workers=self.options.workers)
        try:
            futures = {pool.submit(self.execute, sub): sub for sub in pending}
            for future in as_completed(futures):
                sub = futures[future]
                try:
                    outcome = self.record(sub, future.result())
                except Exception as err:      # one submission's failure never stops the others
                    outcome = Outcome(sub.student, "error", f"grader error: {type(err).__name__}: {err}"[:200])
                outcomes.append(outcome)
                bar.update(1)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
            with self.lock:
                for proc in self.running.values():
                    proc.kill()
            pool.shutdown(wait=True)
            bar.close()

        recorded = {}
        for path in sorted((self.state / "done").glob("*.json")):
            done = json.loads(path.read_text())
            recorded[path.stem] = (done["status"], done["reason"])
        recorded.update({o.student: (o.status, o.reason) for o in outcomes})
        csv = report.write_csv(self.root / "grades.csv", self.db_url, self.assignment, recorded)
        counts = {"graded now": len(pending), "unchanged": sum(o.unchanged for o in outcomes)}
        outcomes.sort(key=lambda o: o.student)
        return Run(outcomes, csv, self.root / "feedback", time.perf_counter() - start, counts)


def grade(submissions: Path, root: Path = None, options: Options = Options()) -> Run:
    return Grader(submissions, root, options).run()
