"""`i2dl release`: regenerate release/ from source/ with nbgrader, then prove nothing leaked.

A leak is a line of a solution region or of a hidden-test region of a source notebook that
shows up anywhere in the release, unless the same line is also visible in the source.
"""
import shutil
import tempfile
from pathlib import Path

import nbformat
from traitlets.config import Config

from i2dl_utils import config
from .nbgrader_app import check, course_config, make_api

MARKERS = {"solution": ("BEGIN SOLUTION", "END SOLUTION"),
           "hidden": ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS")}


def _regions(cell) -> tuple:
    """(protected lines, visible lines) of one source cell."""
    meta = cell.metadata.get("nbgrader", {})
    lines = cell.source.splitlines()
    kinds = [k for k in ("solution", "hidden") if meta.get("solution" if k == "solution" else "grade")]
    if meta.get("solution") and not any(MARKERS["solution"][0] in line for line in lines):
        return set(lines), set()       # a solution cell without markers is replaced whole
    protected, visible, inside = set(), set(), None
    for line in lines:
        starts = [k for k in kinds if MARKERS[k][0] in line]
        if inside is None and starts:
            inside = starts[0]
        elif inside is not None and MARKERS[inside][1] in line:
            inside = None
        else:
            (protected if inside else visible).add(line)
    return protected, visible


def protected_lines(*source_notebooks: Path) -> set:
    """Stripped, non-empty solution and hidden-test lines that no source notebook shows openly."""
    protected, visible = set(), set()
    for notebook in source_notebooks:
        for cell in nbformat.read(notebook, as_version=4).cells:
            p, v = _regions(cell)
            protected |= {line.strip() for line in p}
            visible |= {line.strip() for line in v}
    return {line for line in protected - visible if line and line != "#"}


def _release_lines(release_dir: Path):
    for path in sorted(release_dir.rglob("*")):
        if path.suffix == ".ipynb":
            for i, cell in enumerate(nbformat.read(path, as_version=4).cells):
                for line in cell.source.splitlines():
                    yield f"{path.name} cell {i}", line.strip()
        elif path.is_file():
            for line in path.read_text(errors="replace").splitlines():
                yield path.name, line.strip()


def find_leaks(source_dir: Path, release_dir: Path) -> list:
    """Human-readable descriptions of every leaked line and every leftover marker."""
    protected = protected_lines(*sorted(source_dir.glob("*.ipynb")))
    leaks = []
    for where, line in _release_lines(release_dir):
        if line in protected:
            leaks.append(f"{where}: {line}")
        elif any(marker in line for pair in MARKERS.values() for marker in pair):
            leaks.append(f"{where}: marker left: {line}")
    return leaks


def generate(root: Path = None, release_dir: Path = None, db_url: str = None,
             assignment: str = config.ASSIGNMENT) -> Path:
    """Run nbgrader generate_assignment; by default into <root>/release and the course gradebook."""
    overrides = Config()
    if release_dir is not None:
        overrides.CourseDirectory.release_directory = str(Path(release_dir).resolve())
    if db_url is not None:
        overrides.CourseDirectory.db_url = db_url
    api = make_api(course_config(root), overrides)
    check(api.generate_assignment(assignment, force=True), "generate_assignment")
    out = Path(api.coursedir.format_path(api.coursedir.release_directory, ".", assignment))
    for junk in out.rglob("__pycache__"):
        shutil.rmtree(junk)
    return out


def generate_fresh_copy(root: Path = None, assignment: str = config.ASSIGNMENT) -> Path:
    """Generate into a temporary folder (with a throwaway gradebook), e.g. to compare releases."""
    scratch = Path(tempfile.mkdtemp(prefix="i2dl-release-"))
    return generate(root, scratch / "release", f"sqlite:///{scratch / 'gradebook.db'}", assignment)


def release(root: Path = None, assignment: str = config.ASSIGNMENT) -> Path:
    """Regenerate the committed release and refuse to leave a leaking one behind."""
    root = Path(root or config.course_root())
    out = generate(root, assignment=assignment)
    leaks = find_leaks(root / "source" / assignment, out)
    if leaks:
        raise RuntimeError("the release would show solutions or hidden tests:\n  " + "\n  ".join(leaks))
    return out
