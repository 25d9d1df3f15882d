"""One Trainer factory for every notebook: seeds, quiet logs, progress bars on or off, history.

Progress bars show unless the environment sets I2DL_PROGRESS_BAR=0 (the grader and the tests do).
I2DL_SEED_OFFSET=k shifts every seed by k (benchmarks use it to repeat a notebook over seeds).
Threads: torch follows OMP_NUM_THREADS, which the grader sets to its share of the cores.
"""
import logging
import os
import warnings

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Callback
from pytorch_lightning.loggers import TensorBoardLogger

LOG_DIR = "lightning_logs"


def progress_bar_enabled() -> bool:
    return os.environ.get("I2DL_PROGRESS_BAR", "1") != "0"


def quiet_lightning() -> None:
    """Silence Lightning's info lines (GPU/TPU availability, tips, 'Seed set') and loader hints."""
    for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=r".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=r".*number of training batches.*smaller than the logging interval.*")
    warnings.filterwarnings("ignore", message=r".*tensorboardX.*")
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)` is deprecated.*")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (quietly), with seed + $I2DL_SEED_OFFSET."""
    quiet_lightning()
    pl.seed_everything(seed + int(os.environ.get("I2DL_SEED_OFFSET", "0")), workers=True, verbose=False)


class History(Callback):
    """Keeps what was logged, for matplotlib: per-step training loss and per-epoch metrics.

    history.steps: [float] training loss of every optimisation step (needs `self.log("train_loss", ...)`)
    history.epochs: [{metric: float}] what `trainer.callback_metrics` held at each epoch end
    """

    def __init__(self):
        self.steps, self.epochs = [], []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        self.steps.append(float(loss))

    def on_train_epoch_end(self, trainer, pl_module):
        self.epochs.append({k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1})

    def series(self, metric: str) -> list:
        """Per-epoch values of one metric (epochs where it was not logged are skipped)."""
        return [e[metric] for e in self.epochs if metric in e]


def make_trainer(max_epochs: int, name: str = None, history: History = None, **kwargs) -> pl.Trainer:
    """A CPU-friendly Trainer; logs to TensorBoard under lightning_logs/<name> when name is given."""
    quiet_lightning()
    options = dict(
        max_epochs=max_epochs,
        accelerator="auto",
        devices=1,
        logger=TensorBoardLogger(LOG_DIR, name=name) if name else False,
        callbacks=[history] if history is not None else [],
        enable_progress_bar=progress_bar_enabled(),
        enable_model_summary=False,
        enable_checkpointing=False,
        num_sanity_val_steps=0,
        log_every_n_steps=10,
    )
    options.update(kwargs)
    return pl.Trainer(**options)
