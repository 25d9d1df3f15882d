"""The two sandboxes of grading, both bubblewrap with no network and a whitelist of what is visible.

- The runner's (`runner_command`): the process that drives one submission's kernels (runner.py).
  It sees the system's own folders, the Python installation and the kit's two packages, read-only,
  plus its own box folder; as root it is started as an unprivileged uid of its own (a slot uid,
  see `claim_uid`), so that a mistake in it cannot write as root.
- The kernel's (`Sandbox.wrap`), started by the runner: the same read-only view minus the grader's
  package (`i2dl_course`), plus the students' data view (no test labels), the grader's inputs file
  and three folders of its own (working folder, export folder, runtime with HOME and TMPDIR).
  Nothing else of the machine exists in it: not the course, not other submissions, not the
  grader's data or HOME. Limits on memory and file size and, with a slot uid, processes.

    bwrap (namespaces, whitelisted mounts, clean environment) -- prlimit (limits) -- python -m ipykernel_launcher ...

The kernel's bubblewrap runs unprivileged, in a user namespace of its own, nested in the runner's.
"""
import contextlib
import fcntl
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

FIRST_UID = 64000          # slot k runs as uid and gid FIRST_UID + k (unused by the system)
SLOTS = 256
SHM_BYTES = 256 << 20      # /dev/shm (torch DataLoader workers) is a private tmpfs of this size
SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")
MOUNTED = {Path("/dev"), Path("/proc")}      # made by bwrap itself (devices, proc)
RUNNER_TMP_BYTES = 2 << 30                     # the runner's /tmp, a memory-backed tmpfs: its box and the kernels' folders


class SandboxUnavailable(RuntimeError):
    pass


def bwrap_path() -> str:
    path = shutil.which("bwrap")
    if path is None:
        raise SandboxUnavailable(
            "bubblewrap (bwrap) is not installed, so student code cannot be isolated. Install it "
            "(Debian/Ubuntu: apt-get install bubblewrap) or grade with --no-sandbox on a throwaway machine.")
    return path


PYTHON = os.path.normpath(os.path.abspath(sys.executable))      # the venv's (links kept, `..` gone)
PREFIX = os.path.normpath(os.path.abspath(sys.prefix))


def python_paths() -> list:
    """The Python installation a sandboxed interpreter needs (the venv and the base installation)."""
    return sorted({Path(PREFIX), Path(PREFIX).resolve(), Path(sys.base_prefix).resolve()})


def package_path(name: str) -> Path:
    module = __import__(name)
    return Path(module.__file__).resolve().parent


@dataclass(frozen=True)
class Limits:
    memory_bytes: int = 6 << 30       # RLIMIT_AS: address space (importing torch alone takes ~0.9 GB)
    processes: int = 256              # RLIMIT_NPROC: processes + threads of the slot uid (with a slot uid only)
    file_bytes: int = 1 << 30         # RLIMIT_FSIZE: largest file the kernel may write


def _prlimit(limits: Limits, processes: bool) -> list:
    cmd = [shutil.which("prlimit") or "/usr/bin/prlimit", f"--as={limits.memory_bytes}",
           f"--fsize={limits.file_bytes}", "--core=0"]
    return cmd + ([f"--nproc={limits.processes}"] if processes else []) + ["--"]


def _bwrap(readable: list, writable: list, workdir: Path, env: dict, tmp_bytes: int = None) -> list:
    """bubblewrap with nothing but `readable` (read-only) and `writable` folders, and no network.

    tmp_bytes: give it a private /tmp of that size (the runner's; its box lives there), a /proc of
    the host's and the host's processes: a kernel's unprivileged bubblewrap, nested in it, can
    mount a /proc of its own only where the /proc above it is not partly covered, as bwrap's own
    /proc mount is. Without (a kernel's sandbox): its own processes and /proc, no /tmp. Either
    way the skeleton bwrap builds is read-only at the end: what is writable is exactly `writable`,
    /dev/shm and that /tmp.
    """
    if tmp_bytes is None:
        cmd = ["--unshare-pid", "--proc", "/proc"]
    else:
        cmd = ["--bind", "/proc", "/proc", "--perms", "1777", "--size", str(tmp_bytes), "--tmpfs", "/tmp"]
    cmd = [bwrap_path(), "--die-with-parent", "--new-session", "--unshare-net", "--unshare-ipc", "--unshare-uts",
           "--unshare-cgroup-try", *cmd, "--dev", "/dev", "--size", str(SHM_BYTES), "--tmpfs", "/dev/shm"]
    binds = [("--ro-bind", Path(p)) for p in SYSTEM if os.path.exists(p)]
    binds += [("--ro-bind", p) for p in sorted({Path(p) for p in readable}) if p.exists()]
    binds += [("--bind", Path(p)) for p in writable]
    targets = {path for _, path in binds}
    # bwrap would create the missing parents of the mount points as 0700: untraversable for a slot uid.
    mounted = MOUNTED | ({Path("/tmp")} if tmp_bytes else set())
    parents = {parent for path in targets for parent in path.parents
               if parent != Path("/") and parent not in mounted and not any(parent.is_relative_to(t) for t in targets)}
    for parent in sorted(parents, key=lambda p: len(p.parts)):
        cmd += ["--perms", "0755", "--dir", str(parent)]
    for kind, path in binds:
        cmd += [kind, str(path), str(path)]
    cmd += ["--remount-ro", "/", "--chdir", str(workdir), "--clearenv"]
    for key, value in env.items():
        cmd += ["--setenv", key, value]
    return cmd


def kernel_environment(threads: int, home: Path, tmp: Path, data_dir: Path) -> dict:
    """What every grading kernel gets, sandboxed or not: its share of the cores, no progress bars, no GPU."""
    threads = str(max(1, threads))
    return {
        "PATH": f"{PREFIX}/bin:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home), "TMPDIR": str(tmp), "USER": "student", "LOGNAME": "student",
        "LANG": "C.UTF-8", "MPLBACKEND": "Agg",
        "PYTHONSAFEPATH": "1", "PYTHONNOUSERSITE": "1", "PYTHONDONTWRITEBYTECODE": "1",
        "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads,
        # Idle OpenMP threads sleep instead of spinning: with other jobs on the cores, spinning made
        # 2-thread torch training 25x slower here (168 s instead of 6.3 s).
        "OMP_WAIT_POLICY": "PASSIVE",
        "I2DL_PROGRESS_BAR": "0", "I2DL_DATA_DIR": str(data_dir), "CUDA_VISIBLE_DEVICES": "",
        "HF_HUB_OFFLINE": "1", "NBGRADER_EXECUTION": "autograde",
    }


@dataclass
class Sandbox:
    """One kernel's sandbox (one notebook of one submission).

    work: the kernel's working folder (writable); exports: where its probes write (writable, read by
    the runner after the kernel is gone); inputs: the grader's inputs file (read-only); runtime:
    connection file, IPC sockets, HOME and TMPDIR (writable); data_dir: the students' data view.
    processes: limit the number of processes (only meaningful with a slot uid of its own).
    enabled: False runs the kernel unsandboxed (`--no-sandbox`), still with the limits.
    """
    work: Path
    exports: Path
    inputs: Path
    runtime: Path
    data_dir: Path
    readable: list = field(default_factory=list)
    threads: int = 1
    processes: bool = False
    limits: Limits = Limits()
    enabled: bool = True

    @property
    def home(self) -> Path:
        return self.runtime / "home"

    @property
    def tmp(self) -> Path:
        return self.runtime / "tmp"

    def environment(self) -> dict:
        env = kernel_environment(self.threads, self.home, self.tmp, self.data_dir)
        return dict(env, I2DL_EXPORT_DIR=str(self.exports), I2DL_PROBE_INPUTS=str(self.inputs))

    def prepare(self) -> None:
        for folder in (self.work, self.exports, self.home, self.tmp):
            folder.mkdir(parents=True, exist_ok=True)

    def wrap(self, argv: list) -> list:
        """The kernel's command line with the limits, inside the sandbox when enabled."""
        limits = _prlimit(self.limits, self.processes)
        if not self.enabled:        # still killed with its runner
            return [shutil.which("setpriv") or "/usr/bin/setpriv", "--pdeathsig=KILL", "--", *limits, *argv]
        readable = python_paths() + [package_path("i2dl_utils"), self.data_dir, self.inputs, *self.readable]
        return [*_bwrap(readable, [self.runtime, self.work, self.exports], self.work, self.environment()),
                "--", *limits, *argv]


def runner_command(data_dir: Path, uid: int = None, box: Path = None,
                   args=("-m", "i2dl_course.grading.runner")) -> list:
    """The command that starts runner.py for one submission (it reads its job on stdin).

    Sandboxed (box None): the runner works in its private, size-limited /tmp, as `uid` if given (an
    unprivileged uid of its own, when the grader is root). Unsandboxed (`--no-sandbox`): in the
    host folder `box`, with the grader's uid.
    """
    python = [PYTHON, "-I", *args]
    work = box or Path("/tmp")
    env = {"PATH": f"{PREFIX}/bin:/usr/bin:/bin", "HOME": str(work / "home"), "TMPDIR": str(work / "tmp"),
           "LANG": "C.UTF-8", "I2DL_DATA_DIR": str(data_dir), "I2DL_RUNNER_UID": "" if uid is None else str(uid)}
    if box is not None:
        return [shutil.which("setpriv") or "/usr/bin/setpriv", "--pdeathsig=KILL", "--", "env", "-i",
                *[f"{k}={v}" for k, v in env.items()], *python]
    readable = python_paths() + [package_path("i2dl_utils"), package_path("i2dl_course"), data_dir]
    cmd = _bwrap(readable, [], work, env, tmp_bytes=RUNNER_TMP_BYTES)
    if uid is not None:
        cmd += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--",
                shutil.which("setpriv") or "/usr/bin/setpriv", f"--reuid={uid}", f"--regid={uid}",
                "--clear-groups", "--inh-caps=-all", "--bounding-set=-all"]
    return cmd + ["--", *python]


@contextlib.contextmanager
def claim_uid(enabled: bool = True):
    """An unprivileged uid no other grading process on this machine uses now, while held (as root;
    otherwise None: the runner keeps the grader's uid). Claims are flock()s, so they end with the
    process, also when it is killed; a claim ends only once no process of its uid is left, so
    that nothing of one submission meets the next one that runs as the same uid."""
    if not enabled or os.geteuid() != 0:
        yield None
        return
    folder = Path(tempfile.gettempdir()) / "i2dl-uids"
    folder.mkdir(mode=0o700, exist_ok=True)
    info = os.lstat(folder)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != 0 or info.st_mode & 0o077:
        raise RuntimeError(f"{folder} is not a private folder of root: remove it")
    for slot in range(SLOTS):
        fd = os.open(folder / str(slot), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        try:
            yield FIRST_UID + slot
        finally:
            if end_processes(FIRST_UID + slot):
                os.close(fd)        # else the slot stays claimed for as long as this grader runs
        return
    raise RuntimeError(f"all {SLOTS} grading uids are in use")


def end_processes(uid: int, wait: float = 10.0) -> bool:
    """SIGKILL every process of `uid` until none is left (a dying sandbox's processes take a moment
    to go): True, or False if some outlive `wait` seconds."""
    deadline = time.monotonic() + wait
    while True:
        left = [pid for pid in _pids() if _owner(pid) == uid]
        if not left:
            return True
        if time.monotonic() > deadline:
            return False
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
        time.sleep(0.02)


def _pids() -> list:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _owner(pid: int):
    try:
        return os.stat(f"/proc/{pid}").st_uid
    except FileNotFoundError:
        return None


def preflight(data_dir: Path) -> None:
    """Refuse early, with the reason, when the grading sandboxes cannot be started here: start a
    runner's sandbox (as a slot uid, as root) and in it a kernel's, the way grading does."""
    with claim_uid() as uid:
        check = runner_command(data_dir, uid, args=("-c", "import i2dl_course.grading.sandbox as s; s.preflight_inside()"))
        result = subprocess.run(check, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        tail = " | ".join((result.stderr or result.stdout).strip().splitlines()[-3:])
        raise SandboxUnavailable(f"bubblewrap cannot start the grading sandboxes here ({tail}). Unprivileged "
                                 "user namespaces must be allowed (sysctl kernel.unprivileged_userns_clone=1, "
                                 "or an AppArmor profile for bwrap); see README, Grading.")


def preflight_inside() -> None:
    """In a runner's sandbox: start one kernel's sandbox with an interpreter in it."""
    box = Path.cwd()
    sandbox = Sandbox(work=box / "w", exports=box / "e", inputs=box / "in", runtime=box / "r",
                      data_dir=Path(os.environ["I2DL_DATA_DIR"]))
    sandbox.prepare()
    sandbox.inputs.write_bytes(b"")
    subprocess.run(sandbox.wrap([PYTHON, "-I", "-c", "pass"]), check=True, timeout=60)
