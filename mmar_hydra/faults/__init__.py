"""Faults a training run survives: preemption, dead DDP ranks, full disks, concurrent runs.

- :mod:`~mmar_hydra.faults.lock`: one training run per MMAR_CKPT_DIR (a lock file).
- :mod:`~mmar_hydra.faults.preempt`: SIGTERM / SIGUSR1 -> resume state + requeue exit code.
- :mod:`~mmar_hydra.faults.ddp`: the process-group timeout and a message naming a dead rank.
"""

__all__: list[str] = []
