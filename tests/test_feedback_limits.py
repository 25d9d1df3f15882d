"""Feedback is rendered in a limited child: a 12 MB markdown cell renders cut with a note, and a
render that runs out of its limits leaves a plain, escaped page with every test's points and message
(the fixture course, recorded as `i2dl grade` records it; no notebook is executed)."""
import pytest
from nbformat.v4 import new_markdown_cell

from i2dl_course.grading import feedback, limited
from i2dl_course.grading.record import record_config
from i2dl_course.nbgrader_app import check, course_config, make_api
from grading import ASSIGNMENT, notebooks, prepared_template, write
from test_feedback_html import VERDICTS, Page

BIG = 12_000_000
POINTS = {"tiny": {"test_add": 1, "test_square_sum": 2, "sandbox_probe": 1}, "second": {"test_greet": 1}}


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """(course, db url): a submission "big" with a 12 MB markdown cell, recorded with VERDICTS."""
    root = prepared_template(tmp_path_factory.mktemp("feedback-limits"))
    nbs = notebooks(root)
    nbs["tiny.ipynb"].cells.insert(1, new_markdown_cell("# big\n\n" + "lorem ipsum " * (BIG // 12)))
    course = course_config(root)
    db_url = course.CourseDirectory.db_url
    write(root / ".stage", "big", nbs)
    check(make_api(course, record_config(db_url, str(root / ".stage"), VERDICTS)).autograde(
        ASSIGNMENT, "big", force=True, create=True), "autograde")
    return course, db_url


def test_a_12_mb_markdown_cell_renders_cut_with_a_note(recorded):
    folder, failure = feedback.render(*recorded, ASSIGNMENT, "big", "graded", VERDICTS, POINTS)
    assert failure is None
    html = (folder / "tiny.html").read_text()
    assert f"[this cell is {len('# big') + 2 + BIG // 12 * 12:,} characters long: the feedback shows the first " \
           f"{feedback.MAX_CELL_CHARS:,}]" in html
    assert "✓ 1 / 1 points: add adds" in html and len(html) < 2 * feedback.MAX_CELL_CHARS + 1_000_000


def test_a_render_over_its_limits_leaves_a_plain_escaped_page(recorded):
    verdicts = {nb: dict(cells) for nb, cells in VERDICTS.items()}
    verdicts["tiny"]["test_add"] = [0, "<script>window.pwned=1</script> add should add"]
    limits = limited.Limits(cpu_seconds=60, memory_mb=1, wall_seconds=60)
    folder, failure = feedback.render(*recorded, ASSIGNMENT, "big", "note <b>", verdicts, POINTS, limits)
    assert failure == "the feedback is a plain page: rendering the notebooks needed more than the grader's 1 MB of memory"
    html = (folder / "tiny.html").read_text()
    assert Page(html).runnable() == [] and "<script>" not in html
    assert "&lt;script&gt;window.pwned=1&lt;/script&gt; add should add" in html and "note &lt;b&gt;" in html
    assert "<td>0 / 2</td><td>square_sum of numbers.txt should be 55</td>" in html
    assert "lorem" not in html and sorted(p.name for p in folder.iterdir()) == ["second.html", "tiny.html"]
