"""Feedback HTML runs no student markup and still reads well (no notebook is executed: a hostile
submission of the fixture course is recorded as `i2dl grade` records one, then its feedback made).

The submission carries the usual ways into a page: a markdown cell with <img onerror>, a raw HTML
cell, and outputs with text/html (onerror, <script>), application/javascript, a javascript: link
in text/markdown, an SVG with onload, and image metadata that nbconvert writes into <img> unquoted.
"""
from html.parser import HTMLParser

import nbformat
import pytest
from nbconvert.exporters import HTMLExporter
from nbformat.v4 import new_code_cell, new_markdown_cell, new_output, new_raw_cell
from traitlets.config import Config

from i2dl_course.grading import feedback
from i2dl_course.grading.record import record_config
from i2dl_course.nbgrader_app import check, course_config, make_api
from grading import ASSIGNMENT, notebooks, prepared_template, write
from notebooks import cell

STUDENT = "hostile"
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
VERDICTS = {"tiny": {"test_add": [1, "add adds"], "test_square_sum": [0, "square_sum of numbers.txt should be 55"],
                     "sandbox_probe": [1, "isolated"]},
            "second": {"test_greet": [1, "greets"]}}
NOTE = "all cells ran without errors"


def hostile_outputs() -> list:
    return [new_output("display_data", data={
                "text/html": "<b>html kept</b><img src=x onerror=\"window.pwned='html'\">"
                             "<script>window.pwned='script'</script>", "text/plain": "html"}),
            new_output("display_data", data={"application/javascript": "window.pwned='javascript'"}),
            new_output("display_data", data={"text/markdown": "[a link](javascript:window.pwned='link')"}),
            new_output("display_data", data={"image/svg+xml": "<svg xmlns='http://www.w3.org/2000/svg' "
                                                              "onload=\"window.pwned='svg'\"></svg>"}),
            new_output("display_data", data={"image/png": PNG},
                       metadata={"image/png": {"width": "1 onload=window.pwned='metadata'"}})]


def hostile_notebooks(root) -> dict:
    """The solved notebooks with the hostile cells and outputs added."""
    nbs = notebooks(root)
    nb = nbs["tiny.ipynb"]
    cell(nb, "add").outputs = hostile_outputs()
    nb.cells[1:1] = [
        new_markdown_cell("# Heading kept\n\nSome **bold** text. "
                          "<img src=x onerror=\"document.title='pwned'; window.pwned='markdown'\">"),
        new_raw_cell("<img src=x onerror=\"window.pwned='raw'\">", metadata={"raw_mimetype": "text/html"}),
        new_code_cell("print('extra')", outputs=hostile_outputs())]
    return nbs


def record_and_feedback(root, student: str, nbs: dict):
    """Record `nbs` as `i2dl grade` does (Autograde without Execute, the judges' VERDICTS), then
    write its feedback: the feedback folder."""
    course = course_config(root)
    db_url = course.CourseDirectory.db_url
    stage = root / ".stage"
    write(stage, student, nbs)
    api = make_api(course, record_config(db_url, str(stage), VERDICTS))
    check(api.autograde(ASSIGNMENT, student, force=True, create=True), "autograde")
    return feedback.generate(course, db_url, ASSIGNMENT, student, note=NOTE)


@pytest.fixture(scope="module")
def hostile_feedback(tmp_path_factory):
    """(course root, feedback folder) of the hostile submission."""
    root = prepared_template(tmp_path_factory.mktemp("feedback"))
    return root, record_and_feedback(root, STUDENT, hostile_notebooks(root))


class Page(HTMLParser):
    """What in a page can run: on* attributes, javascript: URLs and the text of <script> elements."""

    def __init__(self, html: str):
        super().__init__()
        self.handlers, self.urls, self.scripts, self.tags, self._in_script = [], [], [], [], False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self._in_script = tag == "script"
        self.handlers += [(tag, name, value) for name, value in attrs if name.startswith("on")]
        self.urls += [value for name, value in attrs if name in ("href", "src") and value
                      and value.strip().lower().startswith("javascript:")]

    def handle_data(self, data):
        if self._in_script:
            self.scripts.append(data)

    def runnable(self) -> list:
        return self.handlers + self.urls + [s for s in self.scripts if "pwned" in s]


def test_unsanitized_html_of_the_submission_would_run_its_markup(hostile_feedback):
    """The check below sees the attack: nbconvert's plain HTML of the autograded notebook has it."""
    root, _ = hostile_feedback
    nb = nbformat.read(root / "autograded" / STUDENT / ASSIGNMENT / "tiny.ipynb", as_version=4)
    found = Page(HTMLExporter(template_name="classic").from_notebook_node(nb)[0]).runnable()
    assert len(found) >= 5, found


def test_feedback_runs_no_student_markup_and_keeps_verdicts_note_and_formatting(hostile_feedback):
    _, folder = hostile_feedback
    html = (folder / "tiny.html").read_text()
    page = Page(html)
    assert page.runnable() == []
    assert "pwned" not in " ".join(page.scripts)
    for text in ("✓ 1 / 1 points: add adds", "Failed: 0 / 2 points: square_sum of numbers.txt should be 55",
                 f"<strong>Grading note:</strong> {NOTE}", "<b>html kept</b>", "Some <strong>bold</strong> text"):
        assert text in html, text
    assert "h1" in page.tags and "img" in page.tags      # markdown and images still render
    assert "BEGIN HIDDEN TESTS" not in html and "i2dl_utils.probes" not in html


def test_the_course_config_makes_every_nbgrader_page_safe(hostile_feedback):
    """nbgrader_config.py gives nbgrader's own commands and formgrader the kit's feedback steps,
    sanitized HTML and a refusing Autograde."""
    root, _ = hostile_feedback
    course = course_config(root)
    assert course.HTMLExporter == feedback.safe_html().HTMLExporter
    assert course.GenerateFeedback.preprocessors == feedback.PREPROCESSORS
    assert course.Autograde.sanitize_preprocessors == ["i2dl_course.formgrader.RefuseAutograde"]
    staged = Config({"CourseDirectory": {"submitted_directory": str(root / ".stage")}})
    result = make_api(course, staged).autograde(ASSIGNMENT, STUDENT)
    assert not result["success"] and "i2dl grade SUBMISSIONS" in result["log"]
