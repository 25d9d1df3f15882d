"""Find the submissions in a folder and take from each only what grading uses.

Accepted layouts, one entry per student:
    SUBMISSIONS/<student_id>/<assignment>/*.ipynb   (plus e.g. timestamp.txt)
    SUBMISSIONS/<student_id>.zip                    (<assignment>/..., optionally under <student_id>/)
Files directly in <student_id>/ (or at the top of the zip) count when there is no <assignment>/ folder.

A submission contributes the assignment's notebooks and an allow-list of extra files (default:
timestamp.txt, for late penalties); everything else (folders, modules, configuration files, links,
FIFOs, other notebooks) is dropped before any kernel runs, and the notes say what. Files are read
with the careful reader (safe_files) and kept in memory, size-capped; nothing in SUBMISSIONS is
modified, and zip members are never extracted to disk. A notebook under the name an LMS or a
browser gives a second copy (Canvas's `x-1.ipynb` for a resubmission, `x (1).ipynb`) is graded as
`x.ipynb` when it is the one such copy and `x.ipynb` itself is missing.

A submission in which two entries are the same graded file is refused (graded as nothing handed
in, with the reason): a zip with two members of one name, or of names that unpack to one file
somewhere (case, Unicode form, backslashes, `a//b`), or, zip or folder, two entries that both map
to one of the graded files (e.g. <student_id>/<assignment>/x.ipynb and <assignment>/x.ipynb).
Which of them is graded would be a guess, and a person unpacking the zip may see the other one.
"""
import hashlib
import re
import stat
import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from nbgrader.utils import parse_utc

from .safe_files import Refused, read_file

STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,63}$")
MAX_NOTEBOOK_BYTES = 50 << 20
MAX_EXTRA_BYTES = 64 << 10
MAX_ENTRIES = 10_000           # entries looked at in one submission (folder tree or zip members)
EXTRA_FILES = ("timestamp.txt",)
# A notebook's name as an LMS or a browser renames a second copy: Canvas's "x-1.ipynb" for a
# resubmission, a browser's "x (1).ipynb" for a second download.
RENAMED = re.compile(r"^(?P<stem>.+?)(?:-\d{1,3}| \(\d{1,3}\))\.ipynb$")


@dataclass
class Collected:
    student: str
    origin: Path
    files: dict = field(default_factory=dict)    # {file name: bytes}: the notebooks and allowed extra files
    digest: str = ""                             # sha256 over the files' names and contents
    notes: list = field(default_factory=list)    # one line per refused file or refused submission
    dropped: str = ""                            # one line: what was taken as renamed, and not taken (not an error)


def find(submissions: Path) -> list:
    """(student_id, path, error or None) for every folder and .zip in SUBMISSIONS."""
    entries, seen = [], {}
    for path in sorted(Path(submissions).iterdir()):
        if path.name.startswith("."):
            continue
        info = path.lstat()
        is_zip = stat.S_ISREG(info.st_mode) and path.suffix == ".zip"
        if not (stat.S_ISDIR(info.st_mode) or is_zip):
            entries.append((path.name, path, "not a student folder or .zip: ignored"))
            continue
        student = path.stem if is_zip else path.name
        if not STUDENT_ID.match(student):
            entries.append((student, path, f"invalid student id {student!r} (letters, digits, _.@+- only)"))
        elif student in seen:
            entries.append((student, path, f"a second submission of {student} (also {seen[student].name}): ignored"))
        else:
            seen[student] = path
            entries.append((student, path, None))
    return entries


def _relative(names: list, student: str, assignment: str) -> dict:
    """{entry name: path relative to the assignment folder} of the entries that belong to it."""
    def parts(name):
        p = PurePosixPath(name).parts
        return p[1:] if p and p[0] == student and len(p) > 1 else p
    chosen = {n: parts(n) for n in names}
    inside = {n: p[1:] for n, p in chosen.items() if len(p) > 1 and p[0] == assignment}
    return {n: PurePosixPath(*p) for n, p in (inside or chosen).items() if p}


def _shown(name: str) -> str:
    return "".join(c if c.isprintable() else "?" for c in name)


def _unpacks_as(name: str) -> str:
    """The file a zip member's name unpacks to on some system: one key for all spellings of it."""
    name = unicodedata.normalize("NFC", name.replace("\\", "/")).casefold()
    return PurePosixPath(name).as_posix()


def _one_entry_per_file(rels: dict, wanted) -> None:
    """Refused if two entries ({entry name: relative path}) are the same graded file."""
    seen = {}
    for name, rel in sorted(rels.items()):
        if rel.as_posix() in wanted:
            if rel in seen:
                raise Refused(f"{_shown(seen[rel])} and {_shown(name)} are both {rel} of the submission: refused "
                              "(hand in one copy of each file)")
            seen[rel] = name


def _check_timestamp(data: bytes) -> None:
    """Refused unless data is one time nbgrader reads (e.g. "2026-12-01 14:00:00 UTC"); nbgrader's
    Autograde would fail the whole submission on it."""
    try:
        parse_utc(data.decode("utf-8").strip())
    except (UnicodeDecodeError, ValueError, OverflowError):
        raise Refused("timestamp.txt is not a time (e.g. 2026-12-01 14:00:00 UTC): ignored, so the hand-in time "
                      "is unknown and no late penalty was computed; check it by hand") from None


class _Intake:
    """Decides per entry whether it is kept (and reads it) or dropped (and notes it)."""

    def __init__(self, result: Collected, notebooks: list, extra_files):
        self.result = result
        self.wanted = {f"{nb}.ipynb": MAX_NOTEBOOK_BYTES for nb in notebooks}
        self.wanted.update({name: MAX_EXTRA_BYTES for name in extra_files})
        self.dropped, self.taken_as, self.offered, self.renamed = [], [], set(), {}

    def offer(self, rel: PurePosixPath, read) -> None:
        """read(cap) -> bytes, or raises Refused."""
        name = rel.as_posix()
        renamed = RENAMED.match(name) if len(rel.parts) == 1 else None
        if renamed and f"{renamed['stem']}.ipynb" in self.wanted:
            self.renamed.setdefault(f"{renamed['stem']}.ipynb", []).append((name, read))
            return
        if len(rel.parts) != 1 or name not in self.wanted:
            self.dropped.append(name)
            return
        self.offered.add(name)
        self._take(name, read)

    def settle(self) -> None:
        """Take a renamed copy (x-1.ipynb) as the notebook x.ipynb when it is the one candidate and
        x.ipynb itself is not there; called while the entries can still be read."""
        for name, copies in sorted(self.renamed.items()):
            if name in self.offered:
                self.dropped += [copy for copy, _ in copies]
            elif len(copies) > 1:
                shown = " and ".join(sorted(_shown(copy) for copy, _ in copies))
                self.result.notes.append(f"{shown} could each be {name}: none graded (hand in one copy named {name})")
            else:
                self.taken_as.append(f"graded {_shown(copies[0][0])} as {name}")
                self._take(name, copies[0][1])

    def _take(self, name: str, read) -> None:
        try:
            data = read(self.wanted[name])
            if name == "timestamp.txt":
                _check_timestamp(data)
            self.result.files[name] = data
        except Refused as err:
            self.result.notes.append(str(err))

    def close(self) -> None:
        lines = list(self.taken_as)
        if self.dropped:
            shown = ", ".join(sorted(self.dropped)[:5]) + (f" and {len(self.dropped) - 5} more"
                                                           if len(self.dropped) > 5 else "")
            extras = ", ".join(n for n in self.wanted if not n.endswith(".ipynb")) or "no other files"
            lines.append(f"dropped {shown} (graded are only the assignment's notebooks and {extras})")
        self.result.dropped = "; ".join(lines)


def _from_folder(src: Path, student: str, assignment: str, intake: _Intake) -> None:
    entries, pending = {}, [src]
    while pending and len(entries) < MAX_ENTRIES:
        folder = pending.pop()
        for path in sorted(folder.iterdir()):
            if path.name in (".ipynb_checkpoints", ".DS_Store", "__MACOSX"):
                continue
            if stat.S_ISDIR(path.lstat().st_mode):
                pending.append(path)
            else:
                entries[path.relative_to(src).as_posix()] = path
    rels = _relative(list(entries), student, assignment)
    _one_entry_per_file(rels, intake.wanted)
    for name, rel in rels.items():
        intake.offer(rel, lambda cap, path=entries[name], rel=rel: read_file(path, cap, rel.as_posix()))
    intake.settle()


def _from_zip(src: Path, student: str, assignment: str, intake: _Intake) -> None:
    try:
        archive = zipfile.ZipFile(src)
    except (zipfile.BadZipFile, OSError) as err:
        raise Refused(f"not a readable zip file ({err})") from None
    with archive:
        members, spellings = {}, {}
        for info in archive.infolist()[:MAX_ENTRIES]:
            parts = PurePosixPath(info.filename).parts
            if PurePosixPath(info.filename).is_absolute() or ".." in parts:
                intake.result.notes.append(f"skipped {info.filename} (path leaves the submission)")
            elif not info.is_dir() and not any(p.startswith(("__MACOSX", "._", ".")) for p in parts):
                spellings.setdefault(_unpacks_as(info.filename), []).append(info.filename)
                members[info.filename] = info
        rels = _relative(list(members), student, assignment)
        for names in spellings.values():         # one file when unpacked, and grading takes one of them
            if len(names) > 1 and any(n in rels and rels[n].as_posix() in intake.wanted for n in names):
                what = (f"{len(names)} entries named {_shown(names[0])}" if len(set(names)) == 1 else
                        f"entries {' and '.join(map(_shown, sorted(set(names))))}, one file when unpacked on some systems")
                raise Refused(f"the zip holds {what}: refused (a person unpacking it may see another one "
                              "than the one graded; hand in one copy of each file)")
        _one_entry_per_file(rels, intake.wanted)

        def read(info, name, cap):
            if stat.S_ISLNK(info.external_attr >> 16):
                raise Refused(f"{name} is a symbolic link: refused")
            with archive.open(info) as f:                 # sizes in the zip header are not trusted
                data = f.read(cap + 1)
            if len(data) > cap:
                raise Refused(f"{name} unpacks to more than {cap:,} bytes: refused")
            return data

        for name, rel in rels.items():
            intake.offer(rel, lambda cap, info=members[name], rel=rel: read(info, rel.as_posix(), cap))
        intake.settle()


def digest(files: dict) -> str:
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    return h.hexdigest()


def collect(student: str, origin: Path, assignment: str, notebooks: list, extra_files=EXTRA_FILES) -> Collected:
    """Take one submission's notebooks (names without .ipynb) and allowed extra files into memory.

    A refused submission (an unreadable zip) contributes nothing: it is graded as if no notebook
    had been handed in, with the reason in its notes.
    """
    result = Collected(student, origin)
    intake = _Intake(result, notebooks, extra_files)
    try:
        if stat.S_ISDIR(origin.lstat().st_mode):
            _from_folder(origin, student, assignment, intake)
        else:
            _from_zip(origin, student, assignment, intake)
    except Refused as err:
        result.notes.append(str(err))
        result.files.clear()
    except zipfile.BadZipFile as err:
        result.notes.append(f"not a readable zip file ({err})")
        result.files.clear()
    intake.close()
    if not any(name.endswith(".ipynb") for name in result.files) and not result.notes:
        result.notes.append(f"no notebook found (expected {student}/{assignment}/*.ipynb)")
    result.digest = digest(result.files)
    return result
