"""Which rank runs where: each rank's host and pid, shared once when the fit starts.

When a collective fails, a surviving rank only knows that a connection closed. With the table
it can name the rank that is gone: a rank on its own host whose process no longer runs, or the
ranks on the host a gloo error names. It works whoever started the ranks (Lightning's own
launcher, torchrun, ``srun``, submitit), since it needs no parent-child relation.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from typing import Any

import pytorch_lightning as pl

__all__ = ["Peer", "PeerTable", "gone_peers"]


@dataclass(frozen=True)
class Peer:
    """One rank's place.

    Args:
        rank: its global rank.
        host: its host name.
        pid: its process id on that host.
    """

    rank: int
    host: str
    pid: int


class PeerTable(pl.Callback):
    """Gathers every rank's :class:`Peer` at setup (one ``all_gather_object``)."""

    def __init__(self) -> None:
        self.peers: list[Peer] = []

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        import torch.distributed as dist

        if trainer.world_size < 2 or not (dist.is_available() and dist.is_initialized()):
            return
        mine = (socket.gethostname(), os.getpid())
        table: list[Any] = [None] * dist.get_world_size()
        dist.all_gather_object(table, mine)
        self.peers = [Peer(rank, str(host), int(pid)) for rank, (host, pid) in enumerate(table)]


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process on this host (a zombie counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _addresses(host: str) -> set[str]:
    try:
        return {str(info[4][0]) for info in socket.getaddrinfo(host, None)}
    except OSError:
        return set()


def gone_peers(peers: list[Peer], my_rank: int, error_text: str, wait_s: float = 3.0) -> list[str]:
    """The other ranks that are gone, each as ``rank N (pid P on HOST) ...``.

    A killed peer's sockets close while its process is still exiting, so the collective can
    fail before the process is seen gone: the table is read again for up to ``wait_s``.

    Args:
        peers: the table :class:`PeerTable` gathered.
        my_rank: this process's rank.
        error_text: what the failed collective said (gloo names the peer's address).
        wait_s: how long to look again when no peer is seen gone yet.
    """
    deadline = time.monotonic() + wait_s
    found = _gone(peers, my_rank, error_text)
    while not found and peers and time.monotonic() < deadline:
        time.sleep(0.1)
        found = _gone(peers, my_rank, error_text)
    return found


def _gone(peers: list[Peer], my_rank: int, error_text: str) -> list[str]:
    here = socket.gethostname()
    found = []
    for peer in peers:
        if peer.rank == my_rank:
            continue
        where = f"rank {peer.rank} (pid {peer.pid} on {peer.host})"
        if peer.host == here:
            if not _running(peer.pid):
                found.append(f"{where} is gone")
        elif any(addr in error_text for addr in _addresses(peer.host)):
            found.append(f"{where} stopped answering")
    return found
