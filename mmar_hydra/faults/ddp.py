"""A dead DDP rank: bounded waits (the process-group timeout) and a message that names it.

Every collective (gradient all-reduce, metric gather, barrier) waits at most ``ddp_timeout``
seconds for the other ranks (default 600 s; torch's own default is 30 min). When a rank is
killed (SIGKILL, the OOM killer), gloo usually fails the survivors' next collective at once
("connection closed by peer"); a rank that hangs instead is caught by the timeout. Either way
the survivors stop with :class:`~mmar_hydra.errors.MMARError` naming the dead rank, and the
run resumes from the last ``resume_state.pt`` with ``resume=auto``.
"""

from __future__ import annotations

import datetime as _dt
import os
import signal
from collections.abc import MutableMapping, Sequence
from typing import Any

from mmar_hydra.errors import MMARError
from mmar_hydra.faults.peers import Peer, gone_peers

__all__ = ["apply_ddp_timeout", "dead_rank_error", "dead_ranks"]


def apply_ddp_timeout(kwargs: MutableMapping[str, Any], seconds: int) -> None:
    """Give the DDP strategy in the Trainer ``kwargs`` a process-group timeout of ``seconds``.

    Args:
        kwargs: the Trainer arguments (changed in place).
        seconds: the most a rank waits at a collective for the others.
    """
    from pytorch_lightning.strategies import DDPStrategy

    timeout = _dt.timedelta(seconds=int(seconds))
    strategy = kwargs.get("strategy")
    if strategy == "ddp":
        kwargs["strategy"] = DDPStrategy(timeout=timeout)
    elif isinstance(strategy, DDPStrategy):
        strategy._timeout = timeout  # the argument DDPStrategy(timeout=...) stores


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


def dead_ranks(trainer: Any, peers: Sequence[Peer] = (), error_text: str = "") -> list[str]:
    """The ranks this process knows to be dead: its launched children, its parent rank 0, or
    (started by torchrun / srun, with no parent-child relation) the ranks of the peer table
    whose process is gone or whose host the error names (:mod:`.peers`)."""
    found = []
    procs = getattr(getattr(trainer.strategy, "launcher", None), "procs", None) or []
    for rank, proc in enumerate(procs, start=1):
        code = proc.poll()
        if code not in (None, 0):
            found.append(f"rank {rank} (pid {proc.pid}) {_describe_exit(code)}")
    if trainer.global_rank != 0 and os.getppid() == 1:
        found.append("rank 0 (the launching process) is gone")
    if not found:
        found = gone_peers(list(peers), int(trainer.global_rank), error_text)
    return found


def dead_rank_error(
    trainer: Any, exc: BaseException, timeout_s: int, peers: Sequence[Peer] = ()
) -> MMARError | None:
    """The error a surviving rank reports, or None when ``exc`` is no distributed failure.

    Args:
        trainer: the Lightning Trainer of the failed fit.
        exc: what the fit raised.
        timeout_s: the process-group timeout in force (for the message).
        peers: every rank's host and pid (:class:`~.peers.PeerTable`), to name a dead one.
    """
    if isinstance(exc, MMARError) or int(getattr(trainer, "world_size", 1) or 1) < 2:
        return None  # already a user-facing error, or no other rank to blame
    text = f"{type(exc).__name__}: {exc}"
    dead = dead_ranks(trainer, peers, text)
    markers = ("gloo", "nccl", "connection", "timed out", "timeout", "peer", "distbackend")
    if not dead and not any(m in text.lower() for m in markers):
        return None
    who = "; ".join(dead) if dead else "another rank stopped answering"
    return MMARError(
        f"rank {trainer.global_rank} stops: {who}",
        path="trainer.strategy",
        expected=f"all {trainer.world_size} ranks alive (a collective waits at most "
        f"ddp_timeout={timeout_s} s); the collective failed with: {text.splitlines()[0][:200]}",
        fix="see why that rank died (out of memory? killed?), then resume with resume=auto",
    )
