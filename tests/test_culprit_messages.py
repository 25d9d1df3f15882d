"""A test cell that fails before its probe exported anything names the real culprit in the
exercise's words: the release notebook, its tests restored, run by a real kernel with the
hyperparameters cell skipped (the student did not fill it in or did not run it)."""
import pytest

from i2dl_course.grading.grade import first_error
from notebooks import RELEASE, SOURCE, Probing, cell, execute, read, restore_tests

NB = "1_autoencoder"


@pytest.fixture(scope="module")
def skipped_hparams(tmp_path_factory):
    """(probing, executed notebook): the imports, a solved Encoder and its tests, no hparams cell."""
    folder = tmp_path_factory.mktemp("culprit")
    source, nb = read(SOURCE / f"{NB}.ipynb"), restore_tests(read(RELEASE / f"{NB}.ipynb"), read(SOURCE / f"{NB}.ipynb"))
    imports = nb.cells[1]
    imports.source = imports.source.split("seed_everything(0)")[0]           # no data loading needed here
    nb.cells = [imports, cell(source, "encoder_solution"), cell(nb, "encoder_hidden"), cell(nb, "baseline_accuracy")]
    probing = Probing(NB, folder)
    return probing, execute(nb, folder, env=probing.env)


def test_an_undefined_hyperparameters_dict_names_the_cell_to_fill_in(skipped_hparams):
    probing, nb = skipped_hparams
    error = first_error(cell(nb, "encoder_hidden"))
    assert error == "NameError: name 'hparams' is not defined"            # what the kernel said
    message = probing.verdict("encoder_hidden", 2, error).message
    assert message.startswith("the test could not run (`hparams` was not defined when this test ran: it is "
                              'defined by your answer cell in section "2. The encoder" (it says: choose the '
                              "classifier's hyperparameters"), message
    assert "NameError" not in message and "fill it in and run it" in message


def test_a_model_never_trained_names_the_training_cell(skipped_hparams):
    probing, nb = skipped_hparams
    error = first_error(cell(nb, "baseline_accuracy"))
    message = probing.verdict("baseline_accuracy", 3, error).message
    assert "`classifier` was not defined when this test ran: run the cell that defines it in section " \
           '"3. The classifier, trained on 300 labels (the baseline)"' in message, message
    assert "NameError" not in message
