"""The feedback page of a hostile submission (test_feedback_html.py) opened in headless Chromium
(test_browser.py's driver): none of its markup runs, the verdicts and the grading note show. The same
notebook as nbconvert's plain HTML runs it in this browser, so the check would see an attack."""
from nbconvert.exporters import HTMLExporter
from selenium.webdriver.common.by import By

from test_browser import driver, wait_for                           # noqa: F401 (a fixture)
from test_feedback_html import ASSIGNMENT, NOTE, STUDENT, hostile_feedback  # noqa: F401 (a fixture)

RAN = "return [document.title, window.pwned === undefined ? null : String(window.pwned)]"


def opened(driver, path):
    driver.get(path.as_uri())
    wait_for(lambda: driver.execute_script("return document.readyState") == "complete", 30, "the page")
    return driver.execute_script(RAN)


def test_plain_html_of_the_submission_runs_its_markup_in_the_browser(driver, hostile_feedback, tmp_path):
    root, _ = hostile_feedback
    plain = tmp_path / "plain.html"
    plain.write_text(HTMLExporter(template_name="classic").from_filename(
        str(root / "autograded" / STUDENT / ASSIGNMENT / "tiny.ipynb"))[0])
    title, pwned = opened(driver, plain)
    assert title == "pwned" and pwned, (title, pwned)


def test_feedback_runs_no_student_markup_in_the_browser_and_shows_the_verdicts(driver, hostile_feedback):
    _, folder = hostile_feedback
    title, pwned = opened(driver, folder / "tiny.html")
    assert (title, pwned) == ("tiny", None)
    text = driver.find_element(By.TAG_NAME, "body").text
    for shown in (f"Grading note: {NOTE}", "✓ 1 / 1 points: add adds", "Heading kept", "html kept",
                  "Failed: 0 / 2 points: square_sum of numbers.txt should be 55"):
        assert shown in text, shown
