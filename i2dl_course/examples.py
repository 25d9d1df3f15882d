"""Example submissions built from the course's own notebooks (for `i2dl demo` and the tests).

solution:  the released notebooks, each solution cell replaced by the source's cell of the same
           grade id (marker lines dropped): what a student who solved everything hands in;
untouched: the released notebooks as they are;
partial:   the released notebooks with only the given solution cells filled in.
"""
import copy
from pathlib import Path

import nbformat

MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")


def _grade_id(cell):
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def solution_cells(source_dir: Path) -> dict:
    """{grade_id: source text without solution markers} of every solution cell in source_dir."""
    cells = {}
    for path in sorted(Path(source_dir).glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.metadata.get("nbgrader", {}).get("solution"):
                lines = [line for line in cell.source.splitlines() if line.strip() not in MARKERS]
                cells[_grade_id(cell)] = "\n".join(lines)
    return cells


def build(source_dir: Path, release_dir: Path, solved=None) -> dict:
    """{notebook file name: notebook}: the release with the solution cells in `solved` (grade ids;
    None: all of them) taken from the source."""
    answers = solution_cells(source_dir)
    wanted = set(answers) if solved is None else set(solved)
    unknown = wanted - set(answers)
    if unknown:
        raise ValueError(f"no solution cells with grade ids {sorted(unknown)}")
    notebooks = {}
    for path in sorted(Path(release_dir).glob("*.ipynb")):
        nb = copy.deepcopy(nbformat.read(path, as_version=4))
        for cell in nb.cells:
            if _grade_id(cell) in wanted and cell.metadata["nbgrader"].get("solution"):
                cell.source = answers[_grade_id(cell)]
        notebooks[path.name] = nb
    return notebooks


def write(folder: Path, student: str, assignment: str, notebooks: dict) -> Path:
    """Lay the notebooks out as a submission: folder/<student>/<assignment>/<name>.ipynb."""
    out = Path(folder) / student / assignment
    out.mkdir(parents=True, exist_ok=True)
    for name, nb in notebooks.items():
        nbformat.write(nb, out / name)
    return out


def demo_submissions(source_dir: Path, release_dir: Path, folder: Path, assignment: str) -> dict:
    """Write the three example submissions; {student id: what it is}."""
    answers = list(solution_cells(source_dir))
    half = answers[: max(1, len(answers) // 2)]
    write(folder, "demo-solution", assignment, build(source_dir, release_dir))
    write(folder, "demo-untouched", assignment, build(source_dir, release_dir, solved=[]))
    write(folder, "demo-partial", assignment, build(source_dir, release_dir, solved=half))
    return {"demo-solution": "every solution cell from the source (expect full marks)",
            "demo-untouched": "the release as it is (expect zero on the implementation tasks)",
            "demo-partial": f"only {', '.join(half)} solved (expect partial marks)"}
