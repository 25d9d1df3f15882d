"""Time the solution notebook 2_batchnorm_dropout.ipynb top to bottom (target: at most 60 s on 2 cores).

    python benchmarks/batchnorm_dropout_notebook.py [--runs 3] [--threads 2]

Each run executes the source notebook in a fresh kernel (nbclient) with progress bars off, as the
grader does (probes on, judged afterwards), and prints its wall time, the tests without full
points (none expected) and what the notebook's backward-pass speed experiment printed.
"""
import argparse
import os
import statistics
from pathlib import Path

import nbformat

from notebook_run import timed_execute

NOTEBOOK = Path(__file__).resolve().parent.parent / "source" / "exercise_08" / "2_batchnorm_dropout.ipynb"


def run(threads: int) -> tuple:
    """(seconds, failed grade ids, text printed by the speed experiment) of one execution."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    result = timed_execute(nb, "2_batchnorm_dropout", timeout=600, OMP_NUM_THREADS=str(threads))
    seconds, failed = result["seconds"], result["lost"]
    speed = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "speed_experiment")
    printed = "".join(o.get("text", "") for o in speed.outputs if o.output_type == "stream").strip()
    return seconds, failed, printed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    print(f"{NOTEBOOK.name}: {args.runs} runs, {args.threads} threads, "
          f"load average before: {os.getloadavg()[0]:.2f}")
    times = []
    for i in range(args.runs):
        seconds, failed, printed = run(args.threads)
        times.append(seconds)
        print(f"\nrun {i}: {seconds:.1f} s, tests without full points: {', '.join(failed) or 'none'}")
        print("  speed experiment: " + printed.replace("\n", "\n  "))
    print(f"\nwall time: mean {statistics.mean(times):.1f} s, min {min(times):.1f} s, max {max(times):.1f} s "
          f"(target 60 s); load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
