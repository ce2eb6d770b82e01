"""User-facing errors.

Every problem a user can cause (a bad MMAR, a bad override, missing data, a checkpoint that
does not fit) is raised as an :class:`MMARError`. The CLI prints ``format()`` and exits
non-zero without a traceback unless ``debug=true``. Internal bugs stay ordinary exceptions,
so they are never disguised as user mistakes.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "MMARError",
    "ConfigError",
    "ComponentError",
    "CodeNotAllowedError",
    "DataError",
    "CheckpointError",
    "ErrorGroup",
    "RunLockedError",
    "PreemptedError",
    "BadCaseError",
    "json_path",
    "report",
    "first_line",
    "json_type",
]


def json_path(*parts: str | int) -> str:
    """Join JSON path parts the way users read them: ``train.pre_transforms[2].args.keys``."""
    out = ""
    for part in parts:
        if part is None or part == "":
            continue
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def first_line(exc: BaseException, limit: int = 200) -> str:
    """The first line of ``exc``'s message, cut to ``limit``; its type name when it has none
    (``MemoryError()``, ``EOFError()``)."""
    lines = str(exc).strip().splitlines()
    return lines[0][:limit] if lines else type(exc).__name__


def json_type(value: object) -> str:
    """The JSON name of ``value``'s type, for messages: null, boolean, number, string, list, object."""
    if value is None:
        return "null"
    for kind, name in ((bool, "boolean"), (int | float, "number"), (str, "string")):
        if isinstance(value, kind):
            return name
    return (
        "list"
        if isinstance(value, list | tuple)
        else "object"
        if isinstance(value, dict)
        else type(value).__name__
    )


class MMARError(Exception):
    """An error in user input: says what is wrong, where, what was expected and what to do.

    Args:
        what: one sentence saying what is wrong.
        file: the file the problem is in (config JSON, datalist, checkpoint...).
        path: the JSON path inside that file, e.g. ``train.model.args.channels``.
        expected: what would have been accepted.
        fix: what the user can do about it.
        exit_code: the process exit code the CLI uses.
    """

    kind = "error"

    def __init__(
        self,
        what: str,
        *,
        file: str | Path | None = None,
        path: str | None = None,
        expected: str | None = None,
        fix: str | None = None,
        exit_code: int = 2,
    ) -> None:
        super().__init__(what)
        self.what = what
        self.file = str(file) if file is not None else None
        self.path = path
        self.expected = expected
        self.fix = fix
        self.exit_code = exit_code

    def where(self) -> str:
        parts = []
        if self.file:
            parts.append(self.file)
        if self.path:
            parts.append(self.path)
        return ": ".join(parts)

    def format(self) -> str:
        where = self.where()
        lines = [f"{self.kind}: {self.what}"]
        if where:
            lines.append(f"  where:    {where}")
        if self.expected:
            lines.append(f"  expected: {self.expected}")
        if self.fix:
            lines.append(f"  fix:      {self.fix}")
        return "\n".join(lines)

    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.format()


class ConfigError(MMARError):
    """A config file or override is malformed, incomplete or inconsistent."""

    kind = "config error"


class ComponentError(MMARError):
    """A component (name/path/args) cannot be resolved or does not fit its class."""

    kind = "component error"


class CodeNotAllowedError(MMARError):
    """A config string would run arbitrary code and allow_code is not set."""

    kind = "code not allowed"


class DataError(MMARError):
    """The data the MMAR points at is missing, empty or inconsistent."""

    kind = "data error"


class CheckpointError(MMARError):
    """A checkpoint or TorchScript file is missing, unsafe or does not fit the network."""

    kind = "checkpoint error"


@dataclass
class ErrorGroup(MMARError):
    """Several problems found at once (``task=check`` reports all of them, not the first)."""

    errors: list[MMARError] = field(default_factory=list)

    def __post_init__(self) -> None:
        n = len(self.errors)
        super().__init__(f"{n} problem{'s' if n != 1 else ''} found")

    kind = "check failed"

    @classmethod
    def of(cls, errors: Iterable[MMARError]) -> ErrorGroup:
        return cls(errors=list(errors))

    def format(self) -> str:
        body = "\n".join(
            f"[{i}] " + e.format().replace("\n", "\n    ") for i, e in enumerate(self.errors, 1)
        )
        return f"{self.kind}: {self.what}\n{body}"


class RunLockedError(MMARError):
    """Another training run holds MMAR_CKPT_DIR's lock file (``mmar_hydra.faults.lock``)."""

    kind = "locked"


class PreemptedError(MMARError):
    """The run was stopped by SIGTERM / SIGUSR1 after writing its resume state.

    It exits with :data:`mmar_hydra.faults.preempt.REQUEUE_EXIT_CODE` so a launcher can tell
    "requeue me" from a failure.
    """

    kind = "preempted"


class BadCaseError(DataError):
    """A case of the datalist cannot be loaded, met while the run goes on (``faults.bad_cases``).

    ``file`` is the datalist, ``path`` the entry (``training[4].image``) and ``what`` names the
    data file; ``skip_bad_cases=true`` skips such cases up to ``max_bad_fraction``.
    """

    kind = "bad case"


def report(error: BaseException, debug: bool) -> int:
    """Print a user error (traceback only in debug) and return the exit code."""
    if debug:
        traceback.print_exception(error)
    if isinstance(error, MMARError):
        print(error.format(), file=sys.stderr)
        if not debug:
            print("  (add debug=true for a traceback)", file=sys.stderr)
        return error.exit_code
    print(f"error: {type(error).__name__}: {error}", file=sys.stderr)
    return 1
