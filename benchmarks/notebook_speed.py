"""Both solution notebooks of the working tree against an earlier commit, side by side in one run.

    python benchmarks/notebook_speed.py [--against bb125f0] [--rounds 2] [--threads N]

The commit is unpacked with `git archive` into a scratch folder and run with its own code: each
notebook runs in a child process with PYTHONPATH and I2DL_COURSE_ROOT set to its tree, so the
kernel's i2dl_utils and the judges are that tree's (printed, and checked); both read the same
MNIST cache. Runs are interleaved (round 1: earlier, then this tree; round 2 the other way round ...),
each notebook top to bottom with nbclient in a fresh kernel, progress on, probes on (the grader's
inputs, seed 0), judged afterwards. Prints every run, then per tree the median seconds of each
notebook, their total, the ratio (this tree / earlier) and a breakdown: kernel start, imports, data,
each trainer.fit, the hidden tests' probes, other cells, and judging (outside the notebook's time).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ("1_autoencoder", "2_batchnorm_dropout")


def one(notebook: str, threads: int) -> None:
    """Child: run one notebook of the tree on PYTHONPATH and print its timings as one JSON line."""
    import nbformat
    import i2dl_course
    from notebook_run import timed_execute
    tree = Path(i2dl_course.__file__).resolve().parent.parent
    nb = nbformat.read(tree / "source" / "exercise_08" / f"{notebook}.ipynb", as_version=4)
    env = {"OMP_NUM_THREADS": str(threads)} if threads else {}
    result = timed_execute(nb, notebook, timeout=1800, progress=True, **env)
    print("RESULT " + json.dumps(result), flush=True)


def child(tree: Path, notebook: str, threads: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree), "I2DL_COURSE_ROOT": str(tree),
           "I2DL_DATA_DIR": os.environ.get("I2DL_DATA_DIR", str(ROOT / "datasets" / "mnist"))}
    out = subprocess.run([sys.executable, __file__, "--one", notebook, "--threads", str(threads)], cwd=tree,
                         env=env, capture_output=True, text=True)
    if "RESULT " not in out.stdout:
        sys.exit(f"{tree} {notebook} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    result = json.loads(out.stdout.split("RESULT ", 1)[1])
    if not Path(result["kit"]).resolve().is_relative_to(tree.resolve()):
        sys.exit(f"{tree} {notebook}: the kernel imported {result['kit']}, not the tree's kit")
    return result


def unpack(commit: str, folder: Path) -> Path:
    """The commit's tracked files, unpacked into folder/<commit>."""
    tree = folder / commit
    tree.mkdir()
    archive = folder / "tree.tar"
    subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", "-o", str(archive), commit], check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(tree, filter="data")
    archive.unlink()
    return tree


def breakdown(runs: list) -> dict:
    """{line: median seconds} over a tree's runs of one notebook."""
    rows = {"total": [r["seconds"] for r in runs], "kernel start (and between cells)": [r["kernel"] for r in runs]}
    for r in runs:
        for part, s in r["parts"].items():
            rows.setdefault(part, []).append(s)
        fits = {}
        for label, s in r["fits"]:
            fits[label] = fits.get(label, 0.0) + s
        for label, s in fits.items():
            rows.setdefault(f"trainer.fit {label}", []).append(s)
        rows.setdefault("judging (after the notebook)", []).append(r["judging"])
    return {line: statistics.median(values) for line, values in rows.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--against", default="bb125f0", help="the earlier commit (default bb125f0)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0, help="OMP_NUM_THREADS for the kernels (0: torch's default)")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        return one(args.one, args.threads)
    with tempfile.TemporaryDirectory() as scratch:
        trees = {args.against: unpack(args.against, Path(scratch)), "this tree": ROOT}
        print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
        runs = {(name, nb): [] for name in trees for nb in NOTEBOOKS}
        for r in range(args.rounds):
            order = list(trees) if r % 2 == 0 else list(trees)[::-1]
            for notebook in NOTEBOOKS:
                for name in order:
                    result = child(trees[name], notebook, args.threads)
                    runs[name, notebook].append(result)
                    print(f"round {r + 1} {name:>10} {notebook:20s} {result['seconds']:6.1f} s  judging "
                          f"{result['judging']:4.1f} s  tests without full points: {result['lost'] or 'none'}  "
                          f"(kit: {Path(result['kit']).parent})", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}\n")
    totals = {}
    for name in trees:
        print(f"== {name}: median seconds over {args.rounds} rounds")
        totals[name] = 0.0
        for notebook in NOTEBOOKS:
            lines = breakdown(runs[name, notebook])
            totals[name] += lines["total"]
            print(f"  {notebook}")
            for line, s in lines.items():
                print(f"    {line:44s} {s:6.1f}")
        print(f"  both notebooks {totals[name]:6.1f} s\n")
    old, new = totals[args.against], totals["this tree"]
    print(f"both notebooks: {args.against} {old:.1f} s, this tree {new:.1f} s, ratio {new / old:.2f}")
    for r in range(args.rounds):
        o = sum(runs[args.against, nb][r]["seconds"] for nb in NOTEBOOKS)
        n = sum(runs["this tree", nb][r]["seconds"] for nb in NOTEBOOKS)
        print(f"  round {r + 1}: {o:.1f} s against {n:.1f} s, ratio {n / o:.2f}")


if __name__ == "__main__":
    main()
