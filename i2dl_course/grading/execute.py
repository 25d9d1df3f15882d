"""Executing an untrusted notebook with nbclient: the kernel in a Sandbox, a time budget for the
whole notebook on top of the per-cell timeout, a cap on recorded output, and a crashed kernel
recorded in its cell (the cells after it are marked as not run, earlier outputs are kept).

What went wrong is also kept apart from the outputs, in `incidents`: the runner reports those,
so a kernel cannot fake or hide them by printing.
"""
import json
import os
import time
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError
from nbformat.v4 import new_output
from traitlets import Any

from .exports import CellExports
from .sandbox import Sandbox

INCIDENTS = {"timeout": "hit the time limit of a cell",
             "died": "crashed the kernel (the cells after it were not run)",
             "not run": "was not run (the notebook's time limit was used up)",
             "output cut": "printed more output than allowed (cut)"}


def test_cell_id(cell):
    """The grade id of a test cell (graded, not a solution), else None."""
    meta = cell.metadata.get("nbgrader", {})
    return meta.get("grade_id") if meta.get("grade") and not meta.get("solution") else None


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
            # The kernel has its own network namespace: TCP to the runner cannot work, Unix sockets do.
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


class SandboxedClient(NotebookClient):
    """NotebookClient with the kernel in `sandbox`, a notebook time budget and output caps.

    incidents: [{"cell": index, "kind": one of INCIDENTS}] in the order they happened.
    exports: each test cell's exports, taken when it finished (exports.CellExports into `taken`).
    """

    def __init__(self, nb, sandbox: Sandbox, cell_timeout: int, notebook_timeout: int, taken: Path,
                 max_cell_output: int = 2_000_000, max_notebook_output: int = 20_000_000):
        super().__init__(nb, timeout=cell_timeout, kernel_name="python3", allow_errors=True,
                         interrupt_on_timeout=True, raise_on_iopub_timeout=False, record_timing=False,
                         error_on_timeout={"ename": "CellTimeoutError", "evalue": f"no reply within {cell_timeout} s",
                                           "traceback": [f"CellTimeoutError: no reply within {cell_timeout} s"]},
                         extra_arguments=["--HistoryManager.hist_file=:memory:"],
                         resources={"metadata": {"path": str(sandbox.work)}})
        self.sandbox = sandbox
        self.notebook_timeout, self.cell_limit = notebook_timeout, cell_timeout
        self.max_cell_output, self.max_notebook_output = max_cell_output, max_notebook_output
        self.timeout_func = self._cell_timeout
        self.incidents = []
        self.exports = CellExports(sandbox.exports, taken)
        self._deadline = time.monotonic() + notebook_timeout
        self._not_run_reason = None
        self._output_bytes = {"notebook": 0}

    def create_kernel_manager(self):
        self.sandbox.prepare()
        self.km = SandboxedKernelManager(sandbox=self.sandbox, kernel_name=self.kernel_name)
        return self.km

    def _cell_timeout(self, cell) -> int:
        remaining = self._deadline - time.monotonic()
        return max(1, int(min(self.cell_limit or remaining, remaining)))

    def _incident(self, index: int, kind: str) -> None:
        self.incidents.append({"cell": index, "kind": kind})

    async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
        if cell.cell_type != "code" or not cell.source.strip():
            return cell
        if self._not_run_reason is None and time.monotonic() >= self._deadline:
            self._not_run_reason = f"the notebook used up its time limit of {self.notebook_timeout} s"
            self._incident(cell_index, "not run")
        if self._not_run_reason:
            cell.outputs = [error_output("NotRun", f"not run: {self._not_run_reason}")]
            return cell
        grade_id = test_cell_id(cell)
        self.exports.sweep(cell_index + 1, after=False)
        try:
            return await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        except DeadKernelError:
            self._not_run_reason = "the kernel died in an earlier cell"
            self._incident(cell_index, "died")
            cell.outputs.append(error_output(
                "KernelDied", "the kernel died while running this cell (os._exit, a crash or out of memory)"))
            return cell
        finally:
            self.exports.sweep(cell_index + 1, grade_id)

    async def _async_handle_timeout(self, timeout, cell=None):
        self._incident(next((i for i, c in enumerate(self.nb.cells) if c is cell), -1), "timeout")
        return await super()._async_handle_timeout(timeout, cell)

    def output(self, outs, msg, display_id, cell_index):
        """Record output until the cell's or the notebook's byte cap is reached, then one note."""
        size = len(json.dumps(msg["content"]))
        cell_bytes = self._output_bytes.get(cell_index, 0)
        if cell_bytes < 0:                        # this cell was capped already
            return None
        if cell_bytes + size > self.max_cell_output or \
                self._output_bytes["notebook"] + size > self.max_notebook_output:
            self._output_bytes[cell_index] = -1
            self._incident(cell_index, "output cut")
            outs.append(new_output("stream", name="stderr", text=(
                f"\n[grader] output cut here: more than {self.max_cell_output:,} bytes in this cell "
                f"or {self.max_notebook_output:,} in the notebook\n")))
            return None
        self._output_bytes[cell_index] = cell_bytes + size
        self._output_bytes["notebook"] += size
        return super().output(outs, msg, display_id, cell_index)
