"""What judging one exported model costs the grader: honest exports against hostile ones, side by side.

    python benchmarks/judging_cost.py [--images 10000] [--unrefused 500]

Each case runs in a fresh process: the graph is parsed and costed (graphs.parse_graph), then, if
it is accepted, measured like a classifier on `--images` test-sized images. Prints the judge's CPU
seconds, its peak memory (maxrss) and the verdict. With --unrefused N the hostile graphs are also
run with the budgets lifted, on N images, to show what the budgets prevent.
"""
import argparse
import json
import resource
import subprocess
import sys
import time

CASE = r"""
import io, json, resource, sys, time
import numpy as np, torch, torch.nn as nn
from onnx import TensorProto, helper, numpy_helper
from i2dl_course.judges import graphs
from i2dl_course.judges.evidence import Failed
from i2dl_course.judges.models import accuracy
from i2dl_utils.probes import Probe

case, images, lifted = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"

def exported(module):
    p = Probe("t")
    p.model("m", module, torch.rand(256, 1, 28, 28))
    return p.graphs["m"]

def handmade(nodes, inits, out):
    g = helper.make_graph([helper.make_node("Flatten", ["x"], ["f"])] + nodes, "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [32, 1, 28, 28])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, out)], initializer=inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()

data = None
if case == "honest: the solution's classifier":
    data = exported(nn.Sequential(nn.Flatten(), nn.Linear(784, 500), nn.BatchNorm1d(500), nn.ReLU(), nn.Linear(500, 100),
                                  nn.BatchNorm1d(100), nn.ReLU(), nn.Linear(100, 20), nn.ReLU(), nn.Linear(20, 10)))
elif case == "honest: a conv classifier":
    data = exported(nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(16, 32, 3, padding=1),
                                  nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(32 * 49, 10)))
elif case == "hostile: one big Linear called 197 times":
    W = numpy_helper.from_array(np.full((784, 784), 1e-3, np.float32), "W")
    nodes = [helper.make_node("MatMul", ["f" if i == 0 else f"h{i}", "W"], [f"h{i + 1}"]) for i in range(197)]
    nodes.append(helper.make_node("Slice", ["h197", "s", "e", "a"], ["y"]))
    ints = [numpy_helper.from_array(np.array(v), n) for n, v in (("s", [0]), ("e", [10]), ("a", [1]))]
    data = handmade(nodes, [W] + ints, [32, 10])
elif case == "hostile: a 100,000-wide output":
    data = handmade([helper.make_node("Tile", ["f", "r"], ["y"])], [numpy_helper.from_array(np.array([1, 128]), "r")],
                    [32, 784 * 128])
elif case == "hostile: a 4.7-million-wide value":
    data = handmade([helper.make_node("Tile", ["f", "r"], ["t"]), helper.make_node("Slice", ["t", "s", "e", "a"], ["y"])],
                    [numpy_helper.from_array(np.array(v), n) for n, v in
                     (("r", [1, 6000]), ("s", [0]), ("e", [10]), ("a", [1]))], [32, 10])
elif case == "hostile: a custom operator":
    g = helper.make_graph([helper.make_node("Evil", ["x"], ["y"], domain="com.evil")], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [32, 1, 28, 28])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [32, 10])])
    data = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.evil", 1)]).SerializeToString()
if lifted:
    graphs.MAX_OPERATIONS = graphs.MAX_BATCH_BYTES = 1 << 60
x = np.random.default_rng(0).random((images, 1, 28, 28), dtype=np.float32)
labels = np.zeros(images, np.int64)
start = resource.getrusage(resource.RUSAGE_SELF)
t0 = time.perf_counter()
try:
    if data is None:
        raise Failed("nothing judged")
    graph = graphs.parse_graph(data, "model", (1, 28, 28))
    accuracy(graph, x, labels)
    verdict = f"measured ({graph.operations:,} operations/image)"
except Failed as err:
    verdict = "refused: " + str(err)[:90]
end = resource.getrusage(resource.RUSAGE_SELF)
cpu = end.ru_utime + end.ru_stime - start.ru_utime - start.ru_stime
print(json.dumps({"cpu_s": cpu, "wall_s": time.perf_counter() - t0, "maxrss_mb": end.ru_maxrss / 1024,
                  "verdict": verdict}))
"""
CASES = ["baseline: imports and images only", "honest: the solution's classifier", "honest: a conv classifier", "hostile: one big Linear called 197 times",
         "hostile: a 100,000-wide output", "hostile: a 4.7-million-wide value", "hostile: a custom operator"]


def run(case: str, images: int, lifted: bool) -> dict:
    out = subprocess.run([sys.executable, "-c", CASE, case, str(images), "1" if lifted else "0"],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--unrefused", type=int, default=0, help="also run hostile graphs unbudgeted on N images")
    args = parser.parse_args()
    print(f"{'case':45} {'images':>7} {'CPU s':>7} {'peak MB':>8}  verdict")
    for case in CASES:
        r = run(case, args.images, False)
        print(f"{case:45} {args.images:>7} {r['cpu_s']:7.2f} {r['maxrss_mb']:8.0f}  {r['verdict']}")
        if args.unrefused and case.startswith("hostile") and "refused" in r["verdict"] and "custom" not in case:
            r = run(case, args.unrefused, True)
            print(f"{'  ... with the budgets lifted':45} {args.unrefused:>7} {r['cpu_s']:7.2f} {r['maxrss_mb']:8.0f}  "
                  f"{r['verdict']}")


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"({time.perf_counter() - started:.0f} s; maxrss of this process {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB)")
