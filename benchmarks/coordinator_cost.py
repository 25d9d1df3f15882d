"""What one submission costs the coordinator (`i2dl grade`'s own process), honest against hostile,
side by side (figures and ratios, no asserts).

    python benchmarks/coordinator_cost.py [--answer FILE]

1. The solved exercise_08 submission is graded once for real (kernels, about 45 s here); the
   runner's answer (executed notebooks and exports, plain data) is kept (`--answer`: reuse one).
2. Each case is then graded in a fresh process with that answer replayed in place of the kernels,
   so what is measured is the coordinator's work: restore, judging (in its limited child),
   recording with nbgrader, feedback (in its limited child). Cases: the solution; every model of
   notebook 1 exported as one 784x784 Linear called 197 times; as a 100,352-wide output (the input
   tiled); the solution with a 12 MB markdown cell. The graphs are the ones tests/test_graphs.py
   refuses.
Printed per case: the coordinator's CPU seconds during grading and its peak resident memory
(maxrss, imports and the grader's test data included), the limited children's CPU seconds and
largest peak (judging and feedback), the points, and the ratios to the honest case.
"""
import argparse
import base64
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[1:1] = [str(ROOT)]
sys.path.append(str(ROOT / "tests"))          # after benchmarks/: `grading` is benchmarks/grading.py

SEED = 19
STUDENT = "s00"
CASES = ["honest: the solution", "hostile: a big Linear called 197 times", "hostile: a 100,352-wide output",
         "hostile: a 12 MB markdown cell"]
BIG_MARKDOWN = "# notes\n\n" + "lorem ipsum " * 1_000_000


def course_and_submission(folder: Path, markdown: bool = False):
    from grading import course, submissions
    from i2dl_course import examples
    root = course(folder, "exercise_08")
    solved = examples.build(root / "source" / "exercise_08", root / "release" / "exercise_08")
    if markdown:
        from nbformat.v4 import new_markdown_cell
        solved["1_autoencoder.ipynb"].cells.insert(1, new_markdown_cell(BIG_MARKDOWN))
    subs = folder / "subs"
    examples.write(subs, STUDENT, "exercise_08", solved)
    return root, subs


def capture(answer: Path) -> None:
    """Grade the solution for real; keep the runner's answer."""
    from i2dl_course.grading import jobs
    from i2dl_course.grading.grade import Options, grade
    real = jobs.Local.run

    def keep(self, student, job, limit, log):
        raw, why = real(self, student, job, limit, log)
        if why is None:
            answer.write_bytes(raw)
        return raw, why
    jobs.Local.run = keep
    with tempfile.TemporaryDirectory(prefix="i2dl-cost-") as scratch:
        root, subs = course_and_submission(Path(scratch))
        grade(subs, root, Options(progress=False, force=True, seed=SEED))


def replayed(answer: bytes, case: str) -> bytes:
    from test_graphs import big_linear_chain, wide_output
    data = json.loads(answer)
    entry = data["notebooks"]["1_autoencoder"]
    hostile = big_linear_chain() if "197" in case else wide_output(128) if "wide" in case else None
    if hostile is not None:
        entry["exports"] = {k: base64.b64encode(hostile).decode() if k.endswith(".onnx") else v
                            for k, v in entry["exports"].items()}
    if "markdown" in case:
        import nbformat
        from nbformat.v4 import new_markdown_cell
        nb = nbformat.reads(entry["executed"], as_version=4)
        nb.cells.insert(1, new_markdown_cell(BIG_MARKDOWN))
        entry["executed"] = nbformat.writes(nb)
    return json.dumps(data).encode()


def measure(answer: Path, case: str) -> dict:
    """Grade one submission with the answer replayed (run in a fresh process)."""
    import resource
    from i2dl_course.grading import jobs, limited
    from i2dl_course.grading.grade import Options, grade
    raw = replayed(answer.read_bytes(), case)
    jobs.Local.run = lambda self, student, job, limit, log: (raw, None)
    children, run_limited = [], limited.run

    def counted(step, args, limits):
        result = run_limited(step, args, limits)
        children.append(result)
        return result
    limited.run = counted
    with tempfile.TemporaryDirectory(prefix="i2dl-cost-") as scratch:
        root, subs = course_and_submission(Path(scratch), markdown="markdown" in case)
        before = resource.getrusage(resource.RUSAGE_SELF)
        run = grade(subs, root, Options(progress=False, force=True, seed=SEED))
        after = resource.getrusage(resource.RUSAGE_SELF)
        total = (run.csv.read_text().splitlines()[1].split(",")[1:3])
    return {"cpu_s": after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime,
            "rss_before_mb": before.ru_maxrss / 1024, "peak_mb": after.ru_maxrss / 1024,
            "child_cpu_s": sum(c.cpu_seconds for c in children), "child_peak_mb": max(c.peak_mb for c in children),
            "failures": [c.failure for c in children if c.failure], "points": "/".join(total),
            "reason": run.outcomes[0].reason[:150]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answer", type=Path, help="a runner's answer kept by an earlier run (else graded now)")
    args = parser.parse_args()
    answer = args.answer or Path(tempfile.mkdtemp(prefix="i2dl-answer-")) / "answer.json"
    if not answer.exists():
        subprocess.run([sys.executable, __file__, "--capture", str(answer)], check=True)
        print(f"runner's answer kept in {answer} (reuse: --answer {answer})")
    rows = []
    for case in CASES:
        out = subprocess.run([sys.executable, __file__, "--case", case, str(answer)], check=True,
                             capture_output=True, text=True)
        rows.append((case, json.loads(out.stdout.strip().splitlines()[-1])))
    honest = rows[0][1]
    print(f"{'case':42} {'coord CPU s':>11} {'x':>5} {'coord peak MB':>13} {'x':>5} {'children CPU s':>14} "
          f"{'child peak MB':>13}  points")
    for case, r in rows:
        print(f"{case:42} {r['cpu_s']:11.2f} {r['cpu_s'] / honest['cpu_s']:5.2f} {r['peak_mb']:13.0f} "
              f"{r['peak_mb'] / honest['peak_mb']:5.2f} {r['child_cpu_s']:14.2f} {r['child_peak_mb']:13.0f}  "
              f"{r['points']}")
        if r["failures"]:
            print(f"{'':42} limited steps: {'; '.join(r['failures'])}")
    print(f"(the coordinator's maxrss before grading, after its imports: {honest['rss_before_mb']:.0f} MB)")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--capture"]:
        capture(Path(sys.argv[2]))
    elif sys.argv[1:2] == ["--case"]:
        print(json.dumps(measure(Path(sys.argv[3]), sys.argv[2])))
    else:
        main()
