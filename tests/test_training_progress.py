"""The progress display of make_trainer: one plain-text output per notebook cell (a line per fit,
updated in place, no widgets, nothing on stderr), and nothing at all with I2DL_PROGRESS_BAR=0."""
import os
import re

import nbformat
import pytest
import pytorch_lightning as pl
import torch
from nbclient import NotebookClient

from i2dl_utils.training import CellProgress, make_trainer


class Tiny(pl.LightningModule):
    """One Linear(4, 1) trained with MSE; `steps` gets on_step(output of the layer) at each training step."""

    def __init__(self, on_step=lambda out: None):
        super().__init__()
        self.layer = torch.nn.Linear(4, 1)
        self.on_step, self.steps = on_step, []

    def training_step(self, batch, batch_idx):
        out = self.layer(batch[0])
        self.steps.append(self.on_step(out))
        return torch.nn.functional.mse_loss(out.float(), batch[1])

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


class Validated(Tiny):
    """Tiny with a validation step; `validated` gets the epoch of each."""

    def __init__(self):
        super().__init__()
        self.validated = []

    def validation_step(self, batch, batch_idx):
        self.validated.append(self.current_epoch)


def loader(n: int = 16):
    """n random (4,) -> (1,) pairs in batches of 8."""
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(n, 4), torch.randn(n, 1)),
                                       batch_size=8)

TINY = '''
import os, torch, pytorch_lightning as pl
from torch import nn
from i2dl_utils.training import make_trainer, seed_everything


class Tiny(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(4, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = nn.functional.mse_loss(self.layer(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", nn.functional.mse_loss(self.layer(x), y), prog_bar=True)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(64, 4), torch.randn(64, 1)), batch_size=8)
seed_everything(0)
'''
TWO_FITS = '''
make_trainer(3, name="first").fit(Tiny(), loader, loader)
make_trainer(2, name="second").fit(Tiny(), loader, loader)
print("result line")
'''
WIDGET = "application/vnd.jupyter.widget-view+json"
FULL_BAR = "█{%d} 100%%" % CellProgress.WIDTH


@pytest.fixture(scope="module")
def executed():
    cells = [TINY, TWO_FITS, TWO_FITS, 'os.environ["I2DL_PROGRESS_BAR"] = "0"', TWO_FITS]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    env = {k: v for k, v in os.environ.items() if k != "I2DL_PROGRESS_BAR"}
    NotebookClient(nb, timeout=300, kernel_name="python3").execute(env=env)
    return nb


def _progress_lines(cell) -> list:
    displays = [o for o in cell.outputs if o.output_type == "display_data"]
    assert len(displays) == 1, cell.outputs
    return displays[0].data["text/plain"].splitlines()


def test_one_text_output_per_cell_with_a_finished_line_per_fit(executed):
    for cell in executed.cells[1:3]:
        lines = _progress_lines(cell)
        assert [line.split()[0] for line in lines] == ["first", "second"], lines
        assert re.search(FULL_BAR + r"  epoch 3/3  val_loss \d\.\d+  train_loss \d\.\d+  done in [\d.]+ s$", lines[0])
        assert "epoch 2/2" in lines[1] and "done in" in lines[1]
        assert cell.outputs[-1].text == "result line\n"          # the result comes after the display
        for output in cell.outputs:
            assert not (output.output_type == "stream" and output.name == "stderr"), output.text
            assert output.output_type != "error" and WIDGET not in output.get("data", {})


def test_progress_is_off_with_i2dl_progress_bar_0(executed):
    assert [(o.output_type, o.get("text")) for o in executed.cells[4].outputs] == [("stream", "result line\n")]


def test_outside_a_notebook_the_finished_line_goes_to_stdout(capfd, monkeypatch):
    monkeypatch.delenv("I2DL_PROGRESS_BAR", raising=False)
    trainer = make_trainer(2, name="script")
    assert isinstance(trainer.progress_bar_callback, CellProgress)
    trainer.fit(Tiny(), loader())
    out, err = capfd.readouterr()
    assert re.search(r"^script +" + FULL_BAR + r"  epoch 2/2 .*done in", out, re.M), out
    assert "█" not in err


def test_no_progress_callback_when_off(monkeypatch):
    monkeypatch.setenv("I2DL_PROGRESS_BAR", "0")
    assert make_trainer(1).progress_bar_callback is None
    monkeypatch.delenv("I2DL_PROGRESS_BAR")
    assert make_trainer(1, enable_progress_bar=False).progress_bar_callback is None


def test_a_cpu_fit_uses_only_idle_cores_and_restores_torchs_threads(monkeypatch):
    from i2dl_utils import training

    assert 0 <= training.idle_cores() <= os.cpu_count() + 0.5      # measured on this machine's /proc/stat
    model = Tiny(on_step=lambda out: torch.get_num_threads())
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        monkeypatch.setattr(training, "idle_cores", lambda: 0.2)    # another job keeps the cores busy
        make_trainer(1, enable_progress_bar=False).fit(model, loader())
        assert model.steps == [1, 1] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_idle_cores_counts_other_processes_not_this_one(monkeypatch):
    """Busy core-seconds of the machine less this process's own CPU time, per second of the window
    since the last fit: 1.5 busy core-seconds over 1 s, 0.5 of them this process's, leave all cores
    but one idle."""
    import time
    from i2dl_utils import training

    samples = iter([(11.0, 101.5, 10.5)])
    monkeypatch.setattr(training, "_measured", None)
    monkeypatch.setattr(training, "_since", (10.0, 100.0, 10.0))
    monkeypatch.setattr(training, "_cpu_sample", lambda: next(samples))
    assert training.idle_cores() == pytest.approx(os.cpu_count() - 1)
    # a fit right after another: no new window to measure, the last figure stands
    monkeypatch.setattr(training, "_since", (time.monotonic(), 0.0, 0.0))
    assert training.idle_cores() == pytest.approx(os.cpu_count() - 1)


def _dtypes_in_a_step(monkeypatch, **env) -> tuple:
    """(trainer precision, dtype of a Linear's output in training_step, dtype of the weights after the fit)."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    model, trainer = Tiny(on_step=lambda out: out.dtype), make_trainer(1, enable_progress_bar=False)
    trainer.fit(model, loader(8))
    return trainer.precision, model.steps[0], model.layer.weight.dtype


def test_bfloat16_mixed_precision_only_where_the_cpu_has_it(monkeypatch):
    monkeypatch.delenv("I2DL_PRECISION", raising=False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True)
    assert _dtypes_in_a_step(monkeypatch) == ("bf16-mixed", torch.bfloat16, torch.float32)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    assert _dtypes_in_a_step(monkeypatch) == ("32-true", torch.float32, torch.float32)


def test_i2dl_precision_sets_the_precision(monkeypatch):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True)
    assert _dtypes_in_a_step(monkeypatch, I2DL_PRECISION="32-true") == ("32-true", torch.float32, torch.float32)


def test_the_libraries_are_kept_out_of_the_garbage_collectors_sight():
    """Importing the trainer factory freezes what torch and Lightning allocated (gc.freeze), which saves
    full collections and the kernel's exit from walking through them."""
    import subprocess
    import sys
    code = "import gc, i2dl_utils.training; print(gc.get_freeze_count())"
    frozen = int(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert frozen > 100_000


def test_validation_about_ten_times_a_run_and_after_the_last_epoch(monkeypatch):
    from i2dl_utils.training import History

    data = loader(8)
    model = Validated()
    make_trainer(30, enable_progress_bar=False).fit(model, data, data)
    assert model.validated == [2, 5, 8, 11, 14, 17, 20, 23, 26, 29]
    model = Validated()
    make_trainer(45, enable_progress_bar=False).fit(model, data, data)      # 3 divides 45; 4 does not
    assert model.validated[-1] == 44 and len(model.validated) == 15
    model = Validated()
    make_trainer(6, enable_progress_bar=False, history=History()).fit(model, data, data)
    assert model.validated == [0, 1, 2, 3, 4, 5]                  # a History's curves have a point per epoch
