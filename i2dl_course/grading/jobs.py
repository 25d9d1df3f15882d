"""Running one submission's job: the runner (runner.py) started in its sandbox, the job sent on its
stdin, its answer read back (size- and time-capped) and checked field by field.

Used by the local pool (grade.py) and by cluster workers: a job and its answer are plain bytes.
An executor runs jobs for the grader: `Local` here (runner processes on this machine), or
cluster.Dask (Dask distributed workers).
"""
import base64
import json
import os
import select
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import nbformat

from .sandbox import claim_uid, runner_command

MAX_RESULT_BYTES = 1 << 30       # what a runner may hand back for one submission


class Stop(RuntimeError):
    """Grading cannot go on (e.g. the cluster's scheduler is gone): stop, keep what is recorded."""


class NotRun(RuntimeError):
    """This submission could not be run (its message says why); it is not graded, a rerun retries it."""


class Running:
    """The runner processes in flight, so that an interrupted grader can kill them all."""

    def __init__(self):
        self.lock, self.procs = threading.Lock(), set()

    def add(self, proc):
        with self.lock:
            self.procs.add(proc)

    def discard(self, proc):
        with self.lock:
            self.procs.discard(proc)

    def kill_all(self):
        with self.lock:
            for proc in self.procs:
                proc.kill()


class Local:
    """Jobs run by runner processes on this machine (the default executor)."""

    def __init__(self, data_dir: Path, sandbox: bool):
        self.data_dir, self.sandbox, self.running = data_dir, sandbox, Running()

    def run(self, student: str, job: bytes, limit: float, log) -> tuple:
        return run(job, self.data_dir, self.sandbox, limit, log, self.running)

    def close(self) -> None:
        self.running.kill_all()


def run(job: bytes, data_dir: Path, sandbox: bool, limit: float, log, running: Running = None) -> tuple:
    """Run one job: (answer bytes, None), or (None, why it has no answer). `log` gets the runner's stderr."""
    with claim_uid(sandbox) as uid, tempfile.TemporaryDirectory(prefix="i2dl-run-") as host_box:
        box = None if sandbox else Path(host_box)       # sandboxed: the runner's own /tmp
        proc = subprocess.Popen(runner_command(data_dir, uid, box), cwd=host_box,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log)
        if running is not None:
            running.add(proc)
        try:
            return _exchange(proc, job, limit)
        finally:
            proc.kill()                  # its sandbox and kernels die with it
            proc.wait()
            if running is not None:
                running.discard(proc)


def _exchange(proc: subprocess.Popen, job: bytes, limit: float) -> tuple:
    """Send the job, read the answer (capped) within `limit` seconds: (bytes, None) or (None, why)."""
    def feed():
        try:
            proc.stdin.write(job)
            proc.stdin.close()
        except OSError:
            pass
    threading.Thread(target=feed, daemon=True).start()
    out, deadline, fd = bytearray(), time.monotonic() + limit, proc.stdout.fileno()
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None, f"stopped by the grader after {limit:.0f} s (the submission's time limit)"
        if select.select([fd], [], [], min(remaining, 1.0))[0]:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            out += chunk
            if len(out) > MAX_RESULT_BYTES:
                return None, "its results were larger than the grader accepts"
    code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    return (bytes(out), None) if code == 0 else (None, f"the grading process ended unexpectedly (exit code {code})")


def parse(raw: bytes, names: list) -> dict:
    """{notebook: entry} from a runner's answer, every field checked (it is data from a sandbox)."""
    data = json.loads(raw)
    entries = {}
    for name in names:
        entry = data["notebooks"][name]
        text, reason = entry["executed"], entry["reason"]
        exports = {str(k): base64.b64decode(v, validate=True) for k, v in entry["exports"].items()}
        entries[name] = {"executed": nbformat.reads(text, as_version=4) if isinstance(text, str) else None,
                         "reason": str(reason)[:300] if reason is not None else None,
                         "incidents": [{"cell": int(i["cell"]), "kind": str(i["kind"])} for i in entry["incidents"]],
                         "exports": exports, "refused": [str(r)[:200] for r in entry["refused"]],
                         "dropped": [str(r)[:200] for r in entry["dropped"][:20]]}
    return entries
