"""2_batchnorm_dropout.ipynb: its solutions get every point from the judges, its released stubs get
none (cleanly), and seeded mistakes lose their test's points with a message that names the mistake
(mostly in-process, which is fast; one through a real kernel)."""
import copy

import pytest

from notebooks import SOURCE, Probing, cell, cell_results, execute, graded_ids, meta, read, replace_cell, restore_tests

NOTEBOOK = "2_batchnorm_dropout.ipynb"
NAME = "2_batchnorm_dropout"


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


def test_source_notebook_gets_every_point(source, test_ids, tmp_path, monkeypatch):
    # One torch thread: on a busy machine two threads per kernel slow the training cell 4x.
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    probing = Probing(NAME, tmp_path / "grader")
    executed = execute(source, tmp_path, env=probing.env)
    assert probing.verdicts(executed) == {grade_id: None for grade_id in test_ids}
    assert cell_results(executed) == {grade_id: None for grade_id in test_ids}      # quiet test cells
    errors = [f"{c.id}: {o.ename}: {o.evalue}" for c in executed.cells if c.cell_type == "code"
              for o in c.outputs if o.output_type == "error"]
    assert not errors
    table = "".join(o.get("text", "") for o in _cell_by_id(executed, "experiment_training").outputs)
    assert all(name in table for name in ("plain", "batchnorm", "dropout")), table
    assert (tmp_path / "lightning_logs" / "batchnorm").is_dir(), "TensorBoard logs were not written"


def test_released_stubs_get_no_point_and_the_harness_runs(source, test_ids, fresh_release, tmp_path):
    """Untouched stubs, tests restored as at grading: the setup and the solution cells (which only
    define functions) run cleanly, and every test is judged 0 because the stub is not implemented."""
    release = read(fresh_release / NOTEBOOK)
    solutions = [c for c in release.cells if meta(c).get("solution")]
    assert solutions and all("raise NotImplementedError()" in c.source and "# TODO" in c.source for c in solutions)

    probing = Probing(NAME, tmp_path / "grader")
    executed = execute(_through_last_test(restore_tests(release, source)), tmp_path, env=probing.env)
    verdicts = probing.verdicts(executed)
    assert set(verdicts) == set(test_ids)
    for grade_id, message in verdicts.items():
        assert message and "is not implemented yet (NotImplementedError)" in message, f"{grade_id}: {message}"
    first_solution = next(i for i, c in enumerate(executed.cells) if meta(c).get("solution"))
    for ran in executed.cells[:first_solution] + [c for c in executed.cells if meta(c).get("solution")]:
        assert not [o for o in ran.get("outputs", []) if o.output_type == "error"], ran.source[:80]


# (solution cell, text in it, seeded mistake, hidden-test cell that must lose its points, words of its message)
MISTAKES = {
    "dropout without the 1/(1-p) rescale": (
        "dropout_forward", "mask = (rng.random(x.shape) >= p) / (1 - p)", "mask = rng.random(x.shape) >= p",
        "test_dropout_forward", "x / (1 - p)"),
    "test-mode BatchNorm without eps": (
        "batchnorm_forward", "np.sqrt(running_var + eps)", "np.sqrt(running_var)", "test_batchnorm_forward_test",
        "eps keeps it finite"),
    "dgamma summed over the wrong axis": (
        "batchnorm_backward", "dgamma = np.sum(dout * x_hat, axis=0)", "dgamma = np.sum(dout * x_hat, axis=1)",
        "test_batchnorm_backward", "sum over the batch axis"),
    "unbiased batch variance": (
        "batchnorm_forward", "var = np.mean(xmu ** 2, axis=0)", "var = np.sum(xmu ** 2, axis=0) / (N - 1)",
        "test_batchnorm_forward_train", "biased batch variance"),
    "momentum weighting the new batch": (
        "batchnorm_forward", "running_mean = momentum * running_mean + (1 - momentum) * mu",
        "running_mean = (1 - momentum) * running_mean + momentum * mu", "test_batchnorm_forward_train",
        "momentum 0.9"),
    "test mode with batch statistics": (
        "batchnorm_forward", "x_hat = (x - running_mean) / np.sqrt(running_var + eps)",
        "x_hat = (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + eps)", "test_batchnorm_forward_test",
        "running statistics from bn_param"),
    "unknown mode accepted": (
        "batchnorm_forward", "raise ValueError(f\"unknown BatchNorm mode {mode!r}: use 'train' or 'test'\")",
        "out, cache = x, None", "test_batchnorm_forward_test", "raise a ValueError"),
    "p read as the probability of keeping": (
        "dropout_forward", ">= p) / (1 - p)", "< p) / (1 - p)", "test_dropout_forward", "probability of DROPPING"),
    "dropout ignoring the seed": (
        "dropout_forward", 'np.random.default_rng(dropout_param.get("seed"))', "np.random.default_rng()",
        "test_dropout_forward", "same seed"),
    "a mask for 2-D inputs only": (
        "dropout_forward", "mask = (rng.random(x.shape) >= p) / (1 - p)",
        "mask = (rng.random((x.shape[0], x.shape[1])) >= p) / (1 - p)", "test_dropout_forward", "any shape"),
    "dropout backward ignoring the mask": (
        "dropout_backward", "dx = dout * mask", "dx = dout", "test_dropout_backward", "kept units only"),
    "dropout backward with the unscaled mask": (
        "dropout_backward", "dx = dout * mask", "dx = dout * (mask != 0)", "test_dropout_backward",
        "the gradient of the kept units is not scaled"),
    "dropout backward scaling twice": (
        "dropout_backward", "dx = dout * mask", 'dx = dout * mask / (1 - dropout_param["p"])',
        "test_dropout_backward", "scaled by 1/(1-p) twice"),
    "a cache whose mask is not the one out = x * mask uses": (
        "dropout_forward", "return out, (dropout_param, mask)", "return out, (dropout_param, mask != 0)",
        "test_dropout_forward", "the cache's mask should be what out = x * mask uses"),
    "closed form missing the dgamma term": (
        "batchnorm_backward_alt", " - x_hat * dgamma)", ")", "test_batchnorm_backward_alt", "correct gradient"),
}


def _judge_in_process(nb, test_id: str, probing: Probing, monkeypatch, replacements: dict = None):
    """Exec the setup and solution cells (some replaced) and the test cell's probe; the verdict on it."""
    for key, value in probing.env.items():
        monkeypatch.setenv(key, value)
    namespace = {}
    for step in nb.cells:
        if step.get("id") == "setup" or meta(step).get("solution"):
            exec((replacements or {}).get(meta(step).get("grade_id"), step.source), namespace)
    exec(cell(nb, test_id).source, namespace)
    return probing.verdict(test_id, meta(cell(nb, test_id))["points"])


def test_correct_solutions_get_every_point_in_process(source, test_ids, tmp_path, monkeypatch, capsys):
    probing = Probing(NAME, tmp_path, seed=1)
    for test_id in test_ids:
        verdict = _judge_in_process(source, test_id, probing, monkeypatch)
        assert verdict.points == meta(cell(source, test_id))["points"], verdict.message
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("mistake", MISTAKES, ids=list(MISTAKES))
def test_a_seeded_mistake_loses_its_points_with_a_message_naming_it(source, mistake, tmp_path, monkeypatch):
    grade_id, old, new, test_id, words = MISTAKES[mistake]
    verdict = _judge_in_process(source, test_id, Probing(NAME, tmp_path, seed=2), monkeypatch,
                                {grade_id: _mutated(source, grade_id, old, new)})
    assert verdict.points == 0 and words in verdict.message, verdict.message


def test_the_closed_form_scores_without_the_graph_backward(source, tmp_path, monkeypatch):
    """A mistake (or a stub) in batchnorm_backward does not cost the closed form's points too."""
    grade_id = "batchnorm_backward"
    stub = _mutated(source, grade_id, "x_hat, xmu, ivar, sqrtvar, gamma = cache", "raise NotImplementedError()")
    verdict = _judge_in_process(source, "test_batchnorm_backward_alt", Probing(NAME, tmp_path), monkeypatch,
                                {grade_id: stub})
    assert verdict.points == 2, verdict.message


def test_dropout_backward_is_judged_alone(source, tmp_path, monkeypatch):
    """A wrong dropout_forward costs dropout_backward nothing: it gets the grader's caches."""
    grade_id, old, new, *_ = MISTAKES["p read as the probability of keeping"]
    verdict = _judge_in_process(source, "test_dropout_backward", Probing(NAME, tmp_path), monkeypatch,
                                {grade_id: _mutated(source, grade_id, old, new)})
    assert verdict.points == meta(cell(source, "test_dropout_backward"))["points"], verdict.message


def test_a_backward_pass_wrong_only_through_its_forward_says_so(source, tmp_path, monkeypatch):
    grade_id, old, new, *_ = MISTAKES["unbiased batch variance"]
    verdict = _judge_in_process(source, "test_batchnorm_backward", Probing(NAME, tmp_path), monkeypatch,
                                {grade_id: _mutated(source, grade_id, old, new)})
    assert verdict.points == 0 and "make batchnorm_forward's checks pass first" in verdict.message


def test_a_seeded_mistake_fails_through_the_notebook(source, test_ids, tmp_path):
    """The missing dropout rescale, through a kernel: only the dropout forward test loses its points."""
    grade_id, old, new, test_id, words = MISTAKES["dropout without the 1/(1-p) rescale"]
    nb = replace_cell(source, grade_id, _mutated(source, grade_id, old, new))
    probing = Probing(NAME, tmp_path / "grader")
    verdicts = probing.verdicts(execute(_through_last_test(nb), tmp_path, env=probing.env))
    failure = verdicts.pop(test_id)
    assert failure and words in failure, failure
    assert all(message is None for message in verdicts.values()), verdicts


# Right answers in other forms than the solution's: {form: {solution cell: (old, new)}}; each keeps every point.
RIGHT_FORMS = {
    "the cache as a dict": {
        "batchnorm_forward": ("cache = (x_hat, xmu, ivar, sqrtvar, gamma)",
                              "cache = {'x_hat': x_hat, 'xmu': xmu, 'ivar': ivar, 'sqrtvar': sqrtvar, 'gamma': gamma}"),
        "batchnorm_backward": ("x_hat, xmu, ivar, sqrtvar, gamma = cache",
                               "x_hat, xmu, ivar, sqrtvar, gamma = (cache[k] for k in ('x_hat', 'xmu', 'ivar', "
                               "'sqrtvar', 'gamma'))"),
        "batchnorm_backward_alt": ("x_hat, _, ivar, _, gamma = cache",
                                   "x_hat, ivar, gamma = cache['x_hat'], cache['ivar'], cache['gamma']")},
    "running averages updated in place, np.var": {
        "batchnorm_forward": ("running_mean = momentum * running_mean + (1 - momentum) * mu\n"
                              "        running_var = momentum * running_var + (1 - momentum) * var",
                              "running_mean *= momentum; running_mean += (1 - momentum) * mu\n"
                              "        running_var *= momentum; running_var += (1 - momentum) * np.var(x, axis=0)")},
    "NumPy's legacy global seed": {
        "dropout_forward": ('rng = np.random.default_rng(dropout_param.get("seed"))\n'
                            '        mask = (rng.random(x.shape) >= p) / (1 - p)',
                            'if "seed" in dropout_param:\n            np.random.seed(dropout_param["seed"])\n'
                            '        mask = (np.random.rand(*x.shape) < (1 - p)) / (1 - p)')},
}


@pytest.mark.parametrize("form", RIGHT_FORMS, ids=list(RIGHT_FORMS))
def test_a_right_answer_in_another_form_keeps_every_point(source, test_ids, form, tmp_path, monkeypatch):
    replacements = {grade_id: _mutated(source, grade_id, old, new) for grade_id, (old, new) in RIGHT_FORMS[form].items()}
    for test_id in test_ids:
        verdict = _judge_in_process(source, test_id, Probing(NAME, tmp_path / test_id, seed=3), monkeypatch, replacements)
        assert verdict.points == meta(cell(source, test_id))["points"], (test_id, verdict.message)
