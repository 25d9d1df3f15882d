"""The sandbox boundary: nothing a submission carries or its kernel does reaches a file the grader
writes, reads as trusted or runs. Each attack is its own submission, graded in one batch next to a
normal one; afterwards the course (but for grading's own outputs), the other results and the
grader's HOME are byte-for-byte what they were."""
import hashlib
import os
import stat
from pathlib import Path

import pytest

from i2dl_course.grading.grade import Options, grade
from grading import ASSIGNMENT, course_copy, insert_after, notebooks, points, prepared_template, table, write

OUTPUTS = {"autograded", "feedback", "grades.csv", "gradebook.db", ".grading", "similarity.csv", "similarity.html",
           "integrity.csv", "integrity.html", "items.csv", "items.html", "changes.csv"}
FULL = {"test_add": 1.0, "test_square_sum": 2.0, "sandbox_probe": 1.0, "test_greet": 1.0}


def course_digest(root: Path) -> str:
    """sha256 over every name and byte of the course except what grading itself writes."""
    h = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if rel.parts[0] in OUTPUTS:
            continue
        h.update(str(rel).encode() + b"\0")
        if path.is_symlink():
            h.update(b"link:" + os.readlink(path).encode())
        elif path.is_file():
            h.update(path.read_bytes())
    return h.hexdigest()


def tree_digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        h.update(str(path.relative_to(folder)).encode() + (path.read_bytes() if path.is_file() else b""))
    return h.hexdigest()


def attacks(root: Path, home: Path) -> dict:
    """{student: (kernel code run first in tiny.ipynb, extra files to plant beside the notebooks)}."""
    links = (f"import os\nfor name, target in [('second.ipynb', {str(root / 'pwned-next')!r}),\n"
             f"                     ('grades.csv', {str(root / 'grades.csv')!r}),\n"
             f"                     ('tiny.html', {str(root / 'feedback' / 'normal' / ASSIGNMENT / 'tiny.html')!r}),\n"
             f"                     ('nbgrader_config.py', {str(root / 'nbgrader_config.py')!r})]:\n"
             "    os.symlink(target, name)")
    swap = (f"import os\nos.makedirs('x', exist_ok=True)\nos.rename('x', 'x-old')\nos.symlink({str(root)!r}, 'x')\n"
            "os.symlink('/', 'y')\n"
            "for path in ['x/nbgrader_config.py', 'x/pwned', 'y/etc/pwned', 'y' + "
            f"{str(root / 'pwned')!r}]:\n"
            "    try:\n        open(path, 'w').write('c.ClearSolutions.code_stub = 1')\n    except OSError:\n        pass")
    config_code = ("import pathlib\npathlib.Path(%r).write_text('pwned')\n"
                   "c.Grading.judges = {}\n" % str(root / "pwned-config"))
    return {
        "links": (links, {}),
        "swap": (swap, {}),
        "extras": ("pass", {"nbgrader_config.py": config_code, "nbformat.py": "raise SystemExit('pwned')\n",
                            "i2dl_utils.py": "raise SystemExit('pwned')\n", "x/nbgrader_config.py": config_code,
                            "link": Path("/etc/passwd"), "sparse.bin": 1 << 30, "fifo": "FIFO"}),
        "home": (f"import os\nopen(os.path.expanduser('~') + '/pwned', 'w').write('x')\n"
                 f"open({str(home / 'pwned')!r}, 'w').write('x')", {}),
    }


def plant(folder: Path, extras: dict) -> None:
    for name, content in extras.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Path):
            os.symlink(content, path)
        elif isinstance(content, int):
            with open(path, "wb") as f:
                f.truncate(content)                      # a sparse file: no disk, 1 GB as far as stat knows
        elif content == "FIFO":
            os.mkfifo(path)
        else:
            path.write_text(content)


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    folder = tmp_path_factory.mktemp("boundary")
    root = course_copy(prepared_template(folder), folder)
    home = folder / "grader-home"
    (home / ".config").mkdir(parents=True)
    (home / ".config" / "settings").write_text("the grader's own file")
    subs = folder / "submissions"
    solved = notebooks(root)
    write(subs, "normal", solved)
    outside = folder / "outside.txt"
    outside.write_text("2020-01-01 00:00:00 UTC")
    for student, (code, extras) in attacks(root, home).items():
        target = write(subs, student, dict(solved, **{"tiny.ipynb": insert_after(solved["tiny.ipynb"], None, code)}))
        plant(target, extras)
    hard = write(subs, "hardlink", solved)
    os.link(outside, hard / "timestamp.txt")

    alone = folder / "alone"
    write(alone, "normal", solved)
    solo = course_copy(prepared_template(folder / "solo"), folder / "solo")
    expected = table(grade(alone, solo, Options(assignment=ASSIGNMENT, progress=False, seed=7)).csv)["normal"]

    before = course_digest(root), tree_digest(home)
    old_home = os.environ["HOME"]
    os.environ["HOME"] = str(home)
    try:
        run = grade(subs, root, Options(assignment=ASSIGNMENT, workers=2, timeout=60, progress=False, seed=7))
    finally:
        os.environ["HOME"] = old_home
    return dict(root=root, home=home, before=before, rows=table(run.csv), expected=expected, outside=outside)


def test_the_course_and_the_graders_home_are_unchanged(batch):
    root = batch["root"]
    assert (course_digest(root), tree_digest(batch["home"])) == batch["before"]
    assert not [p for p in root.rglob("pwned*")] and not (batch["home"] / "pwned").exists()
    assert not Path("/etc/pwned").exists()


def test_the_normal_submission_is_graded_as_when_graded_alone(batch):
    row, expected = batch["rows"]["normal"], batch["expected"]
    assert points(row) == points(expected) and float(row["total"]) == 5.0
    assert (row["status"], row["reason"]) == (expected["status"], expected["reason"])


@pytest.mark.parametrize("student", ["links", "swap", "home"])
def test_a_kernel_that_plants_links_or_writes_outside_still_gets_its_grade(batch, student):
    row = batch["rows"][student]
    assert points(row)["total"] == 5.0, row["reason"]
    for name in ("second.ipynb", "grades.csv", "tiny.html"):
        assert not (batch["root"] / "autograded" / student / ASSIGNMENT / name).is_symlink()


def test_extra_files_are_dropped_before_any_kernel_runs_and_named(batch):
    row = batch["rows"]["extras"]
    assert float(row["total"]) == 5.0 and row["status"] == "graded"
    for name in ("fifo", "i2dl_utils.py", "link", "nbformat.py", "nbgrader_config.py"):
        assert name in row["reason"]
    assert "and 2 more" in row["reason"]            # sparse.bin and x/nbgrader_config.py
    autograded = batch["root"] / "autograded" / "extras" / ASSIGNMENT
    assert sorted(p.name for p in autograded.iterdir()) == ["numbers.txt", "second.ipynb", "tiny.ipynb"]


def test_a_hard_link_to_a_file_outside_is_refused(batch):
    row = batch["rows"]["hardlink"]
    assert "timestamp.txt is a hard link" in row["reason"] and row["status"] == "problem"
    assert float(row["total"]) == 5.0
    assert not (batch["root"] / "autograded" / "hardlink" / ASSIGNMENT / "timestamp.txt").exists()
    assert stat.S_ISREG(os.lstat(batch["outside"]).st_mode) and batch["outside"].read_text().startswith("2020")
