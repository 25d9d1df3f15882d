"""The release is generated from source/ by nbgrader, fresh, and leaks nothing."""
import ast
import filecmp
import json

import pytest

from i2dl_course.release import find_leaks
from notebooks import RELEASE, SOURCE, read

SOURCES = sorted(SOURCE.glob("*.ipynb"))


def test_there_are_source_notebooks_and_each_is_released():
    assert SOURCES, "no source notebooks"
    assert sorted(p.name for p in RELEASE.glob("*.ipynb")) == [p.name for p in SOURCES]


def test_committed_release_equals_a_fresh_generation(fresh_release):
    """Regenerate with `i2dl release` (or `make release`) after editing source/ and commit it."""
    stale = []
    for path in sorted(fresh_release.rglob("*")):
        committed = RELEASE / path.relative_to(fresh_release)
        if path.suffix == ".ipynb":
            if json.loads(path.read_text()) != json.loads(committed.read_text()):
                stale.append(path.name)
        elif path.is_file() and not (committed.is_file() and filecmp.cmp(path, committed, shallow=False)):
            stale.append(path.name)
    extra = {p.name for p in RELEASE.rglob("*") if p.is_file()} - {p.name for p in fresh_release.rglob("*") if p.is_file()}
    assert not stale and not extra, f"release/ is stale: {stale} {sorted(extra)}: run `i2dl release`"


def test_no_solution_or_hidden_test_line_leaks_into_the_release():
    assert find_leaks(SOURCE, RELEASE) == []


def test_leak_check_catches_a_leak(tmp_path, fresh_release):
    """The leak check itself works: a solution line pasted into a released notebook is found."""
    import shutil
    import nbformat
    from i2dl_course.release import protected_lines
    copy = tmp_path / "release"
    shutil.copytree(fresh_release, copy)
    target = copy / SOURCES[0].name
    nb = read(target)
    secret = sorted(protected_lines(*SOURCES))[0]
    nb.cells[-1].source += "\n" + secret
    nbformat.write(nb, target)
    assert any(secret in leak for leak in find_leaks(SOURCE, copy))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_graded_cells_have_metadata_unique_ids_and_points(path):
    ids = []
    for cell in read(path).cells:
        meta = cell.metadata.get("nbgrader")
        text = cell.source
        if "BEGIN SOLUTION" in text or "BEGIN HIDDEN TESTS" in text:
            assert meta, f"cell with markers but no nbgrader metadata: {text[:60]!r}"
        if not meta:
            continue
        assert meta.get("grade_id"), f"nbgrader cell without grade_id: {text[:60]!r}"
        ids.append(meta["grade_id"])
        if meta.get("solution") and cell.cell_type == "code":
            assert "BEGIN SOLUTION" in text and "# TODO" in text, f"{meta['grade_id']}: needs a TODO hint and markers"
        if meta.get("grade"):
            assert meta.get("points", 0) > 0, f"{meta['grade_id']}: a graded cell needs points"
        if meta.get("grade") and meta.get("solution"):     # a written answer, graded by hand: the student's to edit
            assert cell.cell_type == "markdown" and not meta.get("locked"), f"{meta['grade_id']}: an open markdown cell"
        elif meta.get("grade"):
            assert meta.get("locked"), f"{meta['grade_id']}: test cells must be locked"
    assert len(ids) == len(set(ids)), "grade ids must be unique"
    assert ids, "a source notebook without graded cells"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_test_cells_end_in_a_statement_not_a_value(path):
    """nbgrader turns a test cell's trailing value into its score: end with a statement or ';'."""
    for cell in read(path).cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and cell.cell_type == "code":
            lines = [line for line in cell.source.splitlines() if line.strip() and not line.strip().startswith("#")]
            tree = ast.parse(cell.source)
            last = tree.body[-1]
            assert not isinstance(last, ast.Expr) or lines[-1].rstrip().endswith(";"), \
                f"{meta['grade_id']}: ends with an expression: {lines[-1]!r}"
