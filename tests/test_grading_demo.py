"""`i2dl demo` and the example-submission builders, on the fixture course."""
import os
import subprocess
import sys

import nbformat

from i2dl_course import examples
from grading import ASSIGNMENT, FIXTURE, course_copy, table
from notebooks import cell


def test_builders_fill_exactly_the_chosen_solution_cells(tmp_path):
    from i2dl_course.release import generate
    root = course_copy(FIXTURE, tmp_path)
    release = generate(root, assignment=ASSIGNMENT)
    source = root / "source" / ASSIGNMENT
    solution = examples.build(source, release)
    partial = examples.build(source, release, solved=["add"])
    untouched = examples.build(source, release, solved=[])
    assert sorted(solution) == ["second.ipynb", "tiny.ipynb"]
    assert cell(solution["tiny.ipynb"], "add").source == \
        "def add(a, b):\n    # TODO: return the sum of a and b\n    return a + b"
    assert cell(partial["tiny.ipynb"], "add").source == cell(solution["tiny.ipynb"], "add").source
    released = nbformat.read(release / "tiny.ipynb", as_version=4)
    for name in ("square_sum",):
        assert cell(partial["tiny.ipynb"], name).source == cell(released, name).source
    assert untouched["tiny.ipynb"] == released


def test_demo_grades_the_three_examples_as_expected(tmp_path, mnist_cache):
    root = course_copy(FIXTURE, tmp_path)
    env = dict(os.environ, I2DL_COURSE_ROOT=str(root), I2DL_DATA_DIR=str(mnist_cache.path.parent))
    out = subprocess.run([sys.executable, "-m", "i2dl_course.cli", "demo", "--assignment", ASSIGNMENT],
                         env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    totals = {s: float(row["total"]) for s, row in table(root / "grades.csv").items()}
    assert totals == {"demo-solution": 5.0, "demo-untouched": 1.0, "demo-partial": 2.0}, out.stdout
    assert "demo-solution" in out.stdout and "feedback" in out.stdout
    assert (root / "feedback" / "demo-solution" / ASSIGNMENT / "tiny.html").is_file()
