"""`i2dl check [FOLDER]`: the grader's own verdict on a student's saved notebooks, before handing in.

The notebooks are graded as `i2dl grade` grades a submission (grade.Grader: the same restoration,
the sandbox where bubblewrap works here, the same probes and judges, the hidden tests' inputs drawn
anew for every check), from copies: nothing is written into FOLDER and nothing is recorded in a
gradebook (a scratch one holds the exercise's cells; it goes with the check).
"""
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from i2dl_utils import config

from .grading import collect, gradebook
from .grading.grade import Grader, Options
from .grading.sandbox import SandboxUnavailable

STUDENT = "you"
PLACEHOLDER = "YOUR ANSWER HERE"       # nbgrader's ClearSolutions text for an answer cell


@dataclass
class Result:
    lines: list          # (notebook, grade id, points, max points, message) in the notebooks' order
    notes: list          # how the grading went (restored cells, errors, ...), one line each
    sandboxed: bool
    by_hand: list = ()   # (notebook, grade id, max points, words written) of the answers graded by hand

    @property
    def total(self) -> tuple:
        return sum(line[2] for line in self.lines), sum(line[3] for line in self.lines)


def exercise_folder(folder: Path, assignment: str) -> Path:
    """FOLDER/<assignment>/ (the layout `i2dl start` makes), or FOLDER itself if it holds notebooks."""
    folder = Path(folder).resolve()
    if (folder / assignment).is_dir():
        return folder / assignment
    if folder.is_dir() and any(folder.glob("*.ipynb")):
        return folder
    raise FileNotFoundError(f"no notebooks in {folder} nor in {folder / assignment}: give the folder "
                            "`i2dl start` made (default work/) or the one holding the notebooks")


def check(folder, assignment: str = config.ASSIGNMENT, notebooks: list = None, seed: int = None,
          sandbox: bool = True, root: Path = None) -> Result:
    """Grade copies of the notebooks in `folder` (only `notebooks`, file names, if given)."""
    exercise = exercise_folder(folder, assignment)
    config.interpreter_tools_on_path()             # nbgrader runs alembic from PATH for a new gradebook
    with tempfile.TemporaryDirectory(prefix="i2dl-check-") as scratch:
        scratch = Path(scratch)
        copies = scratch / "submissions" / STUDENT / assignment
        copies.mkdir(parents=True)
        for path in sorted(exercise.glob("*.ipynb")):
            if notebooks is None or path.name in notebooks:
                shutil.copyfile(path, copies / path.name)
        options = Options(assignment=assignment, workers=1, db_url=f"sqlite:///{scratch / 'gradebook.db'}",
                          sandbox=sandbox, seed=seed, progress=False)
        grader = Grader(scratch / "submissions", root, options)
        grader.state = scratch / "state"                  # nothing of a check stays behind
        try:
            grader.prepare()
        except SandboxUnavailable:
            if not sandbox:
                raise
            return check(folder, assignment, notebooks, seed, sandbox=False, root=root)
        try:
            names = [n for n in grader.notebooks if notebooks is None or f"{n}.ipynb" in notebooks]
            grader.notebooks = names
            sub = collect.collect(STUDENT, copies.parent, assignment, names, grader.extra_files)
            judged = grader.process(sub)
        finally:
            grader.executor.close()
    lines = []
    for name in names:
        points = grader.cells[name]["points"]
        for grade_id in gradebook.test_order(grader.root, assignment, name, points):
            got, message = judged.verdicts[name].get(grade_id, (0.0, "not judged"))
            lines.append((f"{name}.ipynb", grade_id, float(got), points[grade_id], message))
    by_hand = [(f"{name}.ipynb", grade_id, most, answer_words(judged.executed[name], grade_id))
               for name in names for grade_id, most in grader.cells[name]["manual"].items()]
    return Result(lines, judged.notes, sandbox, by_hand)


def answer_words(nb, grade_id: str) -> int:
    """Words in the notebook's answer cell `grade_id` other than the release's placeholder (0: none)."""
    for cell in (nb.cells if nb is not None else []):
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id:
            return len(cell.source.replace(PLACEHOLDER, " ").split())
    return 0


def report(result: Result) -> str:
    """What `i2dl check` prints: per test cell its grade id, points and the judge's message."""
    out, notebook = [], None
    width = max((len(line[1]) for line in result.lines), default=10)
    for name, grade_id, got, most, message in result.lines:
        if name != notebook:
            out.append(name)
            notebook = name
        mark = "✓" if got >= most else "✗"
        out.append(f"  {mark} {grade_id:<{width}}  {got:g} / {most:g}  {message}")
    for name, grade_id, most, words in result.by_hand:
        said = f"you wrote {words} words" if words else "still the placeholder: write your answer there"
        out.append(f"  ✍ {grade_id} ({name})  - / {most:g}  graded by hand after the hand-in; {said}")
    out += [f"note: {note}" for note in result.notes]
    got, most = result.total
    by_hand = sum(line[2] for line in result.by_hand)
    out.append(f"total: {got:g} / {most:g}" + (f" (+ up to {by_hand:g} graded by hand)" if by_hand else ""))
    return "\n".join(out)
