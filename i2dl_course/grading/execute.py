"""nbgrader's Execute step for untrusted notebooks: the kernel in a Sandbox, a time budget for the
whole notebook on top of the per-cell timeout, a cap on recorded output, and a crashed kernel
recorded in its cell (the cells after it are marked as not run, earlier results are kept).
"""
import json
import os
import time
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from nbclient.exceptions import DeadKernelError
from nbformat.v4 import new_output
from nbgrader import utils
from nbgrader.preprocessors import Execute, NbGraderPreprocessor
from traitlets import Any, Dict, Integer

from .sandbox import Limits, Sandbox


def error_output(ename: str, evalue: str):
    return new_output("error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


class SandboxedKernelManager(AsyncKernelManager):
    """Starts the kernel inside `sandbox`, over IPC sockets in the sandbox's runtime folder."""

    sandbox = Any()

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        runtime = self.sandbox.runtime
        self.connection_file = str(runtime / "kernel.json")
        if self.sandbox.enabled:
            # The kernel has its own network namespace: TCP to the grader cannot work, Unix sockets do.
            self.transport = "ipc"
            self.ip = str(runtime / "ipc")

    def format_kernel_cmd(self, extra_arguments=None):
        return self.sandbox.wrap(super().format_kernel_cmd(extra_arguments))

    async def _async_pre_start_kernel(self, **kw):
        env = self.sandbox.environment()
        if self.sandbox.enabled:
            # Interrupt by message: signals from outside do not reach the sandbox's own session.
            self.kernel_spec.interrupt_mode = "message"
        else:
            env = {**{k: v for k, v in os.environ.items() if k != "JPY_PARENT_PID"}, **env}
        kw["env"] = env
        return await super()._async_pre_start_kernel(**kw)

    def write_connection_file(self, **kwargs):
        super().write_connection_file(**kwargs)
        self.sandbox.give(self.connection_file)


class SandboxedExecute(Execute):
    """Execute (nbgrader) with the kernel in a sandbox, a notebook time budget and an output cap."""

    sandbox = Dict(help="keyword arguments of Sandbox (paths as strings)").tag(config=True)
    notebook_timeout = Integer(1800, help="seconds for the whole notebook; later cells are not run").tag(config=True)
    max_cell_output = Integer(2_000_000, help="bytes of output recorded per cell").tag(config=True)
    max_notebook_output = Integer(20_000_000, help="bytes of output recorded per notebook").tag(config=True)

    def __init__(self, **kw):
        super().__init__(**kw)
        self.timeout_func = self._cell_timeout

    def _make_sandbox(self) -> Sandbox:
        spec = dict(self.sandbox)
        for key in ("scratch", "runtime", "data_dir"):
            spec[key] = Path(spec[key])
        for key in ("hidden", "readable"):
            spec[key] = [Path(p) for p in spec.get(key, [])]
        spec["limits"] = Limits(**spec.get("limits", {}))
        return Sandbox(**spec)

    def create_kernel_manager(self):
        sandbox = self._make_sandbox()
        sandbox.prepare()
        self.km = SandboxedKernelManager(sandbox=sandbox, kernel_name=self.kernel_name, config=self.config)
        return self.km

    def _cell_timeout(self, cell) -> int:
        remaining = self._deadline - time.monotonic()
        return max(1, int(min(self.timeout or remaining, remaining)))

    def preprocess(self, nb, resources=None, km=None):
        self._deadline = time.monotonic() + self.notebook_timeout
        self._not_run_reason = None
        self._output_bytes = {"notebook": 0}
        return super().preprocess(nb, resources, km)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or not cell.source.strip():
            return cell, resources
        if self._not_run_reason is None and time.monotonic() >= self._deadline:
            self._not_run_reason = f"the notebook used up its time limit of {self.notebook_timeout} s"
        if self._not_run_reason:
            cell.outputs = [error_output("NotRun", f"not run: {self._not_run_reason}")]
            return cell, resources
        try:
            return super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            self._not_run_reason = "the kernel died in an earlier cell"
            cell.outputs.append(error_output(
                "KernelDied", "the kernel died while running this cell (os._exit, a crash or out of memory)"))
            return cell, resources

    def output(self, outs, msg, display_id, cell_index):
        """Record output until the cell's or the notebook's byte cap is reached, then one note."""
        size = len(json.dumps(msg["content"]))
        cell_bytes = self._output_bytes.get(cell_index, 0)
        if cell_bytes < 0:                        # this cell was capped already
            return None
        if cell_bytes + size > self.max_cell_output or \
                self._output_bytes["notebook"] + size > self.max_notebook_output:
            self._output_bytes[cell_index] = -1
            outs.append(new_output("stream", name="stderr", text=(
                f"\n[grader] output cut here: more than {self.max_cell_output:,} bytes in this cell "
                f"or {self.max_notebook_output:,} in the notebook\n")))
            return None
        self._output_bytes[cell_index] = cell_bytes + size
        self._output_bytes["notebook"] += size
        return super().output(outs, msg, display_id, cell_index)


class RequireExecuted(NbGraderPreprocessor):
    """A test cell that was never run would score full points in nbgrader: give it an error instead."""

    def preprocess_cell(self, cell, resources, index):
        if utils.is_grade(cell) and not utils.is_solution(cell) and cell.cell_type == "code" \
                and cell.get("execution_count") is None and not any(o.output_type == "error" for o in cell.outputs):
            cell.outputs.append(error_output("NotRun", "this test cell was not run"))
        return cell, resources
