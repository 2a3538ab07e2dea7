"""Finding the spec files below a root, and reading one of them safely.

Only regular files inside the root are read, never more than the size limit: a FIFO, a
device or a socket named *.yaml is refused before it is opened (and opened non-blocking,
so one swapped in meanwhile cannot hang the run), and a symlink is followed only when it
stays inside the root, so no file outside it is ever parsed or quoted. Folder symlinks are
not followed: one inside the root leads to folders that are read anyway, one that leaves
it is reported. A folder or file that cannot be read is a diagnostic, never skipped.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass

from compiler.diagnostics import Diagnostic
from compiler.sourcetext import printable

SPEC_SUFFIXES = (".yaml", ".yml")
_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY
_READ_CHUNK = 1 << 16
_KINDS = {
    stat.S_IFDIR: "a folder",
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}
_PERMISSIONS_HINT = "make it readable by the user that runs modelkiln"


class Unreadable(Exception):
    """A spec file or folder that cannot be read; the user's to fix (a diagnostic)."""

    def __init__(self, code: str, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.hint = code, message, hint

    def diagnostic(self, file: str) -> Diagnostic:
        return Diagnostic(file, 1, 1, self.code, self.message, self.hint)


@dataclass(frozen=True)
class Root:
    """A spec root: the path as given, and its real path (symlinks resolved) to tell
    whether a symlink stays inside it."""

    path: str
    real: str

    @classmethod
    def of(cls, path: str | os.PathLike[str]) -> Root:
        text = os.fspath(path)
        return cls(text, os.path.realpath(text))

    def contains(self, real: str) -> bool:
        return real == self.real or real.startswith(self.real.rstrip("/") + "/")


def _is_spec_name(name: str) -> bool:
    return name.endswith(SPEC_SUFFIXES) and not name.startswith(".")


def _excluded(rel: str, exclude: list[str]) -> bool:
    return any(fnmatch.fnmatch(rel, pattern) for pattern in exclude)


def _join(rel_dir: str, name: str) -> str:
    return f"{rel_dir}/{name}" if rel_dir else name


def discover(
    root: Root, output: str, exclude: list[str], problems: list[Diagnostic]
) -> Iterator[str]:
    """Every *.yaml / *.yml below root (relative posix paths, sorted, a folder's files before
    its subfolders); no dot folders, no output folder, nothing excluded. Folders that cannot
    be listed and folder symlinks that leave the root are added to problems."""
    output_rel = "/".join(part for part in output.split("/") if part and part != ".")
    pending = [""]  # a stack, not recursion: any depth of folders
    seen: set[tuple[int, int]] = set()  # (device, inode) of listed folders: no loops
    while pending:
        rel_dir = pending.pop()
        try:
            entries = _list(os.path.join(root.path, rel_dir) if rel_dir else root.path, seen)
        except OSError as err:
            problems.append(_folder_problem(rel_dir, err))
            continue
        folders = []
        for entry in entries:
            rel = _join(rel_dir, entry.name)
            if entry.name.startswith(".") or rel == output_rel or _excluded(rel, exclude):
                continue
            kind = _kind(entry)
            if kind == "folder":
                folders.append(rel)
            elif kind == "folder link":
                _check_folder_link(root, rel, entry.path, problems)
            elif _is_spec_name(entry.name):
                yield rel  # a file, or a link to one: read_limited tells which it may read
        pending.extend(reversed(folders))


def _list(path: str, seen: set[tuple[int, int]]) -> list[os.DirEntry[str]]:
    """The entries of one folder, sorted by name; none when it was listed before (a loop
    through a bind mount)."""
    info = os.stat(path)
    identity = (info.st_dev, info.st_ino)
    if identity in seen:
        return []
    seen.add(identity)
    with os.scandir(path) as listing:
        return sorted(listing, key=lambda entry: entry.name)


def _kind(entry: os.DirEntry[str]) -> str:
    """folder, folder link, or other (a file, a link to one, or something to refuse)."""
    try:
        if entry.is_dir(follow_symlinks=False):
            return "folder"
        if entry.is_symlink() and entry.is_dir():  # is_dir() follows the link
            return "folder link"
    except OSError:
        pass  # read as a file, which then says what is wrong
    return "other"


def _check_folder_link(root: Root, rel: str, path: str, problems: list[Diagnostic]) -> None:
    if not root.contains(os.path.realpath(path)):
        problems.append(
            Diagnostic(
                printable(rel),
                1,
                1,
                "MK116",
                "a symlink to a folder outside the spec root; modelkiln does not follow it",
                "move the folder into the spec root, or link to a folder inside it",
            )
        )


def _folder_problem(rel_dir: str, err: OSError) -> Diagnostic:
    where = printable(rel_dir) if rel_dir else "."
    reason = (err.strerror or type(err).__name__).lower()
    hint = _PERMISSIONS_HINT if err.errno in (errno.EACCES, errno.EPERM) else None
    hint = hint or "fix the folder, or list it in the Project's spec.exclude"
    return Diagnostic(where, 1, 1, "MK117", f"cannot read this folder: {reason}", hint)


def read_limited(root: Root, rel: str, limit: int) -> bytes:
    """The bytes of root/rel, a regular file inside the root of at most limit bytes.
    Raises Unreadable (MK101, MK115, MK116, MK117) for anything else."""
    path = os.path.join(root.path, rel)
    try:
        info = os.lstat(path)
    except OSError as err:
        raise _file_problem(err, link=False) from None
    link = stat.S_ISLNK(info.st_mode)
    if link:
        _check_file_link(root, path)
        try:
            info = os.stat(path)  # the link's target
        except OSError as err:
            raise _file_problem(err, link=True) from None
    _check_kind(info)
    if info.st_size > limit:
        raise _too_large(f"the file is {info.st_size} bytes", limit)
    try:
        fd = os.open(path, _OPEN_FLAGS if link else _OPEN_FLAGS | os.O_NOFOLLOW)
    except OSError as err:
        raise _file_problem(err, link=link) from None
    try:
        opened = os.fstat(fd)
        if (opened.st_dev, opened.st_ino) != (info.st_dev, info.st_ino):
            raise Unreadable("MK117", "the file was replaced while modelkiln read it")
        return read_at_most(fd, limit, opened.st_size)
    finally:
        os.close(fd)


def read_at_most(fd: int, limit: int, size: int) -> bytes:
    """Everything fd has, when that is at most limit bytes (size: how much is expected);
    never more than limit + 1 bytes are read. Raises Unreadable (MK101) beyond."""
    chunks: list[bytes] = []
    total = 0
    want = min(size, limit) + 1  # one byte more than expected: did the file grow?
    while total <= limit:
        chunk = os.read(fd, min(want, limit + 1 - total))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        total += len(chunk)
        want = _READ_CHUNK
    raise _too_large("the file is larger than that", limit)


def _check_file_link(root: Root, path: str) -> None:
    if not root.contains(os.path.realpath(path)):
        raise Unreadable(
            "MK116",
            "a symlink to a file outside the spec root; modelkiln does not read it",
            "copy the file into the spec root, or link to a file inside it",
        )


def _check_kind(info: os.stat_result) -> None:
    if not stat.S_ISREG(info.st_mode):
        kind = _KINDS.get(stat.S_IFMT(info.st_mode), "not a regular file")
        raise Unreadable(
            "MK115",
            f"not a regular file but {kind}; modelkiln reads only regular files",
            "rename it so it does not end in .yaml or .yml, or list it in spec.exclude",
        )


def _too_large(found: str, limit: int) -> Unreadable:
    return Unreadable(
        "MK101", f"{found}, over the limit of {limit} bytes", "split it into several files"
    )


def _file_problem(err: OSError, *, link: bool) -> Unreadable:
    if err.errno == errno.ENOENT:
        if link:
            return Unreadable(
                "MK117",
                "a symlink whose target does not exist",
                "fix or remove the link",
            )
        return Unreadable("MK117", "the file disappeared while modelkiln read the spec tree")
    if err.errno == errno.ELOOP:
        if link:
            return Unreadable("MK117", "a symlink loop", "fix or remove the link")
        return Unreadable("MK117", "the file was replaced while modelkiln read it")
    if err.errno in (errno.EACCES, errno.EPERM):
        return Unreadable("MK117", "cannot read the file: permission denied", _PERMISSIONS_HINT)
    reason = (err.strerror or type(err).__name__).lower()
    return Unreadable("MK117", f"cannot read the file: {reason}")
