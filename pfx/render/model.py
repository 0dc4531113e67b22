"""What a rendering is, shared by every part of pfx/render: the files, what they leave out
(Omission), and the names that comments give to ids (Names). Pure, no imports of the parts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from pfx.model import Record


@dataclass(frozen=True)
class Omission:
    """A field of a record that the rendered files do not carry (or carry differently)."""

    kind: str
    key: tuple[str, ...]
    field: str
    reason: str

    @property
    def label(self) -> str:
        return f"{self.kind} {'/'.join(self.key)}"


@dataclass
class Rendering:
    """The rendered files (relative path -> text) and everything they leave out."""

    files: dict[str, str] = field(default_factory=dict)
    omissions: list[Omission] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


@dataclass
class Names:
    """Natural-key labels by source id (lower case), for the comments that name ids."""

    labels: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, records: Iterable[Record]) -> Names:
        names = cls()
        for r in records:
            if r.id:
                names.labels[r.id.lower()] = r.label
        return names


class RenderCheckError(AssertionError):
    """A rendered file does not read back as what pfx meant to write: a bug of pfx, never
    written to disk (the render stops)."""
