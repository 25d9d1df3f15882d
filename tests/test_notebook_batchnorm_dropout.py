"""2_batchnorm_dropout.ipynb: its solutions pass, its released stubs fail cleanly, and seeded
mistakes fail the hidden tests (mostly in-process, which is fast; one through a real kernel)."""
import copy
import sys

import pytest

from notebooks import SOURCE, cell, cell_results, execute, graded_ids, meta, read, replace_cell, restore_tests

NOTEBOOK = "2_batchnorm_dropout.ipynb"


def _cell_by_id(nb, cell_id: str):
    return next(c for c in nb.cells if c.get("id") == cell_id)


def _through_last_test(nb):
    """A copy without the cells after the last test cell (the ungraded PyTorch experiment)."""
    last = max(i for i, c in enumerate(nb.cells) if meta(c).get("grade"))
    nb = copy.deepcopy(nb)
    nb.cells = nb.cells[:last + 1]
    return nb


def _mutated(nb, grade_id: str, old: str, new: str) -> str:
    """The source of cell `grade_id` with `old` (which must occur exactly once) replaced by `new`."""
    source = cell(nb, grade_id).source
    assert source.count(old) == 1, f"{grade_id}: expected {old!r} once in the solution"
    return source.replace(old, new)


@pytest.fixture(scope="module")
def source():
    return read(SOURCE / NOTEBOOK)


@pytest.fixture(scope="module")
def test_ids(source):
    return graded_ids(source)


def test_source_notebook_passes_every_test_cell(source, test_ids, tmp_path, monkeypatch):
    # One torch thread: on a busy machine two threads per kernel slow the training cell 4x.
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    executed = execute(source, tmp_path)
    assert cell_results(executed) == {grade_id: None for grade_id in test_ids}
    errors = [f"{c.id}: {o.ename}: {o.evalue}" for c in executed.cells if c.cell_type == "code"
              for o in c.outputs if o.output_type == "error"]
    assert not errors
    table = "".join(o.get("text", "") for o in _cell_by_id(executed, "experiment_training").outputs)
    assert all(name in table for name in ("plain", "batchnorm", "dropout")), table
    assert (tmp_path / "lightning_logs" / "batchnorm").is_dir(), "TensorBoard logs were not written"


def test_released_stubs_fail_every_test_and_the_harness_runs(source, test_ids, fresh_release, tmp_path):
    """Untouched stubs, tests restored as at grading: the setup and the solution cells (which only
    define functions) run cleanly, and every test cell fails with the stubs' NotImplementedError,
    not with an error of the harness."""
    release = read(fresh_release / NOTEBOOK)
    solutions = [c for c in release.cells if meta(c).get("solution")]
    assert solutions and all("raise NotImplementedError()" in c.source and "# TODO" in c.source for c in solutions)

    executed = execute(_through_last_test(restore_tests(release, source)), tmp_path)
    results = cell_results(executed)
    assert set(results) == set(test_ids)
    for grade_id, failure in results.items():
        assert failure and failure.startswith("NotImplementedError"), f"{grade_id}: {failure}"
    first_solution = next(i for i, c in enumerate(executed.cells) if meta(c).get("solution"))
    for ran in executed.cells[:first_solution] + [c for c in executed.cells if meta(c).get("solution")]:
        assert not [o for o in ran.get("outputs", []) if o.output_type == "error"], ran.source[:80]


# (solution cell, text in it, seeded mistake, hidden-test cell that must fail)
MISTAKES = {
    "dropout without the 1/(1-p) rescale": (
        "dropout_forward", "mask = (rng.random(x.shape) >= p) / (1 - p)", "mask = rng.random(x.shape) >= p",
        "test_dropout_forward"),
    "test-mode BatchNorm without eps": (
        "batchnorm_forward", "np.sqrt(running_var + eps)", "np.sqrt(running_var)", "test_batchnorm_forward_test"),
    "dgamma summed over the wrong axis": (
        "batchnorm_backward", "dgamma = np.sum(dout * x_hat, axis=0)", "dgamma = np.sum(dout * x_hat, axis=1)",
        "test_batchnorm_backward"),
    "unbiased batch variance": (
        "batchnorm_forward", "var = np.mean(xmu ** 2, axis=0)", "var = np.sum(xmu ** 2, axis=0) / (N - 1)",
        "test_batchnorm_forward_train"),
    "momentum weighting the new batch": (
        "batchnorm_forward", "running_mean = momentum * running_mean + (1 - momentum) * mu",
        "running_mean = (1 - momentum) * running_mean + momentum * mu", "test_batchnorm_forward_train"),
    "test mode with batch statistics": (
        "batchnorm_forward", "x_hat = (x - running_mean) / np.sqrt(running_var + eps)",
        "x_hat = (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + eps)", "test_batchnorm_forward_test"),
    "unknown mode accepted": (
        "batchnorm_forward", "raise ValueError(f\"unknown BatchNorm mode {mode!r}: use 'train' or 'test'\")",
        "out, cache = x, None", "test_batchnorm_forward_test"),
    "p read as the probability of keeping": (
        "dropout_forward", ">= p) / (1 - p)", "< p) / (1 - p)", "test_dropout_forward"),
    "dropout ignoring the seed": (
        "dropout_forward", 'np.random.default_rng(dropout_param.get("seed"))', "np.random.default_rng()",
        "test_dropout_forward"),
    "dropout backward ignoring the mask": (
        "dropout_backward", "dx = dout * mask", "dx = dout", "test_dropout_backward"),
    "closed form missing the dgamma term": (
        "batchnorm_backward_alt", " - x_hat * dgamma)", ")", "test_batchnorm_backward_alt"),
}


def _run_in_process(nb, test_id: str, replacements: dict = None) -> None:
    """Exec the setup and solution cells (some replaced), then the hidden-test cell `test_id`.

    The test cell's prologue purges i2dl_utils from sys.modules; the originals are put back after.
    """
    namespace = {}
    for step in nb.cells:
        if step.get("id") == "setup" or meta(step).get("solution"):
            exec((replacements or {}).get(meta(step).get("grade_id"), step.source), namespace)
    saved = {name: module for name, module in sys.modules.items() if name.startswith("i2dl_utils")}
    try:
        exec(cell(nb, test_id).source, namespace)
    finally:
        for name in [n for n in sys.modules if n.startswith("i2dl_utils")]:
            del sys.modules[name]
        sys.modules.update(saved)


def test_correct_solutions_pass_the_hidden_tests_in_process(source, test_ids, capsys):
    for test_id in test_ids:
        _run_in_process(source, test_id)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("mistake", MISTAKES, ids=list(MISTAKES))
def test_a_seeded_mistake_fails_its_hidden_test(source, mistake):
    grade_id, old, new, test_id = MISTAKES[mistake]
    with pytest.raises(AssertionError):
        _run_in_process(source, test_id, {grade_id: _mutated(source, grade_id, old, new)})


def test_the_closed_form_scores_without_the_graph_backward(source):
    """A mistake (or a stub) in batchnorm_backward does not cost the closed form's points too."""
    grade_id = "batchnorm_backward"
    stub = _mutated(source, grade_id, "x_hat, xmu, ivar, sqrtvar, gamma = cache", "raise NotImplementedError()")
    _run_in_process(source, "test_batchnorm_backward_alt", {grade_id: stub})


def test_a_seeded_mistake_fails_through_the_notebook(source, test_ids, tmp_path):
    """The missing dropout rescale, through a kernel: only the dropout forward test fails."""
    grade_id, old, new, test_id = MISTAKES["dropout without the 1/(1-p) rescale"]
    nb = replace_cell(source, grade_id, _mutated(source, grade_id, old, new))
    results = cell_results(execute(_through_last_test(nb), tmp_path))
    failure = results.pop(test_id)
    assert failure.startswith("AssertionError") and "x / (1 - p)" in failure, failure
    assert all(failure is None for failure in results.values()), results
