"""One YAML document: plain data, and where each piece of it came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from compiler.diagnostics import Diagnostic
from compiler.sourcetext import PathKey, Pos

Tables = tuple[dict[PathKey, Pos], dict[PathKey, Pos]]  # values, keys


class PositionSource(Protocol):
    """Finds the position tables of a file's documents (compiler.parse.FilePositions)."""

    def tables(self, index: int) -> Tables: ...


@dataclass
class Document:
    """Positions are only needed for diagnostics, which most runs of a CI gate have none of:
    a document read without them asks its file's PositionSource the first time a position
    is wanted; that source reads the file once for all of its documents."""

    file: str  # posix path relative to the root, printable
    index: int  # 0-based position of the document in its file
    data: dict[str, Any]
    _values: dict[PathKey, Pos] | None = None
    _keys: dict[PathKey, Pos] | None = None
    source: PositionSource | None = field(default=None, repr=False)

    def _positions(self) -> Tables:
        if self._values is None or self._keys is None:
            if self.source is not None:
                self._values, self._keys = self.source.tables(self.index)
            else:
                self._values, self._keys = {}, {}
        return self._values, self._keys

    @property
    def values(self) -> dict[PathKey, Pos]:
        return self._positions()[0]

    @property
    def keys(self) -> dict[PathKey, Pos]:
        return self._positions()[1]

    @property
    def kind(self) -> str | None:
        kind = self.data.get("kind")
        return kind if isinstance(kind, str) else None

    @property
    def name(self) -> str | None:
        meta = self.data.get("metadata")
        name = meta.get("name") if isinstance(meta, dict) else None
        return name if isinstance(name, str) else None

    def pos(self, path: PathKey, *, key: bool = False) -> Pos:
        """Position of the value at path (or of its key), else of its nearest ancestor."""
        path = tuple(path)
        values, keys = self._positions()
        while True:
            if key and path in keys:
                return keys[path]
            if path in values:
                return values[path]
            if not path:
                return (1, 1)
            path = path[:-1]
            key = True  # an absent child is reported at its parent's key

    def at(
        self, path: PathKey, code: str, message: str, hint: str | None = None, *, key: bool = False
    ) -> Diagnostic:
        line, column = self.pos(path, key=key)
        return Diagnostic(self.file, line, column, code, message, hint)
