"""Feedback HTML with nbgrader's generate_feedback, as a student may see it: each test cell shows
its name (grade id), its points and the judge's one-line message, never the test's source, and a
note at the top says how the grading went.

No student markup runs in any HTML nbconvert makes from a notebook with `safe_html()` (the feedback,
and nbgrader's formgrader pages through nbgrader_config.py): nbconvert's own `sanitize_html` (no
javascript or widget outputs, text/html and text/markdown outputs cleaned), markdown cells cleaned
after rendering (nbgrader's templates render them without nbconvert's clean_html), `clean` in
place of nbconvert's clean_html (which escapes headings, paragraphs and images), and output
metadata dropped (nbconvert writes it unquoted into <img> attributes).
"""
from pathlib import Path

import bleach
from jinja2 import pass_context
from nbconvert.preprocessors import Preprocessor
from nbformat.v4 import new_markdown_cell
from nbgrader import utils
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Unicode
from traitlets.config import Config, LoggingConfigurable

from ..nbgrader_app import check, make_api

TAGS = {"a", "abbr", "b", "blockquote", "br", "caption", "code", "col", "colgroup", "dd", "del", "details",
        "div", "dl", "dt", "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img",
        "ins", "kbd", "li", "ol", "p", "pre", "q", "s", "samp", "small", "span", "strong", "sub", "summary",
        "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul"}
ATTRIBUTES = {"*": ["class", "id", "title"], "a": ["href"], "img": ["src", "alt", "width", "height"],
              "td": ["colspan", "rowspan", "align"], "th": ["colspan", "rowspan", "align"]}


def clean(html) -> str:
    """`html` with only harmless tags and attributes (no scripts, event handlers, styles, frames or
    javascript: links); any other tag is shown as text."""
    html = html.decode() if isinstance(html, bytes) else str(html)
    return bleach.clean(html, tags=TAGS, attributes=ATTRIBUTES, protocols={"http", "https", "mailto", "data"})


class SafeMarkdown(LoggingConfigurable):
    """The markdown2html filter of the exporter it is registered on (its parent), cleaned."""

    jinja_pass_arg = pass_context(lambda: None).jinja_pass_arg      # called with the template context

    def __call__(self, context, source):
        return clean(self.parent.markdown2html(context, source))


class DropOutputMetadata(Preprocessor):
    """Display outputs lose their metadata (image sizes and alt texts nbconvert puts into tags)."""

    def preprocess_cell(self, cell, resources, index):
        for output in cell.get("outputs", []):
            if "metadata" in output:
                output.metadata = {}
        return cell, resources


def safe_html() -> Config:
    """The HTMLExporter settings under which no student markup runs (a new Config each call)."""
    return Config({"HTMLExporter": {
        "sanitize_html": True,
        "filters": {"clean_html": "i2dl_course.grading.feedback.clean",
                    "markdown2html": "i2dl_course.grading.feedback.SafeMarkdown"},
        "preprocessors": ["i2dl_course.grading.feedback.DropOutputMetadata"]}})


class HideTestSource(NbGraderPreprocessor):
    """Test cells keep their grade id, points and verdict (their only output); the source is hidden."""

    def preprocess_cell(self, cell, resources, index):
        if utils.is_grade(cell) and not utils.is_solution(cell) and cell.cell_type == "code":
            cell.source = f"# test {cell.metadata.nbgrader['grade_id']} (its code is not shown)"
        return cell, resources


class GradingNote(NbGraderPreprocessor):
    """Puts `text` (how the grading of this submission went) at the top of the notebook."""

    text = Unicode("").tag(config=True)

    def preprocess(self, nb, resources):
        if self.text:
            nb.cells.insert(0, new_markdown_cell(f"**Grading note:** {self.text}"))
        return nb, resources


PREPROCESSORS = ["nbgrader.preprocessors.GetGrades", "i2dl_course.grading.feedback.HideTestSource",
                 "i2dl_course.grading.feedback.GradingNote",
                 "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor"]


def generate(course: Config, db_url: str, assignment: str, student: str, note: str = "") -> Path:
    """Write feedback/<student>/<assignment>/*.html from autograded/ and the gradebook."""
    cfg = safe_html()
    cfg.CourseDirectory.db_url = db_url
    cfg.GenerateFeedback.preprocessors = PREPROCESSORS
    cfg.GradingNote.text = note
    api = make_api(course, cfg)
    check(api.generate_feedback(assignment, student, force=True), "generate_feedback")
    return Path(api.coursedir.format_path(api.coursedir.feedback_directory, student, assignment))
