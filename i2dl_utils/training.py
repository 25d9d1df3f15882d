"""One Trainer factory for every notebook: seeds, quiet logs, progress display on or off, history.

Progress shows unless the environment sets I2DL_PROGRESS_BAR=0 (the grader and the tests do): in
a notebook, one plain-text output per cell with one line per `trainer.fit` (no widgets, so it reads
the same live, after save and reopen, and in nbconvert's HTML), elsewhere one line on stdout.
I2DL_SEED_OFFSET=k shifts every seed by k (benchmarks use it to repeat a notebook over seeds).
Threads: torch follows OMP_NUM_THREADS, which the grader sets to its share of the cores; on CPU
each fit uses at most as many threads as other processes left cores idle (`IdleCoreThreads`).
Precision: bfloat16 mixed precision on a CPU that multiplies bfloat16 natively, else float32;
I2DL_PRECISION (a Lightning precision, e.g. "32-true") sets it everywhere (`default_precision`).
"""
import gc
import logging
import math
import os
import sys
import time
import warnings

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback, ProgressBar
from pytorch_lightning.loggers import TensorBoardLogger

# torch and Lightning are imported now and live as long as the kernel: move their ~350,000 objects
# out of the garbage collector's sight, so that its full collections, and the interpreter's exit (about
# 1 s with them loaded), no longer walk through them all.
gc.freeze()

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


def _cpu_sample():
    """(wall seconds, busy core-seconds of the whole machine from /proc/stat, CPU seconds of this
    process), or None where /proc/stat cannot be read."""
    try:
        with open("/proc/stat") as f:
            ticks = [int(t) for t in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    if len(ticks) < 5:
        return None
    own = os.times()
    return time.monotonic(), (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK"), own.user + own.system


_since = _cpu_sample()       # other processes' load is measured from here: this import, then each fit's end
_measured = None              # what idle_cores found last


def idle_cores(min_window: float = 0.05) -> float:
    """How many cores other processes left idle since the import of this module or the end of the last
    fit (Linux /proc/stat less this process's own CPU time); None where /proc/stat cannot be read.
    A window shorter than `min_window` seconds (a fit right after another) gives the last figure."""
    global _measured
    if _since is None:
        return None
    wait = _since[0] + min_window - time.monotonic()
    if wait > 0 and _measured is not None:
        return _measured
    time.sleep(max(0.0, wait))
    now = _cpu_sample()
    if now is None:
        return None
    others = max(0.0, (now[1] - _since[1]) - (now[2] - _since[2])) / max(1e-3, now[0] - _since[0])
    _measured = max(0.0, (os.cpu_count() or 1) - others)
    return _measured


class IdleCoreThreads(Callback):
    """On CPU, train with at most as many torch threads as other processes left cores idle since the
    last fit (at least 1; never more than torch's setting), and restore the setting afterwards.

    With more threads than free cores, every parallel operation waits for a thread the system has
    put aside: on 2 cores shared with other jobs (load 6-8), a training step of the notebooks' MLPs
    took 10-20x longer with 2 threads than with 1. On an idle machine nothing changes; with one
    thread (the grader's setting) there is nothing to decide.
    """

    def __init__(self):
        self._threads = None

    def on_fit_start(self, trainer, pl_module) -> None:
        if trainer.strategy.root_device.type != "cpu" or torch.get_num_threads() <= 1:
            return
        self._threads = torch.get_num_threads()
        idle = idle_cores()
        if idle is not None:
            torch.set_num_threads(max(1, min(self._threads, round(idle))))

    def on_fit_end(self, trainer, pl_module) -> None:
        global _since
        _since = _cpu_sample()
        if self._threads is not None:
            torch.set_num_threads(self._threads)
            self._threads = None

    def on_exception(self, trainer, pl_module, exception) -> None:
        self.on_fit_end(trainer, pl_module)


class _CellBoard:
    """The one progress output of a notebook cell: a text/plain display, updated in place."""

    def __init__(self):
        self.lines, self.handle = [], None

    def add(self, line: str) -> int:
        self.lines.append(line)
        self.show()
        return len(self.lines) - 1

    def set(self, index: int, line: str, final: bool = False) -> None:
        self.lines[index] = line
        self.show()

    def show(self) -> None:
        from IPython.display import display
        data = {"text/plain": "\n".join(self.lines)}
        if self.handle is None:
            self.handle = display(data, raw=True, display_id=True)
        else:
            self.handle.update(data, raw=True)


class _StdoutBoard:
    """Outside a notebook: the line rewritten in place on a terminal, else printed once at the end."""

    def __init__(self):
        self.lines = []
        self.tty = sys.stdout.isatty()

    def add(self, line: str) -> int:
        self.lines.append(line)
        if self.tty:
            sys.stdout.write(line)
            sys.stdout.flush()
        return len(self.lines) - 1

    def set(self, index: int, line: str, final: bool = False) -> None:
        self.lines[index] = line
        if self.tty:
            sys.stdout.write("\r\033[K" + line + ("\n" if final else ""))
            sys.stdout.flush()
        elif final:
            print(line, flush=True)


_cell_boards = {}


def _board():
    """The progress output of the running notebook cell (shared by every fit in it), or stdout."""
    try:
        from IPython import get_ipython
        shell = get_ipython()
    except ImportError:
        shell = None
    if shell is None or getattr(shell, "kernel", None) is None:
        return _StdoutBoard()
    key = (id(shell), shell.execution_count)       # the count of the cell being run
    if key not in _cell_boards:
        _cell_boards.clear()                        # only the running cell's board is ever updated
        _cell_boards[key] = _CellBoard()
    return _cell_boards[key]


class CellProgress(ProgressBar):
    """Lightning progress bar: one line per fit (overall progress, epoch, latest metrics, time),
    all fits of a notebook cell in the cell's one text output; never stderr, never a widget."""

    REFRESH_SECONDS = 0.5
    WIDTH = 12

    def __init__(self, name: str = "training"):
        super().__init__()
        self.name = name
        self._enabled = True
        self._board = None
        self._slot = None
        self._start = 0.0
        self._shown = 0.0
        self._batches = 0             # training batches done in this fit

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    def _metrics(self, trainer) -> str:
        """Up to three: the progress-bar metrics first, then losses (val before train), then the rest."""
        metrics = {k: v for k, v in trainer.progress_bar_metrics.items() if isinstance(v, (int, float)) and k != "v_num"}
        rank = lambda key: ("loss" not in key, not key.startswith("val"), key)   # noqa: E731
        for key in sorted(trainer.callback_metrics, key=rank):
            value = trainer.callback_metrics[key]
            if key not in metrics and getattr(value, "numel", lambda: 0)() == 1:
                metrics[key] = float(value)
        return "  ".join(f"{k} {v:.4g}" for k, v in list(metrics.items())[:3])

    def _line(self, trainer, state: str = "") -> str:
        per_epoch, epochs = trainer.num_training_batches, trainer.max_epochs
        seconds = time.perf_counter() - self._start
        parts = [f"{self.name:<12}"]
        if math.isfinite(per_epoch) and per_epoch > 0 and epochs and epochs > 0:
            total = per_epoch * epochs
            if trainer.max_steps and trainer.max_steps > 0:
                total = min(total, trainer.max_steps)
            fraction = min(1.0, self._batches / total)
            filled = round(fraction * self.WIDTH)
            parts.append(f"{'█' * filled}{'░' * (self.WIDTH - filled)} {fraction:4.0%}")
            epoch = min(epochs, math.ceil(self._batches / per_epoch)) if self._batches else 0
            parts.append(f"epoch {epoch}/{epochs}")
        else:
            parts.append(f"epoch {trainer.current_epoch + 1}")
        metrics = self._metrics(trainer)
        if metrics:
            parts.append(metrics)
        elapsed = f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
        parts.append(f"{state} {elapsed}" if state else elapsed)
        return "  ".join(parts)

    def _show(self, trainer, force: bool = False, final: bool = False, state: str = "") -> None:
        if not self._enabled or self._board is None:
            return
        now = time.perf_counter()
        if force or final or now - self._shown >= self.REFRESH_SECONDS:
            self._shown = now
            self._board.set(self._slot, self._line(trainer, state), final=final)

    def on_train_start(self, trainer, pl_module) -> None:
        if not self._enabled:
            return
        self._start = self._shown = time.perf_counter()
        self._batches = 0
        self._board = _board()
        self._slot = self._board.add(self._line(trainer))

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._batches += 1
        self._show(trainer)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self._show(trainer)

    def on_train_end(self, trainer, pl_module) -> None:
        self._show(trainer, final=True, state="done in")
        self._board = None

    def on_exception(self, trainer, pl_module, exception) -> None:
        self._show(trainer, final=True, state=f"stopped ({type(exception).__name__}) after")
        self._board = None


def default_precision() -> str:
    """ "bf16-mixed" where training runs on a CPU with bfloat16 instructions (AVX512-BF16 or AMX), else
    "32-true". Mixed precision multiplies matrices in bfloat16 and keeps the weights, the optimizer
    and the losses in float32; on such a CPU the autoencoder's products take half the time, while
    small batches (32-128 images) train about as fast as in float32. Elsewhere bfloat16 is emulated
    and slow.
    $I2DL_PRECISION, when set, is the answer (benchmarks use it to measure both)."""
    if os.environ.get("I2DL_PRECISION"):
        return os.environ["I2DL_PRECISION"]
    if torch.cuda.is_available():
        return "32-true"
    native = [getattr(torch.cpu, f"_is_{unit}_supported", lambda: False) for unit in ("avx512_bf16", "amx_tile")]
    return "bf16-mixed" if any(check() for check in native) else "32-true"


def validation_interval(max_epochs: int) -> int:
    """Validate every this many epochs: about ten times per run, and always after the last epoch (the
    largest divisor of max_epochs up to max_epochs // 10). A validation of a notebook-1 classifier costs
    about as much as an epoch of its training: validating every epoch took a third of its fit."""
    most = max(1, max_epochs // 10)
    return max(k for k in range(1, most + 1) if max_epochs % k == 0)


def make_trainer(max_epochs: int, name: str = None, history: History = None, **kwargs) -> pl.Trainer:
    """A CPU-friendly Trainer (a CUDA GPU when there is one: accelerator "auto"); logs to TensorBoard
    under lightning_logs/<name> when name is given; on CPU it uses only idle cores (IdleCoreThreads)
    and bfloat16 mixed precision where the processor has it (default_precision). It validates about
    ten times per run (validation_interval), after every epoch when given a History (its curves
    have a point per epoch).

    With progress on (see progress_bar_enabled; `enable_progress_bar=False` turns it off for one
    trainer), progress shows as a CellProgress line named after the run.
    """
    quiet_lightning()
    options = dict(
        max_epochs=max_epochs,
        accelerator="auto",
        devices=1,
        precision=default_precision(),
        logger=TensorBoardLogger(LOG_DIR, name=name) if name else False,
        callbacks=[history] if history is not None else [],
        enable_progress_bar=progress_bar_enabled(),
        enable_model_summary=False,
        enable_checkpointing=False,
        num_sanity_val_steps=0,
        check_val_every_n_epoch=1 if history is not None else validation_interval(max_epochs),
        log_every_n_steps=10,
    )
    options.update(kwargs)
    callbacks = options["callbacks"]
    callbacks = list(callbacks) if isinstance(callbacks, (list, tuple)) else [callbacks] if callbacks else []
    callbacks.append(IdleCoreThreads())
    if options["enable_progress_bar"] and not any(isinstance(c, ProgressBar) for c in callbacks):
        callbacks.append(CellProgress(name or "training"))
    options["callbacks"] = callbacks
    return pl.Trainer(**options)
