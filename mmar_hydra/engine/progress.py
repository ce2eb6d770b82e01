"""How training shows its progress: ``progress=auto|rich|tqdm|none``.

``auto`` (the default) picks Lightning's rich progress bar when the console is a terminal
(and ``rich`` is installed, else the tqdm bar), and no bar when the output goes to a file or
a CI log: there, one plain line per epoch says how training goes (Clara's StatsHandler line;
added when the MMAR has no StatsHandler). ``none`` shows no bar and only the MMAR's own
StatsHandler lines.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass, field
from typing import Any

from mmar_hydra.errors import ConfigError

__all__ = ["MODES", "ProgressPlan", "plan_progress"]

MODES = ("auto", "rich", "tqdm", "none")


@dataclass
class ProgressPlan:
    """Callbacks and Trainer switches for one mode.

    Args:
        mode: the mode in effect (``auto`` resolved).
        callbacks: the progress bar callback, if any.
        enable_progress_bar: the Trainer switch.
        epoch_lines: print a plain line per epoch even without a StatsHandler.
    """

    mode: str
    callbacks: list[Any] = field(default_factory=list)
    enable_progress_bar: bool = False
    epoch_lines: bool = False


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def plan_progress(mode: str | None, stream: Any = None) -> ProgressPlan:
    """The progress display for ``mode`` on ``stream`` (default: stdout)."""
    mode = (mode or "auto").strip().lower()
    if mode not in MODES:
        raise ConfigError(
            f"progress={mode} is not a progress mode",
            path="progress",
            expected="one of: " + ", ".join(MODES),
            fix="e.g. progress=none for CI logs, progress=tqdm for Lightning's plain bar",
        )
    has_rich = importlib.util.find_spec("rich") is not None
    if mode == "auto":
        if not _is_terminal(stream if stream is not None else sys.stdout):
            return ProgressPlan("none", epoch_lines=True)
        mode = "rich" if has_rich else "tqdm"
    if mode == "none":
        return ProgressPlan("none")
    if mode == "rich":
        if not has_rich:
            raise ConfigError(
                "progress=rich needs the rich package",
                path="progress",
                expected="rich installed (a dependency of mmar_hydra)",
                fix="pip install rich, or progress=tqdm",
            )
        from pytorch_lightning.callbacks import RichProgressBar

        return ProgressPlan("rich", [RichProgressBar(leave=True)], True)
    from pytorch_lightning.callbacks import TQDMProgressBar

    return ProgressPlan("tqdm", [TQDMProgressBar()], True)
