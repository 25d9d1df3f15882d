"""What the notebook benchmarks share: execute a notebook as the grader would (probes on, with the
grader's inputs), time it cell by cell and `trainer.fit` by `trainer.fit`, and judge it.

Everything imported here from the kit (`i2dl_course`, and in the kernel `i2dl_utils`) comes from
the first kit on sys.path: run with PYTHONPATH=<tree> to measure another commit with its own code.
"""
import ast
import datetime
import json
import os
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent

# Run first in the kernel: time every pytorch_lightning.Trainer.fit (patched as soon as Lightning is
# imported, before the next cell), labelled by the code cell (1 = the first after this one) and the
# run's logger name.
PRELUDE = '''
import sys as _sys, time as _time
_i2dl_fits, _i2dl_cell = [], [0]
def _i2dl_patch(*_):
    _i2dl_cell[0] += 1
    pl = _sys.modules.get("pytorch_lightning")
    if pl is None or getattr(pl.Trainer.fit, "_timed", False):
        return
    fit = pl.Trainer.fit
    def timed(self, *args, **kwargs):
        start = _time.perf_counter()
        try:
            return fit(self, *args, **kwargs)
        finally:
            name = getattr(self.logger, "name", None) or "fit"
            _i2dl_fits.append((_i2dl_cell[0], name, _time.perf_counter() - start))
    timed._timed = True
    pl.Trainer.fit = timed
get_ipython().events.register("pre_run_cell", _i2dl_patch)
'''
# Run last: what was timed, and which kit the kernel imported.
EPILOGUE = '''
import json as _json, i2dl_utils as _kit
print("I2DL-TIMES " + _json.dumps({"fits": _i2dl_fits, "kit": _kit.__file__}))
'''


def _meta(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def _split_imports(cell) -> list:
    """An ungraded code cell that starts with imports and goes on: [imports cell, rest cell]."""
    lines = cell.source.splitlines()
    code = "\n".join("" if line.startswith("%") else line for line in lines)
    try:
        body = ast.parse(code).body
    except SyntaxError:
        return [cell]
    n = next((i for i, node in enumerate(body) if not isinstance(node, (ast.Import, ast.ImportFrom))), len(body))
    if n == 0 or n == len(body) or _meta(cell).get("grade") or _meta(cell).get("solution"):
        return [cell]
    cut = body[n].lineno - 1
    first, rest = nbformat.v4.new_code_cell("\n".join(lines[:cut])), nbformat.v4.new_code_cell("\n".join(lines[cut:]))
    first.metadata["i2dl_part"] = "imports"
    rest.metadata = cell.metadata               # the cell's own metadata (grade id) stays with its code
    return [first, rest]


def _category(cell) -> str:
    """imports | data | hidden tests | other, for a cell's time outside its trainer.fit calls."""
    if cell.metadata.get("i2dl_part") == "imports":
        return "imports"
    if _meta(cell).get("grade") and not _meta(cell).get("solution"):
        return "hidden tests"
    if "load_splits(" in cell.source:
        return "data"
    return "other cells"


def _seconds(cell) -> float:
    timing = cell.metadata.get("execution", {})
    start, end = timing.get("iopub.status.busy"), timing.get("iopub.status.idle")
    if not start or not end:
        return 0.0
    parse = lambda s: datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))   # noqa: E731
    return (parse(end) - parse(start)).total_seconds()


def timed_execute(nb: nbformat.NotebookNode, notebook: str, timeout: int = 1800, progress: bool = False,
                  seed: int = 0, **env) -> dict:
    """Execute nb in a fresh kernel (errors recorded, not raised) with its probes exporting to a scratch
    folder, then judge the exports. nb is executed in place, with a timing cell before and after it
    and ordinary cells that open with imports split in two. Returns
    {"seconds": wall time of the execution (kernel start included), "kernel": start-up and what no
     cell accounts for, "parts": {category: seconds}, "fits": [(label, seconds)],
     "judging": seconds, "lost": [grade ids without full points], "kit": i2dl_utils.__file__}.
    """
    from i2dl_course.judges import AssignmentJudges
    root = Path(__import__("i2dl_course").__file__).resolve().parent.parent
    judges = AssignmentJudges("i2dl_course.judges.exercise_08", root, "exercise_08")
    inputs = judges.inputs(seed, notebook)
    points = {_meta(c)["grade_id"]: _meta(c)["points"] for c in nb.cells
              if _meta(c).get("grade") and not _meta(c).get("solution")}
    cells = [part for c in nb.cells for part in (_split_imports(c) if c.cell_type == "code" else [c])]
    nb.cells = [nbformat.v4.new_code_cell(PRELUDE)] + cells + [nbformat.v4.new_code_cell(EPILOGUE)]
    with tempfile.TemporaryDirectory() as cwd:
        (Path(cwd) / "inputs.npz").write_bytes(judges.inputs_file(inputs))
        env = {**os.environ, "I2DL_EXPORT_DIR": f"{cwd}/exports", "I2DL_PROBE_INPUTS": f"{cwd}/inputs.npz", **env}
        env.pop("I2DL_PROGRESS_BAR", None)
        if not progress:
            env["I2DL_PROGRESS_BAR"] = "0"
        start = time.perf_counter()
        NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                       resources={"metadata": {"path": cwd}}).execute(env=env)
        seconds = time.perf_counter() - start
        exports = Path(cwd) / "exports"
        files = {p.relative_to(exports).as_posix(): p.read_bytes() for p in exports.glob("*/*") if p.is_file()}
        start = time.perf_counter()
        if hasattr(judges, "judge_notebook"):
            verdicts = judges.judge_notebook(notebook, points, files, inputs)
        else:                              # earlier kits judged cell by cell, each from its own folder
            verdicts = {g: judges.judge(notebook, g, p, {k.split("/", 1)[1]: v for k, v in files.items()
                                                        if k.startswith(g + "/")}, inputs)
                        for g, p in points.items()}
        judging = time.perf_counter() - start
    text = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    if "I2DL-TIMES " not in text:
        raise RuntimeError(f"{notebook}: the notebook did not run to its end: {nb.cells[-1].outputs}")
    times = json.loads(text.split("I2DL-TIMES ", 1)[1])
    fit_seconds = {}
    for index, _, s in times["fits"]:
        fit_seconds[index] = fit_seconds.get(index, 0.0) + s
    parts = {}
    code = [c for c in nb.cells if c.cell_type == "code"]
    for index, cell in enumerate(code[1:-1], start=1):
        category = _category(cell)
        parts[category] = parts.get(category, 0.0) + _seconds(cell) - fit_seconds.get(index, 0.0)
    fits = [(f"{name} (cell {index})", s) for index, name, s in times["fits"]]
    cell_total = sum(_seconds(c) for c in nb.cells if c.cell_type == "code")
    return {"seconds": seconds, "kernel": seconds - cell_total, "parts": parts, "fits": fits, "judging": judging,
            "lost": [g for g, v in verdicts.items() if v.points < points[g]], "kit": times["kit"]}
