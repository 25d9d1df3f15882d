"""The real culprit of a test cell that raised before its probe exported anything, in the
exercise's words (never the raw exception name).

The kernel's first error in the cell ("Name: message", grade.first_error) usually points elsewhere:
`NameError: name 'hparams' is not defined` means the cell that defines `hparams` was not filled in
or not run; the section and the cell that define it are looked up in the exercise's source notebook.
A stub's NotImplementedYet already says which function to write (i2dl_utils.checks.stubs).
"""
import ast
import re
from functools import lru_cache
from pathlib import Path

import nbformat

NAME_ERROR = re.compile(r"^NameError: name '([A-Za-z_][A-Za-z0-9_]*)' is not defined")


@lru_cache(maxsize=8)
def _definitions(source: Path) -> dict:
    """{name: (section heading, first comment line or "", is an answer cell)} for the names the
    source notebook's code cells define at their top level (the first cell that does)."""
    found, section = {}, ""
    for cell in nbformat.read(source, as_version=4).cells:
        if cell.cell_type == "markdown" and cell.source.startswith("#"):
            section = cell.source.splitlines()[0].lstrip("# ").strip()
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse("\n".join(line for line in cell.source.splitlines() if not line.startswith(("%", "!"))))
        except SyntaxError:
            continue
        names = set()
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        comment = next((line.lstrip("# ").removeprefix("TODO:").strip() for line in cell.source.splitlines()
                        if line.startswith("#")), "")
        answer = bool(cell.metadata.get("nbgrader", {}).get("solution"))
        for name in names:
            found.setdefault(name, (section, comment, answer))
    return found


def explain(cell_error: str, source: Path) -> str:
    """What to do about a test cell's first error, in words; the error itself if nothing better is known."""
    if cell_error.startswith(("NotImplementedYet: ", "NotImplementedError: ")):
        return cell_error.split(": ", 1)[1]
    match = NAME_ERROR.match(cell_error)
    if not match:
        return cell_error
    name = match.group(1)
    where = _definitions(Path(source)).get(name) if Path(source).exists() else None
    if where is None:
        return f"`{name}` was not defined when this test ran: run the cells above it first, in order, then this one"
    section, comment, answer = where
    in_section = f' in section "{section}"' if section else ""
    if answer:
        what = f" (it says: {comment})" if comment else ""
        return (f"`{name}` was not defined when this test ran: it is defined by your answer cell{in_section}{what}; "
                "fill it in and run it, then run this test again")
    return (f"`{name}` was not defined when this test ran: run the cell that defines it{in_section} (and the "
            "cells before it), then this test")
