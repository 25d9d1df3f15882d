"""Find the submissions in a folder and copy each one into the grader's workspace.

Accepted layouts, one entry per student:
    SUBMISSIONS/<student_id>/<assignment>/*.ipynb   (plus any other files, e.g. timestamp.txt)
    SUBMISSIONS/<student_id>.zip                    (<assignment>/..., optionally under <student_id>/)
Files directly in <student_id>/ (or at the top of the zip) count when there is no <assignment>/ folder.

Nothing in SUBMISSIONS is modified. Symbolic links and special files are skipped (the grader runs
as root: a link to /etc/shadow must not be copied), zip members may not leave their folder, and the
number and size of files are capped.
"""
import hashlib
import re
import shutil
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,63}$")
MAX_FILES = 500
MAX_FILE_BYTES = 100 << 20      # nbgrader's own CourseDirectory.max_file_size
MAX_TOTAL_BYTES = 300 << 20


class Rejected(Exception):
    """The submission's content is refused as a whole (the message says why, in one line)."""


@dataclass
class Collected:
    student: str
    origin: Path
    folder: Path = None            # the private copy of the assignment's files
    digest: str = ""               # sha256 over the copied files' names and contents
    notes: list = field(default_factory=list)   # one-line remarks (skipped files, refused content)


def find(submissions: Path) -> list:
    """(student_id, path) of every folder and .zip in SUBMISSIONS, with an error text for bad entries."""
    entries, seen = [], {}
    for path in sorted(Path(submissions).iterdir()):
        if path.name.startswith("."):
            continue
        if path.is_symlink() or not (path.is_dir() or (path.is_file() and path.suffix == ".zip")):
            entries.append((path.name, path, "not a student folder or .zip: ignored"))
            continue
        student = path.stem if path.suffix == ".zip" and path.is_file() else path.name
        if not STUDENT_ID.match(student):
            entries.append((student, path, f"invalid student id {student!r} (letters, digits, _.@+- only)"))
        elif student in seen:
            entries.append((student, path, f"a second submission of {student} (also {seen[student].name}): ignored"))
        else:
            seen[student] = path
            entries.append((student, path, None))
    return entries


class _Budget:
    def __init__(self):
        self.files, self.bytes = 0, 0

    def take(self, name: str, size: int) -> None:
        self.files += 1
        self.bytes += size
        if size > MAX_FILE_BYTES:
            raise Rejected(f"{name} is larger than {MAX_FILE_BYTES >> 20} MB")
        if self.files > MAX_FILES or self.bytes > MAX_TOTAL_BYTES:
            raise Rejected(f"more than {MAX_FILES} files or {MAX_TOTAL_BYTES >> 20} MB in the submission")


def _relative_members(names: list, student: str, assignment: str) -> dict:
    """{member name: relative path} for the members that belong to the assignment."""
    def parts(name):
        p = PurePosixPath(name).parts
        return p[1:] if p and p[0] == student and len(p) > 1 else p
    chosen = {n: parts(n) for n in names}
    inside = {n: p[1:] for n, p in chosen.items() if len(p) > 1 and p[0] == assignment}
    return {n: PurePosixPath(*p) for n, p in (inside or chosen).items() if p}


def _safe(rel: PurePosixPath) -> bool:
    return not rel.is_absolute() and ".." not in rel.parts and not any(
        part.startswith("__MACOSX") or part.startswith("._") for part in rel.parts)


def _copy_folder(src: Path, dest: Path, student: str, assignment: str, notes: list) -> None:
    files = {}
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src)
        if any(part.startswith(".") for part in rel.parts):
            continue                                    # .ipynb_checkpoints, .DS_Store, ...
        if path.is_symlink() or not (path.is_dir() or stat.S_ISREG(path.stat().st_mode)):
            notes.append(f"skipped {rel} (link or special file)")
        elif path.is_file():
            files[rel.as_posix()] = path
    budget = _Budget()
    for name, rel in _relative_members(list(files), student, assignment).items():
        budget.take(name, files[name].stat().st_size)
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(files[name], dest / rel, follow_symlinks=False)


def _extract_zip(src: Path, dest: Path, student: str, assignment: str, notes: list) -> None:
    try:
        archive = zipfile.ZipFile(src)
    except (zipfile.BadZipFile, OSError) as err:
        raise Rejected(f"not a readable zip file ({err})")
    with archive:
        members = {}
        for info in archive.infolist():
            if info.is_dir():
                continue
            if stat.S_ISLNK(info.external_attr >> 16):
                notes.append(f"skipped {info.filename} (link)")
            else:
                members[info.filename] = info
        budget = _Budget()
        for name, rel in _relative_members(list(members), student, assignment).items():
            if not _safe(rel):
                notes.append(f"skipped {name} (path leaves the submission)" if ".." in rel.parts or rel.is_absolute()
                             else f"skipped {name}")
                continue
            budget.take(name, 0)
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            written = 0
            with archive.open(members[name]) as src_file, open(target, "wb") as out:
                while chunk := src_file.read(1 << 20):      # sizes in the zip header are not trusted
                    written += len(chunk)
                    budget.bytes += len(chunk)
                    if written > MAX_FILE_BYTES or budget.bytes > MAX_TOTAL_BYTES:
                        raise Rejected(f"{name} unpacks to more than the size limit "
                                       f"({MAX_FILE_BYTES >> 20} MB a file, {MAX_TOTAL_BYTES >> 20} MB in all)")
                    out.write(chunk)


def digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(path.relative_to(folder).as_posix().encode() + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def collect(student: str, origin: Path, dest: Path, assignment: str) -> Collected:
    """Copy one submission's files for `assignment` into `dest` (replaced if it exists).

    A refused submission (bad zip, too large) leaves `dest` empty, so it is graded as if no
    notebook had been handed in, with the reason in its notes.
    """
    result = Collected(student, origin, dest)
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    try:
        if origin.is_dir():
            _copy_folder(origin, dest, student, assignment, result.notes)
        else:
            _extract_zip(origin, dest, student, assignment, result.notes)
    except Rejected as err:
        result.notes.append(str(err))
        shutil.rmtree(dest)
        dest.mkdir()
    if not any(dest.glob("*.ipynb")) and not result.notes:
        result.notes.append(f"no notebook found (expected {student}/{assignment}/*.ipynb)")
    result.digest = digest(dest)
    return result
