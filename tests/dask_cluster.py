"""A real Dask cluster on 127.0.0.1 for the tests and benchmarks: `dask scheduler` and `dask worker`
processes, each in a working folder of its own, as the README starts them."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

DASK = str(Path(sys.executable).parent / "dask")


class LocalCluster:
    """One scheduler and `workers` single-thread workers; stop() kills every process it started."""

    def __init__(self, folder: Path, view: Path, workers: int = 2, allowed_failures: int = None, tls: tuple = None):
        """tls: (CA file, certificate, key): a tls:// scheduler and workers using them."""
        self.folder = Path(folder)
        self.tls = [] if tls is None else ["--tls-ca-file", str(tls[0]), "--tls-cert", str(tls[1]),
                                           "--tls-key", str(tls[2])]
        self.folder.mkdir(parents=True, exist_ok=True)
        self.view = Path(view)
        self.procs = {}
        try:
            self._start(workers, allowed_failures)
        except BaseException:
            self.stop()
            raise

    def _start(self, workers: int, allowed_failures: int) -> None:
        env = {"DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION": "1.0"}      # README: one task per thread
        if allowed_failures is not None:
            env["DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES"] = str(allowed_failures)
        info = self.folder / "scheduler.json"
        self.start("scheduler", [DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                 "--scheduler-file", str(info), *(["--protocol", "tls"] if self.tls else []),
                                 *self.tls], env)
        deadline = time.monotonic() + 60
        while not info.exists() and time.monotonic() < deadline:
            self.check("scheduler")
            time.sleep(0.1)
        self.address = json.loads(info.read_text())["address"]
        for i in range(workers):
            self.add_worker(f"worker{i}")
        self.wait_for_workers(workers)

    def start(self, name: str, cmd: list, env: dict = None) -> None:
        folder = self.folder / name
        folder.mkdir(exist_ok=True)
        with open(self.folder / f"{name}.log", "wb") as log:
            self.procs[name] = subprocess.Popen(cmd, cwd=folder, stdout=log, stderr=subprocess.STDOUT,
                                                env=dict(os.environ, **(env or {})), start_new_session=True)

    def add_worker(self, name: str) -> None:
        self.start(name, [DASK, "worker", self.address, "--nthreads", "1", "--nworkers", "1", "--no-dashboard",
                          "--local-directory", ".", "--preload", "i2dl_course.grading.cluster", *self.tls],
                   {"I2DL_DATA_VIEW": str(self.view)})

    def check(self, name: str) -> None:
        if self.procs[name].poll() is not None:
            raise RuntimeError(f"{name} ended: {(self.folder / f'{name}.log').read_text()[-2000:]}")

    def wait_for_workers(self, n: int) -> None:
        from distributed import Client
        from distributed.security import Security
        security = Security(**dict(zip(("tls_ca_file", "tls_client_cert", "tls_client_key"), self.tls[1::2]))) \
            if self.tls else None
        with Client(self.address, timeout=30, set_as_default=False, security=security) as client:
            client.wait_for_workers(n, timeout=120)

    def running_a_job(self, name: str) -> bool:
        """Whether the worker `name` runs a submission now (a runner is among its processes; not the
        sandbox check that also starts one, `-c ... r.preflight()`)."""
        try:
            children = psutil.Process(self.procs[name].pid).children(recursive=True)
            cmds = [child.cmdline() for child in children]
        except psutil.NoSuchProcess:
            return False
        return any(cmd[i:i + 2] == ["-m", "i2dl_course.grading.runner"] for cmd in cmds for i in range(len(cmd)))

    def kill(self, name: str) -> None:
        """SIGKILL the process group of `name` (the dask command, its worker process, its runner)."""
        proc = self.procs[name]
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()

    def stop(self) -> None:
        for name in list(self.procs):
            self.kill(name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout:.0f} s for {what}")
        time.sleep(0.1)
