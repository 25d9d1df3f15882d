"""Run one trusted step (judging a notebook, rendering its feedback) in a child process with hard
limits, so that hostile data costs the coordinator no more than the limits and can never stall,
starve or crash it.

Children are forked by multiprocessing's forkserver, which has the heavy modules imported once
(PRELOAD), so an honest step starts in milliseconds, not the seconds of a fresh interpreter; each
step gets a fresh child. Before the step reads anything, the child limits its own CPU time
(RLIMIT_CPU: SIGXCPU at the limit, SIGKILL a second later) and address space (RLIMIT_AS: its size
after the fork plus `memory_mb`), and torch uses one thread. The coordinator waits at most
`wall_seconds` and then kills it. Data in is the step's arguments (from the coordinator); data out
is JSON messages on a pipe, each at most MAX_MESSAGE bytes, read as data (never unpickled), in the
order the step sent them, so what a step finished before it failed is kept. The child is trusted
code on hostile data: never a sandbox for student code. As with any multiprocessing start method
but fork, a script that grades must keep its top level under `if __name__ == "__main__":`.
"""
import json
import multiprocessing
import os
import resource
import signal
import time
import traceback
from dataclasses import dataclass

PRELOAD = ["numpy", "torch", "onnx", "onnxruntime", "i2dl_course.judges", "i2dl_course.judges.graphs",
           "i2dl_course.judges.exercise_08", "i2dl_course.grading.feedback", "nbgrader.apps.api"]
MAX_MESSAGE = 4 << 20
NEAR_LIMIT_MB = 32
_context = None


@dataclass
class Limits:
    cpu_seconds: int
    memory_mb: int
    wall_seconds: float


@dataclass
class Result:
    messages: list                    # what the step sent, in order (JSON values)
    failure: str = None               # why it did not finish, in words ("took more than ..."), or None
    cpu_seconds: float = 0.0          # the child's own CPU time (user + system)
    peak_mb: float = 0.0              # the child's peak resident memory


def context():
    """The forkserver context, with PRELOAD imported once in the server (started on first use)."""
    global _context
    if _context is None:
        _context = multiprocessing.get_context("forkserver")
        _context.set_forkserver_preload(PRELOAD)
    return _context


def _address_space() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def _peak_address_space() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) << 10 for line in f if line.startswith("VmPeak:"))


def _child(conn, limits: Limits, step, args):
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 1))
    size = _address_space() + (limits.memory_mb << 20)
    resource.setrlimit(resource.RLIMIT_AS, (size, size))
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch
    torch.set_num_threads(1)

    def send(value):
        # Some native libraries report a failed allocation as some other error: a step that came
        # near its limit says it ran out, and what it would have sent is not trusted.
        if _peak_address_space() > size - (NEAR_LIMIT_MB << 20):
            raise MemoryError
        conn.send_bytes(json.dumps(value).encode())
    try:
        step(send, *args)
    except Exception as err:                    # noqa: BLE001  said in words below, never raised further
        near = isinstance(err, MemoryError) or _peak_address_space() > size - (NEAR_LIMIT_MB << 20)
        if not near:
            traceback.print_exc()               # to the grader's stderr
        conn.send_bytes(json.dumps({"limited": "memory" if near else "error", "error": type(err).__name__}).encode())
    usage = resource.getrusage(resource.RUSAGE_SELF)
    conn.send_bytes(json.dumps({"limited": "done", "cpu": usage.ru_utime + usage.ru_stime,
                                "peak_mb": usage.ru_maxrss / 1024}).encode())
    conn.close()


def run(step, args: tuple, limits: Limits) -> Result:
    """Run `step(send, *args)` in a fresh limited child; `send(value)` passes a JSON value back."""
    ctx = context()
    receive, give = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_child, args=(give, limits, step, args), daemon=True)
    started = time.monotonic()
    try:
        child.start()
    except OSError as err:                      # e.g. a script that starts the grader unguarded (see above)
        return Result([], f"could not be started ({err.strerror or err})")
    finally:
        give.close()
    result, done = Result([]), False
    try:
        while True:
            left = started + limits.wall_seconds - time.monotonic()
            if left <= 0:
                result.failure = f"did not finish within the grader's {limits.wall_seconds:g} seconds"
                break
            if not receive.poll(min(left, 1.0)):
                continue
            try:
                message = json.loads(receive.recv_bytes(MAX_MESSAGE))
            except EOFError:                    # the child is gone
                break
            except (OSError, ValueError):       # too long, or not JSON: the child is not trusted any more
                result.failure = "gave an unusable answer"
                break
            if isinstance(message, dict) and "limited" in message:
                if message["limited"] == "memory":
                    result.failure = f"needed more than the grader's {limits.memory_mb:,} MB of memory"
                elif message["limited"] == "error":
                    result.failure = f"failed (the grader's error {str(message.get('error'))[:40]}: see its output)"
                elif message["limited"] == "done":
                    done = True
                    result.cpu_seconds, result.peak_mb = message["cpu"], message["peak_mb"]
                continue
            result.messages.append(message)
    finally:
        receive.close()
        if child.is_alive():
            child.kill()
        child.join()
    if result.failure is None and not done:
        code = child.exitcode
        if code == -signal.SIGXCPU:
            result.failure = f"took more than the grader's {limits.cpu_seconds} CPU seconds"
        elif code == -signal.SIGKILL:
            result.failure = "was stopped by the system (most likely out of memory)"
        else:
            result.failure = f"stopped unexpectedly (exit status {code})"
    return result
