"""nbgrader's formgrader with the kit's grading: a Jupyter server extension that runs next to
nbgrader's own formgrader (enabled by a Jupyter config file, e.g. <venv>/etc/jupyter/
jupyter_server_config.d/i2dl_course.json holding {"ServerApp": {"jpserver_extensions":
{"i2dl_course.formgrader": true}}}) and answers three of its buttons with `KitAPI`:

- Autograde refuses in one line: nbgrader's autograde would run student code outside the sandbox
  and score cell outputs; `i2dl grade` is the way to grade;
- Generate feedback (one student's, or all) writes the kit's feedback (feedback.generate: test
  sources hidden, no student markup runs, the grading note of the last `i2dl grade`).

Every other page and call (the gradebook, manual grading, comments) is nbgrader's. Extensions load
in sorted order and tornado takes the first route that matches, so these routes come first.
nbgrader_config.py refuses plain `nbgrader autograde` too (`RefuseAutograde`).
"""
import json
from pathlib import Path

from nbgrader.api import SubmittedAssignment
from nbgrader.apps import NbGraderAPI
from nbgrader.preprocessors import NbGraderPreprocessor
from nbgrader.server_extensions.formgrader import apihandlers

from .grading import feedback
from .nbgrader_app import course_config

REFUSAL = ("nbgrader's autograde is switched off in this course (it would run student code outside "
           "the sandbox): grade with `i2dl grade SUBMISSIONS` instead")


class RefuseAutograde(NbGraderPreprocessor):
    """Autograde's preprocessors in nbgrader_config.py: plain `nbgrader autograde` stops here."""

    def preprocess(self, nb, resources):
        raise RuntimeError(REFUSAL)


def grading_note(root: Path, assignment: str, student: str) -> str:
    """The reason the last `i2dl grade` recorded for the submission (its marker), or ""."""
    marker = root / ".grading" / assignment / "done" / f"{student}.json"
    return json.loads(marker.read_text()).get("reason", "") if marker.is_file() else ""


class KitAPI(NbGraderAPI):
    """NbGraderAPI whose autograde refuses and whose generate_feedback is the kit's."""

    def autograde(self, assignment_id, student_id, force=True, create=True):
        return {"success": False, "error": REFUSAL}

    def generate_feedback(self, assignment_id, student_id=None, force=True):
        root = Path(self.coursedir.root)
        if student_id is None:
            with self.gradebook as gb:
                students = sorted(s.student.id for s in gb.db.query(SubmittedAssignment)
                                  .filter(SubmittedAssignment.name == assignment_id))
        else:
            students = [student_id]
        course, log = course_config(root), []
        for student in students:
            if not (root / "autograded" / student / assignment_id).is_dir():
                continue
            try:
                out = feedback.generate(course, self.coursedir.db_url, assignment_id, student,
                                        grading_note(root, assignment_id, student))
            except Exception as err:         # nbgrader's own log and traceback are in the message
                return {"success": False, "log": "\n".join(log), "error": f"{student}: {err}"}
            log.append(f"[INFO] feedback of {student}: {out}")
        return {"success": True, "log": "\n".join(log) or "[INFO] no autograded submission"}


class KitHandler(apihandlers.BaseApiHandler):
    """A formgrader API handler whose `api` is KitAPI (the formgrader's settings, nbgrader's config)."""

    @property
    def api(self):
        self.coursedir.parent.load_config_file()
        api = KitAPI(self.coursedir, self.authenticator, parent=self.coursedir.parent)
        api.log_level = self.log.level
        return api


HANDLERS = [(pattern, type(handler.__name__, (KitHandler, handler), {}))
            for pattern, handler in apihandlers.default_handlers
            if handler in (apihandlers.AutogradeHandler, apihandlers.GenerateFeedbackHandler,
                           apihandlers.GenerateAllFeedbackHandler)]


def _jupyter_server_extension_points():
    return [{"module": "i2dl_course.formgrader"}]


def _load_jupyter_server_extension(serverapp):
    base = serverapp.web_app.settings["base_url"]
    serverapp.web_app.add_handlers(".*$", [(base.rstrip("/") + pattern, handler) for pattern, handler in HANDLERS])
    serverapp.log.info("i2dl: the formgrader's Autograde refuses, its Generate feedback is the kit's")
