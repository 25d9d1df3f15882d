"""The instructor's solutions, taken from the source notebooks (the one place where they live).

Judges compare a student's outputs with what the reference gives on the same inputs. The solution
cells run here, in the grader's process, and never enter a sandbox.
"""
import ast
from pathlib import Path

import nbformat

MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")


def solution_source(cell) -> str:
    return "\n".join(line for line in cell.source.splitlines() if line.strip() not in MARKERS)


def _defined_names(source: str) -> set:
    tree = ast.parse(source)
    return {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))}


class Reference:
    """Functions and classes defined by the solution cells of one source notebook.

    prelude: code run first in the namespace (the imports those cells need).
    """

    def __init__(self, notebook: Path, prelude: str = ""):
        self.notebook = Path(notebook)
        self.prelude = prelude
        self._cells = None
        self._namespace = None

    def _solution_cells(self) -> list:
        if self._cells is None:
            nb = nbformat.read(self.notebook, as_version=4)
            self._cells = [solution_source(c) for c in nb.cells
                           if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")]
        return self._cells

    def __getattr__(self, name: str):
        """reference.batchnorm_forward: the solution's own batchnorm_forward."""
        if name.startswith("_"):
            raise AttributeError(name)
        if self._namespace is None:
            self._namespace = {}
            exec(compile(self.prelude, f"<prelude of {self.notebook.name}>", "exec"), self._namespace)
        if name not in self._namespace:
            cells = [s for s in self._solution_cells() if name in _defined_names(s)]
            if not cells:
                raise AttributeError(f"no solution cell of {self.notebook.name} defines {name}")
            exec(compile(cells[0], f"<solution in {self.notebook.name}>", "exec"), self._namespace)
        return self._namespace[name]
