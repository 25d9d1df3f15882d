"""1_autoencoder.ipynb: the solution gets every point from the judges and its markdown agrees with
its numbers; the released stubs get none, cleanly; seeded mistakes lose their test's points."""
import re

import pytest

from notebooks import SOURCE, Probing, cell_results, execute, graded_ids, judge_in_process, meta, read, restore_tests

NOTEBOOK = "1_autoencoder.ipynb"
NAME = "1_autoencoder"


def _text(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []))


@pytest.fixture(scope="module")
def source():
    return read(SOURCE / NOTEBOOK)


@pytest.fixture(scope="module")
def test_ids(source):
    return graded_ids(source)


@pytest.fixture(scope="module")
def run(source, tmp_path_factory):
    folder = tmp_path_factory.mktemp("autoencoder")
    probing = Probing(NAME, folder / "grader")
    return execute(source, folder, timeout=900, env=probing.env), probing


@pytest.fixture(scope="module")
def executed(run):
    return run[0]


def test_source_notebook_gets_every_point_without_errors(run, test_ids):
    executed, probing = run
    assert probing.verdicts(executed) == {grade_id: None for grade_id in test_ids}
    assert cell_results(executed) == {grade_id: None for grade_id in test_ids}
    errors = [f"{o.ename}: {o.evalue}" for c in executed.cells if c.cell_type == "code"
              for o in c.outputs if o.output_type == "error"]
    assert not errors


def _table(executed) -> dict:
    """{model: val accuracy} from the closing table's output."""
    text = next(_text(c) for c in executed.cells if "val accuracy (300 images)" in _text(c))
    return {m.group(1).strip(): float(m.group(2)) for m in re.finditer(r"^(\S.*?)\s+(0\.\d{3})$", text, re.M)}


def reconstructions(executed) -> dict:
    """{row: (val MSE, sharpness)} the reconstruction comparison printed."""
    text = next(_text(c) for c in executed.cells if "sharpness" in _text(c) and "val MSE" in _text(c))
    return {m.group(1).strip(): (float(m.group(2)), float(m.group(3)))
            for m in re.finditer(r"^(.+?)\s+val MSE (\d\.\d+)\s+sharpness (\d\.\d+)", text, re.M)}


def comparison_claims(rows: dict) -> dict:
    """{claim: held} for the markdown after the reconstruction comparison, of reconstructions()' rows
    (benchmarks/autoencoder_notebook.py checks them per seed)."""
    mse, sharp = {k: v[0] for k, v in rows.items()}, {k: v[1] for k, v in rows.items()}
    return {"all less sharp than the digits": all(v < 1 for v in sharp.values()),
            "code 64 lower MSE than code 20": mse["code 64, MSE"] < mse["code 20, MSE"],
            "L1 highest MSE": mse["code 20, L1"] == max(mse.values()),
            "L1 no sharper than code 20 MSE (0.01 at most)": sharp["code 20, L1"] <= sharp["code 20, MSE"] + 0.01,
            "pretrained most accurate": mse["pretrained"] == min(mse.values()),
            "pretrained sharpest": sharp["pretrained"] == max(sharp.values())}


def test_closing_table_agrees_with_the_markdown(executed):
    """The closing markdown says: the two augmented models are the two best rows."""
    table = _table(executed)
    assert len(table) == 4, table
    plain = [table["baseline (300 labels)"], table["transfer (pretrained encoder)"]]
    augmented = [table["baseline + online augmentation"], table["transfer + online augmentation"]]
    assert min(augmented) > max(plain), table


def test_reconstruction_comparison_agrees_with_the_markdown(executed):
    """The markdown says: every reconstruction is less sharp than the digits; the 64-d code has the lower
    MSE of the two short MSE runs; L1 was no sharper than MSE with the same code (at most 0.01 apart)
    and had the highest MSE; the pretrained autoencoder is best on both."""
    rows = reconstructions(executed)
    assert len(rows) == 4, rows
    broken = [claim for claim, held in comparison_claims(rows).items() if not held]
    assert not broken, (broken, rows)


def test_released_stubs_get_no_point_and_the_harness_runs(source, test_ids, fresh_release, tmp_path):
    """Untouched stubs, tests restored as at grading: setup cells run, every test is judged 0."""
    release = read(fresh_release / NOTEBOOK)
    solutions = [c for c in release.cells if meta(c).get("solution") and c.cell_type == "code"]
    assert solutions and all("raise NotImplementedError()" in c.source and "# TODO" in c.source for c in solutions)

    probing = Probing(NAME, tmp_path / "grader")
    executed = execute(restore_tests(release, source), tmp_path, env=probing.env)
    verdicts = probing.verdicts(executed)
    assert set(verdicts) == set(test_ids)
    assert all(verdicts.values()), {k: v for k, v in verdicts.items() if not v}
    first_solution = next(i for i, c in enumerate(executed.cells) if meta(c).get("solution"))
    for cell in executed.cells[:first_solution]:
        assert not [o for o in cell.get("outputs", []) if o.output_type == "error"], cell.source[:80]
    for cell in solutions:
        ran = next(c for c in executed.cells if c.get("id") == cell.get("id"))
        errors = [o.ename for o in ran.outputs if o.output_type == "error"]
        assert errors in ([], ["NotImplementedError"]), (cell.source[:60], errors)


# (solution cell, text in it, seeded mistake, test cell that must lose its points, words of its message)
MISTAKES = {
    "one shift for the whole batch": (
        "augmentation_solution",
        "dy = torch.randint(0, 2 * max_shift + 1, (n, 1, 1))\n    dx = torch.randint(0, 2 * max_shift + 1, (n, 1, 1))",
        "dy = dx = torch.randint(0, 2 * max_shift + 1, (1, 1, 1))", "random_shift_hidden", "not one for the whole batch"),
    "rotation in radians": (
        "augmentation_solution", "* math.radians(max_degrees)", "* max_degrees", "random_rotation_hidden",
        "by degrees (not radians)"),
    "a shift called a rotation": (
        "augmentation_solution", "return F.grid_sample(images, grid, align_corners=False).clamp(0, 1)",
        "return random_shift(images, int(max_degrees // 10))", "random_rotation_hidden",
        "does not turn the digits"),
    "offline labels in the wrong order": (
        "augmentation_solution", "labels.repeat(copies + 1)", "labels.repeat_interleave(copies + 1)",
        "augment_offline_hidden", "labels must stay with their images"),
    "a fixed latent size": (
        "encoder_solution", "nn.Linear(100, latent_dim), nn.BatchNorm1d(latent_dim)",
        "nn.Linear(100, 20), nn.BatchNorm1d(20)", "encoder_hidden", "use the latent_dim argument"),
    "the head sized from hparams, not from the encoder": (
        "classifier_solution", "nn.Linear(encoder.latent_dim, 10)", 'nn.Linear(hparams.get("latent_dim", 20), 10)',
        "classifier_hidden", "the head takes 20 inputs, the encoder gives 7 codes: size the head from encoder.latent_dim"),
    "optimizer without the head": (
        "classifier_solution", "torch.optim.SGD(self.parameters(),", "torch.optim.SGD(self.encoder.parameters(),",
        "classifier_hidden", "unchanged: build the optimizer from self.parameters()"),
    "decoder ignoring output_size": (
        "autoencoder_solution", "nn.Linear(500, output_size)", "nn.Linear(500, 28 * 28)", "autoencoder_hidden",
        "use the arguments"),
    "decoder without its final Sigmoid": (
        "autoencoder_solution", "nn.Linear(500, output_size), nn.Sigmoid(),", "nn.Linear(500, output_size),",
        "autoencoder_hidden", "end the decoder with nn.Sigmoid()"),
}


@pytest.mark.parametrize("mistake", MISTAKES, ids=list(MISTAKES))
def test_a_seeded_mistake_loses_its_points_with_a_message_naming_it(source, mistake, tmp_path, monkeypatch):
    grade_id, old, new, test_id, words = MISTAKES[mistake]
    code = next(c for c in source.cells if meta(c).get("grade_id") == grade_id).source
    assert code.count(old) == 1, f"{grade_id}: expected {old!r} once"
    right = judge_in_process(source, [test_id], Probing(NAME, tmp_path / "right"), monkeypatch, {})[test_id]
    assert right.points > 0, right.message                    # the correct solution passes
    wrong = judge_in_process(source, [test_id], Probing(NAME, tmp_path / "wrong"), monkeypatch,
                              {grade_id: code.replace(old, new)})[test_id]
    assert wrong.points == 0 and words in wrong.message, wrong.message


def test_an_encoder_without_batchnorm_or_dropout_is_fine(source, tmp_path, monkeypatch):
    """The tutorial invites creativity: a plain fully connected encoder gets the encoder's points."""
    old = "nn.Linear(input_size, 500), nn.BatchNorm1d(500), nn.ReLU(), nn.Dropout(p),"
    code = next(c for c in source.cells if meta(c).get("grade_id") == "encoder_solution").source
    plain = code.replace(old, "nn.Linear(input_size, 500), nn.ReLU(),")
    verdict = judge_in_process(source, ["encoder_hidden"], Probing(NAME, tmp_path), monkeypatch,
                                {"encoder_solution": plain})["encoder_hidden"]
    assert verdict.points == 2, verdict.message


# Encoders the tutorial's "be creative" invites: judged by what they compute, not by their layer types.
CREATIVE = {
    "conv": """
class Encoder(nn.Module):
    def __init__(self, hparams, input_size=28 * 28, latent_dim=20):
        super().__init__()
        self.hparams, self.input_size, self.latent_dim = hparams, input_size, latent_dim
        self.side = int(round(math.sqrt(input_size)))
        half = (self.side + 1) // 2
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
            nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(),
            nn.Linear(16 * half * half, latent_dim))

    def forward(self, x):
        return self.encoder(x.reshape(len(x), 1, self.side, self.side))
""",
    "residual, F.relu and arithmetic in forward": """
class Encoder(nn.Module):
    def __init__(self, hparams, input_size=28 * 28, latent_dim=20):
        super().__init__()
        self.hparams, self.input_size, self.latent_dim = hparams, input_size, latent_dim
        self.inp, self.block, self.out = nn.Linear(input_size, 128), nn.Linear(128, 128), nn.Linear(128, latent_dim)

    def forward(self, x):
        h = F.relu(self.inp(x.reshape(x.shape[0], -1) - 0.5))
        return self.out(h + F.relu(self.block(h)))
""",
}


@pytest.mark.parametrize("design", CREATIVE, ids=list(CREATIVE))
def test_a_creative_encoder_gets_the_encoders_points(source, design, tmp_path, monkeypatch):
    verdict = judge_in_process(source, ["encoder_hidden"], Probing(NAME, tmp_path), monkeypatch,
                                {"encoder_solution": CREATIVE[design]})["encoder_hidden"]
    assert verdict.points == 2, verdict.message
