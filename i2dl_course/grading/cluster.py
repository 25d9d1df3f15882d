"""Grading on a Dask distributed cluster: `i2dl grade SUBMISSIONS --scheduler tcp://HOST:PORT`.

The coordinator (the `i2dl grade` process) builds each submission's job as today (grade.py) and
hands it to a Dask worker as a task, `run_job`: plain bytes in (the sanitized notebooks, the
course's support files, this run's probe inputs; never test labels) and plain bytes out (the
runner's answer: executed notebooks and exports). On the worker's host the task does what the
local pool does, `jobs.run`: it starts the runner (runner.py) in its bubblewrap sandbox as a
claimed unprivileged uid, with that host's students' data view. Student code never runs in the
Dask worker process, only in the runner's sandboxed kernels. The coordinator alone parses the
answer, judges it (the test labels stay there) and writes the gradebook, feedback and grades.csv.

A worker host needs the kit installed (the same version: checked), bubblewrap, and the students'
data views written by `i2dl data --view DIR` (the exercise's and each notebook's: a notebook's kernel
sees only its own notebook's labels, as on the coordinator) and named by I2DL_DATA_VIEW=DIR in the
worker's environment (checked against the coordinator's views, and refused if one holds a test split).

Faults: a worker that dies mid-task has its task run again elsewhere by the scheduler; after the
scheduler's `distributed.scheduler.allowed-failures` (default 3) such deaths the submission is an
error with the reason (not graded; a rerun tries it again). A lost scheduler or a worker that
cannot grade stops the run (jobs.Stop) with every finished grade kept.
"""
import asyncio
import functools
import hashlib
import logging
import os
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import CancelledError
from pathlib import Path

from distributed import Client, KilledWorker, get_worker
from distributed.security import Security

from . import dataview, jobs
from .sandbox import bwrap_path, preflight

VIEW_ENV = "I2DL_DATA_VIEW"            # on a worker host: the folder `i2dl data --view DIR` wrote
LOG_TAIL_BYTES = 64 << 10              # of the runner's stderr, sent back for the coordinator's log
CONNECT_SECONDS = 20


class WorkerSetupError(RuntimeError):
    """This worker host cannot grade (no data view, another kit version, no sandbox): raised in a task."""


@functools.cache
def kit_digest() -> str:
    """sha256 over the kit's Python sources (i2dl_utils runs in the kernels, i2dl_course drives
    them): a worker must run the coordinator's version."""
    h = hashlib.sha256()
    for package in ("i2dl_utils", "i2dl_course"):
        root = Path(__import__(package).__file__).resolve().parent
        for path in sorted(root.rglob("*.py")):
            h.update(f"{package}/{path.relative_to(root).as_posix()}\0".encode() + path.read_bytes() + b"\0")
    return h.hexdigest()


def view_digest(folder: Path) -> str:
    """One digest over the views in `folder` (the exercise's and each notebook's, dataview.build_all)."""
    h, folder = hashlib.sha256(), Path(folder)
    for path in dataview.files(folder):
        name = path.parent.relative_to(folder).as_posix()       # "." for the exercise's, else the notebook's
        h.update(f"{name}\0{dataview.cache.digest(dataview.load(path.parent))}\0".encode())
    return h.hexdigest()


_checked = {}                          # this worker process: (what, state of the files) -> digest / True
_checked_lock = threading.Lock()


def _file_state(path: Path) -> tuple:
    info = path.stat()
    return str(path), info.st_ino, info.st_size, info.st_mtime_ns


def worker_view(expected: str, sandbox: bool) -> Path:
    """This host's data view, checked once per process and file version (WorkerSetupError if unusable)."""
    folder = os.environ.get(VIEW_ENV)
    if not folder:
        raise WorkerSetupError(f"{VIEW_ENV} is not set in the worker's environment: write the students' data "
                               f"view with `i2dl data --view DIR` and start the worker with {VIEW_ENV}=DIR")
    folder = Path(folder).resolve()
    try:
        key = ("view",) + tuple(_file_state(path) for path in dataview.files(folder))
        with _checked_lock:
            if key not in _checked:
                _checked[key] = view_digest(folder)
            digest = _checked[key]
    except (OSError, dataview.cache.CacheError, ValueError) as err:
        raise WorkerSetupError(f"{VIEW_ENV}={folder} is not a students' data view ({err}); write one with "
                               "`i2dl data --view DIR`") from None
    if digest != expected:
        raise WorkerSetupError(f"the data view in {folder} differs from the coordinator's (other data source?): "
                               "write it again with `i2dl data --view DIR` from the same data")
    if sandbox:
        with _checked_lock:
            if ("sandbox", key) not in _checked:
                try:
                    bwrap_path()
                    preflight(folder)
                except Exception as err:
                    raise WorkerSetupError(str(err)) from None
                _checked[("sandbox", key)] = True
    return folder


def check_worker(view: str, kit: str, sandbox: bool) -> Path:
    """This worker's data view folder, or WorkerSetupError: why this worker cannot grade."""
    if kit != kit_digest():
        raise WorkerSetupError("it runs another version of the kit than the coordinator: install the same one")
    return worker_view(view, sandbox)


async def check_worker_async(view: str, kit: str, sandbox: bool) -> Path:
    """check_worker on every connected worker when grading starts (Client.run), in a thread of its
    own: the check loads the view and starts a sandbox, too long to block the worker's event loop."""
    return await asyncio.get_running_loop().run_in_executor(None, check_worker, view, kit, sandbox)


def _watch(worker, key, running: jobs.Running, done: threading.Event, cancelled: threading.Event) -> None:
    """Kill the runner when the scheduler cancels this task (its client is gone or gave it up):
    a Dask worker cannot interrupt a task's thread, but it can end the process the task waits on."""
    while not done.wait(1.0):
        state = worker.state.tasks.get(key)
        if state is None or state.state in ("cancelled", "released", "forgotten"):
            cancelled.set()
            running.kill_all()
            return


def run_job(job: bytes, limit: float, sandbox: bool, view: str, kit: str) -> tuple:
    """The Dask task: one submission's job run on this worker's host. Returns (answer bytes or None,
    why there is none or None, the tail of the runner's stderr, this worker's address, the seconds
    the runner took)."""
    folder = check_worker(view, kit, sandbox)
    worker = get_worker()
    running, done, cancelled = jobs.Running(), threading.Event(), threading.Event()
    watcher = threading.Thread(target=_watch, args=(worker, worker.get_current_task(), running, done, cancelled),
                               daemon=True)
    with tempfile.TemporaryFile() as log:
        watcher.start()
        start = time.perf_counter()
        try:
            raw, why = jobs.run(job, folder, sandbox, limit, log, running)
        finally:
            done.set()
        seconds = time.perf_counter() - start
        if cancelled.is_set():               # never an answer from a runner killed on purpose
            raise RuntimeError("the task was cancelled, its runner killed")
        log.seek(max(0, log.tell() - LOG_TAIL_BYTES))
        tail = log.read()
    return raw, why, tail, worker.address, seconds


def security(tls: tuple):
    """Dask's Security for (CA file, certificate, key), or None: Dask's configuration (DASK_DISTRIBUTED__COMM__TLS__...)."""
    if not tls:
        return None
    ca, cert, key = tls
    return Security(tls_ca_file=ca, tls_client_cert=cert, tls_client_key=key, require_encryption=True)


class Dask:
    """The executor for grade.py that runs each job as a `run_job` task on a Dask cluster."""

    def __init__(self, address: str, tls: tuple, view: Path, sandbox: bool):
        self.address, self.sandbox = address, sandbox
        self.view, self.kit = view_digest(view), kit_digest()
        self.client = None
        self.stats = []                  # per job: (seconds waited for it, seconds its runner took, job bytes, answer bytes)
        secure = security(tls) or Security()           # without certificates: Dask's configuration
        if tls and not address.startswith("tls://"):
            raise jobs.Stop(f"the TLS certificates need a tls:// scheduler address, not {address}")
        if address.startswith("tls://") and secure.get_connection_args("client").get("ssl_context") is None:
            raise jobs.Stop(f"{address} needs TLS: give --tls-ca-file, --tls-cert and --tls-key (or Dask's "
                            "distributed.comm.tls configuration)")
        try:
            self.client = Client(address, security=secure, timeout=CONNECT_SECONDS, set_as_default=False)
        except (OSError, TimeoutError) as err:
            raise jobs.Stop(f"cannot reach the Dask scheduler at {address} ({type(err).__name__}: "
                            f"{' '.join(str(err).split())[:200]})") from None
        try:
            problems = self.client.run(check_worker_async, self.view, self.kit, sandbox, on_error="return")
        except Exception as err:
            self.close()
            raise jobs.Stop(f"could not check the Dask workers at {address} ({type(err).__name__}: {err})") from None
        if not problems:
            print(f"i2dl grade: no Dask worker is connected to {address} yet: tasks wait for workers "
                  "(--workers sets how many submissions are in flight)", file=sys.stderr)
        # A worker that cannot grade stops the run; one that went away meanwhile is no problem.
        bad = {w: r for w, r in problems.items() if isinstance(r, WorkerSetupError)}
        if bad:
            self.close()
            worker, err = sorted(bad.items())[0]
            raise jobs.Stop(f"the Dask worker {worker} cannot grade: {err}"
                            + (f" (and {len(bad) - 1} more workers)" if len(bad) > 1 else ""))

    def threads(self) -> int:
        """Worker threads connected now."""
        return sum(w["nthreads"] for w in self.client.scheduler_info(n_workers=-1)["workers"].values())

    def in_flight(self) -> int:
        """Submissions handed to the cluster at once (default of --workers): its threads now and a
        quarter more (at least 2), queued at the scheduler, so that a worker that finishes starts the
        next one at once. Each holds its job in memory on the coordinator and the scheduler."""
        threads = self.threads()
        return threads + max(2, threads // 4)

    def lost(self) -> jobs.Stop:
        # The client's own reconnection attempts and their tracebacks say nothing the message does not.
        logging.getLogger("distributed").setLevel(logging.CRITICAL)
        return jobs.Stop(f"lost the connection to the Dask scheduler at {self.address}.")

    def run(self, student: str, job: bytes, limit: float, log) -> tuple:
        if self.client.status != "running":
            raise self.lost()
        try:
            future = self.client.submit(run_job, job, limit, self.sandbox, self.view, self.kit, pure=False,
                                        key=f"i2dl-grade-{student}-{uuid.uuid4().hex[:8]}")
            start = time.perf_counter()
            raw, why, tail, worker, seconds = future.result()
        except KilledWorker as err:
            tries = err.allowed_failures + 1
            raise jobs.NotRun(f"not graded: the Dask worker running it died {tries} time{'s' * (tries > 1)} "
                              f"(the scheduler's allowed-failures is {tries - 1}; last on {err.last_worker.address}); "
                              "a rerun tries again") from None
        except WorkerSetupError as err:
            raise jobs.Stop(f"a Dask worker cannot grade: {err}.") from None
        except (CancelledError, OSError, TimeoutError) as err:
            if self.client.status == "running" and not isinstance(err, CancelledError):
                raise
            raise self.lost() from None
        self.stats.append((time.perf_counter() - start, seconds, len(job), len(raw or b"")))
        log.write(f"[ran on the Dask worker {worker} in {seconds:.1f} s; the last {LOG_TAIL_BYTES >> 10} KB "
                  "of its log]\n".encode())
        log.write(tail)
        return raw, why

    def close(self) -> None:
        """Close the client: its futures are cancelled (waiting threads wake up), the scheduler
        releases their tasks and the workers' watchers kill those tasks' runners."""
        if self.client is not None and self.client.status != "closed":
            try:
                self.client.close(timeout=10)
            except Exception:               # a client that lost its scheduler may fail to say goodbye
                pass
