"""nbgrader's formgrader on a course graded with `i2dl grade`, called over HTTP on a real Jupyter
server (nbgrader's formgrader with i2dl_course.formgrader): Autograde refuses in one line, Generate
feedback writes the kit's feedback, the grading view runs no student markup, and a manual score
given there survives a regrade."""
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from nbformat.v4 import new_code_cell
from nbgrader.api import Gradebook

from i2dl_course.formgrader import REFUSAL
from i2dl_course.grading.grade import Options, grade
from i2dl_course.nbgrader_app import course_config
from grading import ASSIGNMENT, notebooks, prepared_template, table, write
from test_feedback_html import Page, hostile_notebooks

STUDENT = "only-add"
SHOW = "from IPython.display import HTML, display\ndisplay(HTML(\"<img src=x onerror=\\\"window.pwned='output'\\\">\"))"


def submission(root) -> dict:
    """add solved (square_sum not: its test scores 0 automatically), with the hostile markdown and
    raw cells and a cell that displays HTML with an onerror handler."""
    nbs = notebooks(root, ["add"])
    hostile = hostile_notebooks(root)["tiny.ipynb"]
    nbs["tiny.ipynb"].cells[1:1] = hostile.cells[1:3] + [new_code_cell(SHOW)]
    return nbs


class Server:
    """`jupyter server` in the course root with nbgrader's formgrader and the kit's extension."""

    def __init__(self, root: Path, home: Path):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.token = "formgrader-test"
        config = home / "jupyter"
        config.mkdir()
        (config / "jupyter_server_config.json").write_text(json.dumps(
            {"ServerApp": {"jpserver_extensions": {"i2dl_course.formgrader": True}}}))
        env = dict(os.environ, JUPYTER_CONFIG_DIR=str(config), JUPYTER_RUNTIME_DIR=str(home / "runtime"),
                   JUPYTER_DATA_DIR=str(home / "data"))
        self.log = home / "server.log"
        with open(self.log, "w") as log:
            self.process = subprocess.Popen(
                [str(Path(sys.executable).parent / "jupyter-server"), "--no-browser", f"--port={self.port}",
                 f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={root}"] + ["--allow-root"] * (os.geteuid() == 0),
                cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while True:
            try:
                self.call("GET", "formgrader/api/status")
                break
            except (urllib.error.URLError, ConnectionError):
                assert self.process.poll() is None and time.monotonic() < deadline, self.log.read_text()[-3000:]
                time.sleep(0.5)

    def call(self, method: str, path: str, body=None, raw: bool = False):
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/{path}", method=method,
                                         data=None if body is None else json.dumps(body).encode(),
                                         headers={"Authorization": f"token {self.token}"})
        data = urllib.request.urlopen(request, timeout=120).read().decode()
        return data if raw else json.loads(data)

    def stop(self):
        self.process.terminate()
        self.process.wait(30)


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """The fixture course with one submission graded by `i2dl grade`."""
    folder = tmp_path_factory.mktemp("formgrader")
    root = prepared_template(folder)
    subs = folder / "submissions"
    write(subs, STUDENT, submission(root))
    grade(subs, root, Options(assignment=ASSIGNMENT, workers=1, timeout=120, progress=False))
    return root, subs


@pytest.fixture(scope="module")
def server(course, tmp_path_factory):
    running = Server(course[0], tmp_path_factory.mktemp("server"))
    yield running
    running.stop()


def grade_of(db_url: str, name: str):
    with Gradebook(db_url) as gb:
        g = gb.find_grade(name, "tiny", ASSIGNMENT, STUDENT)
        return g.id, g.auto_score, g.manual_score


def test_autograde_refuses_in_one_line(server):
    result = server.call("POST", f"formgrader/api/submission/{ASSIGNMENT}/{STUDENT}/autograde", {})
    assert result == {"success": False, "error": REFUSAL} and "\n" not in REFUSAL
    assert "`i2dl grade SUBMISSIONS`" in REFUSAL


def test_generate_feedback_is_the_kits(course, server):
    root, _ = course
    html = root / "feedback" / STUDENT / ASSIGNMENT / "tiny.html"
    html.unlink()
    result = server.call("POST", f"formgrader/api/assignment/{ASSIGNMENT}/{STUDENT}/generate_feedback", {})
    assert result["success"], result
    text = html.read_text()
    assert "Grading note:" in text and "✓ 1 / 1 points" in text
    assert "BEGIN HIDDEN TESTS" not in text and "i2dl_utils.probes" not in text
    assert Page(text).runnable() == []
    every = server.call("POST", f"formgrader/api/assignment/{ASSIGNMENT}/generate_feedback", {})
    assert every["success"] and STUDENT in every["log"], every


def test_the_grading_view_runs_no_student_markup(course, server):
    root, _ = course
    with Gradebook(course_config(root).CourseDirectory.db_url) as gb:
        notebook_id = gb.find_submission_notebook("tiny", ASSIGNMENT, STUDENT).id
    page = server.call("GET", f"formgrader/submissions/{notebook_id}", raw=True)
    assert "window.pwned" in page                       # the submission's markup is there, as text
    assert [h for h in Page(page).handlers if "pwned" in h[2]] == [] and Page(page).urls == []


def test_a_manual_score_given_in_the_formgrader_survives_a_regrade(course, server):
    root, subs = course
    db_url = course_config(root).CourseDirectory.db_url
    grade_id, auto, manual = grade_of(db_url, "test_square_sum")
    assert (auto, manual) == (0.0, None)
    given = server.call("PUT", f"formgrader/api/grade/{grade_id}", {"manual_score": 1.5})
    assert given["manual_score"] == 1.5 and not given["needs_manual_grade"], given
    run = grade(subs, root, Options(assignment=ASSIGNMENT, workers=1, timeout=120, progress=False, force=True))
    assert [o.status for o in run.outcomes] == ["graded"]
    assert grade_of(db_url, "test_square_sum") == (grade_id, 0.0, 1.5)
    assert grade_of(db_url, "test_add")[1:] == (1.0, None)
    row = table(run.csv)[STUDENT]
    assert float(row["test_square_sum"]) == 1.5 and float(row["total"]) == 1 + 1.5 + 1 + 0, row
