"""Grading on a real Dask cluster on 127.0.0.1 (`dask scheduler`, two single-thread `dask worker`
processes, each in its own folder): the same gradebook and grades.csv as a local sequential run,
also when a worker is killed mid-run; a lost scheduler stops the run keeping what is finished, and
a rerun completes; a submission whose workers keep dying is an error with the reason; a worker
host without the students' data views stops grading before anything runs, and a worker's kernel
sees only its own notebook's labels."""
import io
import json
import os
import shutil
import subprocess
import sys
import threading

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from i2dl_course import examples
from i2dl_course.grading import cluster, jobs
from i2dl_course.grading.grade import Options, grade
from dask_cluster import LocalCluster, wait_until
from grading import ASSIGNMENT, course_copy, gradebook_rows, notebooks, prepared_template, table, write

SEED = 20240814
STUDENTS = ["broken", "demo-partial", "demo-solution", "demo-untouched", "no-add", "only-add"]


def submissions(root, folder):
    """Solved, blank, half solved, two partly solved, and a broken one (not a notebook)."""
    examples.demo_submissions(root / "source" / ASSIGNMENT, root / "release" / ASSIGNMENT, folder, ASSIGNMENT)
    write(folder, "only-add", notebooks(root, ["add"]))
    write(folder, "no-add", notebooks(root, ["square_sum", "greet"]))
    broken = write(folder, "broken", notebooks(root))
    (broken / "tiny.ipynb").write_text('{"cells": [')
    return folder


def options(**kw):
    return Options(assignment=ASSIGNMENT, timeout=120, progress=False, seed=SEED, **kw)


def db_url(root):
    return f"sqlite:///{root / 'gradebook.db'}"


def markers(root):
    return {p.stem for p in (root / ".grading" / ASSIGNMENT / "done").glob("*.json")}


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return prepared_template(tmp_path_factory.mktemp("template"))


@pytest.fixture(scope="module")
def subs(template, tmp_path_factory):
    return submissions(template, tmp_path_factory.mktemp("subs") / "submissions")


@pytest.fixture(scope="module")
def reference(template, subs, tmp_path_factory, mnist_cache):
    """The local sequential run: its grade table and gradebook."""
    root = course_copy(template, tmp_path_factory.mktemp("local"))
    run = grade(subs, root, options(workers=1))
    assert sorted(o.student for o in run.outcomes) == STUDENTS
    return table(run.csv), gradebook_rows(db_url(root))


@pytest.fixture(scope="module")
def view(tmp_path_factory, mnist_cache):
    """A worker host's data view, written by `i2dl data --view` (no test split)."""
    folder = tmp_path_factory.mktemp("worker-host") / "view"
    out = subprocess.run([sys.executable, "-m", "i2dl_course.cli", "data", "--view", str(folder)],
                         capture_output=True, text=True, check=True)
    assert "no test split" in out.stdout
    return folder


@pytest.fixture(scope="module")
def dask_cluster(view, tmp_path_factory):
    with LocalCluster(tmp_path_factory.mktemp("cluster"), view, workers=2) as c:
        yield c


def test_the_cluster_grades_like_a_local_sequential_run(dask_cluster, reference, template, subs, tmp_path):
    root = course_copy(template, tmp_path)
    run = grade(subs, root, options(scheduler=dask_cluster.address))
    assert run.counts["graded now"] == len(STUDENTS)
    assert table(run.csv) == reference[0]
    assert gradebook_rows(db_url(root)) == reference[1]
    assert table(run.csv)["demo-solution"]["total"] == "5.0"
    assert table(run.csv)["broken"]["status"] == "problem"
    logs = [(root / ".grading" / ASSIGNMENT / "logs" / f"{s}.log").read_text() for s in STUDENTS]
    assert all(log.startswith("[ran on the Dask worker tcp://127.0.0.1:") for log in logs)
    assert len({log.split()[5] for log in logs}) == 2, "both workers should have run submissions"


def test_a_worker_kernel_sees_only_its_own_notebooks_labels(dask_cluster, view):
    """`i2dl data --view` writes each notebook's view; on a worker, notebook 1's kernel finds its 600
    labels and no other split, notebook 2's its 3,000 (run as a task, like a submission)."""
    check = ("from i2dl_utils.data.provision import load_mnist\n"
             "assert (load_mnist().train_labels != 255).sum() == {}\n"
             "from i2dl_utils.data import load_splits\ntry:\n    load_splits(2000, 1000)\n    other = True\n"
             "except ValueError:\n    other = False\nassert other == {}")
    cells = {"1_autoencoder": check.format(600, False), "2_batchnorm_dropout": check.format(3000, True)}
    job = json.dumps({"order": list(cells), "support": {}, "timeout": 120, "cell_timeout": 60, "threads": 1,
                      "sandbox": True, "inputs": {name: "" for name in cells},
                      "notebooks": {name: nbformat.writes(new_notebook(cells=[new_code_cell(c)]))
                                    for name, c in cells.items()}}).encode()
    executor = cluster.Dask(dask_cluster.address, None, view, True)
    try:
        raw, why = executor.run("labels", job, 300, io.BytesIO())
    finally:
        executor.close()
    assert why is None, why
    for name, entry in jobs.parse(raw, list(cells)).items():
        errors = [o for c in entry["executed"].cells for o in c.outputs if o.output_type == "error"]
        assert errors == [], (name, errors)


def test_a_worker_killed_mid_run_changes_no_grade(dask_cluster, reference, template, subs, tmp_path):
    """Runs last on the module's cluster: it kills one of its workers."""
    root = course_copy(template, tmp_path)
    result = {}
    thread = threading.Thread(target=lambda: result.update(
        run=grade(subs, root, options(scheduler=dask_cluster.address))))
    thread.start()
    try:
        wait_until(lambda: dask_cluster.running_a_job("worker1"), 120, "worker1 to run a submission")
        dask_cluster.kill("worker1")
        killed_at = len(markers(root))
    finally:
        thread.join(timeout=300)
    assert killed_at < len(STUDENTS), "the worker should have been killed during the run"
    run = result["run"]
    assert {o.student: o.status for o in run.outcomes} == {s: r["status"] for s, r in reference[0].items()}
    assert table(run.csv) == reference[0]
    assert gradebook_rows(db_url(root)) == reference[1]


def test_a_lost_scheduler_stops_the_run_keeps_finished_grades_and_a_rerun_completes(
        view, reference, template, subs, tmp_path):
    root = course_copy(template, tmp_path / "course")
    cmd = [sys.executable, "-m", "i2dl_course.cli", "grade", str(subs), "--assignment", ASSIGNMENT, "--timeout",
           "120", "--seed", str(SEED)]
    with LocalCluster(tmp_path / "first", view, workers=2) as first:
        proc = subprocess.Popen(cmd + ["--scheduler", first.address], env=dict(os.environ,
                                I2DL_COURSE_ROOT=str(root)), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            wait_until(lambda: markers(root) or proc.poll() is not None, 180, "a first grade")
            first.kill("scheduler")
            out, err = proc.communicate(timeout=120)
        finally:
            proc.kill()
    finished = markers(root)
    assert proc.returncode == 3, err
    assert "lost the connection to the Dask scheduler" in err and "run the same command again" in err
    assert 1 <= len(finished) < len(STUDENTS)
    kept = gradebook_rows(db_url(root))
    assert set(kept) == finished, "every recorded grade has its marker and no marker lacks its grade"
    assert {s: kept[s] for s in finished} == {s: reference[1][s] for s in finished}

    run = grade(subs, root, options(workers=2))          # the rest, here on this machine: the same grades
    assert {o.student for o in run.outcomes if o.unchanged} == finished
    assert table(run.csv) == reference[0]
    assert gradebook_rows(db_url(root)) == reference[1]


def test_a_submission_whose_workers_die_is_an_error_with_the_reason(view, template, subs, tmp_path):
    """With allowed-failures 0 one death is enough: not graded, nothing recorded, the reason said."""
    root = course_copy(template, tmp_path / "course")
    one = tmp_path / "one"
    shutil.copytree(subs / "demo-solution", one / "demo-solution")
    with LocalCluster(tmp_path / "cluster", view, workers=1, allowed_failures=0) as c:
        result = {}
        thread = threading.Thread(target=lambda: result.update(run=grade(one, root, options(scheduler=c.address))))
        thread.start()
        try:
            wait_until(lambda: c.running_a_job("worker0"), 120, "the worker to run the submission")
            c.kill("worker0")
        finally:
            thread.join(timeout=300)
    [outcome] = result["run"].outcomes
    assert outcome.status == "error" and "the Dask worker running it died 1 time" in outcome.reason
    assert table(result["run"].csv)["demo-solution"]["status"] == "error"
    assert not gradebook_rows(db_url(root)) and not markers(root)


def test_a_worker_without_a_data_view_stops_grading_before_it_starts(template, subs, tmp_path):
    root = course_copy(template, tmp_path / "course")
    with LocalCluster(tmp_path / "cluster", tmp_path / "no-view", workers=1) as c:
        with pytest.raises(cluster.jobs.Stop, match="cannot grade: .*not a students' data view"):
            grade(subs, root, options(scheduler=c.address))
    assert not markers(root)


def certificates(folder):
    """A CA and a certificate it signed, for 127.0.0.1 (what the README's TLS example makes)."""
    folder.mkdir()
    run = lambda *args: subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=i2dl test CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "key.pem", "-out", "cert.csr", "-subj", "/CN=i2dl grading")
    (folder / "ext").write_text("subjectAltName=IP:127.0.0.1\n")
    run("x509", "-req", "-in", "cert.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out",
        "cert.pem", "-days", "2", "-extfile", "ext")
    return folder / "ca.pem", folder / "cert.pem", folder / "key.pem"


def test_a_tls_scheduler_needs_the_certificates_and_grades_with_them(view, template, subs, tmp_path):
    root = course_copy(template, tmp_path / "course")
    one = tmp_path / "one"
    shutil.copytree(subs / "demo-solution", one / "demo-solution")
    tls = certificates(tmp_path / "certs")
    with LocalCluster(tmp_path / "cluster", view, workers=1, tls=tls) as c:
        assert c.address.startswith("tls://127.0.0.1:")
        with pytest.raises(cluster.jobs.Stop, match="needs TLS: give --tls-ca-file"):
            grade(one, root, options(scheduler=c.address))
        out = subprocess.run([sys.executable, "-m", "i2dl_course.cli", "grade", str(one), "--assignment", ASSIGNMENT,
                              "--scheduler", c.address, "--tls-ca-file", str(tls[0]), "--tls-cert", str(tls[1]),
                              "--tls-key", str(tls[2]), "--timeout", "120"], env=dict(os.environ,
                             I2DL_COURSE_ROOT=str(root)), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert table(root / "grades.csv")["demo-solution"]["total"] == "5.0"
    assert "warning" not in out.stderr


def test_a_worker_view_without_the_notebooks_own_views_is_refused(view, tmp_path, monkeypatch):
    """A view of an older kit (the exercise's labels only, no view per notebook) cannot grade."""
    old = tmp_path / "old-view"
    old.mkdir()
    shutil.copy(view / "mnist.npz", old / "mnist.npz")
    monkeypatch.setenv(cluster.VIEW_ENV, str(old))
    with pytest.raises(cluster.WorkerSetupError, match="not a students' data view.*i2dl data --view DIR"):
        cluster.worker_view(cluster.view_digest(view), sandbox=False)
    monkeypatch.setenv(cluster.VIEW_ENV, str(view))
    assert cluster.worker_view(cluster.view_digest(view), sandbox=False) == view.resolve()


def test_the_views_digest_does_not_depend_on_the_folders_name(view, tmp_path):
    """The coordinator's views (.grading/data-view) and a worker's (any DIR) hold the same data."""
    shutil.copytree(view, tmp_path / "data-view")
    assert cluster.view_digest(tmp_path / "data-view") == cluster.view_digest(view)
