"""The last cell of each notebook: `i2dl check` on the saved notebook, from inside JupyterLab.

It runs the kit's command in a process of its own (the grader's code, a fresh kernel in its
sandbox), streaming its lines into the cell's output. While the notebook is being graded (the
probes are on, or nbgrader runs it) it does nothing.
"""
import os
import subprocess
import sys

from .probes import enabled


def check_saved(notebook: str, folder: str = ".") -> None:
    """Print what `i2dl check FOLDER --notebook NOTEBOOK` says about the saved file `notebook`."""
    if enabled() or os.environ.get("NBGRADER_EXECUTION"):
        print("(the grader's check runs when you run this cell yourself, not while grading)")
        return
    command = [sys.executable, "-m", "i2dl_course.cli", "check", folder, "--notebook", notebook]
    print(f"checking the saved {notebook} as the grader will (about as long as the notebook takes) ...", flush=True)
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
        for line in proc.stdout:
            print(line, end="", flush=True)
