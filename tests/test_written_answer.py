"""A written answer graded by hand: the exercise's MSE question in notebook 1, and the whole round on
the fixture course with such a cell added: `i2dl grade` leaves it to a person (grades.csv, feedback and
`i2dl check` say so), a grader gives points and a comment in nbgrader's formgrader in a real browser,
and grades.csv, the feedback and a regrade keep them."""
import shutil

import nbformat
import pytest
from nbformat.v4 import new_markdown_cell
from nbgrader.api import Gradebook

from i2dl_course import check as student_check
from i2dl_course.grading.grade import Options, grade
from i2dl_course.lms import gradebook_csv
from i2dl_course.nbgrader_app import course_config
from i2dl_course.release import generate
from grading import ASSIGNMENT, FIXTURE, notebooks, table, write
from notebooks import RELEASE, SOURCE
from test_browser import driver, wait_for                      # noqa: F401 (a fixture)
from test_formgrader import Server

from selenium.webdriver.common.by import By                     # noqa: E402
from selenium.webdriver.common.keys import Keys                 # noqa: E402

ANSWER_ID = "explain_add"
ANSWER = "Adding is commutative, so add(a, b) and add(b, a) give the same sum."
COMMENT = "Right; now also say why the order of the arguments in the test does not matter."


def answer_cells(path):
    nb = nbformat.read(path, as_version=4)
    return [(i, c) for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") ==
            "mse_written_answer"], nb


def test_notebook_1_asks_a_written_answer_graded_by_hand():
    [(index, source)], nb = answer_cells(SOURCE / "1_autoencoder.ipynb")
    meta = source.metadata.nbgrader
    assert source.cell_type == "markdown" and meta["solution"] and meta["grade"] and meta["points"] == 2
    question = nb.cells[index - 1].source
    assert "graded by hand" in question and "MSE" in question and "sharpness" in question
    [(_, released)], _ = answer_cells(RELEASE / "1_autoencoder.ipynb")
    assert released.source == student_check.PLACEHOLDER


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """The fixture course with a written answer (2 points, graded by hand) after test_add, and one
    submission that solves `add` and answers it."""
    folder = tmp_path_factory.mktemp("written")
    root = folder / "tiny_course"
    shutil.copytree(FIXTURE, root)
    path = root / "source" / ASSIGNMENT / "tiny.ipynb"
    nb = nbformat.read(path, as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == "test_add")
    answer = new_markdown_cell("Because addition is commutative.")
    answer.metadata["nbgrader"] = {"grade": True, "solution": True, "locked": False, "task": False,
                                   "grade_id": ANSWER_ID, "points": 2, "schema_version": 3}
    nb.cells[at + 1:at + 1] = [new_markdown_cell("**Written answer.** Why does the order of a and b not matter?"),
                               answer]
    nbformat.write(nb, path)
    generate(root, assignment=ASSIGNMENT)
    subs = folder / "submissions"
    nbs = notebooks(root, ["add"])
    next(c for c in nbs["tiny.ipynb"].cells if c.metadata.get("nbgrader", {}).get("grade_id") == ANSWER_ID).source = ANSWER
    write(subs, "student", nbs)
    run = grade(subs, root, Options(assignment=ASSIGNMENT, workers=1, timeout=120, progress=False))
    assert [o.status for o in run.outcomes] == ["graded"], run.outcomes
    return root, subs


def grade_of(root):
    with Gradebook(course_config(root).CourseDirectory.db_url) as gb:
        g = gb.find_grade(ANSWER_ID, "tiny", ASSIGNMENT, "student")
        c = gb.find_comment(ANSWER_ID, "tiny", ASSIGNMENT, "student")
        return g.id, g.auto_score, g.manual_score, g.needs_manual_grade, c.manual_comment


def feedback(root) -> str:
    return (root / "feedback" / "student" / ASSIGNMENT / "tiny.html").read_text()


def test_the_grader_leaves_the_written_answer_to_a_person(course):
    root, _ = course
    assert grade_of(root)[1:] == (None, None, True, None)
    row = table(root / "grades.csv")["student"]
    assert row[ANSWER_ID] == "" and row[f"{ANSWER_ID} comment"] == "" and row["to_grade_by_hand"] == "1"
    assert float(row["total"]) == 2 and float(row["max_score"]) == 5 + 2, row   # add and the sandbox probe
    assert "not graded by hand yet" in feedback(root) and ANSWER in feedback(root)


def test_i2dl_check_says_the_answer_is_graded_by_hand(course, tmp_path):
    root, subs = course
    result = student_check.check(subs / "student", ASSIGNMENT, root=root, seed=1)
    [(name, grade_id, most, words)] = result.by_hand
    assert (name, grade_id, most, words) == ("tiny.ipynb", ANSWER_ID, 2.0, len(ANSWER.split()))
    out = student_check.report(result)
    assert f"✍ {ANSWER_ID} (tiny.ipynb)  - / 2  graded by hand after the hand-in; you wrote 13 words" in out
    assert out.splitlines()[-1] == "total: 2 / 5 (+ up to 2 graded by hand)"
    blank = notebooks(root, [])
    write(tmp_path / "blank", "student", blank)
    out = student_check.report(student_check.check(tmp_path / "blank" / "student", ASSIGNMENT, root=root, seed=1))
    assert "still the placeholder: write your answer there" in out


def test_points_and_a_comment_given_in_the_formgrader_reach_grades_csv_and_the_feedback(
        course, driver, tmp_path_factory):
    root, subs = course
    server = Server(root, tmp_path_factory.mktemp("server"))
    try:
        with Gradebook(course_config(root).CourseDirectory.db_url) as gb:
            notebook_id = gb.find_submission_notebook("tiny", ASSIGNMENT, "student").id
        base = f"http://127.0.0.1:{server.port}/formgrader"
        driver.get(f"{base}?token={server.token}")           # the formgrader's start page, as a person opens it
        wait_for(lambda: driver.get_cookie("_xsrf"), 60, "the formgrader's start page (it sets the _xsrf cookie)")
        driver.get(f"{base}/submissions/{notebook_id}/")
        score = wait_for(lambda: next(iter(driver.find_elements(By.ID, ANSWER_ID)), None), 60,
                         "the score field of the written answer")
        assert ANSWER in driver.find_element(By.TAG_NAME, "body").text      # the grader reads the answer there
        score.clear()
        score.send_keys("1.5", Keys.TAB)
        comment = driver.find_element(By.ID, f"{ANSWER_ID}-comment")
        comment.send_keys(COMMENT, Keys.TAB)
        wait_for(lambda: grade_of(root)[2:] == (1.5, False, COMMENT), 30, "the formgrader to save score and comment")
        result = server.call("POST", f"formgrader/api/assignment/{ASSIGNMENT}/student/generate_feedback", {})
        assert result["success"], result
    finally:
        server.stop()
    page = feedback(root)
    assert "1.5 / 2" in page and COMMENT in page and "not graded by hand yet" not in page

    run = grade(subs, root, Options(assignment=ASSIGNMENT, workers=1, timeout=120, progress=False, force=True))
    assert [o.status for o in run.outcomes] == ["graded"]
    assert grade_of(root)[2::2] == (1.5, COMMENT)               # a regrade keeps what the person gave
    row = table(run.csv)["student"]
    assert float(row[ANSWER_ID]) == 1.5 and row[f"{ANSWER_ID} comment"] == COMMENT, row
    assert row["to_grade_by_hand"] == "0" and float(row["total"]) == 2 + 1.5
    assert "1.5 / 2" in feedback(root) and COMMENT in feedback(root)
    template = root / "moodle.csv"                    # the LMS gets the total with the hand-given points
    template.write_text('"ID number","Assignment: Tiny (Real)"\n"student","-"\n')
    filled = gradebook_csv.export(template, root / "moodle-graded.csv", "ID number", "Assignment: Tiny (Real)",
                                  run.csv)
    assert (root / "moodle-graded.csv").read_text().splitlines()[1] == '"student",3.5', filled
