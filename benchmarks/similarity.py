"""The similarity report: how its default threshold was chosen, and its run time on 1,000 submissions.

    python benchmarks/similarity.py [--submissions N] [--seed S]

1. calibration: the shares between independently written correct solutions of the same task (the
   kit's and the hand-written ones in tests/similarity_cases.py: three authors) and between each
   solution and its disguised copy (variables renamed, comments rewritten, independent lines
   swapped), first with the kit's solution as one of the authors (nothing subtracted), then as the
   report compares students (the kit's solution subtracted). The default threshold lies between.
2. scale: N submissions (default 1,000), each task solved by one of the authors with own additions
   (a few random statements: students' own variations), some tasks left unsolved, some notebooks
   malformed; planted copies: 20 students copy a whole submission (disguised), 20 copy one task.
   Prints the report's run time and what it flagged (figures, no asserts).
"""
import argparse
import csv
import itertools
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from i2dl_course import examples  # noqa: E402
from i2dl_course.reports import similarity  # noqa: E402
from similarity_cases import ALTERNATIVES, THIRD, disguise  # noqa: E402

SOURCE, RELEASE, ASSIGNMENT = ROOT / "source" / "exercise_08", ROOT / "release" / "exercise_08", "exercise_08"
KIT = examples.solution_cells(SOURCE)
AUTHORS = {"kit": KIT, "alt": ALTERNATIVES, "third": THIRD}


def releases() -> dict:
    return {c.metadata["nbgrader"]["grade_id"]: c.source for nb in examples.build(SOURCE, RELEASE, solved=[]).values()
            for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") in KIT}


def calibration(subtract_kit: bool) -> None:
    given, independent, copies = releases(), [], []
    for task in similarity._tasks(SOURCE, RELEASE):
        cells = {}
        for author, solutions in AUTHORS.items():
            if task.grade_id in solutions and not (subtract_kit and author == "kit"):
                cells[author] = similarity.Cell(author, solutions[task.grade_id])
                cells[author + "*"] = similarity.Cell(author + "*", disguise(solutions[task.grade_id], given[task.grade_id]))
        for cell in cells.values():
            similarity._fingerprint(cell, task.template)
            if subtract_kit:
                cell.hashes -= task.kit
        for a, b in itertools.combinations(cells, 2):
            small = min(len(cells[a].hashes), len(cells[b].hashes))
            if small < similarity.MIN_FINGERPRINTS:
                continue
            share = len(cells[a].hashes & cells[b].hashes) / small
            if a.rstrip("*") == b.rstrip("*"):
                copies.append((share, task.grade_id, a))
            elif "*" not in a + b:
                independent.append((share, task.grade_id, f"{a}/{b}"))
    independent.sort()
    copies.sort()
    shares = [s for s, *_ in independent]
    print(f"  {'kit subtracted (as the report compares students)' if subtract_kit else 'kit as an author'}: "
          f"{len(independent)} independent pairs {min(shares):.2f}-{max(shares):.2f} "
          f"(median {statistics.median(shares):.2f}; highest: {independent[-1][1]} {independent[-1][2]}), "
          f"{len(copies)} disguised copies {copies[0][0]:.2f}-{copies[-1][0]:.2f} (lowest: {copies[0][1]})")


def own_lines(rng, indent: str) -> list:
    """A few random statements: the part of a solution that is the student's own."""
    funcs = ["np.mean", "np.sum", "torch.sum", "len", "abs", "max", "float", "np.sqrt", "torch.exp", "sorted"]
    lines = []
    for _ in range(int(rng.integers(3, 7))):
        parts = []
        for _ in range(int(rng.integers(2, 5))):
            kind = rng.integers(3)
            parts.append(f"{rng.choice(funcs)}(v{rng.integers(9)})" if kind == 0 else
                         f"v{rng.integers(9)}[{rng.integers(4)}]" if kind == 1 else str(rng.integers(1, 100)))
        lines.append(f"{indent}check_{rng.integers(1000)} = " + f" {rng.choice(['+', '-', '*', '/'])} ".join(parts))
    return lines


def varied(code: str, rng) -> str:
    """code with the student's own statements after each TODO hint."""
    out = []
    for line in code.splitlines():
        out.append(line)
        if line.lstrip().startswith("# TODO"):
            out += own_lines(rng, line[:len(line) - len(line.lstrip())])
    return "\n".join(out)


def generate(folder: Path, n: int, seed: int) -> dict:
    """n submissions; {kind: [(copier, original, the copied tasks)]}."""
    rng = np.random.default_rng(seed)
    given = releases()
    template = examples.build(SOURCE, RELEASE, solved=[])
    students, planted, long = {}, {"whole": [], "one task": []}, long_tasks()
    for i in range(n):
        cells = {}
        for grade_id in KIT:
            if rng.random() < 0.1:
                continue                                          # left unsolved
            authors = [a for a, solutions in AUTHORS.items() if grade_id in solutions]
            cells[grade_id] = varied(AUTHORS[rng.choice(authors)][grade_id], rng)
        students[f"s{i:04d}"] = cells
    names = list(students)
    picks = rng.choice(len(names), size=80, replace=False)
    for copier, original in zip(picks[0:20], picks[20:40]):
        students[names[copier]] = {g: disguise(c, given[g]) for g, c in students[names[original]].items()}
        planted["whole"].append((names[copier], names[original], set(students[names[original]])))
    for copier, original in zip(picks[40:60], picks[60:80]):
        grade_id = str(rng.choice(sorted(set(students[names[original]]) & long)))
        students[names[copier]][grade_id] = disguise(students[names[original]][grade_id], given[grade_id])
        planted["one task"].append((names[copier], names[original], {grade_id}))
    for student, cells in students.items():
        nbs = {}
        for name, nb in template.items():
            nb = nb.copy()
            nb.cells = [c.copy() for c in nb.cells]
            for c in nb.cells:
                grade_id = c.metadata.get("nbgrader", {}).get("grade_id")
                if grade_id in cells:
                    c.source = cells[grade_id]
            nbs[name] = nb
        out = examples.write(folder, student, ASSIGNMENT, nbs)
        if rng.random() < 0.01:
            (out / "2_batchnorm_dropout.ipynb").write_text('{"cells": [')      # malformed
    return planted


def long_tasks() -> set:
    """Tasks whose kit solution is long enough to be compared."""
    long = set()
    for task in similarity._tasks(SOURCE, RELEASE):
        cell = similarity.Cell("kit", KIT[task.grade_id])
        similarity._fingerprint(cell, task.template)
        if len(cell.hashes) >= similarity.MIN_FINGERPRINTS:
            long.add(task.grade_id)
    return long


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--submissions", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"1. calibration (K={similarity.K}, window {similarity.WINDOW}, at least "
          f"{similarity.MIN_FINGERPRINTS} fingerprints; default threshold {similarity.THRESHOLD}):")
    calibration(subtract_kit=False)
    calibration(subtract_kit=True)

    folder = Path(tempfile.mkdtemp(prefix="i2dl-similarity-bench-"))
    try:
        start = time.perf_counter()
        planted = generate(folder / "submissions", args.submissions, args.seed)
        made = time.perf_counter() - start
        start = time.perf_counter()
        similarity.report(folder / "submissions", folder, SOURCE, RELEASE, ASSIGNMENT)
        seconds = time.perf_counter() - start
        with open(folder / "similarity.csv", newline="") as fh:
            flagged = [r for r in csv.DictReader(fh) if r["flagged"] == "yes"]
        found = {(frozenset((r["student_a"], r["student_b"])), r["grade_id"]) for r in flagged}
        print(f"2. scale: {args.submissions} submissions written in {made:.0f} s; the report took {seconds:.1f} s "
              f"({1000 * seconds / args.submissions:.0f} ms a submission)")
        for kind, copies in planted.items():
            hits = sum((frozenset((a, b)), g) in found for a, b, tasks in copies for g in tasks)
            total = sum(len(tasks) for _, _, tasks in copies)
            print(f"  planted copies ({kind}): {len(copies)} pairs, {hits} of {total} copied tasks flagged "
                  f"(a copied task is not compared when a cell has fewer than {similarity.MIN_FINGERPRINTS} "
                  f"fingerprints of the student's own code)")
        copied = {(frozenset((a, b)), g) for copies in planted.values() for a, b, tasks in copies for g in tasks}
        others = [r for r in flagged if (frozenset((r["student_a"], r["student_b"])), r["grade_id"]) not in copied]
        print(f"  flagged in all: {len(flagged)} (pair, task) rows, {len(others)} of them not a planted copy"
              + (f" (highest share {max(float(r['share']) for r in others):.2f})" if others else ""))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
