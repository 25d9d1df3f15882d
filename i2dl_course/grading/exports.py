"""A test cell's exports, taken out of the kernel's reach as soon as the cell finishes.

The kernel's export folder is bound writable into its sandbox. The runner sweeps it before and
after every code cell: what a test cell with grade id G wrote under G/ while it ran is moved to a
folder the kernel cannot see (a rename: from then on no path of the kernel's leads to it) and read
at once by the careful reader; everything else found there (written by another cell, between
cells, or under another grade id) is deleted and noted. So a cell's evidence is what was written
while that cell ran, and nothing written before or after it counts.
"""
import itertools
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from .safe_files import read_tree

MAX_EXPORT_FILE = 64 << 20
MAX_EXPORTS = 256 << 20        # bytes per notebook, all test cells together
MAX_EXPORT_FILES = 2000


@dataclass
class CellExports:
    """Sweeps `folder` (the kernel's export folder) into `taken` (the runner's, not the kernel's).

    files: {"<grade id>/<relative path>": bytes} of the test cells; refused: one line per file the
    careful reader refused; dropped: one line per export written at the wrong time or place.
    """
    folder: Path
    taken: Path
    files: dict = field(default_factory=dict)
    refused: list = field(default_factory=list)
    dropped: list = field(default_factory=list)
    _count: itertools.count = field(default_factory=itertools.count)

    def sweep(self, cell_number: int, grade_id: str = None, after: bool = True) -> None:
        """Take what is in the export folder now: after test cell `grade_id` ran (after=True), its
        own folder is kept; everything else is dropped with a note naming cell_number (1-based)."""
        try:
            os.chmod(self.folder, 0o700)          # the kernel (same uid) may have locked it
            entries = sorted(os.listdir(self.folder))
        except OSError:
            return
        for name in entries:
            moved = self.taken / str(next(self._count))
            moved.mkdir(parents=True)
            try:
                os.rename(self.folder / name, moved / name)
            except OSError as err:
                self.dropped.append(f"{name!r} in the export folder could not be taken ({err.strerror}): ignored")
                continue
            if after and name == grade_id and not any(k.startswith(name + "/") for k in self.files):
                budget = MAX_EXPORTS - sum(map(len, self.files.values()))
                tree = read_tree(moved, MAX_EXPORT_FILE, budget, MAX_EXPORT_FILES - len(self.files))
                self.files.update(tree.files)
                self.refused += tree.refused
            elif after and name == grade_id:
                self.dropped.append(f"exports for {name[:60]!r} written again in cell {cell_number}: "
                                    "only its test cell's first run counts, these were ignored")
            else:
                when = f"while cell {cell_number} ran" if after else f"before cell {cell_number} ran"
                self.dropped.append(f"exports for {name[:60]!r} written {when}, not by the test cell "
                                    f"{name[:60]!r} itself: ignored")
            shutil.rmtree(moved, ignore_errors=True)
