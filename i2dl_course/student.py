"""The student's side: `i2dl start` (a working copy of the release, opened in JupyterLab) and
`i2dl handin` (the notebooks packed as `<student_id>.zip`, the layout `i2dl grade` takes).

`start` never writes into release/: it copies the released notebooks into FOLDER/<assignment>/
(keeping notebooks already there) and starts JupyterLab in that folder, with the kit's Python first
on PATH in kernels and terminals (so `tensorboard` works in a terminal and in `%tensorboard`), and
with a private Jupyter config (FOLDER/.i2dl-jupyter, first on JUPYTER_CONFIG_PATH) that switches
off nbgrader's instructor tools (formgrader, create assignment, course and assignment lists) and
JupyterLab's news prompt.
"""
import json
import os
import shlex
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

from i2dl_utils import config

DEFAULT_FOLDER = "work"
CONFIG_DIR = ".i2dl-jupyter"            # FOLDER/.i2dl-jupyter: the private Jupyter config

# nbgrader's server extensions (all enabled by its install) and JupyterLab plugins a student has no use for.
SERVER_EXTENSIONS_OFF = ("nbgrader.server_extensions.formgrader", "nbgrader.server_extensions.course_list",
                         "nbgrader.server_extensions.assignment_list",
                         "nbgrader.server_extensions.validate_assignment", "i2dl_course.formgrader")
LAB_EXTENSIONS_OFF = ("@jupyter/nbgrader", "@jupyterlab/apputils-extension:announcements")


class HandinError(Exception):
    """The hand-in is refused; the message says why and what to do, in one line."""


def release_dir(assignment: str = config.ASSIGNMENT) -> Path:
    return config.course_root() / "release" / assignment


def working_copy(folder: Path, assignment: str = config.ASSIGNMENT) -> tuple:
    """Copy the release into folder/<assignment>/ where a file is missing: (path, copied, kept)."""
    source = release_dir(assignment)
    if not any(source.glob("*.ipynb")):
        raise FileNotFoundError(f"no released notebooks in {source}: run `i2dl release` first")
    target = Path(folder).resolve() / assignment
    if target == source.resolve() or source.resolve() in target.parents:
        raise ValueError(f"{folder} is the release itself: choose a folder of your own, e.g. `i2dl start work`")
    copied, kept = [], []
    for path in sorted(p for p in source.rglob("*") if p.is_file() and ".ipynb_checkpoints" not in p.parts):
        dest = target / path.relative_to(source)
        if dest.exists():
            kept.append(dest.name)
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest)
            copied.append(dest.name)
    return target, copied, kept


TERMINAL_RC = """# JupyterLab terminals of `i2dl start`: the environment of a login shell, as JupyterLab's own
# terminals have it, then this kit's Python first on PATH (a login shell's /etc/profile resets PATH).
if [ -f /etc/profile ]; then . /etc/profile; fi
for rc in ~/.bash_profile ~/.bash_login ~/.profile; do if [ -f "$rc" ]; then . "$rc"; break; fi; done
export PATH={bin_dir}:"$PATH"
"""


def jupyter_config(folder: Path) -> Path:
    """Write the private Jupyter config (anew at every start) and return its folder."""
    root = Path(folder).resolve() / CONFIG_DIR
    (root / "labconfig").mkdir(parents=True, exist_ok=True)
    server = {"ServerApp": {"jpserver_extensions": {name: False for name in SERVER_EXTENSIONS_OFF}}}
    bash = shutil.which("bash")
    if bash:
        (root / "terminal_rc.sh").write_text(TERMINAL_RC.format(bin_dir=shlex.quote(str(Path(sys.executable).parent))))
        server["ServerApp"]["terminado_settings"] = {"shell_command": [bash, "--rcfile", str(root / "terminal_rc.sh"), "-i"]}
    (root / "jupyter_server_config.json").write_text(json.dumps(server, indent=2) + "\n")
    page = {"disabledExtensions": {name: True for name in LAB_EXTENSIONS_OFF}}
    (root / "labconfig" / "page_config.json").write_text(json.dumps(page, indent=2) + "\n")
    return root


def lab_command(exercise: Path, port: int = None, open_browser: bool = True) -> list:
    command = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={exercise}"]
    if port:
        command.append(f"--ServerApp.port={port}")
    if not open_browser:
        command.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    return command


def lab_environment(config_dir: Path) -> dict:
    """The environment JupyterLab (and so its kernels and terminals) runs in."""
    env = dict(os.environ)
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([bin_dir] + [p for p in env.get("PATH", "").split(os.pathsep) if p and p != bin_dir])
    env["JUPYTER_CONFIG_PATH"] = os.pathsep.join([str(config_dir)] + [p for p in env.get("JUPYTER_CONFIG_PATH", "").split(os.pathsep) if p])
    return env


def start(folder=None, port: int = None, open_browser: bool = True, assignment: str = config.ASSIGNMENT) -> None:
    """Prepare the working copy and replace this process by JupyterLab (returns only on error)."""
    folder = Path(folder or DEFAULT_FOLDER).resolve()
    exercise, copied, kept = working_copy(folder, assignment)
    print(f"your working copy: {exercise}")
    if copied:
        print(f"  copied from the release: {', '.join(copied)}")
    if kept:
        print(f"  kept (your work so far): {', '.join(kept)}")
    print("starting JupyterLab there (stop it with Ctrl+C); to hand in, run:")
    print(f"  {Path(sys.executable).parent / 'i2dl'} handin {folder} --student YOUR_ID", flush=True)
    env = lab_environment(jupyter_config(folder))
    os.chdir(exercise)
    sys.stderr.flush()
    command = lab_command(exercise, port, open_browser)
    os.execve(command[0], command, env)


# ----------------------------------------------------------------------------- hand-in
def _exercise_folder(folder: Path, assignment: str) -> Path:
    folder = Path(folder).resolve()
    if (folder / assignment).is_dir():
        return folder / assignment
    if folder.name == assignment and folder.is_dir():
        return folder
    raise HandinError(f"no folder {assignment}/ in {folder}: give the folder you started with `i2dl start` "
                      f"(the one holding {assignment}/)")


def _unfilled(nb: dict) -> int:
    """How many solution cells still hold the stub."""
    return sum(1 for cell in nb.get("cells", []) if cell.get("metadata", {}).get("nbgrader", {}).get("solution")
               and "raise NotImplementedError()" in "".join(cell.get("source", "")))


def handin(folder, student: str, out=None, assignment: str = config.ASSIGNMENT) -> tuple:
    """Pack the assignment's notebooks of `folder` (default out: the folder holding <assignment>/)
    as out/<student>.zip (members
    <assignment>/<name>.ipynb, the files exactly as saved): (zip path, notes). Raises HandinError
    when the student id is not one the grader accepts, a notebook is missing, or one is not a
    readable notebook."""
    from .grading.collect import STUDENT_ID
    if not STUDENT_ID.match(student or ""):
        raise HandinError(f"{student!r} is not a valid student id: letters, digits and _.@+- only "
                          "(starting with a letter or digit, at most 64 characters)")
    exercise = _exercise_folder(folder, assignment)
    names = sorted(p.name for p in release_dir(assignment).glob("*.ipynb"))
    missing = [n for n in names if not (exercise / n).is_file()]
    if missing:
        raise HandinError(f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} missing in {exercise}: "
                          f"every notebook of the exercise is handed in ({', '.join(names)}); "
                          "`i2dl start` copies a missing one from the release again")
    notes, contents = [], {}
    for name in names:
        raw = (exercise / name).read_bytes()
        try:
            nb = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            where = f" (line {err.lineno}, column {err.colno}: {err.msg})" if isinstance(err, json.JSONDecodeError) else ""
            raise HandinError(f"{name} is not valid JSON{where}, so it is not a notebook any more: open it in "
                              "JupyterLab to see, or restore it from .ipynb_checkpoints/ or from the "
                              "release, then hand in again") from None
        if not isinstance(nb, dict) or nb.get("nbformat") != 4 or not isinstance(nb.get("cells"), list):
            raise HandinError(f"{name} is JSON but not a Jupyter notebook (no nbformat 4 and cells): "
                              "restore it from .ipynb_checkpoints/ or from the release, then hand in again")
        if _unfilled(nb):
            notes.append(f"{name}: {_unfilled(nb)} task cell(s) still hold `raise NotImplementedError()`")
        contents[name] = raw
    out = Path(out).resolve() if out else exercise.parent
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"{student}.zip"
    with tempfile.NamedTemporaryFile(dir=out, prefix=f".{student}-", suffix=".zip", delete=False) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, raw in contents.items():
                archive.writestr(f"{assignment}/{name}", raw)
    os.replace(tmp.name, target)
    return target, notes
