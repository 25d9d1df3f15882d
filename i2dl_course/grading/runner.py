"""The probe phase of one submission, in its own sandboxed, unprivileged process.

    python -I -m i2dl_course.grading.runner  < job.json  > result.json

sandbox.runner_command starts it (inside bubblewrap, as a slot uid when the grader is root) with
its box folder as the working folder. It runs each notebook in a sandboxed kernel in a fresh folder
of its own (never reused, never seen by another notebook's kernel), takes each test cell's exports
out of the kernel's reach when the cell finishes (exports.py: the careful reader reads them then),
deletes the folder, and answers on stdout.
No file it writes outlives it; the coordinator (grade.py) writes everything that lasts.

job:    {"notebooks": {name: notebook JSON text, tests restored}, "order": [names],
         "support": {relative path: base64}, "inputs": {name: base64 .npz}, "timeout": s per notebook,
         "cell_timeout": s, "threads": n, "sandbox": bool}
result: {"notebooks": {name: {"executed": notebook JSON text | null, "incidents": [...],
         "exports": {path: base64}, "refused": [lines], "dropped": [lines],
         "reason": why it did not run | null}}}
"""
import base64
import json
import os
import shutil
import sys
import traceback
from pathlib import Path, PurePosixPath

# jsonschema (under nbformat) builds rfc3987_syntax's IRI grammar when imported: 2.1 of the
# runner's 2.5 s start-up here. Notebook schemas use no IRI formats, so the runner goes without.
sys.modules.setdefault("rfc3987_syntax", None)

import nbformat  # noqa: E402

from .execute import SandboxedClient  # noqa: E402
from .sandbox import Sandbox  # noqa: E402


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _write_support(work: Path, support: dict) -> None:
    """The course's own support files (trusted, from source/<assignment>) into the kernel's folder."""
    for name, data in support.items():
        rel = PurePosixPath(name)
        if rel.is_absolute() or ".." in rel.parts:
            continue
        target = work / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(base64.b64decode(data))


def run_notebook(box: Path, index: int, text: str, job: dict) -> dict:
    folder = box / str(index)                     # short: IPC socket paths have at most 107 characters
    folder.mkdir(mode=0o700)
    view = Path(os.environ["I2DL_DATA_DIR"])              # a notebook's own view where there is one
    data_dir = view / job["name"] if (view / job["name"] / "mnist.npz").is_file() else view
    sandbox = Sandbox(work=folder / "work", exports=folder / "exports", inputs=folder / "inputs.npz",
                      runtime=folder / "rt", data_dir=data_dir,
                      threads=job["threads"], processes=bool(os.environ.get("I2DL_RUNNER_UID")),
                      enabled=job["sandbox"])
    sandbox.prepare()
    _write_support(sandbox.work, job["support"])
    sandbox.inputs.write_bytes(base64.b64decode(job["inputs"].get(job["name"], "")))
    try:
        nb = nbformat.reads(text, as_version=4)
        client = SandboxedClient(nb, sandbox, cell_timeout=job["cell_timeout"], notebook_timeout=job["timeout"],
                                 taken=folder / "taken")
        try:
            client.execute()
            reason = None
        except Exception as err:              # the kernel did not start or answer: graded as not run
            reason = f"could not be run ({type(err).__name__}: {' '.join(str(err).split())[:160]})"
        exports = client.exports
        return {"executed": nbformat.writes(nb) if reason is None else None, "incidents": client.incidents,
                "exports": {k: _b64(v) for k, v in exports.files.items()}, "refused": exports.refused,
                "dropped": exports.dropped, "reason": reason}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run(job: dict) -> dict:
    box = Path.cwd()
    for sub in ("home", "tmp"):
        (box / sub).mkdir(exist_ok=True)
    results = {}
    for index, name in enumerate(job["order"]):
        results[name] = run_notebook(box, index, job["notebooks"][name], dict(job, name=name))
    return {"notebooks": results}


def main() -> None:
    """Read the job on stdin, answer on stdout; everything else (kernels too) writes to stderr."""
    answer = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    job = json.loads(sys.stdin.buffer.read())
    try:
        result = run(job)
    except Exception:
        traceback.print_exc()
        sys.exit(1)
    with answer:
        answer.write(json.dumps(result).encode())


if __name__ == "__main__":
    main()
