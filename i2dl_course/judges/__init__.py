"""Judges: the trusted half of every hidden test.

In the sandboxed kernel a hidden-test cell only probes (i2dl_utils.probes): it runs the student's
code on inputs the grader drew for this run and exports plain data. After the kernel is gone, the
grader's own process judges that data, one judge per grade id: it decides the points and the
one-line message. Judges never import, unpickle or execute anything a student wrote; they may run
the instructor's solutions (reference.py) and see the test labels (`GraderData`), which never enter
a sandbox. Missing, malformed or implausible exports score 0 with a reason: judging fails closed.

An assignment's judges are a module (named in nbgrader_config.py, `c.Judging.modules`) with
NOTEBOOKS = {notebook name: namespace}, each namespace providing
    inputs(rng, data) -> {grade id: {name: np.ndarray}}   the grader's inputs for one run
    JUDGES = {grade id: judge(evidence, context) -> success message}  (raise on failure; judged
             in this order, and a judge may use the evidence and verdicts of the others: Context)
    PRELUDE = "import ..."                                the imports the solution cells need
"""
import hashlib
import importlib
import importlib.util
import io
import logging
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from .culprit import explain
from .evidence import Evidence, Failed
from .reference import Reference

log = logging.getLogger(__name__)


@dataclass
class Verdict:
    points: float
    message: str
    measure: float = None         # the figure the judge measured (e.g. a test accuracy), for the reviews


class GraderData:
    """The labelled grader-only test split, loaded on first use (grader process only), or given
    as `arrays()` gave them (a judging child gets the coordinator's)."""

    def __init__(self, arrays: dict = None):
        self.__dict__.update(arrays or {})

    def arrays(self) -> dict:
        return {"test_images": self.test_images, "test_labels": self.test_labels}

    @cached_property
    def _mnist(self):
        from i2dl_utils.data.provision import load_mnist
        return load_mnist()

    @cached_property
    def test_images(self) -> np.ndarray:
        """float32 (N, 1, 28, 28) in [0, 1]."""
        return (self._mnist.test_images.astype(np.float32) / 255.0)[:, None]

    @cached_property
    def test_labels(self) -> np.ndarray:
        """int64 (N,) in 0..9."""
        return self._mnist.test_labels.astype(np.int64)


@dataclass
class Context:
    """What a judge may use besides the evidence: this run's inputs for its test cell, the
    reference solutions of its notebook, the grader's data, and the same submission's other test
    cells of this notebook (their evidence, and the verdicts of those judged before it), so that
    one submission's evidence is judged together."""
    inputs: dict
    reference: Reference
    data: GraderData
    others: dict = None           # {grade id: Evidence, or Failed if its exports were unusable}
    verdicts: dict = None         # {grade id: Verdict} of the cells judged before this one
    measure: float = None         # set by a judge that measures a figure (kept in its Verdict)

    def evidence(self, grade_id: str) -> Evidence:
        """Another test cell's evidence, or Failed naming that test."""
        ev = (self.others or {}).get(grade_id)
        if not isinstance(ev, Evidence):
            raise Failed(f"the test {grade_id} exported no usable results" + (f" ({ev})" if ev else ""))
        return ev

    def passed(self, grade_id: str) -> bool:
        verdict = (self.verdicts or {}).get(grade_id)
        return verdict is not None and verdict.points > 0


def _load(spec: str, root: Path):
    """The judges module: a dotted module name, or a .py file relative to the course root."""
    if spec.endswith(".py"):
        path = (Path(root) / spec).resolve()
        loader = importlib.util.spec_from_file_location(f"i2dl_judges_{hashlib.sha1(bytes(path)).hexdigest()[:8]}", path)
        module = importlib.util.module_from_spec(loader)
        loader.loader.exec_module(module)
        return module, path.read_bytes()
    module = importlib.import_module(spec)
    return module, Path(module.__file__).read_bytes()


def _cell_inputs_npz(inputs: dict) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **{f"{grade_id}/{name}": np.asarray(array)
                        for grade_id, arrays in inputs.items() for name, array in arrays.items()})
    return buffer.getvalue()


class AssignmentJudges:
    """The judges of one assignment, with the instructor's solutions from source/<assignment>."""

    def __init__(self, spec: str, root: Path, assignment: str, data: GraderData = None):
        self.spec, self.root, self.assignment = spec, Path(root), assignment
        self.module, module_bytes = _load(spec, root)
        self.source = Path(root) / "source" / assignment
        self.data = data or GraderData()
        self.references = {name: Reference(self.source / f"{name}.ipynb", getattr(ns, "PRELUDE", ""))
                           for name, ns in self.module.NOTEBOOKS.items()}
        # Changes when the judges or the reference solutions change (part of the resume key).
        h = hashlib.sha256(module_bytes)
        for name in sorted(self.module.NOTEBOOKS):
            path = self.source / f"{name}.ipynb"
            h.update(path.read_bytes() if path.exists() else b"")
        self.fingerprint = h.hexdigest()

    def inputs(self, seed: int, notebook: str) -> dict:
        """{grade id: {name: array}}: this run's inputs for one notebook, drawn from `seed`."""
        ns = self.module.NOTEBOOKS.get(notebook)
        if ns is None:
            return {}
        index = sorted(self.module.NOTEBOOKS).index(notebook)
        return ns.inputs(np.random.default_rng([seed, index]), self.data)

    @staticmethod
    def inputs_file(inputs: dict) -> bytes:
        """The .npz the probes read ($I2DL_PROBE_INPUTS): keys "<grade id>/<name>"."""
        return _cell_inputs_npz(inputs)

    def judge_notebook(self, notebook: str, points: dict, exports: dict, inputs: dict,
                       cell_errors: dict = None, judged=None) -> dict:
        """{grade id: Verdict} for the test cells `points` ({grade id: points}) of one submitted
        notebook, from all its exports ({"<grade id>/<name>": bytes}), judged in the order of the
        notebook's JUDGES (a judge may look at the verdicts of those before it); `judged(grade id,
        verdict)` is called as each one is decided."""
        evidence = {}
        for grade_id in points:
            prefix = grade_id + "/"
            files = {k[len(prefix):]: v for k, v in exports.items() if k.startswith(prefix)}
            try:
                evidence[grade_id] = Evidence(files, grade_id) if files else None
            except Failed as err:
                evidence[grade_id] = err
        known = list(getattr(self.module.NOTEBOOKS.get(notebook), "JUDGES", {}))
        verdicts = {}
        for grade_id in [g for g in known if g in points] + [g for g in points if g not in known]:
            max_points = points[grade_id]
            context = Context(inputs.get(grade_id, {}), self.references.get(notebook), self.data, evidence, verdicts)
            verdicts[grade_id] = self._judge(notebook, grade_id, max_points, evidence[grade_id], context,
                                             (cell_errors or {}).get(grade_id))
            if judged:
                judged(grade_id, verdicts[grade_id])
        return verdicts

    def judge(self, notebook: str, grade_id: str, points: float, files: dict, inputs: dict,
              cell_error: str = None) -> Verdict:
        """The verdict on one test cell judged alone (files: {name: bytes} of its export folder)."""
        exports = {f"{grade_id}/{name}": data for name, data in files.items()}
        return self.judge_notebook(notebook, {grade_id: points}, exports, inputs, {grade_id: cell_error})[grade_id]

    def _judge(self, notebook: str, grade_id: str, points: float, evidence, context: Context,
               cell_error: str = None) -> Verdict:
        ns = self.module.NOTEBOOKS.get(notebook)
        judge = getattr(ns, "JUDGES", {}).get(grade_id)
        if judge is None:
            return Verdict(0.0, "this test has no judge (a grader configuration error: tell your instructor)")
        if not isinstance(evidence, Evidence):
            why = f" ({explain(cell_error, self.source / f'{notebook}.ipynb')})" if cell_error \
                else " (the test did not run to its end)"
            return Verdict(0.0, f"{evidence}{why}" if evidence is not None else f"the test could not run{why}")
        try:
            return Verdict(float(points), judge(evidence, context), context.measure)
        except (Failed, AssertionError) as err:
            return Verdict(0.0, " ".join(str(err).split()) or "failed", context.measure)
        except MemoryError:                # over the judging process's memory limit: it says so
            raise
        except Exception as err:           # a judge must never stop the grading of the others
            log.exception("judge %s/%s failed", notebook, grade_id)
            return Verdict(0.0, f"the grader could not judge this test ({type(err).__name__}: {err})"[:300])
