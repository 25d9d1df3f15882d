"""`i2dl check` against grading one submission, side by side on the same machine: the solution
notebooks of the exercise, checked from a student's folder and graded as a one-submission folder.
Prints both wall times and their ratio (check / grade); the issue's bar is a ratio of at most 1."""
import tempfile
import time
from pathlib import Path

from i2dl_course import check, examples
from i2dl_course.grading.grade import Options, grade

ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENT = "exercise_08"


def main() -> None:
    nbs = examples.build(ROOT / "source" / ASSIGNMENT, ROOT / "release" / ASSIGNMENT)
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        examples.write(scratch / "work", "", ASSIGNMENT, nbs)
        examples.write(scratch / "submissions", "solution", ASSIGNMENT, nbs)
        start = time.perf_counter()
        result = check.check(scratch / "work", ASSIGNMENT, seed=3)
        checked = time.perf_counter() - start
        start = time.perf_counter()
        grade(scratch / "submissions", options=Options(assignment=ASSIGNMENT, workers=1, progress=False, seed=3,
                                                       force=True, db_url=f"sqlite:///{scratch / 'gb.db'}"))
        graded = time.perf_counter() - start
    got, most = result.total
    print(f"i2dl check: {checked:6.1f} s ({got:g} / {most:g} points)")
    print(f"i2dl grade: {graded:6.1f} s (one submission, feedback and reports included)")
    print(f"ratio check / grade: {checked / graded:.2f}")


if __name__ == "__main__":
    main()
