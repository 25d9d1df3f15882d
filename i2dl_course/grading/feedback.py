"""Feedback HTML with nbgrader's generate_feedback, as a student may see it: each test cell shows
its name (grade id), its points and the judge's one-line message, never the test's source, and a
note at the top says how the grading went.

No student markup runs in any HTML nbconvert makes from a notebook with `safe_html()` (the feedback,
and nbgrader's formgrader pages through nbgrader_config.py): nbconvert's own `sanitize_html` (no
javascript or widget outputs, text/html and text/markdown outputs cleaned), markdown cells cleaned
after rendering (nbgrader's templates render them without nbconvert's clean_html), `clean` in
place of nbconvert's clean_html (which escapes headings, paragraphs and images), and output
metadata dropped (nbconvert writes it unquoted into <img> attributes).

Rendering runs in a limited child process (limited.py, `render`), each cell and text output cut at
MAX_CELL_CHARS first (`CapCells`), so an honest big output still renders; if the child fails or
runs out of its limits, each notebook gets a plain page instead (`plain_page`: the note, and the
points and message of every test, escaped) and the reason says so. The grade is recorded either way.
"""
import html
import shutil
from pathlib import Path

import bleach
import nbformat
from jinja2 import pass_context
from nbconvert.preprocessors import Preprocessor
from nbformat.v4 import new_markdown_cell
from nbgrader import utils
from nbgrader.preprocessors import GetGrades, NbGraderPreprocessor
from traitlets import Unicode
from traitlets.config import Config, LoggingConfigurable

from ..nbgrader_app import check, make_api
from . import limited

MAX_CELL_CHARS = 100_000              # a cell's source or one text output, as rendered
MAX_OUTPUT_CHARS = 2_000_000          # one output's data (e.g. a base64 plot) before it is left out
LIMITS = limited.Limits(cpu_seconds=60, memory_mb=2048, wall_seconds=180)

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


def _cut(text: str, what: str) -> str:
    if len(text) <= MAX_CELL_CHARS:
        return text
    return text[:MAX_CELL_CHARS] + f"\n\n[{what} is {len(text):,} characters long: the feedback shows the first " \
        f"{MAX_CELL_CHARS:,}]\n"


class CapCells(NbGraderPreprocessor):
    """Each cell's source and text output cut at MAX_CELL_CHARS, with a note saying so; an output whose
    data is over MAX_OUTPUT_CHARS (e.g. a huge image) is replaced by a note."""

    def preprocess_cell(self, cell, resources, index):
        cell.source = _cut(cell.source, "this cell")
        for i, output in enumerate(cell.get("outputs", [])):
            if "text" in output:
                output.text = _cut(output.text, "this output")
            data = output.get("data", {})
            if sum(len(str(v)) for v in data.values()) > MAX_OUTPUT_CHARS:
                cell.outputs[i] = nbformat.v4.new_output("stream", name="stdout", text=(
                    f"[an output of {sum(len(str(v)) for v in data.values()):,} characters is not shown]\n"))
            else:
                for mime, value in data.items():
                    if mime.startswith("text/") and isinstance(value, str):
                        data[mime] = _cut(value, "this output")
        return cell, resources


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


PREPROCESSORS = ["i2dl_course.grading.feedback.CapCells", "i2dl_course.grading.feedback.GetGradesByHand",
                 "i2dl_course.grading.feedback.TestSummary",
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


def _render(send, course: Config, db_url: str, assignment: str, student: str, note: str):
    send(str(generate(course, db_url, assignment, student, note)))


def plain_page(notebook: str, note: str, verdicts: dict, points: dict, why: str) -> str:
    """A safe page without the notebook's content: the note, and every test's points and message."""
    rows = "".join(f"<tr><td><code>{html.escape(gid)}</code></td><td>{got:g} / {points.get(gid, 0):g}</td>"
                   f"<td>{html.escape(' '.join(str(message).split()))}</td></tr>"
                   for gid, (got, message) in verdicts.items())
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(notebook)}</title></head>"
            f"<body><h1>{html.escape(notebook)}</h1><p><strong>Grading note:</strong> {html.escape(note)}</p>"
            f"<p>{html.escape(why)}: this page shows your points and the tests' messages only.</p>"
            f"<table><tr><th>test</th><th>points</th><th>message</th></tr>{rows}</table></body></html>\n")


def render(course: Config, db_url: str, assignment: str, student: str, note: str, verdicts: dict,
           points: dict, limits: limited.Limits = LIMITS):
    """(feedback folder, None), rendered by `generate` in a limited child; or, if that failed, the
    folder with a plain page per notebook and why ("the feedback is a plain page: rendering the
    notebooks took more than the grader's 60 CPU seconds").
    verdicts: {notebook: {grade id: (points, message)}}; points: {notebook: {grade id: max points}}."""
    result = limited.run(_render, (course, db_url, assignment, student, note), limits)
    coursedir = make_api(course, Config({"CourseDirectory": {"db_url": db_url}})).coursedir
    folder = Path(coursedir.format_path(coursedir.feedback_directory, student, assignment))
    if result.failure is None and result.messages:
        return folder, None
    failure = result.failure or "failed"
    if folder.is_symlink():
        folder.unlink()
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for notebook, cells in verdicts.items():
        why = f"Rendering your notebooks {failure} (their content is too large or too slow to show)"
        (folder / f"{notebook}.html").write_text(plain_page(notebook, note, cells, points.get(notebook, {}), why))
    return folder, f"the feedback is a plain page: rendering the notebooks {failure}"
