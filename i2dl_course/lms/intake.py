"""Turn an LMS's bulk download of submissions into the layout `i2dl grade` takes: one
<student_id>.zip per student in a folder of the grading state (`i2dl grade DOWNLOAD.zip --lms ...`).

Formats (the names each LMS gives the files in its "download all submissions" zip):
    moodle  <Full Name>_<participant id>_assignsubmission_<plugin>[_]/<path>    (folders, Moodle >= 3.1)
            <Full Name>_<participant id>_assignsubmission_<plugin>_<file>       (without folders)
    canvas  <lastfirst>_[late_]<user id>_<attachment id>_<file>                 (flat)
The LMS id (Moodle's participant id, Canvas's user id) maps to the kit's student id through the
roster (a CSV with columns lms_id and student_id; "Participant 1234567" counts as 1234567), or,
without a roster, is the student id itself (as nbgrader's ZipCollect takes it from the name). An
entry that matches no pattern, an LMS id not in the roster, a student id the kit does not accept,
and two LMS ids for one student are each listed in one line and not graded: nothing is guessed.

The download is hostile: it is read with zipfile member by member, never extracted; members
with absolute or `..` paths and symbolic links are skipped; at most MAX_ENTRIES members; each is
copied with a cap (sizes in zip headers are not trusted), MAX_STUDENT_BYTES per student and
MAX_TOTAL_BYTES per download (more: not graded, listed). A student's files become a zip of their
own that collect.py then reads as any submission (notebooks and allowed extra files only,
clashing names refused); a student who uploaded one zip (what `i2dl handin` writes) gets that
zip as it is. Neither format names the submission time; Canvas's late marker is kept in the
manifest (lms.json beside the folder), with each student's LMS id, name and file ids, which the
feedback zip needs.
"""
import csv
import json
import re
import shutil
import stat
import warnings
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

from ..grading.collect import STUDENT_ID

MAX_ENTRIES = 50_000                  # members looked at in one download
MAX_STUDENT_BYTES = 256 << 20         # unpacked bytes copied per student (all their files)
MAX_TOTAL_BYTES = 16 << 30            # unpacked bytes copied from one download
CHUNK = 1 << 20
SKIPPED_PARTS = ("__MACOSX", ".")     # path parts starting with these are not a student's files

PATTERNS = {
    "moodle": re.compile(r"^(?P<name>[^_/]*)_(?P<lms_id>\d+)_assignsubmission_(?P<plugin>[a-z]+)(?:_(?P<file>.*))?$"),
    "canvas": re.compile(r"^(?P<name>[^_/]+)_(?:(?P<late>late)_)?(?P<lms_id>\d+)_(?P<attachment>\d+)_(?P<file>.+)$",
                         re.IGNORECASE),
}


class IntakeError(ValueError):
    """The download or the roster cannot be used at all: one line for the instructor."""


@dataclass
class Submission:
    """One LMS id's entries in the download."""
    lms_id: str
    name: str                                        # as the LMS wrote it in the file names
    late: bool = False                               # Canvas's late marker
    attachments: list = field(default_factory=list)  # Canvas's file ids (the feedback zip names one)
    members: list = field(default_factory=list)      # [(path inside the student's files, zip member name)]


@dataclass
class Intake:
    folder: Path                                     # <student>.zip per mapped student
    students: dict = field(default_factory=dict)     # {student id: Submission}
    unmapped: list = field(default_factory=list)     # one line per entry or LMS id not graded
    notes: list = field(default_factory=list)        # one line per member skipped or cut


def load_roster(path: Path) -> dict:
    """{LMS id: student id} from a CSV with the columns lms_id and student_id."""
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        if not {"lms_id", "student_id"} <= set(reader.fieldnames or ()):
            raise IntakeError(f"{path}: the roster needs the columns lms_id and student_id "
                              f"(it has {', '.join(reader.fieldnames or ()) or 'none'})")
        roster = {}
        for row in reader:
            lms_id = re.sub(r"^participant\s*", "", (row["lms_id"] or "").strip(), flags=re.IGNORECASE)
            student = (row["student_id"] or "").strip()
            if lms_id in roster and roster[lms_id] != student:
                raise IntakeError(f"{path}: LMS id {lms_id} is both {roster[lms_id]} and {student}")
            if lms_id:
                roster[lms_id] = student
    return roster


def _shown(name: str) -> str:
    return "".join(c if c.isprintable() else "?" for c in name)[:200]


def scan(archive: zipfile.ZipFile, lms: str) -> tuple:
    """({LMS id: Submission}, [unmapped lines], [notes]) of the download's members."""
    pattern = PATTERNS[lms]
    found, unmapped, notes = {}, [], []
    members = archive.infolist()
    if len(members) > MAX_ENTRIES:
        notes.append(f"the download has {len(members):,} entries: only the first {MAX_ENTRIES:,} were read")
    for info in members[:MAX_ENTRIES]:
        path = PurePosixPath(info.filename.replace("\\", "/"))
        if info.is_dir():
            continue
        if path.is_absolute() or ".." in path.parts:
            notes.append(f"skipped {_shown(info.filename)} (path leaves the download)")
            continue
        if stat.S_ISLNK(info.external_attr >> 16):
            notes.append(f"skipped {_shown(info.filename)} (a symbolic link)")
            continue
        if any(part.startswith(SKIPPED_PARTS) for part in path.parts):
            continue
        match = pattern.match(path.parts[0])
        if not match:
            unmapped.append(f"{_shown(info.filename)}: not named as {lms} names submissions: not graded")
            continue
        inner = PurePosixPath(*[p for p in [match["file"] or "", *path.parts[1:]] if p])
        if not inner.parts:
            continue
        sub = found.setdefault(match["lms_id"], Submission(match["lms_id"], match["name"]))
        sub.late = sub.late or bool(match.groupdict().get("late"))
        if match.groupdict().get("attachment") and match["attachment"] not in sub.attachments:
            sub.attachments.append(match["attachment"])
        sub.members.append((inner.as_posix(), info.filename))     # two of one path: collect.py refuses them
    return found, unmapped, notes


class _TooLarge(Exception):
    pass


def _copy(archive, member: str, dst, budget: list) -> None:
    """Copy one member into the open file `dst`; _TooLarge once more than budget[0] bytes came."""
    with archive.open(member) as src:
        while chunk := src.read(min(CHUNK, budget[0] + 1)):
            if len(chunk) > budget[0]:
                raise _TooLarge
            dst.write(chunk)
            budget[0] -= len(chunk)


def _write(archive, sub: Submission, out: Path, left: list) -> bool:
    """out: the student's zip (their one uploaded zip as it is, else their files packed); False
    (and no file) if their files unpack to more than MAX_STUDENT_BYTES or left[0] (the download's
    bytes still allowed, reduced by what was copied)."""
    budget = [min(MAX_STUDENT_BYTES, left[0])]
    start = budget[0]
    try:
        if len(sub.members) == 1 and sub.members[0][0].lower().endswith(".zip") and "/" not in sub.members[0][0]:
            with open(out, "wb") as dst:
                _copy(archive, sub.members[0][1], dst, budget)
            left[0] -= start - budget[0]
            return True
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as packed, warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)          # "Duplicate name": kept for collect.py
            for inner, member in sorted(sub.members):
                with packed.open(inner, "w") as dst:
                    _copy(archive, member, dst, budget)
        left[0] -= start - budget[0]
        return True
    except _TooLarge:
        out.unlink()
        return False


def intake(download: Path, lms: str, folder: Path, roster: dict = None) -> Intake:
    """Write folder/<student>.zip for every mapped student (the folder is made anew) and
    folder.parent/lms.json (the manifest); the listing of what was not graded in the result."""
    if lms not in PATTERNS:
        raise IntakeError(f"unknown LMS {lms!r} (known: {', '.join(PATTERNS)})")
    try:
        archive = zipfile.ZipFile(download)
    except (zipfile.BadZipFile, OSError) as err:
        raise IntakeError(f"{download} is not a readable zip file ({err})") from None
    folder = Path(folder)
    if folder.is_symlink():
        raise IntakeError(f"{folder} is a symbolic link")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    result = Intake(folder)
    with archive:
        found, result.unmapped, result.notes = scan(archive, lms)
        owners, left = {}, [MAX_TOTAL_BYTES]
        for lms_id, sub in sorted(found.items()):
            student = lms_id if roster is None else roster.get(lms_id)
            label = f"{_shown(sub.name)} (LMS id {lms_id}, {len(sub.members)} files)"
            if student is None:
                result.unmapped.append(f"{label}: not in the roster: not graded")
            elif not STUDENT_ID.match(student):
                result.unmapped.append(f"{label}: student id {_shown(student)!r} is not one the kit takes "
                                       "(letters, digits, _.@+-): not graded")
            else:
                owners.setdefault(student, []).append(sub)
        for student, subs in sorted(owners.items()):
            if len(subs) > 1:
                ids = ", ".join(s.lms_id for s in subs)
                result.unmapped.append(f"{student}: LMS ids {ids} all map to this student: none graded")
                continue
            if _write(archive, subs[0], folder / f"{student}.zip", left):
                result.students[student] = subs[0]
            else:
                result.unmapped.append(f"{student}: the files of LMS id {subs[0].lms_id} unpack to more than "
                                       f"{MAX_STUDENT_BYTES:,} bytes (or the download to more than "
                                       f"{MAX_TOTAL_BYTES:,}): not graded")
    manifest = {"lms": lms, "download": str(Path(download).resolve()),
                "students": {s: asdict(sub) for s, sub in result.students.items()}}
    (folder.parent / "lms.json").write_text(json.dumps(manifest, indent=1))
    return result


def manifest(folder: Path) -> dict:
    """The manifest the last intake wrote in `folder` (the grading state): {"lms": ..., "students": ...}."""
    path = Path(folder) / "lms.json"
    if not path.is_file():
        raise IntakeError(f"no LMS intake in {folder}: grade the LMS download with `i2dl grade DOWNLOAD.zip "
                          "--lms moodle|canvas` first")
    return json.loads(path.read_text())
