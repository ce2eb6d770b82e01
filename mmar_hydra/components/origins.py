"""Where each built object came from: its component name, JSON path and config file.

The resolver records every object it builds (transforms, inferers, losses, metrics,
networks) and every callable made from a code string. When one of them raises in the middle
of a loop, :func:`failing_origin` finds it in the exception (MONAI's ``applying transform``
wrapper, the frames' ``self``, a code string's frames) so the error can name what failed
and where it is in the MMAR, instead of a traceback.
"""

from __future__ import annotations

import re
import traceback
from dataclasses import dataclass
from typing import Any

__all__ = ["Origin", "Origins", "code_filename", "failing_origin", "exception_chain"]

_APPLYING = re.compile(r"^applying transform (.+)$", re.S)
_CODE_FILE = re.compile(r"^<mmar code string at (.*)>$")


@dataclass(frozen=True)
class Origin:
    """A built object's place in the MMAR."""

    label: str  # "AsDiscreted", or "code string 'lambda x: ...'"
    where: str  # the JSON path: validate.post_transforms[2]
    file: str | None = None

    def describe(self) -> str:
        return f"{self.label} ({self.where})" if self.where else self.label


def code_filename(where: str) -> str:
    """The file name a code string is compiled under: its frames then name its JSON path."""
    return f"<mmar code string at {where}>"


class Origins:
    """Built objects by identity (they are kept alive here, so an id is never reused)."""

    def __init__(self) -> None:
        self._by_id: dict[int, tuple[Any, Origin]] = {}
        self._code: dict[str, Origin] = {}

    def add(self, obj: Any, origin: Origin) -> None:
        self._by_id.setdefault(id(obj), (obj, origin))

    def add_code(self, where: str, origin: Origin) -> None:
        self._code[code_filename(where)] = origin

    def find(self, obj: Any) -> Origin | None:
        found = self._by_id.get(id(obj))
        return found[1] if found is not None and found[0] is obj else None

    def by_repr(self, text: str) -> Origin | None:
        """The object whose ``repr`` is ``text`` (MONAI's wrapper names a transform so)."""
        for obj, origin in self._by_id.values():
            if repr(obj) == text:
                return origin
        return None

    def code(self, filename: str) -> Origin | None:
        if filename in self._code:
            return self._code[filename]
        match = _CODE_FILE.match(filename)
        return Origin("a code string", match.group(1)) if match else None


def exception_chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and its causes (or contexts), outermost first."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def failing_origin(exc: BaseException, origins: Origins | None) -> Origin | None:
    """The innermost built object (or code string) that ``exc`` was raised in.

    A code string wins over the transform that ran it (``Lambdad``), and a transform named
    by MONAI's ``applying transform`` wrapper over the frames of the code that called it.
    """
    if origins is None:
        return None
    chain = exception_chain(exc)
    code: Origin | None = None
    framed: Origin | None = None
    for link in chain:  # outermost first: later (inner) finds replace earlier ones
        for frame, _ in traceback.walk_tb(link.__traceback__):
            found = origins.code(frame.f_code.co_filename)
            if found is not None:
                code = found
                continue
            owner = frame.f_locals.get("self")
            origin = origins.find(owner) if owner is not None else None
            if origin is not None:
                framed = origin
    if code is not None:
        return code
    for link in reversed(chain):  # innermost wrapper first
        match = _APPLYING.match(str(link)) if isinstance(link, RuntimeError) else None
        if match is not None:
            origin = origins.by_repr(match.group(1).strip())
            if origin is not None:
                return origin
    return framed
