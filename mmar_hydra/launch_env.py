"""Who started this process: torchrun, SLURM's ``srun``, a submitit task, or the user.

Cluster launchers start every rank themselves and tell each one its place through environment
variables; Lightning then uses that cluster environment (``TorchElasticEnvironment``,
``SLURMEnvironment``) and starts no process of its own. This module reads the same variables,
in Lightning's order (SLURM first, then torchrun), so that

- the Trainer's ``devices`` / ``num_nodes`` are what the launcher started (the ``ddp_cpu``
  preset says 2 devices on 1 node; ``torchrun --nnodes=2 --nproc-per-node=1`` means 1 x 2),
  and every rank shards the data for the real world size (:func:`launch_layout`);
- every rank of one launch uses one Hydra run folder whose name all of them can compute
  without talking to each other (not the timestamp, which each node reads from its own
  clock), and only rank 0 writes Hydra's files there (:func:`run_dir_overrides`);
- a submitit task of a multi-task job (``tasks_per_node`` > 1) gets torch's ``env://``
  variables, so its tasks form one DDP group as ``srun`` tasks do (:func:`export_submitit_env`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ExternalLaunch",
    "external_launch",
    "launch_layout",
    "run_dir_overrides",
    "export_submitit_env",
]

_SLURM_INTERACTIVE = ("bash", "interactive")  # Lightning's own test: no SLURMEnvironment then


@dataclass(frozen=True)
class ExternalLaunch:
    """This process's place in a launch started by a cluster launcher.

    Args:
        kind: ``torchrun``, ``slurm`` or ``submitit``.
        rank: the global rank.
        world_size: the number of processes in the launch.
        local_rank: the rank on this node.
        node_rank: this node's index.
        nodes: the number of nodes.
        per_node: processes per node.
        run_id: a name every rank of this launch computes alike (the run folder's suffix).
    """

    kind: str
    rank: int
    world_size: int
    local_rank: int
    node_rank: int
    nodes: int
    per_node: int
    run_id: str


def _int(env: Mapping[str, str], name: str, default: int = 0) -> int:
    match = re.match(r"\d+", env.get(name, "") or "")  # SLURM writes e.g. "4(x2)"
    return int(match.group()) if match else default


def _slurm(env: Mapping[str, str]) -> ExternalLaunch | None:
    if "SLURM_NTASKS" not in env or env.get("SLURM_JOB_NAME") in _SLURM_INTERACTIVE:
        return None
    world = _int(env, "SLURM_NTASKS", 1)
    nodes = _int(env, "SLURM_NNODES", 0) or _int(env, "SLURM_JOB_NUM_NODES", 1)
    per_node = _int(env, "SLURM_NTASKS_PER_NODE", 0) or max(1, world // max(1, nodes))
    job = env.get("SLURM_JOB_ID") or env.get("SLURM_JOBID") or "job"
    return ExternalLaunch(
        "slurm",
        _int(env, "SLURM_PROCID"),
        world,
        _int(env, "SLURM_LOCALID"),
        _int(env, "SLURM_NODEID"),
        nodes,
        per_node,
        f"slurm{job}",
    )


def _torchrun(env: Mapping[str, str]) -> ExternalLaunch | None:
    needed = ("TORCHELASTIC_RUN_ID", "RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE")
    if not all(k in env for k in needed):
        return None
    world, per_node = _int(env, "WORLD_SIZE", 1), _int(env, "LOCAL_WORLD_SIZE", 1)
    run_id = env["TORCHELASTIC_RUN_ID"]
    if run_id in ("", "none"):  # torchrun without --rdzv-id: the rendezvous' master port
        run_id = f"{env.get('MASTER_ADDR', 'local')}-{env.get('MASTER_PORT', '0')}"
    restart = _int(env, "TORCHELASTIC_RESTART_COUNT")
    return ExternalLaunch(
        "torchrun",
        _int(env, "RANK"),
        world,
        _int(env, "LOCAL_RANK"),
        _int(env, "GROUP_RANK"),
        max(1, world // max(1, per_node)),
        per_node,
        f"torchrun-{run_id}" + (f"-restart{restart}" if restart else ""),
    )


def external_launch(env: Mapping[str, str] | None = None) -> ExternalLaunch | None:
    """The launch that started this process, or None (a plain ``python -m mmar_hydra``).

    Args:
        env: the environment to read (default: ``os.environ``).
    """
    env = os.environ if env is None else env
    return _slurm(env) or _torchrun(env)


def launch_layout(kwargs: MutableMapping[str, Any], env: Mapping[str, str] | None = None) -> str:
    """Make the Trainer arguments match the launch that started this process.

    Under torchrun or ``srun`` with more than one process, ``devices`` becomes the processes
    per node and ``num_nodes`` the node count (Lightning refuses a mismatch under SLURM and
    shards wrongly under torchrun), and a non-DDP strategy becomes ``ddp``.

    Args:
        kwargs: the Trainer arguments (changed in place).
        env: the environment to read (default: ``os.environ``).

    Returns:
        A note for the console ("" when nothing changed).
    """
    launch = external_launch(env)
    if launch is None or launch.world_size < 2:
        return ""
    wanted = {"devices": launch.per_node, "num_nodes": launch.nodes}
    changed = [f"trainer.{k}={v}" for k, v in wanted.items() if str(kwargs.get(k, 1)) != str(v)]
    strategy = kwargs.get("strategy", "auto")
    if isinstance(strategy, str) and "ddp" not in strategy:
        kwargs["strategy"] = "ddp"
        changed.append("trainer.strategy=ddp")
    kwargs.update(wanted)
    if not changed:
        return ""
    return (
        f"started by {launch.kind}: {launch.nodes} node(s) x {launch.per_node} process(es), "
        f"so {' '.join(changed)}"
    )


def _given(overrides: Sequence[str], key: str) -> bool:
    return any(o.lstrip("+~").split("=", 1)[0] == key for o in overrides)


def run_dir_overrides(overrides: Sequence[str], env: Mapping[str, str] | None = None) -> list[str]:
    """Hydra overrides that give every rank of an external launch one run folder.

    Rank 0 writes Hydra's ``.hydra/`` files there; the other ranks only log. Nothing is added
    for a single process, for ``-m`` sweeps (their job folders are set by the launcher) or when
    the command line names the folder itself.

    Args:
        overrides: the command line's overrides.
        env: the environment to read (default: ``os.environ``).
    """
    launch = external_launch(env)
    if launch is None or launch.world_size < 2:
        return []
    extra = []
    if not _given(overrides, "hydra.run.dir"):
        # quoted: Hydra's override grammar takes a nested interpolation only inside quotes
        extra.append(f"hydra.run.dir='${{mmar_hydra_runs:${{mmar}}}}/${{task}}_{launch.run_id}'")
    if launch.rank != 0 and not _given(overrides, "hydra.output_subdir"):
        extra.append("hydra.output_subdir=null")
    return extra


def export_submitit_env(env: MutableMapping[str, str] | None = None) -> bool:
    """In a task of a multi-task submitit job, set torch's ``env://`` variables.

    submitit's local executor starts ``tasks_per_node`` processes that know their place only
    from ``SUBMITIT_LOCAL_*`` variables; exported as torchrun's variables, Lightning's
    ``TorchElasticEnvironment`` makes them one DDP group, as ``srun`` tasks are under SLURM
    (where SLURM's own variables are already there and nothing is exported).

    Args:
        env: the environment to change (default: ``os.environ``).

    Returns:
        True when the variables were exported.
    """
    env = os.environ if env is None else env
    if env.get("SUBMITIT_EXECUTOR") != "local" or _int(env, "SUBMITIT_LOCAL_NTASKS", 1) < 2:
        return False
    if "RANK" in env:  # already exported (a second job in the same task process)
        return True
    world = _int(env, "SUBMITIT_LOCAL_NTASKS", 1)
    nodes = max(1, _int(env, "SUBMITIT_LOCAL_JOB_NUM_NODES", 1))
    job_id = env.get("SUBMITIT_LOCAL_JOB_ID", "0")
    env.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(20000 + int(re.sub(r"\D", "", job_id) or 0) % 40000),
        RANK=env.get("SUBMITIT_LOCAL_GLOBALID", "0"),
        WORLD_SIZE=str(world),
        LOCAL_RANK=env.get("SUBMITIT_LOCAL_LOCALID", "0"),
        LOCAL_WORLD_SIZE=str(world // nodes),
        GROUP_RANK=env.get("SUBMITIT_LOCAL_NODEID", "0"),
        TORCHELASTIC_RUN_ID=f"submitit{job_id}",
    )
    return True
