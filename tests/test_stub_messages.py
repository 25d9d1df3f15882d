"""Self-checks on unfilled stubs: one readable line naming every unfilled function the check (or
the cell) uses and what to do; any other failure keeps its usual message and traceback."""
import os

import nbformat
import pytest
from nbclient import NotebookClient

from i2dl_course import examples
from i2dl_utils.checks import common, stubs
from notebooks import RELEASE, SOURCE, cell

TO_DO = "# TODO` in place of `raise NotImplementedError()`"


# ------------------------------------------------------------------ in process
def random_shift(images, max_shift=2):
    # TODO: ...
    # YOUR CODE HERE
    raise NotImplementedError()


def random_rotation(images, max_degrees=10.0):
    return images


def augment_offline(images, labels, copies, transform):
    # YOUR CODE HERE
    raise NotImplementedError()


class Model:
    def __init__(self):
        self.ready = True

    def step(self):
        raise NotImplementedError("a message of the student's own")

    @staticmethod
    def helper():
        raise NotImplementedError


def test_unimplemented_names_the_stub_functions_and_methods_in_order():
    assert stubs.unimplemented(random_shift, random_rotation, augment_offline, {"lr": 1}) == \
        ["random_shift", "augment_offline"]
    assert stubs.unimplemented(Model, random_rotation) == ["Model.step", "Model.helper"]


def test_a_decorated_check_names_every_unfilled_argument_in_one_line():
    @stubs.reports_stubs
    def check(shift, rotation, offline):
        rotation(None)
        shift(None, 2)             # raises first; augment_offline is never reached
        offline(None, None, 1, shift)

    with pytest.raises(stubs.NotImplementedYet) as error:
        check(random_shift, random_rotation, augment_offline)
    message = str(error.value)
    assert message.startswith("random_shift and augment_offline are not implemented yet: ")
    assert TO_DO in message and "\n" not in message
    assert error.value._render_traceback_() == [f"NotImplementedYet: {message}"]


def test_other_failures_pass_through_unchanged():
    @stubs.reports_stubs
    def check(function):
        function()

    with pytest.raises(AssertionError, match="^wrong$"):
        check(lambda: common.expect(False, "wrong"))
    import torch
    with pytest.raises(NotImplementedError) as error:    # torch's own, not a student's stub
        check(lambda: torch.nn.Module()(1))
    assert type(error.value) is NotImplementedError and "forward" in str(error.value)


# ------------------------------------------------------------------ in a kernel, the released stubs
def _run(nb, tmp_path):
    env = {**os.environ, "I2DL_PROGRESS_BAR": "0"}
    NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(tmp_path)}}).execute(env=env)
    return nb


def _error(cell_) -> dict:
    errors = [o for o in cell_.outputs if o.output_type == "error"]
    assert len(errors) == 1, cell_.outputs
    return errors[0]


def _one_line(cell_, names: list) -> str:
    """The cell's error is exactly one line, naming `names` (in this order) and what to do."""
    error = _error(cell_)
    assert len(error.traceback) == 1, error.traceback
    line = error.traceback[0]
    assert "\n" not in line and "Traceback" not in line and TO_DO in line, line
    listed = ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]
    assert f": {listed} {'are' if len(names) > 1 else 'is'} not implemented yet: " in line, line
    return line


def test_autoencoder_self_checks_on_the_released_stubs(tmp_path, mnist_cache):
    """Hyperparameter cells filled in (as a student might first do), every class and function a stub."""
    nbs = examples.build(SOURCE, RELEASE, solved=["hparams_solution", "ae_hparams_solution"])
    nb = nbs["1_autoencoder.ipynb"]
    nb.cells = nb.cells[:nb.cells.index(cell(nb, "autoencoder_selfcheck")) + 1]
    released = nbformat.read(RELEASE / "1_autoencoder.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(cell(released, "hparams_solution").source))
    nb = _run(nb, tmp_path)
    _one_line(cell(nb, "augmentation_selfcheck"), ["random_shift", "random_rotation", "augment_offline"])
    _one_line(cell(nb, "encoder_selfcheck"), ["Encoder.__init__"])
    _one_line(cell(nb, "classifier_selfcheck"), ["Classifier.__init__", "Classifier.training_step",
                                                 "Classifier.configure_optimizers", "Encoder.__init__"])
    _one_line(cell(nb, "autoencoder_selfcheck"), ["Autoencoder.forward", "Autoencoder.training_step",
                                                  "Autoencoder.configure_optimizers", "Encoder.__init__",
                                                  "Decoder.__init__"])
    unfilled = _error(nb.cells[-1])                          # the released hparams cell, run as it is
    assert unfilled.ename == "NotImplementedError" and unfilled.traceback == [
        "NotImplementedError: This cell is not filled in yet: write your code under its `# TODO` in place of "
        "`raise NotImplementedError()`, then run it again."]


def test_batchnorm_dropout_self_checks_on_the_released_stubs(tmp_path):
    """Notebook 2's check cells call the stubs inline too; a wrong dropout keeps its usual message,
    and a NotImplementedError that is not a student's stub keeps its traceback."""
    release = nbformat.read(RELEASE / "2_batchnorm_dropout.ipynb", as_version=4)
    nb = examples.build(SOURCE, RELEASE, solved=[])["2_batchnorm_dropout.ipynb"]
    nb.cells = nb.cells[:nb.cells.index(cell(nb, "experiment_setup"))]
    no_scaling = cell(examples.build(SOURCE, RELEASE)["2_batchnorm_dropout.ipynb"], "dropout_forward").source \
        .replace("/ (1 - p)", "")
    nb.cells += [nbformat.v4.new_code_cell(no_scaling), nbformat.v4.new_code_cell(cell(release, "check_dropout_forward").source),
                 nbformat.v4.new_code_cell("import torch\ntorch.nn.Module()(1)")]
    nb = _run(nb, tmp_path)
    _one_line(cell(nb, "check_batchnorm_forward"), ["batchnorm_forward"])
    _one_line(cell(nb, "check_batchnorm_backward"), ["batchnorm_forward", "batchnorm_backward"])
    _one_line(cell(nb, "check_batchnorm_backward_alt"), ["batchnorm_forward", "batchnorm_backward_alt"])
    _one_line(cell(nb, "check_dropout_forward"), ["dropout_forward"])
    _one_line(cell(nb, "check_dropout_backward"), ["dropout_forward", "dropout_backward"])
    wrong = _error(nb.cells[-2])
    assert wrong.ename == "AssertionError" and "inverted dropout keeps the mean" in wrong.evalue
    assert len(wrong.traceback) > 3                              # today's traceback
    library = _error(nb.cells[-1])
    assert library.ename == "NotImplementedError" and 'missing the required "forward"' in library.evalue
    assert len(library.traceback) > 3
