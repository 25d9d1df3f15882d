"""The grading sandboxes themselves (no gradebook): a job run the way `i2dl grade` runs it, and what
its kernel can and cannot do, asserted from inside the kernel."""
import base64
import io
import json
import os
import sys
from pathlib import Path

import i2dl_utils
import nbformat
import numpy as np
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from i2dl_course.grading import jobs
from i2dl_course.grading.sandbox import FIRST_UID, SLOTS, Sandbox, claim_uid

ROOT = Path(i2dl_utils.__file__).resolve().parent.parent
# A test cell (grade id "t") exporting what its probe would; the cell before it writes an export too.
TEST_CELL = "os.makedirs(os.environ['I2DL_EXPORT_DIR'] + '/t')\nopen(os.environ['I2DL_EXPORT_DIR'] + '/t/x', 'w').write('ok')"
INSIDE = [
    "import i2dl_utils, os, resource\nassert i2dl_utils.__file__.startswith(%r)" % str(ROOT / "i2dl_utils"),
    "assert os.environ['OMP_NUM_THREADS'] == '1' and os.environ['I2DL_PROGRESS_BAR'] == '0'\n"
    "assert os.environ['CUDA_VISIBLE_DEVICES'] == '' and 'JPY_PARENT_PID' not in os.environ",
    "assert resource.getrlimit(resource.RLIMIT_AS)[0] == 6 << 30",
    "open('written-in-work', 'w').write('ok')\nopen(os.environ['I2DL_EXPORT_DIR'] + '/x', 'w').write('ok')",
    TEST_CELL,
    # nothing of the course, the grader's package, its data or its HOME is there
    f"assert sorted(os.listdir({str(ROOT)!r})) == sorted(['.venv', 'i2dl_utils']), os.listdir({str(ROOT)!r})",
    "try:\n    import i2dl_course\n    seen = True\nexcept ImportError:\n    seen = False\nassert not seen",
    "from i2dl_utils.data.provision import load_mnist\nm = load_mnist()\n"
    "assert len(m.test_labels) == 0 and len(m.train_labels) > 0 and 'training part only' in m.source",
    f"assert not os.path.exists({str(Path.home() / '.bashrc')!r}) and not os.path.exists('/root/.cache')",
    "import socket\ntry:\n    socket.create_connection(('127.0.0.1', 22), timeout=2)\n    reached = True\n"
    "except OSError:\n    reached = False\nassert not reached",
    "for path in ['/etc/i2dl-probe', '/i2dl-probe', '/tmp/i2dl-probe', '../i2dl-probe', '/usr/i2dl-probe',\n"
    "             os.environ['I2DL_PROBE_INPUTS']]:\n"
    "    try:\n        open(path, 'a').close()\n        wrote = True\n    except OSError:\n        wrote = False\n"
    "    assert not wrote, path",
]


def job(cells: list, sandbox: bool = True) -> bytes:
    nb = new_notebook(cells=[new_code_cell(c) for c in cells])
    for cell in nb.cells:
        if cell.source == TEST_CELL:
            cell.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": "t", "points": 1}
    buffer = io.BytesIO()
    np.savez(buffer, **{"t/a": np.arange(3)})
    return json.dumps({"order": ["nb"], "notebooks": {"nb": nbformat.writes(nb)}, "support": {},
                       "inputs": {"nb": base64.b64encode(buffer.getvalue()).decode()}, "timeout": 120,
                       "cell_timeout": 60, "threads": 1, "sandbox": sandbox}).encode()


def run(cells: list, data_view: Path, sandbox: bool = True) -> dict:
    log = io.BytesIO()
    with open(os.devnull, "wb") as log:
        raw, why = jobs.run(job(cells, sandbox), data_view, sandbox, 300, log)
    assert why is None, why
    return jobs.parse(raw, ["nb"])["nb"]


def errors(nb):
    return [(c.source.splitlines()[0], o.ename, o.evalue) for c in nb.cells for o in c.outputs
            if o.output_type == "error"]


@pytest.fixture(scope="module")
def view(mnist_cache, tmp_path_factory):
    from i2dl_course.grading import dataview
    return dataview.build(tmp_path_factory.mktemp("view"))


def test_inside_the_kernel_sandbox(view):
    entry = run(INSIDE, view)
    assert errors(entry["executed"]) == []
    assert entry["exports"] == {"t/x": b"ok"} and entry["incidents"] == [] and entry["refused"] == []
    assert entry["dropped"] == ["exports for 'x' written while cell 4 ran, not by the test cell 'x' itself: ignored"]


@pytest.mark.skipif(os.geteuid() != 0, reason="documented: no uid switch and no process limit without root")
def test_as_root_runner_and_kernel_run_as_an_unprivileged_slot_uid_with_a_process_limit(view):
    entry = run(["import os, resource\nassert os.getuid() == os.getgid() and %d <= os.getuid() < %d, os.getuid()\n"
                 "assert resource.getrlimit(resource.RLIMIT_NPROC)[0] == 256\nassert os.getgroups() in ([], [os.getgid()])"
                 % (FIRST_UID, FIRST_UID + SLOTS)], view)
    assert errors(entry["executed"]) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="uids are claimed only as root")
def test_concurrent_claims_get_different_uids():
    with claim_uid() as a, claim_uid() as b:
        assert a != b and FIRST_UID <= min(a, b)


def test_without_sandbox_the_kernel_still_dies_with_its_runner_and_has_limits():
    box = Sandbox(work=Path("/w"), exports=Path("/e"), inputs=Path("/i"), runtime=Path("/r"), data_dir=Path("/d"),
                  enabled=False)
    cmd = box.wrap([sys.executable, "-m", "ipykernel_launcher"])
    assert cmd[:3] == [cmd[0], "--pdeathsig=KILL", "--"] and cmd[0].endswith("setpriv")
    assert "--as=6442450944" in cmd and not any("bwrap" in part for part in cmd)


def test_a_notebooks_kernel_sees_only_its_own_labels(view):
    """With a view of its own (grade.py builds one per notebook), a kernel finds only its splits' labels."""
    from i2dl_course.grading import dataview
    dataview.build(view / "nb", splits=((300, 300, 0),))
    try:
        entry = run(["from i2dl_utils.data.provision import load_mnist\n"
                     "labels = load_mnist().train_labels\nassert (labels != 255).sum() == 600, (labels != 255).sum()\n"
                     "from i2dl_utils.data import load_splits\ntry:\n    load_splits(2000, 1000)\n    refused = False\n"
                     "except ValueError:\n    refused = True\nassert refused\nassert len(load_splits().train) == 300"],
                    view)
    finally:
        import shutil
        shutil.rmtree(view / "nb")
    assert errors(entry["executed"]) == []
