"""Course-wide settings: paths, split sizes and grading thresholds live here and nowhere else."""
import os
import sys
from pathlib import Path

COURSE_ID = "i2dl"
ASSIGNMENT = "exercise_08"

# Data splits (see i2dl_utils.data.splits). Labelled sets are class-balanced.
SPLIT_SEED = 0
LABELLED_TRAIN = 300
LABELLED_VAL = 300
# The labelled splits each notebook asks load_splits for, (n_train, n_val, seed): while grading,
# only the images of these splits have labels (i2dl_course.grading.dataview), and load_splits
# with any other split raises. A notebook's load_splits calls must be among its own.
NOTEBOOK_SPLITS = {
    "1_autoencoder": ((LABELLED_TRAIN, LABELLED_VAL, SPLIT_SEED),),
    "2_batchnorm_dropout": ((2000, 1000, SPLIT_SEED),),
}
LABELLED_SPLITS = tuple(sorted({split for splits in NOTEBOOK_SPLITS.values() for split in splits}))
# The 10,000-digit npm fallback has no official test set: this many digits (stratified,
# fixed seed) are held out as the grader-only test split when the cache is built.
FALLBACK_TEST = 2000
FALLBACK_TEST_SEED = 2024

# Hidden-test pass bars: accuracy on the grader-only test split.
BASELINE_MIN_ACCURACY = 0.70
TRANSFER_MIN_ACCURACY = 0.80
# Model limits carried over from the original course.
MAX_PARAMETERS = 5_000_000
# The autoencoder's code may be at most this wide (the notebook uses latent_dim = 20).
MAX_LATENT_DIM = 64


def course_root() -> Path:
    """The nbgrader course directory: $I2DL_COURSE_ROOT, else the folder holding this package."""
    env = os.environ.get("I2DL_COURSE_ROOT")
    return Path(env).resolve() if env else Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    """Where the MNIST cache lives: $I2DL_DATA_DIR, else <course root>/datasets/mnist."""
    env = os.environ.get("I2DL_DATA_DIR")
    return Path(env).resolve() if env else course_root() / "datasets" / "mnist"


def interpreter_tools_on_path() -> None:
    """Put this Python's bin folder first on PATH (pip, alembic of the venv), once."""
    bin_dir = str(Path(sys.executable).parent)
    if os.environ.get("PATH", "").split(os.pathsep)[0] != bin_dir:
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
