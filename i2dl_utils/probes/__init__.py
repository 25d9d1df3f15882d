"""Hidden-test probes: run the student's code on the grader's inputs and export plain data.

A probe asserts nothing and decides nothing. It calls the student's functions and models on the
inputs the grader drew for this run ($I2DL_PROBE_INPUTS, an .npz file) and writes what came out to
the export folder ($I2DL_EXPORT_DIR): arrays as .npy files and one record.json per test cell. The
judges (i2dl_course.judges) read that data outside the sandbox and decide the points. Student code
owns this process, so nothing here is trusted: it only has to serve an honest submission well.

Layout of one test cell's export, <export dir>/<grade id>/:
    record.json        {"values": {name: JSON value}, "errors": {name: "Type: message [in where]"}}
                       (where: the function and line of the student's code that raised, if any)
    <name>.npy         one array per exported name
    <model>.onnx       one model graph per exported model, see `Probe.model`
"""
import functools
import io
import json
import linecache
import os
import re
import site
import sysconfig
import warnings
from pathlib import Path

import numpy as np

from ..checks.common import quiet

NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,150}$")
GRAPH_BATCH = 32             # the fixed batch a model's graph is traced for (the judge runs it batch by batch)
SMALL_BATCH = 8              # a model's outputs are exported for x and for x[:SMALL_BATCH] alone


def enabled() -> bool:
    """Probes run only when graded (the grader sets both variables)."""
    return bool(os.environ.get("I2DL_EXPORT_DIR") and os.environ.get("I2DL_PROBE_INPUTS"))


def _library_folders() -> tuple:
    """Where installed code lives (the standard library, site-packages, this package), as opposed
    to the student's answer cells."""
    paths = sysconfig.get_paths()
    folders = {paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")} | set(getattr(site, "getsitepackages", list)())
    folders.add(Path(__file__).resolve().parents[1])
    return tuple(str(Path(f).resolve()) + os.sep for f in folders)


def _where(err: BaseException) -> str:
    """Where the student's own code raised `err`: "Encoder.forward, line 3: `return self.nett(x)`", from
    the last frame of its traceback outside installed code, or "" if it has none."""
    library, where, tb = _library_folders(), "", err.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        name = code.co_filename
        if not name.startswith("<frozen") and not str(Path(name).resolve()).startswith(library):
            line = linecache.getline(name, tb.tb_lineno, tb.tb_frame.f_globals).strip()
            where = f"{code.co_qualname}, line {tb.tb_lineno}" + (f": `{line[:80]}`" if line else "")
        tb = tb.tb_next
    return where


def _error(err: BaseException) -> str:
    """ "Name: message [in where]" (see `_where`) of what the student's code raised."""
    text = " ".join(str(err).split())
    where = " ".join(_where(err).split())
    return (f"{type(err).__name__}: {text[:200]}" if text else type(err).__name__) + (f" [in {where}]" if where else "")


class Probe:
    """The evidence of one test cell (grade id), written to the export folder by `save()`."""

    def __init__(self, grade_id: str):
        self.grade_id = grade_id
        self.values, self.errors, self.graphs, self.arrays = {}, {}, {}, {}
        self._inputs = None

    # -- the grader's inputs ----------------------------------------------------------------
    def input(self, name: str) -> np.ndarray:
        """An array the grader chose for this run (a fresh copy)."""
        if self._inputs is None:
            with np.load(os.environ["I2DL_PROBE_INPUTS"], allow_pickle=False) as f:
                prefix = self.grade_id + "/"
                self._inputs = {k[len(prefix):]: f[k] for k in f.files if k.startswith(prefix)}
        return self._inputs[name].copy()

    def tensor(self, name: str):
        import torch
        return torch.from_numpy(self.input(name))

    # -- evidence ----------------------------------------------------------------------------
    def run(self, name: str, function, *args, **kwargs):
        """function(*args, **kwargs), or None after recording what it raised under `name`."""
        try:
            with quiet(stdout=True):
                return function(*args, **kwargs)
        except Exception as err:          # the student's code failed: that is evidence too
            self.errors[name] = _error(err)
            return None

    def array(self, name: str, value) -> None:
        """Export a tensor, array or number as an array (nothing if `value` is None)."""
        if value is None:
            return
        try:
            if hasattr(value, "detach"):
                value = value.detach().cpu().numpy()
            self.arrays[name] = np.array(value)
        except Exception as err:
            self.errors[name] = f"not an array ({_error(err)})"

    def value(self, name: str, value) -> None:
        self.values[name] = value

    def model(self, name: str, module, x) -> None:
        """Export `module` in eval mode: <name>.onnx, the graph its forward traces to on a batch of
        x[:GRAPH_BATCH] (weights named as in its state_dict), <name>.output = module(x),
        <name>.output_small = module(x[:SMALL_BATCH]) (a forward that depends on the batch differs), and for the
        messages: whether a second call gave other outputs (value <name>.random), whether images gave
        other outputs in a smaller batch (value <name>.batchwise) and what the tracer
        warned about (value <name>.tracer_warnings: e.g. a tensor turned into a NumPy array)."""
        try:
            import torch
            training = module.training
            module.eval()
            graph = io.BytesIO()
            try:
                with torch.no_grad(), quiet(stdout=True):
                    output, small = module(x), module(x[:SMALL_BATCH])
                    if isinstance(output, torch.Tensor) and not torch.equal(output, module(x)):
                        self.values[f"{name}.random"] = True
                    elif isinstance(output, torch.Tensor) and isinstance(small, torch.Tensor) and \
                            output.shape[1:] == small.shape[1:] and \
                            not torch.allclose(output[:SMALL_BATCH], small, rtol=1e-4, atol=1e-5):
                        self.values[f"{name}.batchwise"] = True
                with quiet(stdout=True), warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always", torch.jit.TracerWarning)
                    torch.onnx.export(module, (x[:GRAPH_BATCH],), graph, input_names=["x"], output_names=["y"],
                                      dynamo=False, do_constant_folding=False, training=torch.onnx.TrainingMode.EVAL)
                traced = {str(w.message).split(". ")[0][:120] for w in caught
                          if issubclass(w.category, torch.jit.TracerWarning)}
                if traced:
                    self.values[f"{name}.tracer_warnings"] = sorted(traced)[:8]
            finally:
                module.train(training)
        except Exception as err:
            self.errors[name] = _error(err)
            return
        self.graphs[name] = graph.getvalue()
        self.array(f"{name}.output", output)
        self.array(f"{name}.output_small", small)

    # -- writing -------------------------------------------------------------------------------
    def save(self) -> None:
        """Write the evidence; a probe without grader inputs (not graded) writes nothing."""
        if not enabled():
            return
        folder = Path(os.environ["I2DL_EXPORT_DIR"]) / self.grade_id
        folder.mkdir(parents=True, exist_ok=True)
        for name, array in self.arrays.items():
            if NAME.match(name) and array.dtype != object:
                np.save(folder / f"{name}.npy", array, allow_pickle=False)
        for name, graph in self.graphs.items():
            if NAME.match(name):
                (folder / f"{name}.onnx").write_bytes(graph)
        record = {"values": self.values, "errors": self.errors}
        (folder / "record.json").write_text(json.dumps(record, default=str))


def probe(function):
    """Decorator for a probe `name(p, *student_objects)`, where `name` is the test cell's grade id:
    outside grading it only says so; at grading it collects the evidence and always saves it."""
    @functools.wraps(function)
    def run(*args):
        if not enabled():
            print("(hidden test: it runs when your notebook is graded)")
            return
        p = Probe(function.__name__)
        try:
            function(p, *args)
        except Exception as err:          # e.g. a student's object without the expected attributes
            p.errors["probe"] = _error(err)
        finally:
            p.save()
    return run
