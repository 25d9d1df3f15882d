"""The one careful reader for every file a student or a kernel could have touched.

Regular files only, opened with O_NOFOLLOW | O_NONBLOCK and checked with fstat on the open
descriptor (so a link or FIFO swapped in between is never followed or waited on); no hard links
(a second name for a file elsewhere); size caps per file, in total and on the number of files.
Anything else is refused with a one-line reason, never followed.
"""
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

KINDS = {stat.S_IFLNK: "a symbolic link", stat.S_IFIFO: "a FIFO", stat.S_IFSOCK: "a socket",
         stat.S_IFCHR: "a device", stat.S_IFBLK: "a device", stat.S_IFDIR: "a folder"}


class Refused(Exception):
    """One file (or a whole tree) is refused; str(error) says why in one line."""


def kind(mode: int) -> str:
    return KINDS.get(stat.S_IFMT(mode), "not a regular file")


def read_file(path, max_bytes: int, name: str = None) -> bytes:
    """The bytes of a regular file that has no other name and at most max_bytes, else Refused."""
    name = name or Path(path).name
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as err:
        try:
            mode = os.lstat(path).st_mode
        except OSError:
            raise Refused(f"{name}: cannot be read ({err.strerror})") from None
        raise Refused(f"{name} is {kind(mode)}: refused") from None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise Refused(f"{name} is {kind(info.st_mode)}: refused")
        if info.st_nlink != 1:
            raise Refused(f"{name} is a hard link (a second name of another file): refused")
        if info.st_size > max_bytes:
            raise Refused(f"{name} is larger than {max_bytes:,} bytes: refused")
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise Refused(f"{name} grew beyond {max_bytes:,} bytes while read: refused")
    return data


@dataclass
class Tree:
    files: dict = field(default_factory=dict)       # {relative posix path: bytes}
    refused: list = field(default_factory=list)     # one line per refused entry


def read_tree(folder, max_file: int, max_total: int, max_files: int) -> Tree:
    """Every regular file under `folder` (links and special files refused, never followed).

    The caps on the number of files and the total bytes refuse the rest of the tree once reached.
    """
    tree, total = Tree(), 0
    folder = Path(folder)
    if not folder.is_dir() or folder.is_symlink():
        return tree
    pending = [Path()]
    while pending:
        rel = pending.pop()
        try:
            entries = sorted(os.scandir(folder / rel), key=lambda e: e.name)
        except OSError as err:
            tree.refused.append(f"{rel.as_posix()}: cannot be listed ({err.strerror})")
            continue
        for entry in entries:
            path = rel / entry.name
            info = entry.stat(follow_symlinks=False)
            if stat.S_ISDIR(info.st_mode):
                pending.append(path)
                continue
            if len(tree.files) >= max_files:
                tree.refused.append(f"more than {max_files} files: {path.as_posix()} and the rest refused")
                return tree
            try:
                data = read_file(folder / path, min(max_file, max_total - total), path.as_posix())
            except Refused as err:
                tree.refused.append(str(err))
                continue
            total += len(data)
            tree.files[path.as_posix()] = data
    return tree
