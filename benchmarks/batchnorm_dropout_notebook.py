"""Time the solution notebook 2_batchnorm_dropout.ipynb top to bottom, and measure over seeds the
figures its markdown cites about the BatchNorm/Dropout experiment.

    python benchmarks/batchnorm_dropout_notebook.py [--runs 3] [--threads 2]
    python benchmarks/batchnorm_dropout_notebook.py --seeds 5 [--threads 2]

Timing: each run executes the source notebook in a fresh kernel (nbclient) with progress bars off,
as the grader does (probes on, judged afterwards), and prints its wall time, the tests without full
points (none expected) and what the notebook's backward-pass speed experiment printed.

--seeds N: runs the notebook with every seed shifted by I2DL_SEED_OFFSET=0..N-1 and prints, per
variant (plain, batchnorm, dropout), the range over the seeds of each figure the markdown "What the
curves show" quotes: training loss in epoch 1 and at the end, validation accuracy after epoch 1,
best and last, the lowest validation loss, its epoch and the last one; then in how many seeds each
comparison the markdown makes between the variants held.
"""
import argparse
import json
import os
import statistics
from pathlib import Path

import nbformat

from notebook_run import timed_execute

NOTEBOOK = Path(__file__).resolve().parent.parent / "source" / "exercise_08" / "2_batchnorm_dropout.ipynb"
SERIES = """
import json
print("SERIES " + json.dumps({name: {m: h.series(m) for m in ("train_loss", "val_loss", "val_acc")}
                              for name, h in histories.items()}))
"""


def run(threads: int) -> tuple:
    """(seconds, failed grade ids, text printed by the speed experiment) of one execution."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    result = timed_execute(nb, "2_batchnorm_dropout", timeout=600, OMP_NUM_THREADS=str(threads))
    seconds, failed = result["seconds"], result["lost"]
    speed = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "speed_experiment")
    printed = "".join(o.get("text", "") for o in speed.outputs if o.output_type == "stream").strip()
    return seconds, failed, printed


def series(offset: int, threads: int) -> dict:
    """{variant: {metric: per-epoch values}} of the experiment run with seed offset `offset`."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(SERIES))
    timed_execute(nb, "2_batchnorm_dropout", timeout=600, OMP_NUM_THREADS=str(threads), I2DL_SEED_OFFSET=str(offset))
    text = "".join(o.get("text", "") for o in nb.cells[-2].outputs)
    if "SERIES " not in text:
        raise SystemExit(f"seed offset {offset}: the experiment did not finish")
    return json.loads(text.split("SERIES ", 1)[1])


def figures(curves: dict) -> dict:
    """The figures the markdown quotes, of one variant's curves."""
    train, val_loss, val_acc = curves["train_loss"], curves["val_loss"], curves["val_acc"]
    lowest = min(range(len(val_loss)), key=val_loss.__getitem__)
    return {"train loss, epoch 1": train[0], "train loss, last": train[-1],
            "val acc, epoch 1": val_acc[0], "val acc, best": max(val_acc), "val acc, last": val_acc[-1],
            "val loss, lowest": val_loss[lowest], "epoch of the lowest val loss": lowest + 1,
            "val loss, last": val_loss[-1], "val loss, last - lowest": val_loss[-1] - val_loss[lowest]}


def _best(run, figure, pick=max):
    return pick(run, key=lambda name: run[name][figure])


# The comparisons between the variants that the markdown makes, per seed.
RELATIONS = {
    "batchnorm: lowest train loss in epoch 1": lambda r: _best(r, "train loss, epoch 1", min) == "batchnorm",
    "batchnorm: highest val acc after epoch 1": lambda r: _best(r, "val acc, epoch 1") == "batchnorm",
    "batchnorm: lowest val loss of all": lambda r: _best(r, "val loss, lowest", min) == "batchnorm",
    "batchnorm: best val acc of all": lambda r: _best(r, "val acc, best") == "batchnorm",
    "dropout: highest train loss at the end": lambda r: _best(r, "train loss, last") == "dropout",
    "dropout: lowest val acc after epoch 1": lambda r: _best(r, "val acc, epoch 1", min) == "dropout",
    "dropout: lowest val loss later than plain's": lambda r: r["dropout"]["epoch of the lowest val loss"]
    > r["plain"]["epoch of the lowest val loss"],
    "dropout: last val loss below plain's": lambda r: r["dropout"]["val loss, last"] < r["plain"]["val loss, last"],
    "plain: last val loss the highest": lambda r: _best(r, "val loss, last") == "plain",
    "batchnorm: highest last val acc": lambda r: _best(r, "val acc, last") == "batchnorm",
    "dropout: last val acc above plain's": lambda r: r["dropout"]["val acc, last"] > r["plain"]["val acc, last"],
}


def claims(seeds: int, threads: int) -> None:
    print(f"precision: {os.environ.get('I2DL_PRECISION') or 'make_trainer default'}")
    runs = []
    for offset in range(seeds):
        runs.append({name: figures(c) for name, c in series(offset, threads).items()})
        print(f"seed {offset}: " + "  ".join(f"{n} last val acc {f['val acc, last']:.3f}" for n, f in runs[-1].items()),
              flush=True)
    print(f"\nranges over seeds 0-{seeds - 1} (min-max):")
    for name in runs[0]:
        print(f"  {name}")
        for figure in runs[0][name]:
            values = [r[name][figure] for r in runs]
            form = "{:.0f}" if figure.startswith("epoch") else "{:.3f}"
            print(f"    {figure:32s} {form.format(min(values))}-{form.format(max(values))}")
    print(f"comparisons, in how many of {seeds} seeds they held:")
    for claim, held in RELATIONS.items():
        print(f"  {sum(bool(held(r)) for r in runs)}  {claim}")
    for other in ("batchnorm", "dropout"):
        print(f"{other}'s last val acc minus plain's: "
              + " ".join(f"{r[other]['val acc, last'] - r['plain']['val acc, last']:+.3f}" for r in runs))
    print(f"load average: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=0, help="measure the markdown's figures over this many seeds")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    if args.seeds:
        return claims(args.seeds, args.threads)
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
