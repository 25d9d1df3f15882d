"""The judges of exercise_08, per notebook (named in nbgrader_config.py)."""
from . import autoencoder, batchnorm_dropout

NOTEBOOKS = {"1_autoencoder": autoencoder, "2_batchnorm_dropout": batchnorm_dropout}
