"""`i2dl grade SUBMISSIONS --verify`: grade every recorded submission again from its receipt and
list every score that comes out different.

For each marker with a receipt (receipts.py), the student's submission in SUBMISSIONS is collected
again; if it is not the one recorded it is listed and not run (another file proves nothing about
the recorded grade). Otherwise it is graded as `i2dl check` grades (grade.Grader.process: the same
restoration, sandbox, probes and judges) with the receipt's seed, time limits and sandbox setting,
into a scratch gradebook and state that are removed afterwards; each test cell's points are
compared with the autograded points in the real gradebook. Receipts whose other inputs changed
(judges, kit sources, constraints.txt) are re-run and listed as such. Nothing of the real records
(gradebook, markers, autograded/, feedback/, grades.csv) is written.
"""
import dataclasses
import json
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry

from i2dl_utils import config

from . import collect, gradebook, receipts
from .grade import Grader, Options


@dataclass
class Verification:
    rerun: list = field(default_factory=list)          # students graded again
    differences: list = field(default_factory=list)    # (student, grade id, recorded, now, message)
    changed: list = field(default_factory=list)        # (student, what changed, re-run?)
    unverified: list = field(default_factory=list)     # (student, why it could not be verified)

    @property
    def ok(self) -> bool:
        return not (self.differences or self.changed or self.unverified)


def recorded_points(db_url: str, assignment: str, student: str) -> dict:
    """{(notebook, grade id): autograded points} of the student's recorded submission, or None."""
    with Gradebook(db_url) as gb:
        try:
            sub = gb.find_submission(assignment, student)
        except MissingEntry:
            return None
        return {(nb.name, g.name): g.auto_score for nb in sub.notebooks for g in nb.grades}


def verify(submissions: Path, root: Path = None, options: Options = Options()) -> Verification:
    """Check the receipts of every recorded student (options.students: only those)."""
    config.interpreter_tools_on_path()
    real = Grader(submissions, root, options)               # reads the configuration; writes nothing
    if not real.submissions.is_dir():
        raise NotADirectoryError(f"no such folder: {real.submissions}")
    result = Verification()
    found = {student: origin for student, origin, error in collect.find(real.submissions) if not error}
    markers = sorted((real.state / "done").glob("*.json"))
    wanted = set(options.students) if options.students else None
    if wanted is not None and wanted - {p.stem for p in markers}:
        raise ValueError(f"no recorded grade for {', '.join(sorted(wanted - {p.stem for p in markers}))}")
    names = gradebook.notebook_names(real.db_url, real.assignment)
    groups = {}                                              # (seed, limits, sandbox) -> [(sub, receipt, points)]
    for path in markers:
        student = path.stem
        if wanted is not None and student not in wanted:
            continue
        receipt = json.loads(path.read_text()).get("receipt")
        points = recorded_points(real.db_url, real.assignment, student)
        if receipt is None:
            result.unverified.append((student, "its grade was recorded without a receipt (regrade it to get one)"))
            continue
        if points is None:
            result.unverified.append((student, "it has no submission in the gradebook"))
            continue
        if student not in found:
            result.unverified.append((student, "its submission is not in the folder"))
            continue
        sub = collect.collect(student, found[student], real.assignment, names, real.extra_files)
        changed = receipts.changed_inputs(receipt, sub.digest, real.judges.fingerprint)
        if sub.digest != receipt["submission"]:
            result.changed.append((student, "; ".join(changed), False))
            continue
        if changed:
            result.changed.append((student, "; ".join(changed), True))
        limits = (receipt["seed"], receipt["timeout"], receipt["cell_timeout"], receipt["sandbox"])
        groups.setdefault(limits, []).append((sub, points))
    with tempfile.TemporaryDirectory(prefix="i2dl-verify-") as scratch:
        scratch = Path(scratch)
        for index, ((seed, timeout, cell_timeout, sandbox), subs) in enumerate(sorted(groups.items(), key=str)):
            again = dataclasses.replace(options, db_url=f"sqlite:///{scratch / 'gradebook.db'}", seed=seed,
                                        timeout=timeout, sandbox=sandbox, progress=False, students=(), cells=())
            _rerun(real, again, scratch / f"state-{index}", cell_timeout, subs, result)
    result.differences.sort()
    return result


def _rerun(real: Grader, options: Options, state: Path, cell_timeout: int, subs: list, result: Verification) -> None:
    grader = Grader(real.submissions, real.root, options)
    grader.state, grader.cell_timeout = state, cell_timeout
    try:
        grader.prepare()
        with ThreadPoolExecutor(max_workers=options.workers or 1) as pool:
            for (sub, points), judged in zip(subs, pool.map(lambda s: grader.process(s[0]), subs)):
                result.rerun.append(sub.student)
                for name, verdicts in judged.verdicts.items():
                    for gid, most in grader.cells[name]["points"].items():
                        now, message = verdicts.get(gid, (0.0, "not judged"))
                        now = min(float(now), most)
                        recorded = points.get((name, gid))
                        if recorded is None or abs(float(recorded) - now) > 1e-9:
                            result.differences.append((sub.student, gid, recorded, now, message))
    finally:
        if grader.executor is not None:
            grader.executor.close()
