"""Run the solution notebook 1_autoencoder.ipynb over several seeds; print times and test accuracies.

    python benchmarks/autoencoder_notebook.py [--seeds 5] [--first 0] [--threads 2]

Each run executes the source notebook top to bottom (nbclient, a fresh kernel) with every seed
shifted by I2DL_SEED_OFFSET=k, then measures its four classifiers on the grader's 10,000 test
images. Prints wall time per run, per-seed accuracies, means and ranges, the gains the markdown
quotes, and per seed whether the reconstruction comparison's claims held. The precision is
make_trainer's (I2DL_PRECISION=32-true measures float32 on a CPU with bfloat16).
"""
import argparse
import json
import os
import statistics
import sys
from pathlib import Path

import nbformat
import numpy as np

from i2dl_course.judges import GraderData

from notebook_run import timed_execute

sys.path.append(str(Path(__file__).resolve().parent.parent / "tests"))
from test_notebook_autoencoder import comparison_claims, reconstructions  # noqa: E402  (the test's checks)

NOTEBOOK = Path(__file__).resolve().parent.parent / "source" / "exercise_08" / "1_autoencoder.ipynb"
MODELS = {"baseline": "classifier", "transfer": "transfer_classifier",
          "baseline+aug": "augmented_scratch", "transfer+aug": "augmented_transfer"}
PREDICT = """
import json
from i2dl_utils.data.datasets import to_tensor
from i2dl_utils.data.provision import load_mnist
from i2dl_utils.evaluate import predict
test_images = to_tensor(load_mnist().test_images)
print("RESULT " + json.dumps({name: predict(globals()[var], test_images).argmax(1).tolist()
                              for name, var in %r.items()}))
""" % MODELS


def run(offset: int, threads: int) -> tuple:
    """(seconds, {model: test accuracy}, tests without full points, {comparison row: (MSE, sharpness)}):
    the kernel predicts, the labels stay in this process."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(PREDICT))
    result = timed_execute(nb, "1_autoencoder", OMP_NUM_THREADS=str(threads), I2DL_SEED_OFFSET=str(offset))
    seconds, failed = result["seconds"], result["lost"]
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs
                   if "RESULT " in o.get("text", ""))
    if "RESULT " not in text:
        sys.exit(f"seed offset {offset}: the notebook did not finish")
    labels = GraderData().test_labels
    predictions = json.loads(text.split("RESULT ", 1)[1])
    return (seconds, {m: float((np.array(p) == labels).mean()) for m, p in predictions.items()}, failed,
            reconstructions(nb))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first", type=int, default=0, help="the first seed offset (default 0)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    rows = []
    print(f"precision: {os.environ.get('I2DL_PRECISION') or 'make_trainer default'}")
    print(f"{'seed':>4} {'seconds':>8} " + " ".join(f"{m:>13}" for m in MODELS) + "  tests without full points")
    for offset in range(args.first, args.first + args.seeds):
        seconds, acc, failed, compared = run(offset, args.threads)
        rows.append((seconds, acc))
        broken = [claim for claim, held in comparison_claims(compared).items() if not held]
        print(f"{offset:>4} {seconds:>8.1f} " + " ".join(f"{acc[m]:>13.4f}" for m in MODELS) + f"  {failed or '-'}"
              + (f"  comparison claims not held: {broken}" if broken else ""), flush=True)
        print("     comparison (val MSE, sharpness): "
              + ", ".join(f"{name} {m:.4f} {s:.2f}" for name, (m, s) in compared.items()), flush=True)
    means = {m: statistics.mean(a[m] for _, a in rows) for m in MODELS}
    print(f"{'mean':>4} {statistics.mean(s for s, _ in rows):>8.1f} " + " ".join(f"{means[m]:>13.4f}" for m in MODELS))
    print(f"min  {'':>8} " + " ".join(f"{min(a[m] for _, a in rows):>13.4f}" for m in MODELS))
    print(f"max  {'':>8} " + " ".join(f"{max(a[m] for _, a in rows):>13.4f}" for m in MODELS))
    for name, (a, b) in {"transfer - baseline": ("transfer", "baseline"),
                         "baseline+aug - baseline": ("baseline+aug", "baseline"),
                         "transfer+aug - baseline+aug": ("transfer+aug", "baseline+aug")}.items():
        gains = [acc[a] - acc[b] for _, acc in rows]
        print(f"{name}: mean {statistics.mean(gains):+.4f}, per seed {' '.join(f'{g:+.3f}' for g in gains)}")
    print(f"load average during the runs: {os.getloadavg()[0]:.2f} (1 min) on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
