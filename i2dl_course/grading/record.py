"""Recording one judged submission with nbgrader (the main process only, the gradebook's one writer).

nbgrader's Autograde runs without Execute on the notebooks the runner executed (or stand-ins for
those that could not run): it restores the test cells from the gradebook, checks the cells'
metadata and checksums, applies late penalties and writes autograded/. Its output-based scoring
(SaveAutoGrades: no error output means full points, an execute_result is partial credit) is
replaced by `JudgedGrades`: the points are the judges' and every test cell's output becomes its
verdict, which is what the feedback shows.
"""
from nbformat.v4 import new_output
from nbgrader import utils
from nbgrader.preprocessors import SaveAutoGrades
from traitlets import Dict
from traitlets.config import Config

SANITIZE = ["nbgrader.preprocessors.DeduplicateIds", "nbgrader.preprocessors.OverwriteKernelspec",
            "nbgrader.preprocessors.OverwriteCells", "nbgrader.preprocessors.CheckCellMetadata"]
RECORD = ["nbgrader.preprocessors.IgnorePattern", "nbconvert.preprocessors.ClearMetadataPreprocessor",
          "nbgrader.preprocessors.LimitOutput", "i2dl_course.grading.record.JudgedGrades",
          "nbgrader.preprocessors.AssignLatePenalties", "nbgrader.preprocessors.CheckCellMetadata"]


def verdict_output(points: float, max_points: float, message: str):
    """A test cell's only output: its judged points and message."""
    if points >= max_points:
        return new_output("stream", name="stdout", text=f"✓ {points:g} / {max_points:g} points: {message}\n")
    return new_output("error", ename="Failed", evalue=f"{points:g} / {max_points:g} points: {message}",
                      traceback=[f"Failed: {points:g} / {max_points:g} points: {message}"])


class JudgedGrades(SaveAutoGrades):
    """SaveAutoGrades with the judges' points: verdicts = {notebook: {grade id: [points, message]}}.
    A test cell without a verdict scores 0."""

    verdicts = Dict(help="{notebook: {grade id: [points, message]}} from the judges").tag(config=True)

    def _verdict(self, cell):
        points, message = self.verdicts.get(self.notebook_id, {}).get(
            cell.metadata.nbgrader["grade_id"], (0.0, "not judged"))
        return min(float(points), float(cell.metadata.nbgrader["points"])), str(message)

    def preprocess_cell(self, cell, resources, cell_index):
        if utils.is_grade(cell) and not utils.is_solution(cell) and cell.cell_type == "code":
            points, message = self._verdict(cell)
            cell.outputs = [verdict_output(points, float(cell.metadata.nbgrader["points"]), message)]
        return super().preprocess_cell(cell, resources, cell_index)

    def _add_score(self, cell, resources) -> None:
        if utils.is_solution(cell) or cell.cell_type != "code":     # manually graded cells: nbgrader's rule
            return super()._add_score(cell, resources)
        grade = self.gradebook.find_grade(cell.metadata.nbgrader["grade_id"], self.notebook_id,
                                          self.assignment_id, self.student_id)
        grade.auto_score = self._verdict(cell)[0]
        grade.needs_manual_grade = grade.manual_score is not None
        self.gradebook.db.commit()


def record_config(db_url: str, stage: str, verdicts: dict) -> Config:
    """nbgrader's Autograde without Execute and ClearOutput, reading the staged notebooks."""
    cfg = Config()
    cfg.CourseDirectory.db_url = db_url
    cfg.CourseDirectory.submitted_directory = stage
    cfg.Autograde.sanitize_preprocessors = SANITIZE
    cfg.Autograde.autograde_preprocessors = RECORD
    cfg.JudgedGrades.verdicts = verdicts
    return cfg
