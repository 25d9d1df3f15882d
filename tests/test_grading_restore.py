"""restore.py on the exercise's real notebooks, broken the way students break them: every test and
read-only cell of the source comes back exactly once, with the source's content, in the source's
order; the student's answers stay; the notes say what happened in words; nbgrader's own sanitizing
preprocessors (the record step's chain) accept the result and change nothing."""
import copy
import re
import warnings
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell
from traitlets.config import Config
from traitlets.utils.importstring import import_item

from i2dl_course import examples
from i2dl_course.grading import record
from i2dl_course.grading.restore import Exercise, restore
from notebooks import cell, meta

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "source" / "exercise_08"
NOTEBOOKS = ["1_autoencoder", "2_batchnorm_dropout"]
RAW_EXCEPTION = re.compile(r"\b\w*(Error|Exception)\b|Traceback")


@pytest.fixture(scope="module")
def course(fresh_release):
    """(release folder, gradebook url, {notebook: Exercise}) of a freshly generated exercise_08."""
    db = f"sqlite:///{fresh_release.parent.parent / 'gradebook.db'}"
    exercises = {n: Exercise.load(db, "exercise_08", n, SOURCE / f"{n}.ipynb") for n in NOTEBOOKS}
    return fresh_release, db, exercises


def solved(course, notebook):
    """The release with every answer cell holding the source's solution (an honest submission)."""
    return examples.build(SOURCE, course[0])[f"{notebook}.ipynb"]


def source_nb(notebook):
    return nbformat.read(SOURCE / f"{notebook}.ipynb", as_version=4)


def ids(nb) -> list:
    return [meta(c).get("grade_id") for c in nb.cells if meta(c).get("grade_id")]


def remove(nb, *grade_ids):
    nb.cells = [c for c in nb.cells if meta(c).get("grade_id") not in grade_ids]


def index(nb, grade_id) -> int:
    return nb.cells.index(cell(nb, grade_id))


def nbgrader_chain(nb, db, notebook):
    """The record step's sanitizing preprocessors (record.SANITIZE) with the course's OverwriteCells
    setting, against the gradebook; the notebook they hand back."""
    config = Config()
    config.OverwriteCells.add_missing_cells = True
    resources = {"nbgrader": {"db_url": db, "assignment": "exercise_08", "notebook": notebook, "student": "s"}}
    nb = copy.deepcopy(nb)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in record.SANITIZE:
            nb, resources = import_item(name)(config=config).preprocess(nb, resources)
    return nb


def restored(course, nb, notebook):
    """restore() and every check that holds for any input: the source's nbgrader cells, each once, of
    the source's type, locked ones with the source's content, in the source's order; notes in words;
    a valid notebook that nbgrader's chain leaves exactly as it is."""
    _, db, exercises = course
    out, notes = restore(nb, exercises[notebook])
    source = {meta(c)["grade_id"]: c for c in source_nb(notebook).cells if meta(c).get("grade_id")}
    order = list(source)
    present = ids(out)
    assert len(present) == len(set(present)), "a grade id appears twice"
    assert present == [g for g in order if g in present], "graded cells out of the source's order"
    for gid, src in source.items():
        m = meta(src)
        if m.get("locked") or m.get("grade") and not m.get("solution"):
            assert gid in present, f"{gid} was not restored"
            assert cell(out, gid).source == src.source and cell(out, gid).cell_type == src.cell_type
        if gid in present:
            assert cell(out, gid).cell_type == src.cell_type
    assert all(isinstance(n, str) and n and "\n" not in n and not RAW_EXCEPTION.search(n) for n in notes), notes
    nbformat.validate(out)
    after = nbgrader_chain(out, db, notebook)
    assert [(c.cell_type, c.source, c.metadata) for c in after.cells] == \
        [(c.cell_type, c.source, c.metadata) for c in out.cells], "nbgrader's chain still changed something"
    assert after.metadata.kernelspec == out.metadata.kernelspec
    return out, notes


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_an_intact_submission_only_gets_its_hidden_tests_back(course, notebook):
    nb = solved(course, notebook)
    out, notes = restored(course, nb, notebook)
    assert notes == []
    assert [c.source for c in out.cells if not meta(c).get("locked")] == \
        [c.source for c in nb.cells if not meta(c).get("locked")]
    assert len(out.cells) == len(nb.cells)


def test_deleted_tests_and_read_only_cells_come_back_in_place(course):
    # pretrained_snapshot + reconstruction_hidden: nbgrader alone stops with KeyError 'pretrained_snapshot'
    nb = solved(course, "1_autoencoder")
    remove(nb, "pretrained_snapshot", "reconstruction_hidden", "encoder_hidden", "augmentation_selfcheck")
    out, notes = restored(course, nb, "1_autoencoder")
    assert "test cell encoder_hidden was missing and is restored from the exercise" in notes
    assert "read-only cell pretrained_snapshot was missing and is restored from the exercise" in notes
    assert len(notes) == 4
    # a restored cell goes where the source has it among the exercise's own ordinary cells
    assert index(out, "augmentation_selfcheck") == index(out, "augmentation_solution") + 1
    assert index(out, "encoder_hidden") == index(out, "encoder_selfcheck") + 1
    between = [c.source for c in nb.cells[index(nb, "autoencoder_hidden") + 1:index(nb, "transfer_solution")]]
    now = [c.source for c in out.cells[index(out, "autoencoder_hidden") + 1:index(out, "transfer_solution")]]
    assert now == between[:2] + [cell(out, "pretrained_snapshot").source, cell(out, "reconstruction_hidden").source] \
        + between[2:]       # after the pretraining cell, before the next section


def test_a_restored_cell_goes_after_the_students_own_cells(course):
    nb = solved(course, "1_autoencoder")
    remove(nb, "encoder_selfcheck", "encoder_hidden")
    nb.cells.insert(index(nb, "encoder_solution") + 1, new_code_cell("def helper():\n    return 1"))
    out, _ = restored(course, nb, "1_autoencoder")
    assert out.cells[index(out, "encoder_solution") + 1].source == "def helper():\n    return 1"
    assert index(out, "encoder_selfcheck") == index(out, "encoder_solution") + 2


def test_two_deleted_tests_and_a_self_check_retyped_as_markdown(course):
    # measured: nbgrader alone stops with KeyError 'check_dropout_backward' (23 of 40 points)
    nb = solved(course, "2_batchnorm_dropout")
    remove(nb, "test_dropout_backward", "test_batchnorm_backward")
    check = cell(nb, "check_dropout_backward")
    check.cell_type = "markdown"
    del check["outputs"], check["execution_count"]
    answer = cell(nb, "dropout_backward").source
    out, notes = restored(course, nb, "2_batchnorm_dropout")
    assert "read-only cell check_dropout_backward had been turned into markdown and is restored as code" in notes
    assert "test cell test_dropout_backward was missing and is restored from the exercise" in notes
    assert cell(out, "dropout_backward").source == answer
    assert ids(out)[-7:-4] == ["dropout_backward", "check_dropout_backward", "test_dropout_backward"]


def test_an_edited_test_is_restored_and_said_so(course):
    nb = solved(course, "2_batchnorm_dropout")
    cell(nb, "test_dropout_forward").source = "pass"
    cell(nb, "test_batchnorm_backward").metadata.nbgrader["points"] = 100
    out, notes = restored(course, nb, "2_batchnorm_dropout")
    assert notes == ["test cell test_batchnorm_backward had been edited and is restored from the exercise",
                     "test cell test_dropout_forward had been edited and is restored from the exercise"]
    assert cell(out, "test_batchnorm_backward").metadata.nbgrader["points"] == 4


def test_an_answer_copied_below_itself_keeps_the_answer(course):
    # measured: nbgrader alone, "KeyError: 'grade_id'" (17 of 40 points)
    nb = solved(course, "2_batchnorm_dropout")
    at = index(nb, "dropout_forward")
    answer = nb.cells[at].source
    stub = copy.deepcopy(cell(nbformat.read(course[0] / "2_batchnorm_dropout.ipynb", as_version=4),
                              "dropout_forward"))
    nb.cells.insert(at + 1, stub)                  # the untouched stub pasted below the answer
    twin = copy.deepcopy(nb.cells[index(nb, "batchnorm_forward")])
    nb.cells.insert(index(nb, "batchnorm_forward") + 1, twin)    # an identical copy
    out, notes = restored(course, nb, "2_batchnorm_dropout")
    assert cell(out, "dropout_forward").source == answer
    copy_at = index(out, "dropout_forward") - 1
    assert out.cells[copy_at].source == stub.source and "nbgrader" not in out.cells[copy_at].metadata
    assert out.cells[copy_at].cell_type == "code"
    assert f"cell {at + 3} was a copy of answer cell dropout_forward; it runs as ordinary code just before " \
           f"cell {at + 2}, the copy that is graded" in notes
    assert len(notes) == 2


def test_of_two_different_answers_the_one_run_last_is_graded(course):
    nb = solved(course, "1_autoencoder")
    first = cell(nb, "encoder_solution")
    first.execution_count = 12
    second = copy.deepcopy(first)
    second.source = first.source + "\n# tried something"
    second.execution_count = 7
    nb.cells.insert(index(nb, "encoder_solution") + 1, second)
    out, notes = restored(course, nb, "1_autoencoder")
    assert cell(out, "encoder_solution").source == first.source
    assert out.cells[index(out, "encoder_solution") - 1].source == second.source


def test_a_copied_test_cell_runs_once(course):
    nb = solved(course, "1_autoencoder")
    nb.cells.append(copy.deepcopy(cell(nb, "classifier_selfcheck")))
    out, notes = restored(course, nb, "1_autoencoder")
    assert out.cells[-1].cell_type == "raw" and "nbgrader" not in out.cells[-1].metadata
    assert notes == [f"cell {len(nb.cells)} was a second copy of test cell classifier_selfcheck; it is kept as "
                     "text and not run (the test runs once, from the exercise)"]


def test_reordered_cells_run_in_the_exercises_order_and_the_students_cells_follow_theirs(course):
    nb = solved(course, "1_autoencoder")
    helper = new_code_cell("def helper():\n    return 1")
    nb.cells.insert(index(nb, "encoder_solution") + 1, helper)
    moved = nb.cells.pop(index(nb, "transfer_solution"))
    nb.cells.insert(0, moved)                      # the last answer put at the very top
    selfcheck = nb.cells.pop(index(nb, "encoder_selfcheck"))
    nb.cells.insert(index(nb, "encoder_solution"), selfcheck)  # a test above its answer
    first_cells = [c.source for c in nb.cells[1:4]]
    out, notes = restored(course, nb, "1_autoencoder")
    assert [c.source for c in out.cells[:3]] == first_cells      # the imports stay at the top
    assert out.cells[index(out, "encoder_solution") + 1].source == helper.source
    assert index(out, "encoder_selfcheck") > index(out, "encoder_solution") + 1
    assert cell(out, "transfer_solution").source == moved.source
    assert notes == ["graded cells out of the exercise's order run at their place in it: transfer_solution (cell 1), "
                     f"encoder_selfcheck (cell {index(nb, 'encoder_selfcheck') + 1})"]


def test_cells_with_nbgrader_metadata_the_exercise_does_not_have_become_ordinary(course):
    nb = solved(course, "2_batchnorm_dropout")
    bogus = [new_code_cell("x = 1", metadata={"nbgrader": {"grade": True, "grade_id": "my_test", "points": 5,
                                                           "locked": True, "solution": False}}),
             new_code_cell("y = 2", metadata={"nbgrader": {"grade": True, "locked": False, "solution": False}}),
             new_markdown_cell("notes", metadata={"nbgrader": "broken"}),
             new_code_cell("z = 3", metadata={"nbgrader": {}})]
    nb.cells[5:5] = bogus
    out, notes = restored(course, nb, "2_batchnorm_dropout")
    assert notes == [
        "cell 6 had nbgrader metadata for a cell 'my_test' that the exercise does not have; it is kept as an "
        "ordinary cell",
        "cell 7 had nbgrader metadata without a grade id; it is kept as an ordinary cell",
        "cell 8 had unreadable nbgrader metadata; it is kept as an ordinary cell"]
    kept = [c for c in out.cells if c.source in ("x = 1", "y = 2", "notes", "z = 3")]
    assert len(kept) == 4 and not any("nbgrader" in c.metadata for c in kept)


def test_another_kernel_is_replaced_by_the_courses(course):
    nb = solved(course, "1_autoencoder")
    nb.metadata.kernelspec = {"name": "foo", "display_name": "Foo", "language": "python"}
    out, notes = restored(course, nb, "1_autoencoder")
    assert notes == ["the kernel was set to 'foo'; the course's kernel is used"]
    assert out.metadata.kernelspec.name == "python3"


def test_a_deleted_answer_cell_is_not_brought_back_and_an_answer_in_its_place_runs(course):
    nb = solved(course, "1_autoencoder")
    answer = cell(nb, "encoder_solution").source
    at = index(nb, "encoder_solution")
    nb.cells[at] = new_code_cell(answer)          # retyped into a fresh cell: no metadata
    out, notes = restored(course, nb, "1_autoencoder")
    assert notes == ["answer cell encoder_solution was missing; its tests use what the notebook defines elsewhere"]
    assert out.cells[index(out, "encoder_selfcheck") - 1].source == answer


def test_an_answer_retyped_as_markdown_runs_as_code_with_its_text(course):
    nb = solved(course, "2_batchnorm_dropout")
    answer = cell(nb, "batchnorm_backward")
    text = answer.source
    answer.cell_type = "markdown"
    del answer["outputs"], answer["execution_count"]
    out, notes = restored(course, nb, "2_batchnorm_dropout")
    assert notes == ["answer cell batchnorm_backward had been turned into markdown; it runs as code again, "
                     "keeping its text"]
    assert cell(out, "batchnorm_backward").cell_type == "code" and cell(out, "batchnorm_backward").source == text


def test_a_written_answer_keeps_its_text_also_when_retyped_as_code(course):
    """The answer graded by hand (markdown) is the student's: never restored from the exercise."""
    nb = solved(course, "1_autoencoder")
    text = "My own answer: a shift by one pixel changes many pixels."
    cell(nb, "mse_written_answer").source = text
    out, notes = restored(course, nb, "1_autoencoder")
    assert notes == [] and cell(out, "mse_written_answer").source == text
    answer = cell(nb, "mse_written_answer")
    answer.cell_type, answer.outputs, answer.execution_count = "code", [], None
    out, notes = restored(course, nb, "1_autoencoder")
    assert notes == ["answer cell mse_written_answer had been turned into code; it is markdown again, keeping its text"]
    assert cell(out, "mse_written_answer").cell_type == "markdown" and cell(out, "mse_written_answer").source == text


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_everything_at_once(course, notebook):
    nb = solved(course, notebook)
    answers = {meta(c)["grade_id"]: c.source for c in nb.cells if meta(c).get("solution")}
    tests = [meta(c)["grade_id"] for c in nb.cells if meta(c).get("grade")]
    read_only = [meta(c)["grade_id"] for c in nb.cells if meta(c).get("locked") and not meta(c).get("grade")]
    remove(nb, tests[0], tests[-1], read_only[0])
    retyped = cell(nb, tests[1])
    retyped.cell_type = "markdown"
    del retyped["outputs"], retyped["execution_count"]
    first_answer = list(answers)[0]
    nb.cells.insert(index(nb, first_answer), copy.deepcopy(cell(nb, first_answer)))
    nb.cells.append(copy.deepcopy(cell(nb, tests[2])))
    nb.cells.append(nb.cells.pop(index(nb, list(answers)[1])))
    nb.cells.insert(3, new_code_cell("pass", metadata={"nbgrader": {"grade_id": "nope", "grade": True}}))
    nb.metadata.kernelspec = {"name": "ir", "display_name": "R", "language": "R"}
    out, notes = restored(course, nb, notebook)
    assert {g: cell(out, g).source for g in answers} == answers
    assert len(notes) == 9, notes


def test_an_honest_answer_with_a_broken_structure_gets_its_points(tmp_path):
    """End to end on the fixture course: every breakage at once, full points, the reason in words."""
    from i2dl_course.grading.grade import Options, grade
    from grading import ASSIGNMENT, course_copy, notebooks, points, prepared_template, table, write

    root = course_copy(prepared_template(tmp_path), tmp_path)
    nbs = notebooks(root)
    tiny, second = nbs["tiny.ipynb"], nbs["second.ipynb"]
    release = nbformat.read(root / "release" / ASSIGNMENT / "tiny.ipynb", as_version=4)
    remove(tiny, "test_add")
    test = cell(tiny, "test_square_sum")
    test.cell_type = "markdown"
    del test["outputs"], test["execution_count"]
    stub = copy.deepcopy(cell(release, "add"))
    stub["id"] = "pasted"
    tiny.cells.insert(index(tiny, "add") + 1, stub)                                     # the stub pasted below
    tiny.cells.insert(1, new_code_cell("x = 1", metadata={"nbgrader": {"grade": True, "solution": False}}))
    tiny.metadata.kernelspec = {"name": "foo", "display_name": "Foo", "language": "python"}
    second.cells.insert(0, second.cells.pop(index(second, "test_greet")))              # the test above its answer
    write(tmp_path / "submissions", "broken", nbs)
    run = grade(tmp_path / "submissions", root, Options(assignment=ASSIGNMENT, timeout=60, progress=False))
    row = table(run.csv)["broken"]
    reason = row["reason"]
    assert points(row) == {"total": 5.0, "max_score": 5.0, "test_add": 1.0, "test_square_sum": 2.0,
                           "sandbox_probe": 1.0, "test_greet": 1.0}, reason
    for said in ("tiny.ipynb: test cell test_add was missing and is restored from the exercise",
                 "tiny.ipynb: test cell test_square_sum had been turned into markdown and is restored as code",
                 "tiny.ipynb: cell 6 was a copy of answer cell add; it runs as ordinary code just before cell 5, "
                 "the copy that is graded",
                 "tiny.ipynb: cell 2 had nbgrader metadata without a grade id; it is kept as an ordinary cell",
                 "tiny.ipynb: the kernel was set to 'foo'; the course's kernel is used",
                 "second.ipynb: graded cells out of the exercise's order run at their place in it: "
                 "test_greet (cell 1)"):
        assert said in reason, reason
    assert not RAW_EXCEPTION.search(reason), reason
    assert row["status"] == "graded", reason


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_random_breakages_always_give_a_notebook_nbgrader_accepts(course, notebook):
    import random
    rng = random.Random(8)
    for _ in range(25):
        nb = solved(course, notebook)
        for _ in range(rng.randint(1, 6)):
            at = rng.randrange(len(nb.cells))
            action = rng.choice(["delete", "copy", "retype", "move", "metadata"])
            if action == "delete":
                nb.cells.pop(at)
            elif action == "copy":
                nb.cells.insert(rng.randrange(len(nb.cells) + 1), copy.deepcopy(nb.cells[at]))
            elif action == "retype":
                c = nb.cells[at]
                c.cell_type = "markdown" if c.cell_type == "code" else "code"
                c.pop("outputs", None), c.pop("execution_count", None)
                if c.cell_type == "code":
                    c.outputs, c.execution_count = [], None
            elif action == "move":
                nb.cells.insert(rng.randrange(len(nb.cells)), nb.cells.pop(at))
            else:
                nb.cells[at].metadata["nbgrader"] = rng.choice(
                    [{}, "x", {"grade": True}, {"grade_id": "zzz", "locked": True}, {"grade_id": 3}])
        restored(course, nb, notebook)


def test_an_older_notebook_format_stays_valid(course):
    nb = solved(course, "2_batchnorm_dropout")
    nb.nbformat_minor = 4
    for c in nb.cells:
        c.pop("id", None)
    remove(nb, "setup")
    nb.metadata.kernelspec = "python3"
    out, notes = restored(course, nb, "2_batchnorm_dropout")
    assert not any("id" in c for c in out.cells)
    assert notes == ["read-only cell setup was missing and is restored from the exercise",
                     "the notebook named no usable kernel; the course's kernel is used"]
