"""Feedback HTML with nbgrader's generate_feedback, as a student may see it: each test cell shows
its name (grade id), its points and the judge's one-line message, never the test's source, and a
note at the top says how the grading went.
"""
from pathlib import Path

from nbformat.v4 import new_markdown_cell
from nbgrader import utils
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Unicode
from traitlets.config import Config

from ..nbgrader_app import check, make_api


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
    cfg = Config()
    cfg.CourseDirectory.db_url = db_url
    cfg.GenerateFeedback.preprocessors = PREPROCESSORS
    cfg.GradingNote.text = note
    api = make_api(course, cfg)
    check(api.generate_feedback(assignment, student, force=True), "generate_feedback")
    return Path(api.coursedir.format_path(api.coursedir.feedback_directory, student, assignment))
