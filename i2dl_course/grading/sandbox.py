"""Where a submission's kernel runs: bubblewrap with no network, a read-only file system except the
submission's scratch folder, and limits on memory, processes and file size.

The command wraps the kernel's own command line:

    bwrap (namespaces, mounts, clean environment) -- prlimit (limits) -- setpriv (unprivileged uid) -- python -m ipykernel_launcher ...

As root, each worker slot runs its kernels as its own unprivileged uid (FIRST_UID + slot), so the
process limit (RLIMIT_NPROC, which root ignores) holds and nothing the grader owns is writable.
Not as root, the kernel keeps the grader's uid: the sandbox still hides and protects the files, but
there is no process limit (RLIMIT_NPROC would count every process of that user).
"""
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

FIRST_UID = 64000          # uid and gid of worker slot k's kernels: FIRST_UID + k (unused by the system)
SHM_BYTES = 256 << 20      # /dev/shm (torch DataLoader workers) is a private tmpfs of this size


class SandboxUnavailable(RuntimeError):
    pass


def bwrap_path() -> str:
    path = shutil.which("bwrap")
    if path is None:
        raise SandboxUnavailable(
            "bubblewrap (bwrap) is not installed, so student code cannot be isolated. Install it "
            "(Debian/Ubuntu: apt-get install bubblewrap) or grade with --no-sandbox on a throwaway machine.")
    return path


@dataclass(frozen=True)
class Limits:
    memory_bytes: int = 6 << 30       # RLIMIT_AS: address space (importing torch alone takes ~0.9 GB)
    processes: int = 256              # RLIMIT_NPROC: processes + threads of the kernel's uid (root only)
    file_bytes: int = 1 << 30         # RLIMIT_FSIZE: largest file the kernel may write


def kernel_environment(threads: int, home: Path, tmp: Path, data_dir: Path) -> dict:
    """What every grading kernel gets, sandboxed or not: its share of the cores, no progress bars, no GPU."""
    threads = str(max(1, threads))
    return {
        "PATH": f"{sys.prefix}/bin:/usr/local/bin:/usr/bin:/bin",
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
    """One kernel's sandbox.

    scratch: the only writable folder the kernel sees besides `runtime` (its cwd).
    runtime: connection file, IPC sockets, HOME and TMPDIR of the kernel.
    hidden: folders replaced by empty ones (course root, submissions, grader's HOME, /tmp, ...), owned
        by root, so not writable for an unprivileged uid (without root: writable, but gone with the sandbox).
    readable: folders bound back read-only inside hidden ones (the venv, i2dl_utils, the data).
    uid: run the kernel as this unprivileged uid (needs root), or None to keep the caller's.
    enabled: False runs the kernel unsandboxed (`--no-sandbox`), still with the limits.
    """
    scratch: Path
    runtime: Path
    data_dir: Path
    hidden: list = field(default_factory=list)
    readable: list = field(default_factory=list)
    threads: int = 1
    uid: int = None
    limits: Limits = Limits()
    enabled: bool = True

    @property
    def home(self) -> Path:
        return self.runtime / "home"

    @property
    def tmp(self) -> Path:
        return self.runtime / "tmp"

    def environment(self) -> dict:
        return kernel_environment(self.threads, self.home, self.tmp, self.data_dir)

    def prepare(self) -> None:
        """Create HOME and TMPDIR and hand the writable folders to the kernel's uid."""
        for folder in (self.scratch, self.home, self.tmp):
            folder.mkdir(parents=True, exist_ok=True)
        if self.uid is not None:
            for top in (self.scratch, self.runtime):
                self.give(top)
                for dirpath, dirnames, filenames in os.walk(top):
                    for name in dirnames + filenames:
                        self.give(Path(dirpath) / name)

    def give(self, path) -> None:
        """Make a file or folder the grader created usable by the kernel's uid."""
        if self.uid is not None:
            os.chown(path, self.uid, self.uid, follow_symlinks=False)

    def wrap(self, argv: list) -> list:
        """The kernel's command line with the limits, inside the sandbox when enabled."""
        limits = [shutil.which("prlimit") or "/usr/bin/prlimit", f"--as={self.limits.memory_bytes}",
                  f"--fsize={self.limits.file_bytes}", "--core=0"]
        if self.uid is not None:
            limits.append(f"--nproc={self.limits.processes}")
        setpriv = shutil.which("setpriv") or "/usr/bin/setpriv"
        if not self.enabled:        # still killed with its worker
            return [setpriv, "--pdeathsig=KILL", "--", *limits, "--", *argv]
        cmd = [bwrap_path(), "--die-with-parent", "--new-session",
               "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
               "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
               "--size", str(SHM_BYTES), "--tmpfs", "/dev/shm"]
        hidden = sorted({Path(p) for p in self.hidden if Path(p).exists()})
        for path in hidden:
            cmd += ["--tmpfs", str(path)]
        binds = [("--ro-bind", Path(p)) for p in sorted(set(self.readable)) if Path(p).exists()]
        binds += [("--bind", self.runtime), ("--bind", self.scratch)]
        made = set()
        for kind, path in binds:
            # bwrap would create missing parents inside a hidden folder as 0700: unreadable for the kernel
            for parent in reversed(path.parents):
                if any(parent.is_relative_to(h) and parent != h for h in hidden) and parent not in made:
                    cmd += ["--perms", "0755", "--dir", str(parent)]
                    made.add(parent)
            cmd += [kind, str(path), str(path)]
        cmd += ["--chdir", str(self.scratch), "--clearenv"]
        for key, value in self.environment().items():
            cmd += ["--setenv", key, value]
        if self.uid is not None:
            cmd += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
        cmd += ["--", *limits, "--"]
        if self.uid is not None:
            cmd += [setpriv, f"--reuid={self.uid}", f"--regid={self.uid}", "--clear-groups",
                    "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]
        return cmd + list(argv)
