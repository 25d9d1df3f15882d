"""What the released notebooks look like to a student before anything runs."""
import re

import pytest
from ipykernel.ipkernel import IPythonKernel

from notebooks import RELEASE, read

NOTEBOOKS = sorted(RELEASE.glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_markdown_headings_are_headings(path):
    """'# # Title' renders as an H1 reading '# Title'; headings start with '#'s and a space only."""
    for cell in read(path).cells:
        if cell.cell_type == "markdown":
            assert not re.search(r"^#+ +#+ ", cell.source, re.M), cell.source[:80]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_language_info_is_what_the_kernel_reports(path):
    """JupyterLab writes the kernel's language_info into an opened notebook: a notebook that already
    carries it (and the same Python version) is not marked modified by merely opening it."""
    info = dict(read(path).metadata["language_info"])
    kernel = dict(IPythonKernel.language_info)
    version, kernel_version = info.pop("version"), kernel.pop("version")
    assert info == kernel
    assert version.split(".")[0] == kernel_version.split(".")[0] == "3"
