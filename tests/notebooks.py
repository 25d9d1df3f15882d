"""Running notebooks in tests: execute with nbclient, judge what their probes exported, build variants."""
import copy
import functools
import linecache
import os
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from i2dl_course.judges import AssignmentJudges

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "source" / "exercise_08"
RELEASE = ROOT / "release" / "exercise_08"


def read(path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def execute(nb: nbformat.NotebookNode, cwd: Path, timeout: int = 600, env: dict = None) -> nbformat.NotebookNode:
    """Execute a copy top to bottom (errors recorded, not raised), as a grading run would."""
    nb = copy.deepcopy(nb)
    env = {**os.environ, "I2DL_PROGRESS_BAR": "0", **(env or {})}
    NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(cwd)}}).execute(env=env)
    return nb


def meta(cell) -> dict:
    """The cell's nbgrader metadata ({} for an ordinary cell)."""
    return cell.metadata.get("nbgrader", {})


def cell(nb, grade_id: str):
    """The one cell of nb with this grade id."""
    matches = [c for c in nb.cells if meta(c).get("grade_id") == grade_id]
    assert len(matches) == 1, f"no single cell {grade_id}"
    return matches[0]


def graded_ids(nb) -> list:
    """Grade ids of the judged (test) cells, in notebook order (not the answers graded by hand)."""
    return [meta(c)["grade_id"] for c in nb.cells if meta(c).get("grade") and not meta(c).get("solution")]


@functools.lru_cache(maxsize=1)
def judges() -> AssignmentJudges:
    return AssignmentJudges("i2dl_course.judges.exercise_08", ROOT, "exercise_08")


class Probing:
    """The grader's side of one notebook run: its inputs (from `seed`), the environment that points
    the probes at them and at an export folder, and the judges' verdicts on what was exported."""

    def __init__(self, notebook: str, folder: Path, seed: int = 0):
        self.notebook, self.folder = notebook, Path(folder)
        self.inputs = judges().inputs(seed, notebook)
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "inputs.npz").write_bytes(judges().inputs_file(self.inputs))
        self.env = {"I2DL_EXPORT_DIR": str(self.folder / "exports"), "I2DL_PROBE_INPUTS": str(self.folder / "inputs.npz")}

    def exports(self) -> dict:
        """{"<grade id>/<name>": bytes} of everything the probes exported."""
        folder = self.folder / "exports"
        return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.glob("*/*") if p.is_file()}

    def verdict(self, grade_id: str, points: float = 1.0, cell_error: str = None):
        """The verdict on one test cell, judged with the other cells' exports (as at grading)."""
        return self.judged({grade_id: points}, {grade_id: cell_error})[grade_id]

    def judged(self, points: dict, cell_errors: dict = None) -> dict:
        """{grade id: Verdict} of the test cells `points` ({grade id: points}), judged together as at grading."""
        return judges().judge_notebook(self.notebook, points, self.exports(), self.inputs, cell_errors)

    def verdicts(self, nb) -> dict:
        """{grade id: None if the test cell got full points, else its message} for every test cell of nb."""
        points = {meta(c)["grade_id"]: meta(c)["points"] for c in nb.cells
                  if c.cell_type == "code" and meta(c).get("grade") and not meta(c).get("solution")}
        verdicts = judges().judge_notebook(self.notebook, points, self.exports(), self.inputs)
        return {g: None if v.points == points[g] else v.message for g, v in verdicts.items()}


def judge_in_process(nb, test_ids, probing: Probing, monkeypatch, replacements: dict, between: dict = None,
                     namespace: dict = None) -> dict:
    """{test id: Verdict} for the test cells `test_ids` of notebook 1: exec its setup cell, its code
    answer cells but the transfer cell (some replaced: {grade id: code}) and those test cells, in
    this process (their probes run; a test cell's error is kept as at grading), then judge what they
    exported. between: {test id: code run just before that test cell}; namespace: names the cells
    see from the start."""
    for key, value in probing.env.items():
        monkeypatch.setenv(key, value)
    namespace = dict(namespace or {})
    setup = next(c for c in nb.cells if "load_splits()" in c.source)
    answers = [c for c in nb.cells if meta(c).get("solution") and c.cell_type == "code"
               and meta(c)["grade_id"] != "transfer_solution"]
    for answer in [setup] + answers:
        code = "\n".join(line for line in replacements.get(meta(answer).get("grade_id"), answer.source).splitlines()
                         if not line.startswith("%"))
        name = f"<cell {meta(answer).get('grade_id', 'setup')}>"
        linecache.cache[name] = (len(code), None, code.splitlines(True), name)     # as IPython keeps a cell's lines
        exec(compile(code, name, "exec"), namespace)
    errors = {}
    for test_id in test_ids:
        exec((between or {}).get(test_id, ""), namespace)
        try:
            exec(cell(nb, test_id).source, namespace)
        except Exception as err:     # the cell's error, as the kernel would show it (a selfcheck's own check)
            errors[test_id] = f"{type(err).__name__}: {err}"
    return probing.judged({test_id: meta(cell(nb, test_id))["points"] for test_id in test_ids}, errors)


def cell_results(nb: nbformat.NotebookNode) -> dict:
    """{grade_id: None if the test cell passed, else its error / stderr text} for every test cell."""
    results = {}
    for cell in nb.cells:
        if cell.cell_type == "code" and meta(cell).get("grade") and not meta(cell).get("solution"):
            errors = [f"{o.ename}: {o.evalue}" for o in cell.outputs if o.output_type == "error"]
            stderr = [o.text for o in cell.outputs if o.output_type == "stream" and o.name == "stderr"]
            results[meta(cell)["grade_id"]] = "\n".join(errors + stderr) or None
    return results


def restore_tests(release_nb, source_nb) -> nbformat.NotebookNode:
    """What nbgrader's OverwriteCells does at grading: test cells come back from the source."""
    tests = {meta(c)["grade_id"]: c for c in source_nb.cells if meta(c).get("grade")}
    nb = copy.deepcopy(release_nb)
    nb.cells = [copy.deepcopy(tests.get(meta(c).get("grade_id"), c)) for c in nb.cells]
    return nb


def replace_cell(nb, grade_id: str, source: str) -> nbformat.NotebookNode:
    """A copy of nb with the cell `grade_id` holding `source` (e.g. a seeded wrong solution)."""
    nb = copy.deepcopy(nb)
    cell(nb, grade_id).source = source
    return nb
