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
import html
from pathlib import Path

import bleach
from jinja2 import pass_context
from nbconvert.preprocessors import Preprocessor
from nbformat.v4 import new_markdown_cell
from nbgrader import utils
from nbgrader.preprocessors import GetGrades, NbGraderPreprocessor
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


def _checks(source: str) -> str:
    """What a test cell checks, in words: its first comment line (the source's, restored at grading)."""
    first = next((line.lstrip("# ").strip() for line in source.splitlines() if line.startswith("#")
                  and "HIDDEN TESTS" not in line), "")
    return first.removeprefix("Hidden tests:").strip()


def _cell_text(text: str) -> str:
    return html.escape(" ".join(str(text).split())).replace("|", "&#124;")


class GetGradesByHand(GetGrades):
    """nbgrader's GetGrades, also marking the cells graded by hand whose points a grader has given
    (metadata nbgrader.graded_by_hand; nbgrader shows 0 points for those not graded yet)."""

    def _get_score(self, cell, resources):
        super()._get_score(cell, resources)
        grade = self.gradebook.find_grade(cell.metadata.nbgrader["grade_id"], self.notebook_id,
                                          self.assignment_id, self.student_id)
        cell.metadata.nbgrader["graded_by_hand"] = grade.manual_score is not None


class TestSummary(NbGraderPreprocessor):
    """A table at the top: every test by name, what it checks, its points and the judge's message
    (its verdict output), as `i2dl check` prints them; then each answer graded by hand (a written
    answer) with the grader's points and comment, or that it is not graded yet."""

    def preprocess(self, nb, resources):
        rows = []
        for cell in nb.cells:
            if utils.is_grade(cell) and utils.is_solution(cell):
                meta = cell.metadata.nbgrader
                if meta.get("graded_by_hand"):
                    got, comment = f"{meta['score']:g} / {meta['points']:g}", meta.get("comment") or "no comment"
                else:
                    got, comment = f"- / {meta['points']:g}", "not graded by hand yet"
                rows.append(f"| ✍ `{_cell_text(meta['grade_id'])}` | your written answer, graded by hand | "
                            f"{_cell_text(got)} | {_cell_text(comment)} |")
            elif utils.is_grade(cell) and cell.cell_type == "code":
                meta = cell.metadata.nbgrader
                verdict = next((o.get("text") or o.get("evalue") or "" for o in cell.get("outputs", [])), "")
                message = verdict.split("points: ", 1)[-1]
                points = verdict.lstrip("✓ ").split(" points", 1)[0] if " points" in verdict else f"0 / {meta['points']:g}"
                rows.append(f"| {'✓' if verdict.startswith('✓') else '✗'} `{_cell_text(meta['grade_id'])}` | "
                            f"{_cell_text(_checks(cell.source))} | {_cell_text(points)} | {_cell_text(message)} |")
        if rows:
            table = "| test | what it checks | points | message |\n|---|---|---|---|\n" + "\n".join(rows)
            nb.cells.insert(0, new_markdown_cell("**Tests**\n\n" + table))
        return nb, resources


class GradingNote(NbGraderPreprocessor):
    """Puts `text` (how the grading of this submission went) at the top of the notebook."""

    text = Unicode("").tag(config=True)

    def preprocess(self, nb, resources):
        if self.text:
            nb.cells.insert(0, new_markdown_cell(f"**Grading note:** {self.text}"))
        return nb, resources


PREPROCESSORS = ["i2dl_course.grading.feedback.GetGradesByHand", "i2dl_course.grading.feedback.TestSummary",
                 "i2dl_course.grading.feedback.HideTestSource",
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
