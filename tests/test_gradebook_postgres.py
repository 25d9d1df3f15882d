"""The gradebook in a real PostgreSQL server (`--db postgresql+psycopg://...`): a throwaway server
(initdb and pg_ctl in a temporary folder, as an unprivileged user when the tests run as root),
graded into, the same grades as the SQLite gradebook for the same submissions."""
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

from i2dl_course import examples
from i2dl_course.grading.grade import Options, grade
from grading import ASSIGNMENT, course_copy, gradebook_rows, notebooks, prepared_template, table, write

SEED = 7


def pg_bin(name: str) -> str:
    """A PostgreSQL server program: on PATH, or where Debian's `postgresql` package puts it."""
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if found is None:
        pytest.fail(f"PostgreSQL's {name} is missing: apt-get install postgresql (.ci/run does)")
    return found


def as_server_user(cmd: list) -> list:
    """PostgreSQL refuses to run as root: as root, run it as the `postgres` system user (Debian's
    package creates it), else as nobody."""
    if os.geteuid() != 0:
        return cmd
    user = "postgres" if _has_user("postgres") else "nobody"
    return [shutil.which("setpriv") or "/usr/bin/setpriv", f"--reuid={user}", f"--regid={pwd.getpwnam(user).pw_gid}",
            "--clear-groups", "--", *cmd]


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres():
    """A throwaway PostgreSQL server on 127.0.0.1 with an empty database; its URL."""
    folder = Path(tempfile.mkdtemp(prefix="i2dl-pg-"))       # not under pytest's root-only tmp: the server user reads it
    data = folder / "data"
    if os.geteuid() == 0:
        info = pwd.getpwnam("postgres" if _has_user("postgres") else "nobody")
        os.chown(folder, info.pw_uid, info.pw_gid)
    port = free_port()
    env = dict(os.environ, LC_ALL="C.UTF-8", LANG="C.UTF-8")
    subprocess.run(as_server_user([pg_bin("initdb"), "-D", str(data), "-U", "grader", "--auth=trust",
                                   "--encoding=UTF8", "--no-sync"]), check=True, capture_output=True, env=env,
                   cwd=folder)
    ctl = [pg_bin("pg_ctl"), "-D", str(data), "-l", str(folder / "server.log"), "-w", "-t", "60",
           "-o", f"-k {data} -p {port} -c listen_addresses=127.0.0.1 -c fsync=off"]
    subprocess.run(as_server_user(ctl + ["start"]), check=True, capture_output=True, env=env, cwd=folder)
    try:
        import psycopg
        with psycopg.connect(f"host=127.0.0.1 port={port} user=grader dbname=postgres", autocommit=True) as conn:
            conn.execute("CREATE DATABASE gradebook")
        yield f"postgresql+psycopg://grader@127.0.0.1:{port}/gradebook"
    finally:
        subprocess.run(as_server_user([pg_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
                       capture_output=True, cwd=folder)
        shutil.rmtree(folder, ignore_errors=True)


def test_a_postgresql_gradebook_gets_the_grades_of_an_sqlite_one(postgres, tmp_path, mnist_cache):
    template = prepared_template(tmp_path / "template")
    subs = tmp_path / "submissions"
    examples.demo_submissions(template / "source" / ASSIGNMENT, template / "release" / ASSIGNMENT, subs, ASSIGNMENT)
    write(subs, "only-add", notebooks(template, ["add"]))
    results = {}
    for name, url in (("sqlite", None), ("postgresql", postgres)):
        root = course_copy(template, tmp_path / name)
        run = grade(subs, root, Options(assignment=ASSIGNMENT, workers=2, timeout=120, progress=False, seed=SEED,
                                        db_url=url))
        results[name] = table(run.csv), gradebook_rows(url or f"sqlite:///{root / 'gradebook.db'}")
        print(f"{name}: {run.seconds:.1f} s")
    assert results["postgresql"] == results["sqlite"]
    assert sorted(results["postgresql"][1]) == ["demo-partial", "demo-solution", "demo-untouched", "only-add"]
    assert results["postgresql"][0]["demo-solution"]["total"] == "5.0"
