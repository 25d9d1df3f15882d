"""Grading on a Dask cluster against the local pool (figures and ratios, no asserts).

    python benchmarks/grading_cluster.py [--course {train,exercise_08}] [--submissions N] [--repeats R]

1. throughput: the same N solved submissions graded by the local pool with 2 workers (1 thread per
   kernel on this 2-core machine) and by a real Dask cluster on 127.0.0.1 (`dask scheduler`, two
   single-thread `dask worker` processes, as the README starts them); interleaved, fastest of R;
2. the cluster path's own cost per submission: submissions handed over one at a time (`--workers 1`,
   nothing queued), the coordinator's wait for each task minus the seconds its runner took on the
   worker: shipping the job, scheduling, the worker's checks, returning the answer;
3. the coordinator's own work per submission (sanitize, the probes' inputs, judging, recording:
   nbgrader's autograde, feedback), which one coordinator does for the whole cluster;
4. from these: a projection of the wall time for 1,000 submissions on 10, 50 and 200 two-core
   workers (two single-thread worker slots each).
Courses as in benchmarks/grading.py: `train` (default, one notebook training ~30 s), `exercise_08`
(both exercise notebooks, ~35 s a submission in the runner). Other jobs on the machine change every figure: the load
average is printed before and after.
"""
import argparse
import importlib.util
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.append(str(ROOT / "tests"))

from dask_cluster import LocalCluster  # noqa: E402  (tests/dask_cluster.py)
from i2dl_course.grading import dataview  # noqa: E402
from i2dl_course.grading import grade as grading  # noqa: E402

_spec = importlib.util.spec_from_file_location("benchmark_grading", ROOT / "benchmarks" / "grading.py")
_bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_bench)
COURSES, submissions = _bench.COURSES, _bench.submissions


def course(folder: Path, name: str) -> Path:
    """benchmarks/grading.py's course copy, with the fixture's judges (a file in the course root)."""
    root = _bench.course(folder, name)
    judges = COURSES[name][0] / "judges.py"
    if judges.exists() and not (root / "judges.py").exists():
        shutil.copyfile(judges, root / "judges.py")
    return root

COORDINATOR = []          # per submission: (seconds in process() minus execute(): sanitize, inputs, judges; in record())


def instrument() -> None:
    """Time the coordinator's own work per submission."""
    process, execute, record = grading.Grader.process, grading.Grader.execute, grading.Grader.record
    waited = {}

    def timed_execute(self, sub, job, names):
        start = time.perf_counter()
        try:
            return execute(self, sub, job, names)
        finally:
            waited[sub.student] = time.perf_counter() - start

    def timed_process(self, sub):
        start = time.perf_counter()
        judged = process(self, sub)
        waited[sub.student] = time.perf_counter() - start - waited.get(sub.student, 0.0)
        return judged

    def timed_record(self, judged):
        start = time.perf_counter()
        outcome = record(self, judged)
        COORDINATOR.append((waited.pop(judged.sub.student, 0.0), time.perf_counter() - start))
        return outcome

    grading.Grader.execute, grading.Grader.process, grading.Grader.record = timed_execute, timed_process, timed_record


def timed_grade(name: str, folder: Path, subs: Path, **options) -> tuple:
    root = course(folder, name)
    grader = grading.Grader(subs, root, grading.Options(assignment=COURSES[name][1], progress=False, force=True,
                                                        **options))
    start = time.perf_counter()
    run = grader.run()
    seconds = time.perf_counter() - start
    assert all(o.status == "graded" for o in run.outcomes), [(o.student, o.reason) for o in run.outcomes]
    return seconds, getattr(grader.executor, "stats", [])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--course", choices=sorted(COURSES), default="train")
    parser.add_argument("--submissions", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=2, help="runs of each configuration (the fastest counts)")
    args = parser.parse_args()
    n, repeats, name = args.submissions, args.repeats, args.course
    assignment = COURSES[name][1]
    instrument()
    print(f"course: {name}, cores: {os.cpu_count()}, load average before: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="i2dl-bench-cluster-") as scratch:
        scratch = Path(scratch)
        root = course(scratch / "template", name)
        many = submissions(root, scratch / "many", assignment, n)
        view = scratch / "worker-host" / "view"
        dataview.build_all(view)                  # what `i2dl data --view DIR` writes on a worker host
        with LocalCluster(scratch / "cluster", view, workers=2) as dask:
            # warm-up: the workers' first task checks the view and starts a sandbox once
            timed_grade(name, scratch / "warm", submissions(root, scratch / "one", assignment, 1),
                        scheduler=dask.address, workers=1)
            COORDINATOR.clear()
            rows = {"local pool, 2 workers": dict(workers=2),
                    "Dask, 2 single-thread workers": dict(scheduler=dask.address)}
            times, parallel, stats = {row: [] for row in rows}, [], []
            for i in range(repeats):              # interleaved; the fastest of each is the least disturbed
                for row, options in rows.items():
                    seconds, job_stats = timed_grade(name, scratch / f"{i}-{row.split(',')[0].replace(' ', '_')}",
                                                     many, **options)
                    times[row].append(seconds)
                    parallel += job_stats
            # one at a time: nothing queued, so the wait minus the runner is the cluster's own cost
            stats = timed_grade(name, scratch / "serial", many, scheduler=dask.address, workers=1)[1]

    print(f"\nthroughput ({n} solved submissions; fastest of {repeats})")
    rate = {}
    for row in rows:
        rate[row] = n / min(times[row]) * 60
        print(f"  {row:<30} {min(times[row]):7.1f} s   {rate[row]:5.2f} submissions/min   "
              f"(all: {' '.join(f'{t:.1f}' for t in times[row])})")
    local, dask_row = rows
    print(f"  Dask / local pool throughput ratio: {rate[dask_row] / rate[local]:.2f}")

    own = [wait - ran for wait, ran, _, _ in stats]
    runner = statistics.median(ran for _, ran, _, _ in parallel)
    job_mb = statistics.median(j for _, _, j, _ in stats) / 1e6
    answer_mb = statistics.median(a for _, _, _, a in stats) / 1e6
    judging = statistics.median(j for j, _ in COORDINATOR)
    recording = statistics.median(r for _, r in COORDINATOR)
    coordinator = statistics.median(j + r for j, r in COORDINATOR)
    print(f"\ncluster path's own cost per submission ({len(own)} submissions handed over one at a time)")
    print(f"  median {statistics.median(own):.2f} s, max {max(own):.2f} s (job {job_mb:.2f} MB in, answer "
          f"{answer_mb:.2f} MB out; runner alone on the worker host: median "
          f"{statistics.median(ran for _, ran, _, _ in stats):.1f} s, next to another: {runner:.1f} s)")
    print(f"coordinator's own work per submission: median {coordinator:.2f} s ({len(COORDINATOR)} submissions): "
          f"sanitize, inputs and judges {judging:.2f} s (worker threads), recording (nbgrader autograde, feedback; "
          f"the main thread) {recording:.2f} s")

    # Projection: 2 slots per two-core worker, each grading one submission in (runner + own cost) seconds
    # (runner measured with the two slots of this machine busy, as on a worker host); one coordinator
    # doing `coordinator` seconds of work per submission, counted as serial (recording is: the gradebook's
    # one writer; judging runs in worker threads but measured here next to two busy slots).
    per_slot = runner + statistics.median(own)
    print(f"\nprojection for 1,000 submissions of this course (a slot grades one in {per_slot:.1f} s; "
          f"the coordinator records at most {3600 / coordinator:.0f} an hour)")
    for workers in (10, 50, 200):
        slots = 2 * workers
        cluster_bound = math.ceil(1000 / slots) * per_slot
        coordinator_bound = 1000 * coordinator + per_slot
        wall = max(cluster_bound, coordinator_bound)
        limit = "the coordinator" if coordinator_bound > cluster_bound else "the workers"
        print(f"  {workers:>3} two-core workers ({slots:>3} slots): {wall / 60:6.1f} min   (limited by {limit}; "
              f"workers alone {cluster_bound / 60:.1f} min, coordinator alone {coordinator_bound / 60:.1f} min)")
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
