"""Put a checkout back as it was: HEAD, the index and the output folder.

`modelkiln commit` on the current branch compiles into the output folder, stages it and
commits it. When any of that fails (no git identity, a hook that says no, a push that
does not go through) the person gets their checkout back exactly: the branch where it
was, the index byte for byte (so what they had staged is staged, and nothing else), and
the output folder as it was on disk. Only the output folder is copied aside: the compile
and the commit touch nothing else in the working tree.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from compiler.errors import HostError, describe_os_error
from compiler.gitops.git import commit_of, git


@dataclass
class Snapshot:
    work: Path  # the working tree
    output: Path  # the output folder
    head: str | None  # the commit HEAD pointed at; None on a branch with no commit yet
    index_file: Path
    index: bytes | None  # None: there was no index file
    output_copy: Path | None  # None: there was no output folder

    @classmethod
    def take(cls, work: Path, output: Path, spare: Path) -> Snapshot:
        """The state of the checkout now; spare is an empty folder for the copy."""
        head = commit_of(work, "HEAD")
        index_file = Path(git(work, "rev-parse", "--git-path", "index").strip())
        if not index_file.is_absolute():
            index_file = work / index_file
        index = index_file.read_bytes() if index_file.exists() else None
        output_copy = None
        if output.exists():
            output_copy = spare / "output"
            shutil.copytree(output, output_copy, symlinks=True)
        return cls(work, output, head, index_file, index, output_copy)

    def restore(self) -> None:
        """HEAD, then the index, then the output folder, each only if it changed."""
        try:
            self._restore_head()
            self._restore_index()
            self._restore_output()
        except (OSError, HostError) as err:
            detail = describe_os_error(err) if isinstance(err, OSError) else str(err)
            raise HostError(
                f"could not put the checkout back as it was: {detail}",
                f"HEAD was {(self.head or 'unborn')[:12]}; check `git status` before running again",
            ) from err

    def _restore_head(self) -> None:
        now = commit_of(self.work, "HEAD")
        if now == self.head:
            return
        message = "modelkiln commit: taken back"
        if self.head is None:  # the first commit of the branch: no branch again
            git(self.work, "update-ref", "-m", message, "-d", "HEAD", str(now))
        else:
            git(self.work, "update-ref", "-m", message, "HEAD", self.head, now or "")

    def _restore_index(self) -> None:
        now = self.index_file.read_bytes() if self.index_file.exists() else None
        if now == self.index:
            return
        if self.index is None:
            self.index_file.unlink()
            return
        # beside the index, then renamed over it: never a half-written index
        fd, temporary = tempfile.mkstemp(prefix="index.modelkiln-", dir=self.index_file.parent)
        with os.fdopen(fd, "wb") as handle:
            handle.write(self.index)
        os.replace(temporary, self.index_file)

    def _restore_output(self) -> None:
        if self.output.is_symlink() or self.output.is_file():
            self.output.unlink()
        elif self.output.exists():
            shutil.rmtree(self.output)
        if self.output_copy is not None:
            shutil.copytree(self.output_copy, self.output, symlinks=True)


@contextmanager
def undone_on_failure(work: Path, output: Path) -> Iterator[Snapshot]:
    """The checkout as it is now; put back if the block raises (Ctrl-C included)."""
    with tempfile.TemporaryDirectory(prefix="modelkiln-undo-") as spare:
        snapshot = Snapshot.take(work, output, Path(spare))
        try:
            yield snapshot
        except BaseException:
            snapshot.restore()
            raise
