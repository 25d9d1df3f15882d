"""The sandboxed kernel itself (no gradebook): what it can and cannot do, asserted from inside."""
import os
import sys
from pathlib import Path

import i2dl_utils
import pytest
from nbformat.v4 import new_code_cell, new_notebook
from traitlets.config import Config

from i2dl_course.grading.execute import SandboxedExecute
from i2dl_course.grading.sandbox import FIRST_UID, Sandbox

INSIDE = [
    # a student's own i2dl_utils/ next to the notebook does not shadow the real package
    "import i2dl_utils\nassert not hasattr(i2dl_utils, 'FAKE'), i2dl_utils.__file__",
    "import os, resource\nassert os.environ['OMP_NUM_THREADS'] == '1' and os.environ['I2DL_PROGRESS_BAR'] == '0'\n"
    "assert os.environ['CUDA_VISIBLE_DEVICES'] == '' and 'JPY_PARENT_PID' not in os.environ",
    "assert resource.getrlimit(resource.RLIMIT_AS)[0] == 6 << 30",
    "open('written-in-scratch', 'w').write('ok')",
    "import socket\ntry:\n    socket.create_connection(('127.0.0.1', 22), timeout=2)\n    reached = True\n"
    "except OSError:\n    reached = False\nassert not reached",
]


def run(tmp_path, uid=None, cells=INSIDE):
    scratch, runtime = tmp_path / "course" / "autograded" / "s" / "a", tmp_path / "rt"
    (scratch / "i2dl_utils").mkdir(parents=True)
    (scratch / "i2dl_utils" / "__init__.py").write_text("FAKE = True\n")
    nb = new_notebook(cells=[new_code_cell(c) for c in cells])
    cfg = Config()
    cfg.SandboxedExecute.sandbox = dict(
        scratch=str(scratch), runtime=str(runtime), data_dir=str(tmp_path / "data"), uid=uid, threads=1,
        hidden=[str(tmp_path / "course"), "/tmp", str(Path.home())],
        readable=[sys.prefix, sys.base_prefix, str(Path(i2dl_utils.__file__).parent)])
    cfg.SandboxedExecute.kernel_name = "python3"
    nb, _ = SandboxedExecute(config=cfg).preprocess(nb, {"metadata": {"path": str(scratch)}})
    return nb, scratch


def errors(nb):
    return [(c.source.splitlines()[0], o.ename, o.evalue) for c in nb.cells for o in c.outputs
            if o.output_type == "error"]


def test_inside_the_sandbox(tmp_path):
    nb, scratch = run(tmp_path, uid=FIRST_UID if os.geteuid() == 0 else None)
    assert errors(nb) == []
    assert (scratch / "written-in-scratch").read_text() == "ok"


@pytest.mark.skipif(os.geteuid() != 0, reason="documented: no uid switch and no process limit without root")
def test_as_root_the_kernel_runs_as_an_unprivileged_uid_with_a_process_limit(tmp_path):
    nb, _ = run(tmp_path, uid=FIRST_UID + 1, cells=[
        f"import os, resource\nassert os.getuid() == os.getgid() == {FIRST_UID + 1}\n"
        "assert resource.getrlimit(resource.RLIMIT_NPROC)[0] == 256"])
    assert errors(nb) == []


def test_without_sandbox_the_kernel_still_dies_with_its_worker_and_has_limits():
    box = Sandbox(scratch=Path("/s"), runtime=Path("/r"), data_dir=Path("/d"), enabled=False)
    cmd = box.wrap(["python", "-m", "ipykernel_launcher"])
    assert cmd[:3] == [cmd[0], "--pdeathsig=KILL", "--"] and cmd[0].endswith("setpriv")
    assert "--as=6442450944" in cmd and not any("bwrap" in part for part in cmd)
