"""The ``slurm`` launcher preset's sbatch script, as submitit writes it for 2 nodes x 4 GPUs.

hydra-submitit-launcher's own ``launch`` maps the preset onto submitit's SLURM executor; only
the submission (``map_array``, which would call ``sbatch``) is replaced, to read the script.
"""

from __future__ import annotations

import os
from typing import Any

import pytest


def _slurm_config(mmar, *overrides: str) -> Any:
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from mmar_hydra import hydra_config
    from mmar_hydra.reader.mmar_reader import read_mmar

    hydra_config.register_mmar(read_mmar(mmar).config)
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(str(hydra_config.conf_dir()), version_base="1.3"):
            return compose(
                "config",
                overrides=["hydra/launcher=slurm", "trainer=ddp", *overrides],
                return_hydra_config=True,
            )
    finally:
        GlobalHydra.instance().clear()


def test_slurm_preset_writes_the_sbatch_for_2_nodes_of_4_gpus(
    tiny_demo_source, tmp_path, monkeypatch
):
    import submitit
    from hydra.core.utils import JobReturn
    from hydra.utils import instantiate
    from omegaconf import open_dict

    cfg = _slurm_config(
        tiny_demo_source,
        "trainer.devices=4",
        "trainer.num_nodes=2",
        "hydra.launcher.partition=gpu",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
    )
    with open_dict(cfg):
        cfg.hydra.job.name = "mmar_hydra"
    scripts: list[str] = []

    class _Job:
        def results(self) -> list[JobReturn]:
            return [JobReturn()]

    def submit(self: Any, fn: Any, *args: Any) -> list[_Job]:  # instead of calling sbatch
        command = "python -u -m submitit.core._submit FOLDER"
        scripts.append(self._executor._make_submission_file_text(command, "uid"))
        return [_Job() for _ in args[0]]

    monkeypatch.setattr(submitit.AutoExecutor, "map_array", submit)
    fake = tmp_path / "bin" / "srun"  # submitit's SLURM executor wants srun on the PATH
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ['PATH']}")
    launcher = instantiate(cfg.hydra.launcher)
    launcher.setup(hydra_context=None, task_function=None, config=cfg)
    launcher.launch([["learning_rate=0.001"]], initial_job_idx=0)
    lines = scripts[0].splitlines()
    for flag in (
        "--nodes=2",
        "--ntasks-per-node=4",
        "--gpus-per-node=4",
        "--requeue",
        "--signal=USR1@120",  # Lightning's SLURM requeue and our preemption handler
        "--partition=gpu",
        "--time=1440",
    ):
        assert f"#SBATCH {flag}" in lines, (flag, scripts[0])
    assert not any("--signal=USR2" in line for line in lines)  # submitit's own signal replaced
    assert any(line.startswith("srun ") for line in lines)  # one srun task per GPU


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"TORCHELASTIC_RUN_ID": "r", "RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1",
             "LOCAL_WORLD_SIZE": "2", "GROUP_RANK": "1"},
            ("torchrun", 3, 4, 2, 2, "torchrun-r"),
        ),
        (
            {"SLURM_NTASKS": "8", "SLURM_PROCID": "5", "SLURM_LOCALID": "1", "SLURM_NODEID": "1",
             "SLURM_NNODES": "2", "SLURM_NTASKS_PER_NODE": "4(x2)", "SLURM_JOB_ID": "77",
             "SLURM_JOB_NAME": "train"},
            ("slurm", 5, 8, 2, 4, "slurm77"),
        ),
        ({"SLURM_NTASKS": "2", "SLURM_JOB_NAME": "interactive"}, None),  # Lightning's opt-out
        ({}, None),
    ],
)  # fmt: skip
def test_the_launch_is_read_from_the_environment(env, expected):
    from mmar_hydra.launch_env import external_launch, launch_layout, run_dir_overrides

    launch = external_launch(env)
    if expected is None:
        assert launch is None and run_dir_overrides([], env) == []
        return
    assert launch is not None
    kind, rank, world, nodes, per_node, run_id = expected
    assert (launch.kind, launch.rank, launch.world_size) == (kind, rank, world)
    assert (launch.nodes, launch.per_node, launch.run_id) == (nodes, per_node, run_id)
    kwargs = {"strategy": "auto", "devices": 2, "num_nodes": 1}
    assert "trainer.num_nodes=2" in launch_layout(kwargs, env)
    assert kwargs == {"strategy": "ddp", "devices": per_node, "num_nodes": nodes}
    extra = run_dir_overrides(["task=train"], env)
    assert extra[0].endswith(f"/${{task}}_{run_id}'") and "hydra.output_subdir=null" in extra
    assert run_dir_overrides(["hydra.run.dir=x", "hydra.output_subdir=y"], env) == []


def test_a_submitit_task_gets_torch_env_variables():
    from mmar_hydra.launch_env import export_submitit_env, external_launch

    env = {
        "SUBMITIT_EXECUTOR": "local", "SUBMITIT_LOCAL_NTASKS": "2", "SUBMITIT_LOCAL_GLOBALID": "1",
        "SUBMITIT_LOCAL_LOCALID": "1", "SUBMITIT_LOCAL_NODEID": "0",
        "SUBMITIT_LOCAL_JOB_NUM_NODES": "1", "SUBMITIT_LOCAL_JOB_ID": "4321",
    }  # fmt: skip
    assert export_submitit_env(env)
    launch = external_launch(env)
    assert launch is not None and (launch.rank, launch.world_size, launch.per_node) == (1, 2, 2)
    assert env["MASTER_ADDR"] == "127.0.0.1" and env["MASTER_PORT"].isdigit()
    assert not export_submitit_env({"SUBMITIT_EXECUTOR": "local", "SUBMITIT_LOCAL_NTASKS": "1"})
