"""nbgrader settings of the course (read by `nbgrader ...` and by i2dl_course)."""
import os

c = get_config()  # noqa: F821 (provided by traitlets when this file is loaded)

root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.root = root
c.CourseDirectory.course_id = "i2dl"
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(root, "gradebook.db")

# What a student sees in place of a solution: the task's own "# TODO: ..." hint stays above.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Author and grade with the standard kernel name (the grader swaps in its sandboxed kernel).
c.Execute.kernel_name = "python3"
# Per-cell limit; the grader adds a per-notebook limit (i2dl grade --timeout).
c.Execute.timeout = 300
# Deleted test cells come back at grading (and then score what the restored test gives).
c.OverwriteCells.add_missing_cells = True

# Any stderr in a graded test cell scores 0 in nbgrader: drop known harmless noise first.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = (
    r"(GPU available|TPU available|HPU available|LOCAL_RANK|Seed set to|💡 Tip|"
    r"UserWarning|DeprecationWarning|FutureWarning|PossibleUserWarning|Trainer\.fit stopped)"
)

# Files that never belong to an assignment (TensorBoard logs of a local run, caches).
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "lightning_logs"]

# Grading (i2dl grade): the judges that score each assignment's hidden tests (a module, or a .py file
# relative to the course root), and the files a submission may carry besides its notebooks.
c.Grading.judges = {"exercise_08": "i2dl_course.judges.exercise_08"}
c.Grading.extra_files = ["timestamp.txt"]

# Pages made from students' notebooks (feedback, the formgrader's views) run none of their markup,
# feedback hides the tests' sources, and nbgrader's own autograde (student code outside the sandbox,
# points from outputs) refuses: `i2dl grade` sets its own Autograde steps (i2dl_course.grading.record).
from i2dl_course.grading.feedback import PREPROCESSORS, safe_html  # noqa: E402

c.merge(safe_html())
c.GenerateFeedback.preprocessors = PREPROCESSORS
c.Autograde.sanitize_preprocessors = c.Autograde.autograde_preprocessors = ["i2dl_course.formgrader.RefuseAutograde"]
