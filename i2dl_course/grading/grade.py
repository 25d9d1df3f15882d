"""`i2dl grade`: grade a folder of submissions. Student code runs only in sandboxed kernels; points
come only from judges outside them.

1. Start: the course configuration (nbgrader_config.py) is read once, before any submission; the
   gradebook gets the assignment's cells; a snapshot of those cells, the students' data view
   (dataview.py) and the course's support files are prepared.
2. Per submission, `--workers` at a time (with `--scheduler`: in flight on a Dask cluster, cluster.py):
   a. collect.py takes the assignment's notebooks and allowed extra files, nothing else;
   b. each notebook is restored against the exercise (restore.py: tests and read-only cells back
      from the source, once each, in its order; stray metadata, copies and another kernel repaired,
      each repair one line in the reason), then checked with nbgrader's ClearOutput,
      DeduplicateIds, OverwriteKernelspec, OverwriteCells and CheckCellMetadata;
   c. the runner (runner.py) executes them in its own sandbox, as an unprivileged uid when the
      grader is root, each kernel in a fresh sandbox, and hands back the executed notebooks and
      the probes' exports as data (`execute`: on this machine, jobs.Local, or on a Dask worker,
      cluster.Dask; the job and its answer are plain bytes either way);
   d. the judges (i2dl_course.judges) turn the exports (each test cell's own, taken when it
      finished: exports.py; read as hostile data: judges/evidence.py, judges/graphs.py) into points
      and one line per test cell, a notebook's cells together, in a limited child process per
      notebook (judging.py on limited.py: CPU time, memory, one thread; cells it did not judge score 0
      with the reason); a test cell that raised before it exported names the culprit (judges/culprit.py).
3. Record, in the main process only (the gradebook's one writer): nbgrader's Autograde with the
   judges' points (record.py), the feedback rendered in a limited child (feedback.py; a plain page
   if that fails), the exports kept (stored_exports.py) and a marker with the input's hash and a
   receipt (receipts.py): unchanged submissions are skipped on the next run unless --force; an
   interrupted run resumes.
Finally report.py writes the grade table, <course root>/grades.csv, and regrade.py changes.csv.
--student and --cell (regrade.py) regrade only some students or test cells; --verify (verify.py)
grades again from the receipts.
"""
import base64
import hashlib
import json
import logging
import os
import secrets
import shutil
import time
import warnings
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbgrader import preprocessors as nbp
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.utils import find_all_files
from tqdm import tqdm

from i2dl_utils import config

from ..judges import AssignmentJudges
from ..nbgrader_app import course_config, make_api
from ..reports import integrity, items, similarity
from . import (collect, dataview, deadlines, feedback, gradebook, jobs, judging, receipts, regrade, report,
               stored_exports)
from .execute import INCIDENTS
from .record import record_config
from .restore import Exercise, grade_ids, restore
from .sandbox import bwrap_path, preflight

STARTUP_SECONDS = 120            # per submission on top of the notebooks' budgets: interpreters, kernels
SANITIZE = (nbp.ClearOutput, nbp.DeduplicateIds, nbp.OverwriteKernelspec, nbp.OverwriteCells, nbp.CheckCellMetadata)


@dataclass
class Options:
    assignment: str = config.ASSIGNMENT
    workers: int = None           # submissions at once (default 1); with a scheduler: in flight on the cluster
    db_url: str = None            # default: the course's gradebook (nbgrader_config.py)
    timeout: int = 1800           # seconds per notebook (each cell also has nbgrader's Execute.timeout)
    sandbox: bool = True
    force: bool = False
    progress: bool = True
    threads: int = None           # per kernel; default: the cores divided among the workers
    seed: int = None              # of the probes' inputs; default: drawn anew for every run
    scheduler: str = None         # a Dask scheduler's address (tcp://HOST:PORT, tls://...): grade on its workers
    tls: tuple = None             # (CA file, certificate, key) for a tls:// scheduler; None: Dask's configuration
    students: tuple = ()          # grade only these again, whatever their markers say (regrade.py)
    cells: tuple = ()             # judge only these grade ids again from the stored exports (regrade.py)


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
    similarity: str = ""          # where the similarity report is, or why it was not written
    integrity: str = ""           # where the integrity review is, or why it was not written
    items: str = ""               # where the report per test is, or why it was not written
    changes: Path = None          # changes.csv: the points this run's regrades changed
    notes: list = field(default_factory=list)   # one line per thing a targeted regrade did not do


@dataclass
class Judged:
    """One submission after its probe phase and its judges: what the record step needs."""
    sub: collect.Collected
    executed: dict                # {notebook: executed notebook, or None if it did not run}
    reasons: dict                 # {notebook: why it did not run}
    verdicts: dict                # {notebook: {grade id: (points, message)}}
    measures: dict                # {grade id: figure a judge measured, e.g. a test accuracy}
    notes: list                   # one line per thing worth saying, in order
    incident: bool                # something stopped part of the grading (status "problem")


def first_error(cell) -> str:
    """The cell's first error as "Name: message" (what the kernel reported: for messages only)."""
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            evalue = " ".join(str(output.get("evalue", "")).split())[:120]
            return f"{output.get('ename', 'Error')}" + (f": {evalue}" if evalue else "")
    return None


def describe(nb, notebook: str, incidents: list) -> str:
    """One line for the first incident (runner-recorded) or else the first cell with an error."""
    first = incidents[0] if incidents else None
    for index, cell in enumerate(nb.cells):
        error = first_error(cell)
        if first is not None and index != first["cell"] or first is None and not error:
            continue
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        where = f"{notebook}.ipynb cell {index + 1}" + (f" ({grade_id})" if grade_id else "")
        what = INCIDENTS.get(first["kind"], first["kind"]) if first else f"raised {error[:100]}"
        errors = sum(1 for c in nb.cells if first_error(c))
        more = f" (+{errors - 1} more cells with errors)" if errors > 1 else ""
        return f"{where} {what}{more}"
    return None


class Grader:
    def __init__(self, submissions: Path, root: Path = None, options: Options = Options()):
        self.submissions = Path(submissions).resolve()
        self.root = Path(root or config.course_root()).resolve()
        self.options = options
        self.assignment = options.assignment
        self.course = course_config(self.root)          # the one time the configuration file runs
        self.db_url = options.db_url or self.course.CourseDirectory.db_url
        self.cell_timeout = int(self.course.Execute.get("timeout", 30))
        self.extra_files = list(self.course.Grading.get("extra_files", collect.EXTRA_FILES))
        self.deadlines = deadlines.Deadlines(self.course, self.root, self.assignment)   # ValueError: bad file
        spec = self.course.Grading.get("judges", {}).get(self.assignment)
        if not spec:
            raise ValueError(f"nbgrader_config.py names no judges for {self.assignment} (c.Grading.judges)")
        self.judges = AssignmentJudges(spec, self.root, self.assignment)
        self.seed = options.seed if options.seed is not None else secrets.randbits(62)
        self.state = self.root / ".grading" / self.assignment
        # On a cluster each kernel gets one thread (run one Dask worker thread per core).
        cores = 1 if options.scheduler else os.cpu_count() or 1
        self.threads = options.threads or max(1, cores // (options.workers or 1))
        self.executor = None                             # chosen in prepare(): jobs.Local or cluster.Dask
        self.taken = None             # {student: runner entries} until recorded, while grading (_grade_all)

    # -- preparation -------------------------------------------------------------------------
    def key(self, digest: str) -> str:
        settings = [digest, self.fingerprint, self.judges.fingerprint, self.db_url, self.options.timeout,
                    self.cell_timeout, self.options.sandbox]
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

    def support_files(self) -> dict:
        """The course's own non-notebook files of the assignment (e.g. data files), base64."""
        source = self.root / "source" / self.assignment
        ignore = list(self.course.CourseDirectory.get("ignore", [])) + ["*.ipynb"]
        return {Path(f).relative_to(source).as_posix(): base64.b64encode(Path(f).read_bytes()).decode()
                for f in find_all_files(str(source), ignore)}

    # -- per submission (worker threads) -------------------------------------------------------
    def sanitized(self, sub: collect.Collected, notebook: str):
        """(notebook restored against the exercise, None, notes) or (None, why it cannot be run, []).
        restore.py restores it (tests, copies, stray metadata, order, kernel; notes: what it did, in
        words, "<notebook>.ipynb: ..."); nbgrader's SANITIZE preprocessors then find nothing to change."""
        data = sub.files.get(f"{notebook}.ipynb")
        if data is None:
            return None, f"{notebook}.ipynb was not submitted", []
        try:
            nb = nbformat.reads(data.decode("utf-8"), as_version=4)
        except UnicodeDecodeError:
            return None, f"{notebook}.ipynb is not a valid notebook (it is not UTF-8 text)", []
        except Exception as err:   # not JSON, not a notebook, an unknown nbformat: all the same to a student
            first = (str(err).splitlines() or [""])[0][:120]
            if isinstance(err, (KeyError, IndexError, TypeError, AttributeError)) or not first:
                first = "its structure is not a notebook's"
            return None, f"{notebook}.ipynb is not a valid notebook ({first})", []
        if not grade_ids(nb) & set(self.cells[notebook]["all"]):
            return None, f"{notebook}.ipynb is not the exercise's notebook (none of its graded cells is there)", []
        resources = {"nbgrader": {"db_url": self.snapshot, "assignment": self.assignment, "notebook": notebook,
                                  "student": sub.student}}
        try:
            exercise = Exercise.load(self.snapshot, self.assignment, notebook,
                                     self.root / "source" / self.assignment / f"{notebook}.ipynb")
            nb, notes = restore(nb, exercise)
            for step in SANITIZE:
                nb, resources = step(config=self.course).preprocess(nb, resources)
        except Exception:          # the grader's failure, not the student's: the traceback goes to the log
            logging.getLogger(__name__).exception("%s: %s.ipynb could not be prepared", sub.student, notebook)
            return None, (f"{notebook}.ipynb could not be prepared: its cells could not be matched to the "
                          "exercise's (the grader logged why)"), []
        return nb, None, [f"{notebook}.ipynb: {note}" for note in notes]

    def job(self, sub: collect.Collected, notebooks: dict, inputs: dict) -> bytes:
        return json.dumps({
            "order": list(notebooks), "notebooks": {n: nbformat.writes(nb) for n, nb in notebooks.items()},
            "support": self.support, "timeout": self.options.timeout, "cell_timeout": self.cell_timeout,
            "threads": self.threads, "sandbox": self.options.sandbox,
            "inputs": {n: base64.b64encode(self.judges.inputs_file(inputs[n])).decode() for n in notebooks},
        }).encode()

    def execute(self, sub: collect.Collected, job: bytes, names: list) -> dict:
        """Run the runner for one submission: {notebook: entry} (see jobs.parse), or {"killed": why}."""
        limit = self.options.timeout * len(names) + STARTUP_SECONDS
        (self.state / "logs").mkdir(parents=True, exist_ok=True)
        with open(self.state / "logs" / f"{sub.student}.log", "wb") as log:
            raw, why = self.executor.run(sub.student, job, limit, log)
        if why:
            return {"killed": why}
        try:
            entries = jobs.parse(raw, names)
        except Exception as err:
            return {"killed": f"the grading process gave an unusable answer ({type(err).__name__})"}
        if self.taken is not None:
            self.taken[sub.student] = entries            # their exports are stored when it is recorded
        return entries

    def process(self, sub: collect.Collected) -> Judged:
        notebooks, reasons, restored = {}, {}, []
        for name in self.notebooks:
            nb, why, repairs = self.sanitized(sub, name)
            restored += repairs
            if nb is None:
                reasons[name] = why
            else:
                notebooks[name] = nb
        seed = stored_exports.probe_seed(self.seed, sub.student)
        inputs = {name: self.judges.inputs(seed, name) for name in notebooks}
        results = self.execute(sub, self.job(sub, notebooks, inputs), list(notebooks)) if notebooks else {}
        notes, incident = ([sub.dropped] if sub.dropped else []) + sub.notes + restored, bool(sub.notes)
        executed, verdicts, measures = {}, {}, {}
        for name in self.notebooks:
            entry = results.get(name) if "killed" not in results else None
            if name in notebooks and entry is None:
                reasons[name] = results.get("killed", "not run")
            elif entry is not None and entry["executed"] is None:
                reasons[name] = f"{name}.ipynb {entry['reason']}"
            if name in reasons:
                notes.append(reasons[name])
                incident = True
                executed[name] = None
                verdicts[name] = {gid: (0.0, reasons[name]) for gid in self.cells[name]["points"]}
                continue
            nb = executed[name] = entry["executed"]
            line = describe(nb, name, entry["incidents"])
            if line:
                notes.append(line)
            notes += [f"{name}: export {r}" for r in entry["refused"]]
            notes += [f"{name}: {d}" for d in entry["dropped"]]
            incident |= bool(entry["incidents"] or entry["refused"])
            judged, failure = self.judge(name, nb, entry["exports"], inputs[name])
            if failure:
                notes.append(f"{name}.ipynb: {failure}")
                incident = True
            verdicts[name] = {grade_id: (v.points, v.message) for grade_id, v in judged.items()}
            measures.update({grade_id: v.measure for grade_id, v in judged.items() if v.measure is not None})
        return Judged(sub, executed, reasons, verdicts, measures, notes, incident)

    def judge(self, notebook: str, nb, exports: dict, inputs: dict):
        """({grade id: Verdict} for every test cell of one executed notebook, judged together in a
        limited child process (judging.py), why judging stopped early or None)."""
        errors = {c.metadata.get("nbgrader", {}).get("grade_id"): first_error(c) for c in nb.cells}
        verdicts, failure, _ = judging.judge(self.judges, notebook, self.cells[notebook]["points"], exports,
                                             inputs, errors)
        return verdicts, failure

    # -- record (main process only) ------------------------------------------------------------
    def stage(self, judged: Judged) -> Path:
        """The executed notebooks (stand-ins where none ran) and the allowed extra files, for Autograde."""
        folder = self.state / "stage" / judged.sub.student / self.assignment
        shutil.rmtree(folder.parent, ignore_errors=True)
        folder.mkdir(parents=True)
        for name, data in judged.sub.files.items():
            if not name.endswith(".ipynb"):
                (folder / name).write_bytes(data)
        for name, nb in judged.executed.items():
            nb = nb or gradebook.placeholder(self.db_url, self.assignment, name, judged.reasons[name])
            nbformat.write(nb, folder / f"{name}.ipynb")
        return folder

    def record(self, judged: Judged) -> Outcome:
        student = judged.sub.student
        status = "problem" if judged.incident else "graded"
        reason = "; ".join(judged.notes) or "all cells ran without errors"
        for output in (self.root / "autograded" / student, self.root / "feedback" / student):
            if output.is_symlink():
                output.unlink()                  # never write through a link
        self.stage(judged)
        verdicts = {nb: {gid: list(v) for gid, v in cells.items()} for nb, cells in judged.verdicts.items()}
        api = make_api(self.course, record_config(self.db_url, str(self.state / "stage"), verdicts))
        result = api.autograde(self.assignment, student, force=True, create=True)
        if not result.get("success"):
            why = f"could not be recorded ({gradebook.nbgrader_error(result)}): graded as not run"
            status, reason = "problem", why
            judged.executed = dict.fromkeys(judged.executed)
            judged.reasons = dict.fromkeys(judged.executed, why)
            self.stage(judged)
            verdicts = {nb: {gid: [0.0, why] for gid in cells} for nb, cells in judged.verdicts.items()}
            api = make_api(self.course, record_config(self.db_url, str(self.state / "stage"), verdicts))
            result = api.autograde(self.assignment, student, force=True, create=True)
            if not result.get("success"):
                return Outcome(student, "error", f"nbgrader failed on it: {gradebook.nbgrader_error(result)}")
        failure = self.feedback(student, reason, verdicts)
        if failure:                              # the grade stands; the reason says why the page is plain
            reason = f"{reason}; {failure}"
        self.keep(judged, status, reason, verdicts)
        shutil.rmtree(self.state / "stage" / student, ignore_errors=True)
        return Outcome(student, status, reason)

    def feedback(self, student: str, note: str, verdicts: dict = None) -> str:
        """Render the student's feedback in a limited child (feedback.render): None, or why the page
        is a plain one. verdicts: {notebook: {grade id: [points, message]}}, default the marker's."""
        if verdicts is None:
            marker = self.marker(student)
            verdicts = json.loads(marker.read_text()).get("verdicts", {}) if marker.is_file() else {}
        _, failure = feedback.render(self.course, self.db_url, self.assignment, student, note, verdicts,
                                     {nb: self.cells[nb]["points"] for nb in verdicts if nb in self.cells})
        return failure

    def keep(self, judged: Judged, status: str, reason: str, verdicts: dict) -> None:
        """After recording: the exports of the notebooks that ran (for --cell), then the marker with its receipt."""
        student = judged.sub.student
        entries = (self.taken or {}).pop(student, {})
        ran = {name: (nb, entries[name]["exports"]) for name, nb in judged.executed.items()
               if nb is not None and name in entries}
        if ran:
            stored_exports.save(self.state, student, stored_exports.probe_seed(self.seed, student), ran)
        else:
            stored_exports.remove(self.state, student)
        receipt = receipts.receipt(judged.sub.digest, self.judges.fingerprint, self.seed, self.options.timeout,
                                   self.cell_timeout, self.options.sandbox)
        regrade.write_json(self.marker(student), {
            "key": self.key(judged.sub.digest), "status": status, "reason": reason, "seed": self.seed,
            "measures": judged.measures, "verdicts": verdicts, "receipt": receipt})

    # -- the whole run -------------------------------------------------------------------------
    def run(self) -> Run:
        with warnings.catch_warnings():      # nbgrader's known harmless SQLAlchemy/nbformat warnings
            warnings.simplefilter("ignore")
            return self._run()

    def prepare(self) -> None:
        if not self.submissions.is_dir():
            raise NotADirectoryError(f"no such folder: {self.submissions}")
        gradebook.ensure_assignment(self.root, self.db_url, self.assignment)
        self.notebooks = gradebook.notebook_names(self.db_url, self.assignment)
        self.fingerprint = gradebook.fingerprint(self.db_url, self.assignment)
        self.state.mkdir(parents=True, exist_ok=True)
        path = self.state / "snapshot.db"
        path.unlink(missing_ok=True)
        self.snapshot = gradebook.snapshot(self.db_url, self.assignment, path)
        self.cells = {name: gradebook.cells(self.snapshot, self.assignment, name) for name in self.notebooks}
        self.view = dataview.build_all(self.state.parent / "data-view")   # each notebook: its own labels only
        self.support = self.support_files()
        if self.options.scheduler:                       # the workers' hosts run the sandboxes: checked there
            from .cluster import Dask
            self.executor = Dask(self.options.scheduler, self.options.tls, self.view, self.options.sandbox)
            return
        if self.options.sandbox:
            bwrap_path()                                 # refuse early without bubblewrap
            preflight(self.view)
        self.executor = jobs.Local(self.view, self.options.sandbox)

    def _run(self) -> Run:
        start = time.perf_counter()
        if self.options.students and self.submissions.is_dir():
            regrade.targets(collect.find(self.submissions), self.options.students)    # before anything else
        try:
            self.prepare()
            return self._grade_all(start)
        finally:
            if self.executor is not None:
                self.executor.close()

    def _grade_all(self, start: float) -> Run:
        found = collect.find(self.submissions)
        chosen = regrade.targets(found, self.options.students) if self.options.students else None   # --student
        cells = regrade.check_cells(self.options.cells, self.cells) if self.options.cells else None   # --cell
        outcomes, pending, rejudging, whys, notes = [], [], [], {}, []
        for student, origin, error in found:
            if error:
                outcomes.append(Outcome(student, "error", error))
                continue
            done = regrade.read_marker(self.marker(student))
            if cells is not None and (chosen is None or student in chosen):
                if done:
                    rejudging.append(student)
                    whys[student] = "regraded with --cell"
                else:
                    notes.append(f"{student}: not re-judged: it has no recorded grade yet (grade it without --cell)")
                continue
            if cells is not None or chosen is not None and student not in chosen:
                if done:                  # left as recorded
                    outcomes.append(Outcome(student, done["status"], done["reason"], unchanged=True))
                continue
            sub = collect.collect(student, origin, self.assignment, self.notebooks, self.extra_files)
            if chosen is None and not self.options.force and self.is_done(student, self.key(sub.digest)):
                outcomes.append(Outcome(student, done["status"], done["reason"], unchanged=True))
                continue
            pending.append(sub)
            if done and done.get("receipt", {}).get("submission", sub.digest) != sub.digest:
                whys[student] = "submission changed"
        before = regrade.auto_scores(self.db_url, self.assignment, rejudging + [sub.student for sub in pending])
        rejudged = self._rejudge_all(rejudging, cells, notes) if rejudging else []
        outcomes += rejudged
        self.taken = {}

        bar = tqdm(total=len(pending), unit="sub", desc="grading", disable=not self.options.progress or None,
                   bar_format="{desc}: {n}/{total} |{bar}| {elapsed} elapsed, {rate_fmt}{postfix}")
        at_once = self.options.workers or (self.executor.in_flight() if self.options.scheduler else 1)
        pool = ThreadPoolExecutor(max_workers=at_once)
        futures, stop = {}, None
        try:
            futures = {pool.submit(self.process, sub): sub for sub in pending}
            for future in as_completed(futures):
                sub = futures.pop(future)
                try:
                    outcome = self.record(future.result())
                except jobs.Stop as err:      # e.g. the scheduler is gone: no submission can run any more
                    stop = err
                    break
                except jobs.NotRun as err:    # not graded (e.g. it killed its cluster workers): a rerun retries
                    outcome = Outcome(sub.student, "error", str(err)[:300])
                except Exception as err:      # one submission's failure never stops the others
                    outcome = Outcome(sub.student, "error", f"grader error: {type(err).__name__}: {err}"[:200])
                self.taken.pop(sub.student, None)
                outcomes.append(outcome)
                bar.update(1)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
            self.executor.close()             # kills local runners; closing the client ends the waits on Dask
            pool.shutdown(wait=True)
            bar.close()
        if stop is not None:
            # Keep what finished before the stop was noticed, then stop with one clear line.
            for future, sub in futures.items():
                if future.done() and not future.cancelled() and future.exception() is None:
                    try:
                        outcomes.append(self.record(future.result()))
                    except Exception:         # not recorded: the rerun grades it
                        pass
            graded = sum(not o.unchanged and o.status != "error" for o in outcomes)
            raise jobs.Stop(f"{stop} {graded} submissions were graded and recorded in this run; run the same "
                            f"command again to grade the other {len(pending) - graded} (finished ones are skipped)")

        recorded = {}
        for path in sorted((self.state / "done").glob("*.json")):
            done = json.loads(path.read_text())
            recorded[path.stem] = (done["status"], done["reason"])
        recorded.update({o.student: (o.status, o.reason) for o in outcomes})
        recorded = self.deadlines.record(self.db_url, recorded, self.feedback)   # late penalties, every run
        csv = report.write_csv(self.root / "grades.csv", self.db_url, self.assignment, recorded)
        after = regrade.auto_scores(self.db_url, self.assignment, before)
        messages = {s: regrade.marker_messages(regrade.read_marker(self.marker(s)) or {}) for s in after}
        changes = regrade.write_changes(self.root / "changes.csv", regrade.changes(before, after, whys, messages))
        counts = {"graded now": len(pending), "unchanged": sum(o.unchanged for o in outcomes)}
        if cells is not None:
            counts["re-judged"] = sum(not o.unchanged for o in rejudged)
        outcomes.sort(key=lambda o: o.student)
        reports = self.similarity()              # also writes the integrity review (self.integrity)
        return Run(outcomes, csv, self.root / "feedback", time.perf_counter() - start, counts, reports, self.integrity,
                   self.items(), changes, notes)

    def _rejudge_all(self, students: list, cells: dict, notes: list) -> list:
        """--cell: judge `cells` ({notebook: [grade ids]}) of these recorded students again from their
        stored exports (in worker threads), record each in this thread; their outcomes as recorded
        (unchanged: nothing of theirs was re-judged)."""
        def judged(student):
            try:
                return regrade.rejudge(self, student, cells)
            except Exception as err:
                return regrade.Rejudged(student, notes=[f"{student}: not re-judged ({type(err).__name__}: {err})"[:300]])
        outcomes = []
        with ThreadPoolExecutor(max_workers=self.options.workers or 1) as pool:
            for result in pool.map(judged, students):
                notes += result.notes
                try:
                    regrade.record_rejudged(self, result)
                except Exception as err:      # recorded as before; the run says why
                    notes.append(f"{result.student}: not re-judged ({type(err).__name__}: {err})"[:300])
                    result.verdicts = {}
                done = regrade.read_marker(self.marker(result.student))
                outcomes.append(Outcome(result.student, done["status"], done["reason"], unchanged=not result.verdicts))
        return outcomes

    def items(self) -> str:
        """Write the report per test beside grades.csv: its path, or why it was not written."""
        try:
            points = {nb: {g: self.cells[nb]["points"][g] for g in gradebook.test_order(
                self.root, self.assignment, nb, self.cells[nb]["points"])} for nb in self.notebooks}
            return str(items.write(self.state / "done", points, self.root))
        except Exception as err:
            return f"not written ({type(err).__name__}: {err})"[:200]

    def similarity(self) -> str:
        """Write the reports a human reads beside grades.csv (i2dl_course/reports): the similarity report's
        path, or why there is none; the integrity review's (integrity.html, with the measures of the
        markers) in self.integrity. The grades are written already and never depend on either."""
        source, release = self.root / "source" / self.assignment, self.root / "release" / self.assignment
        try:
            self.integrity = str(integrity.report(self.submissions, self.root, source, release, self.assignment,
                                                  measures=integrity.read_measures(self.state / "done")))
        except Exception as err:
            self.integrity = f"not written ({type(err).__name__}: {err})"[:200]
        try:
            return str(similarity.report(self.submissions, self.root, source, release, self.assignment))
        except Exception as err:
            return f"not written ({type(err).__name__}: {err})"[:200]


def grade(submissions: Path, root: Path = None, options: Options = Options()) -> Run:
    return Grader(submissions, root, options).run()
