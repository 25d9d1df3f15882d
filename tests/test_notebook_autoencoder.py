"""1_autoencoder.ipynb: the solution passes every test and its markdown agrees with its numbers;
the released stubs fail every implementation test cleanly; seeded mistakes fail hidden tests."""
import re
import sys

import pytest

from notebooks import SOURCE, cell_results, execute, graded_ids, meta, read, restore_tests

NOTEBOOK = "1_autoencoder.ipynb"


def _text(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []))


@pytest.fixture(scope="module")
def source():
    return read(SOURCE / NOTEBOOK)


@pytest.fixture(scope="module")
def test_ids(source):
    return graded_ids(source)


@pytest.fixture(scope="module")
def executed(source, tmp_path_factory):
    return execute(source, tmp_path_factory.mktemp("autoencoder"), timeout=900)


def test_source_notebook_passes_every_test_cell_without_errors(executed, test_ids):
    assert cell_results(executed) == {grade_id: None for grade_id in test_ids}
    errors = [f"{o.ename}: {o.evalue}" for c in executed.cells if c.cell_type == "code"
              for o in c.outputs if o.output_type == "error"]
    assert not errors


def _table(executed) -> dict:
    """{model: val accuracy} from the closing table's output."""
    text = next(_text(c) for c in executed.cells if "val accuracy (300 images)" in _text(c))
    return {m.group(1).strip(): float(m.group(2)) for m in re.finditer(r"^(\S.*?)\s+(0\.\d{3})$", text, re.M)}


def _reconstructions(executed) -> dict:
    text = next(_text(c) for c in executed.cells if "sharpness" in _text(c) and "val MSE" in _text(c))
    return {m.group(1).strip(): (float(m.group(2)), float(m.group(3)))
            for m in re.finditer(r"^(.+?)\s+val MSE (\d\.\d+)\s+sharpness (\d\.\d+)", text, re.M)}


def test_closing_table_agrees_with_the_markdown(executed):
    """The closing markdown says: the two augmented models are the two best rows."""
    table = _table(executed)
    assert len(table) == 4, table
    plain = [table["baseline (300 labels)"], table["transfer (pretrained encoder)"]]
    augmented = [table["baseline + online augmentation"], table["transfer + online augmentation"]]
    assert min(augmented) > max(plain), table


def test_reconstruction_comparison_agrees_with_the_markdown(executed):
    """The markdown says: every reconstruction is less sharp than the digits; the 64-d code has the lower
    MSE of the two short MSE runs; L1 was the least sharp with the highest MSE; the fully trained
    autoencoder is best on both."""
    rows = _reconstructions(executed)
    assert len(rows) == 4, rows
    assert all(sharp < 1 for _, sharp in rows.values())
    assert rows["code 64, MSE"][0] < rows["code 20, MSE"][0]
    assert rows["code 20, L1"][0] == max(mse for mse, _ in rows.values())
    assert rows["code 20, L1"][1] == min(sharp for _, sharp in rows.values())
    assert rows["pretrained"][0] == min(mse for mse, _ in rows.values())
    assert rows["pretrained"][1] == max(sharp for _, sharp in rows.values())


def test_released_stubs_fail_every_test_and_the_harness_runs(source, test_ids, fresh_release, tmp_path):
    """Untouched stubs, tests restored as at grading: setup cells run, every test cell fails."""
    release = read(fresh_release / NOTEBOOK)
    solutions = [c for c in release.cells if meta(c).get("solution")]
    assert solutions and all("raise NotImplementedError()" in c.source and "# TODO" in c.source for c in solutions)

    executed = execute(restore_tests(release, source), tmp_path)
    results = cell_results(executed)
    assert set(results) == set(test_ids)
    assert all(results.values()), {k: v for k, v in results.items() if not v}
    first_solution = next(i for i, c in enumerate(executed.cells) if meta(c).get("solution"))
    for cell in executed.cells[:first_solution]:
        assert not [o for o in cell.get("outputs", []) if o.output_type == "error"], cell.source[:80]
    for cell in solutions:
        ran = next(c for c in executed.cells if c.get("id") == cell.get("id"))
        errors = [o.ename for o in ran.outputs if o.output_type == "error"]
        assert errors in ([], ["NotImplementedError"]), (cell.source[:60], errors)


# (solution cell, text in it, seeded mistake, hidden-test cell that must fail)
MISTAKES = {
    "one shift for the whole batch": (
        "augmentation_solution",
        "dy = torch.randint(0, 2 * max_shift + 1, (n, 1, 1))\n    dx = torch.randint(0, 2 * max_shift + 1, (n, 1, 1))",
        "dy = dx = torch.randint(0, 2 * max_shift + 1, (1, 1, 1))", "random_shift_hidden"),
    "rotation in radians": (
        "augmentation_solution", "* math.radians(max_degrees)", "* max_degrees", "random_rotation_hidden"),
    "offline labels in the wrong order": (
        "augmentation_solution", "labels.repeat(copies + 1)", "labels.repeat_interleave(copies + 1)",
        "augment_offline_hidden"),
    "no dropout in the encoder": (
        "encoder_solution", 'p = hparams.get("dropout", 0.5)', "p = 0.0", "encoder_hidden"),
    "a fixed latent size": (
        "encoder_solution", "nn.Linear(100, latent_dim), nn.BatchNorm1d(latent_dim)",
        "nn.Linear(100, 20), nn.BatchNorm1d(20)", "encoder_hidden"),
    "optimizer without the head": (
        "classifier_solution", "torch.optim.SGD(self.parameters(),", "torch.optim.SGD(self.encoder.parameters(),",
        "classifier_hidden"),
    "decoder ignoring output_size": (
        "autoencoder_solution", "nn.Linear(500, output_size)", "nn.Linear(500, 28 * 28)", "autoencoder_hidden"),
}


def _run_in_process(nb, test_id: str, replacements: dict, before_test: str = "") -> None:
    """Exec the setup cell, the solution cells (some replaced), `before_test` and one test cell; no training."""
    namespace = {}
    setup = next(c for c in nb.cells if "load_splits()" in c.source)
    cells = [setup] + [c for c in nb.cells if meta(c).get("solution") and meta(c)["grade_id"] != "transfer_solution"]
    saved = {name: module for name, module in sys.modules.items() if name.startswith("i2dl_utils")}
    try:
        for cell in cells:
            code = replacements.get(meta(cell).get("grade_id"), cell.source)
            exec("\n".join(line for line in code.splitlines() if not line.startswith("%")), namespace)
        exec(before_test, namespace)
        exec(next(c for c in nb.cells if meta(c).get("grade_id") == test_id).source, namespace)
    finally:
        for name in [n for n in sys.modules if n.startswith("i2dl_utils")]:
            del sys.modules[name]
        sys.modules.update(saved)


@pytest.mark.parametrize("mistake", MISTAKES, ids=list(MISTAKES))
def test_a_seeded_mistake_fails_its_hidden_test(source, mistake):
    grade_id, old, new, test_id = MISTAKES[mistake]
    code = next(c for c in source.cells if meta(c).get("grade_id") == grade_id).source
    assert code.count(old) == 1, f"{grade_id}: expected {old!r} once"
    _run_in_process(source, test_id, {})                     # the correct solution passes
    with pytest.raises(AssertionError):
        _run_in_process(source, test_id, {grade_id: code.replace(old, new)})


FINE_TUNED_WITHOUT_COPY = """
autoencoder = Autoencoder(ae_hparams, Encoder(ae_hparams), Decoder(ae_hparams))
pretrained_state = checks.snapshot(autoencoder.encoder)
transfer_classifier = Classifier(hparams, autoencoder.encoder)   # no deep copy
with torch.no_grad():
    next(transfer_classifier.encoder.parameters()).add_(0.01)  # stands for fine-tuning
"""


def test_fine_tuning_the_autoencoders_own_encoder_fails_the_transfer_test(source):
    with pytest.raises(AssertionError, match="deep"):
        _run_in_process(source, "transfer_hidden", {}, FINE_TUNED_WITHOUT_COPY)
