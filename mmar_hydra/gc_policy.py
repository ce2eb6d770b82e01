"""Python's cyclic garbage collector around one mmar_hydra process.

Importing torch, MONAI, Lightning and Hydra leaves about 500,000 GC-tracked objects (modules,
classes, functions) that live until the process ends. CPython walks every one of them in each
full collection: start-up triggers seven or eight of those as the heap grows (about 1.2 s on
the benchmark machine), and interpreter shutdown walks the whole heap once more (about 1.3 s).
None of these walks frees anything worth having, so a process that runs a task:

1. pauses the collector from its entry point to the start of the loop (:func:`pause_for_startup`);
2. right before the first training or evaluation step moves everything alive into the
   permanent generation and switches collection back on (:func:`settle`): the loop's own
   garbage is collected as usual, but full collections no longer re-walk the start-up heap;
3. freezes again when the task returns (:func:`prepare_exit`), so shutdown skips the walk.

Tasks without a training or evaluation loop (check, export, compare, import, ...) never reach
:func:`settle`: they keep the collector paused until they exit, which they do within seconds.

Only a process entry point pauses the collector. Code that calls :func:`mmar_hydra.cli.main`
in-process (tests, notebooks) keeps the default behaviour: freezing there would keep earlier
runs' garbage alive for the rest of the session.
"""

from __future__ import annotations

import gc

__all__ = ["pause_for_startup", "settle", "prepare_exit", "is_paused_by_us"]

_paused_by_us = False


def pause_for_startup() -> None:
    """Stop automatic collections until :func:`settle` (call at process entry only)."""
    global _paused_by_us
    if gc.isenabled():
        gc.disable()
        _paused_by_us = True


def is_paused_by_us() -> bool:
    return _paused_by_us


def settle() -> None:
    """Freeze the start-up heap and collect normally from here on (no-op unless paused)."""
    global _paused_by_us
    if not _paused_by_us:
        return
    gc.freeze()
    gc.enable()
    _paused_by_us = False


def prepare_exit() -> None:
    """Freeze what is alive so interpreter shutdown does not walk it (process entry only).

    Objects are still released by reference counting and ``atexit`` handlers still run;
    only the final cycle search over the frozen heap is skipped.
    """
    global _paused_by_us
    gc.freeze()
    _paused_by_us = False
