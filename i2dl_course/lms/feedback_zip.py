"""Every student's feedback HTML (feedback/<student>/<assignment>/*.html) as one zip the LMS
takes back, named for the LMS the submissions came from (the intake's manifest, lms.json):

    moodle  <Full Name>_<participant id>_assignsubmission_file_<notebook>.html
            "Upload multiple feedback files in a zip" (assignfeedback_file): Moodle reads the
            participant id from the second "_" part of the name, in this flat form with and
            without the per-student folders of Moodle >= 4.1.
    canvas  <lastfirst>_<user id>_<attachment id>_<notebook>.html
            "Re-Upload Submissions": Canvas finds the submission from the user id and the id of
            a file the student handed in (from the download's names), and attaches the file as a
            comment.
The name part is the one the LMS wrote, with "_", path separators and control characters
replaced by spaces. Students with feedback but no LMS submission in the manifest are listed.
"""
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Packed:
    entries: list = field(default_factory=list)        # names written into the zip
    not_in_lms: list = field(default_factory=list)     # students with feedback but not in the manifest
    no_feedback: list = field(default_factory=list)    # students in the manifest without feedback


def _name(text: str) -> str:
    return re.sub(r"[_/\\\x00-\x1f\x7f]", " ", text).strip(". ") or "student"


def entry(lms: str, sub: dict, notebook: str) -> str:
    """The zip entry name of one feedback file (sub: the manifest's record of the student)."""
    if lms == "moodle":
        return f"{_name(sub['name'])}_{sub['lms_id']}_assignsubmission_file_{notebook}.html"
    return f"{_name(sub['name'])}_{sub['lms_id']}_{sub['attachments'][0]}_{notebook}.html"


def pack(feedback: Path, assignment: str, manifest: dict, out: Path) -> Packed:
    """Write `out` from feedback/<student>/<assignment>/*.html for the students in the manifest."""
    result, students = Packed(), manifest["students"]
    folders = {p.name: p / assignment for p in sorted(Path(feedback).iterdir())
               if (p / assignment).is_dir() and not (p / assignment).is_symlink()} if Path(feedback).is_dir() else {}
    result.not_in_lms = sorted(set(folders) - set(students))
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for student, sub in sorted(students.items()):
            pages = [p for p in sorted(folders[student].glob("*.html")) if p.is_file() and not p.is_symlink()] \
                if student in folders else []
            if not pages:
                result.no_feedback.append(student)
            for page in pages:
                name = entry(manifest["lms"], sub, page.stem)
                zf.writestr(name, page.read_bytes())
                result.entries.append(name)
    return result
