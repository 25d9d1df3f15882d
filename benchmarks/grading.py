"""Grading cost on training-dominated submissions (figures and ratios, no asserts).

    python benchmarks/grading.py [--course {train,exercise_08}] [--submissions N] [--repeats R]

1. overhead: grading one submission (sandbox, nbgrader's two passes, feedback, CSV) against a plain
   `jupyter nbconvert --execute` of the same notebook with the same threads;
2. throughput: N submissions with 1 worker and with 2 workers. The kit gives each kernel
   cores // workers threads, so one worker already uses both cores for torch (which speeds these
   small MLPs up far less than 2x); the 1 worker, 1 thread row shows the parallel efficiency of
   the workers themselves. Identical runs differ by up to 15 % here, so every row is repeated.
Courses: `train` (default), the fixture tests/fixtures/train_course, one notebook that trains a
small MLP for ~30 s; `exercise_08`, a copy of this course, whose solved submission runs both
exercise notebooks (about 25 s of notebook time).
Other jobs on the machine change every figure: the load average is printed before and after.
"""
import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from i2dl_course import examples  # noqa: E402
from i2dl_course.grading.grade import Options, grade  # noqa: E402
from i2dl_course.release import generate  # noqa: E402

COURSES = {"train": (ROOT / "tests" / "fixtures" / "train_course", "train"), "exercise_08": (ROOT, "exercise_08")}


def course(folder: Path, name: str) -> Path:
    """A fresh copy of the course (its nbgrader_config.py and source/), release generated."""
    template, assignment = COURSES[name]
    root = folder / "course"
    shutil.copytree(template / "source" / assignment, root / "source" / assignment)
    shutil.copyfile(template / "nbgrader_config.py", root / "nbgrader_config.py")
    if (template / "judges.py").exists():
        shutil.copyfile(template / "judges.py", root / "judges.py")
    generate(root, assignment=assignment)
    return root


def submissions(root: Path, folder: Path, assignment: str, n: int) -> Path:
    solved = examples.build(root / "source" / assignment, root / "release" / assignment)
    for i in range(n):
        examples.write(folder, f"s{i:02d}", assignment, solved)
    return folder


def by_hand(root: Path, assignment: str) -> float:
    """The points of the answer cells a person grades (a written answer), which grading leaves open."""
    cells = (c.metadata.get("nbgrader", {}) for nb in sorted((root / "source" / assignment).glob("*.ipynb"))
             for c in nbformat.read(nb, as_version=4).cells)
    return sum(m.get("points", 0) for m in cells if m.get("grade") and m.get("solution"))


def timed_grade(course_name: str, folder: Path, subs: Path, **options) -> float:
    root = course(folder, course_name)
    start = time.perf_counter()
    run = grade(subs, root, Options(assignment=COURSES[course_name][1], progress=False, force=True, **options))
    seconds = time.perf_counter() - start
    with open(run.csv, newline="") as fh:
        rows = list(csv.DictReader(fh))
    open_points = by_hand(root, COURSES[course_name][1])
    assert all(o.status == "graded" for o in run.outcomes), [(o.student, o.reason) for o in run.outcomes]
    assert all(float(r["total"]) == float(r["max_score"]) - open_points for r in rows), \
        [(r["student_id"], r["total"], r["reason"]) for r in rows]
    return seconds


def plain_execute(root: Path, folder: Path, assignment: str, threads: int) -> float:
    """One `jupyter nbconvert --execute` of all notebooks of a solved submission."""
    solved = examples.build(root / "source" / assignment, root / "release" / assignment)
    notebooks = sorted(examples.write(folder, "plain", assignment, solved).glob("*.ipynb"))
    # NBGRADER_EXECUTION as nbgrader sets it: the last cell's check_saved (an `i2dl check` of the saved
    # notebook, which runs it a second time) does nothing, as while grading.
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OMP_WAIT_POLICY="PASSIVE", I2DL_PROGRESS_BAR="0",
               NBGRADER_EXECUTION="autograde")
    start = time.perf_counter()
    subprocess.run([str(Path(sys.executable).parent / "jupyter"), "nbconvert", "--execute", "--to", "notebook",
                    "--output-dir", str(folder / "plain-out"), *map(str, notebooks)], check=True, env=env,
                   capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--course", choices=sorted(COURSES), default="train")
    parser.add_argument("--submissions", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each configuration (the fastest counts)")
    args = parser.parse_args()
    n, repeats, name = args.submissions, args.repeats, args.course
    assignment = COURSES[name][1]
    cores = os.cpu_count() or 1
    print(f"course: {name}, cores: {cores}, load average before: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="i2dl-bench-") as scratch:
        scratch = Path(scratch)
        root = course(scratch / "template", name)
        one = submissions(root, scratch / "one", assignment, 1)
        many = submissions(root, scratch / "many", assignment, n)

        plain, graded = [], []
        for i in range(repeats):                  # interleaved; the fastest of each is the least disturbed
            plain.append(plain_execute(root, scratch / f"plain{i}", assignment, cores))
            graded.append(timed_grade(name, scratch / f"g{i}", one, workers=1))
        print(f"\noverhead (1 submission, {cores} threads; fastest of {repeats}, all: "
              f"plain {' '.join(f'{t:.1f}' for t in plain)}, graded {' '.join(f'{t:.1f}' for t in graded)})")
        print(f"  jupyter nbconvert --execute   {min(plain):7.1f} s")
        print(f"  i2dl grade                    {min(graded):7.1f} s   ratio {min(graded) / min(plain):.2f}x")

        rows = [("1 worker, cores//1 threads", dict(workers=1)),
                ("1 worker, 1 thread", dict(workers=1, threads=1)),
                ("2 workers, cores//2 threads", dict(workers=2))]
        times = {row: [] for row, _ in rows}
        for i in range(repeats):                  # interleaved again; the fastest run of each row counts
            for row, options in rows:
                folder = scratch / f"{row.replace(' ', '_').replace('/', '')}-{i}"
                times[row].append(timed_grade(name, folder, many, **options))
        print(f"\nthroughput ({n} submissions; fastest of {repeats})")
        rate = {}
        for row, _ in rows:
            rate[row] = n / min(times[row]) * 60
            print(f"  {row:<28} {min(times[row]):7.1f} s   {rate[row]:5.2f} submissions/min   "
                  f"(all: {' '.join(f'{t:.1f}' for t in times[row])})")
        two = rate[rows[2][0]]
        print(f"\n  2 vs 1 worker (kit's thread policy: 1 worker gets all cores)   {two / rate[rows[0][0]]:.2f}x")
        print(f"  2 vs 1 worker (against 1 worker with 1 thread)                {two / rate[rows[1][0]]:.2f}x")
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
