"""The oracle: what must hold after every run, whatever the input.

1. No Python traceback escapes the CLI: the exit code is 0, or 2 with a clean message (every
   error names what is wrong, where, what was expected and what to do).
2. No code runs without ``allow_code``: the canary folder stays empty.
3. Nothing is written outside the MMAR and the run folder (which lives in the MMAR): the
   watched trees (the case folder minus the MMAR, the listing of ``/`` and of the home
   folder) are the same before and after.
4. An existing ``models/model.pt`` is never truncated or replaced by a failed run (its hash).
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from fuzz.workspace import Ex

__all__ = ["Snapshot", "Finding", "judge_output", "snapshot", "diff", "model_hash", "KINDS"]

KINDS = (
    "config error",
    "component error",
    "code not allowed",
    "data error",
    "checkpoint error",
    "bad case",
    "locked",
    "preempted",
    "error",
)
_HEADER = re.compile(r"^(?:\[\d+\] )?(" + "|".join(KINDS) + r"): \S", re.M)
_FIELD = {name: re.compile(rf"^\s+{name}:\s+\S", re.M) for name in ("where", "expected", "fix")}


@dataclass
class Finding:
    """One oracle violation of one run."""

    kind: str  # traceback | unclean error | canary | outside write | model lost | hang | harness
    detail: str


@dataclass
class Snapshot:
    """Files of the watched trees: relative path -> (type, size, mtime) without following links."""

    entries: dict[str, tuple] = field(default_factory=dict)


def judge_output(code: int, stdout: str, stderr: str) -> list[Finding]:
    """Oracle 1 on one run's exit code and output."""
    text = stdout + stderr
    found = []
    if "Traceback (most recent call last)" in text or code not in (0, 2):
        found.append(Finding("traceback", f"exit {code}: {_exception_line(text)}"))
    try:
        stdout.encode("utf-8")
    except UnicodeEncodeError as exc:  # a real process's stdout is strict UTF-8
        found.append(Finding("traceback", f"stdout not printable as UTF-8: {exc}"))
    if code == 2 and not found:
        blocks = _blocks(stderr)
        if not blocks or "(add debug=true for a traceback)" not in stderr:
            found.append(Finding("unclean error", stderr.strip()[-400:]))
        for block in blocks:
            missing = [n for n, rx in _FIELD.items() if not rx.search(block)]
            if missing:
                found.append(Finding("unclean error", f"no {'/'.join(missing)}: {block[:300]}"))
                break
    return found


_EXCEPTION = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt|Warning)\b.*$", re.M)


def _exception_line(text: str) -> str:
    """The last ``SomeError: message`` line of a traceback (else the output's last line)."""
    lines = [m.group(0) for m in _EXCEPTION.finditer(text)]
    if lines:
        return lines[-1][:300]
    tail = text.strip().splitlines()
    return tail[-1][:300] if tail else "(no output)"


def _blocks(stderr: str) -> list[str]:
    """Each error of the output: its header line and the indented lines under it."""
    starts = [m.start() for m in _HEADER.finditer(stderr)]
    return [stderr[a:b] for a, b in zip(starts, [*starts[1:], len(stderr)], strict=False)]


def _walk(root: Path, skip: Path | None) -> dict[str, tuple]:
    out: dict[str, tuple] = {}
    for folder, dirs, files in os.walk(root, followlinks=False):
        here = Path(folder)
        if skip is not None and here == skip:
            dirs[:] = []
            continue
        for name in dirs + files:
            p = here / name
            if skip is not None and p == skip:
                continue
            st = p.lstat()
            out[str(p)] = (st.st_mode >> 12, st.st_size, st.st_mtime_ns)
    return out


def _listing(folder: Path) -> dict[str, tuple]:
    try:
        return {str(folder / n): ("listed",) for n in os.listdir(folder)}
    except OSError:
        return {}


def snapshot(ex: Ex) -> Snapshot:
    """The watched trees of ``ex``: its case folder without the MMAR, ``/`` and ``~``'s listings."""
    entries = _walk(ex.root, ex.mmar)
    entries.update(_listing(Path("/")))
    entries.update(_listing(Path.home()))
    return Snapshot(entries)


def diff(before: Snapshot, after: Snapshot) -> list[Finding]:
    """Oracle 3: what appeared, changed or went away in the watched trees."""
    found = []
    for path in sorted(set(before.entries) | set(after.entries)):
        a, b = before.entries.get(path), after.entries.get(path)
        if a == b:
            continue
        what = "created" if a is None else "deleted" if b is None else "modified"
        found.append(Finding("outside write", f"{what}: {path}"))
    return found[:10]


def model_hash(mmar: Path) -> str | None:
    """SHA-256 of ``models/model.pt`` (through a symlink), or None when there is none."""
    path = mmar / "models" / "model.pt"
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def canaries(ex: Ex) -> list[Finding]:
    """Oracle 2: files the payloads left in the canary folder (removed after reporting)."""
    found = []
    for p in sorted(ex.canary.iterdir()):
        found.append(Finding("canary", f"code ran: {p.name}"))
        p.unlink()
    return found
