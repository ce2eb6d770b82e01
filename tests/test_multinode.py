"""Multi-node DDP started by cluster launchers: torchrun's c10d rendezvous and SLURM's variables.

Two "nodes" on loopback, one gloo process each: two torchrun agents (or two processes with
SLURM's variables) meet at one endpoint, as two machines would. All ``slow``: each test starts
several training processes.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import torch
from conftest import TINY_EVAL, TINY_TRAIN, run_main

pytestmark = pytest.mark.slow

# no random crop, no random intensity shift, no shuffling, instance norm: a 2-rank step on
# batches of 1 is then the same computation as a 1-process step on the batch of 2. SGD, not
# Adam: Adam's first steps move every weight by ~lr times the sign of its gradient, so a
# gradient that is zero up to float rounding moves by +-lr depending on the summation order.
DETERMINISTIC = [
    "train.optimizer.name=SGD",
    "train.pre_transforms.6.name=CenterSpatialCropd",
    "~train.pre_transforms.6.args",
    "+train.pre_transforms.6.args={keys:[image,label],roi_size:[24,24,16]}",
    "train.pre_transforms.7.args.prob=0.0",
    "train.dataloader.args.shuffle=false",
    "train.model.args.norm=instance",
]


def _kill_node(agent: subprocess.Popen) -> None:
    """SIGKILL a torchrun agent and its workers (torchrun starts them in sessions of their own)."""
    for child in psutil.Process(agent.pid).children(recursive=True):
        child.kill()
    os.killpg(agent.pid, signal.SIGKILL)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _torchrun(
    spawned: list, mmar: Path, *args: str, logs: Path, port: int
) -> list[subprocess.Popen]:
    """Two torchrun agents (two "nodes") of one process each, meeting at 127.0.0.1:port.

    Their output goes to ``logs/node0.log`` and ``node1.log`` (``logs`` is new for each launch).
    """
    logs.mkdir(parents=True)
    procs = []
    for node in range(2):
        cmd = [
            sys.executable, "-m", "torch.distributed.run", "--nnodes=2", "--nproc-per-node=1",
            "--rdzv-backend=c10d", f"--rdzv-endpoint=127.0.0.1:{port}", f"--rdzv-id=t{port}",
            "-m", "mmar_hydra", f"mmar={mmar}", *args,
        ]  # fmt: skip
        log = (logs / f"node{node}.log").open("w")
        procs.append(
            subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        )
        spawned.append(procs[-1])
    return procs


def _wait_all(procs: list[subprocess.Popen], logs: Path, timeout: float = 400) -> str:
    for proc in procs:
        proc.wait(timeout=timeout)
    text = "".join((logs / f"node{n}.log").read_text() for n in range(len(procs)))
    assert [p.returncode for p in procs] == [0] * len(procs), text[-4000:]
    return text


def _per_case(root: Path) -> dict[str, float]:
    rows = list(csv.reader((root / "eval" / "val_mean_dice_raw.csv").open()))[1:]
    return {r[0]: float(r[1]) for r in rows}


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True, map_location="cpu")["model"]


def test_two_torchrun_nodes_train_like_one_process_with_the_same_global_batch(
    tiny_demo, tmp_path, spawned
):
    import shutil

    single = tmp_path / "single"
    shutil.copytree(tiny_demo, single)
    proc = run_main(f"mmar={single}", "task=train", *TINY_TRAIN, *DETERMINISTIC)
    assert proc.returncode == 0, proc.stderr[-3000:]

    port = _free_port()
    args = ["task=train", "trainer=ddp_cpu", *TINY_TRAIN, *DETERMINISTIC]
    batch = "train.dataloader.args.batch_size=1"
    procs = _torchrun(spawned, tiny_demo, *args, batch, logs=tmp_path / "train", port=port)
    text = _wait_all(procs, tmp_path / "train")
    assert "started by torchrun: 2 node(s) x 1 process(es)" in text
    assert "rank 0 of 2 trained" in text and "rank 1 of 2 trained" in text

    one = json.loads((single / "models" / "train_stats.json").read_text())
    two = json.loads((tiny_demo / "models" / "train_stats.json").read_text())
    assert two["iterations"] == one["iterations"] == 4  # 4 cases / global batch 2 x 2 epochs
    a, b = (
        _weights(single / "models" / "final_model.pt"),
        _weights(tiny_demo / "models" / "final_model.pt"),
    )
    assert a.keys() == b.keys()
    worst = max(float((a[k].float() - b[k].float()).abs().max()) for k in a)
    print(f"largest weight difference, 2 nodes vs 1 process: {worst:.2e}")
    assert worst < 1e-4

    # one set of artifacts, by rank 0: one event file, one run folder with one .hydra/
    models = tiny_demo / "models"
    assert len(list(models.glob("events.out.tfevents.*"))) == 1
    runs = [p for p in (tiny_demo / "runs").iterdir() if p.is_dir()]
    assert [p.name for p in runs] == [f"train_torchrun-t{port}"], runs
    assert (runs[0] / ".hydra" / "config.yaml").is_file()

    # validate under 2 nodes: the same per-case metrics as 1 process
    ckpt = ["dont_load_ts_model=true", "dont_load_ckpt_model=false", *TINY_EVAL]
    proc = run_main(f"mmar={tiny_demo}", "task=validate", *ckpt)
    assert proc.returncode == 0, proc.stderr[-3000:]
    alone = _per_case(tiny_demo)
    shutil.rmtree(tiny_demo / "eval")
    args = ["task=validate", "trainer=ddp_cpu", *ckpt]
    procs = _torchrun(spawned, tiny_demo, *args, logs=tmp_path / "validate", port=_free_port())
    _wait_all(procs, tmp_path / "validate")
    both = _per_case(tiny_demo)
    assert sorted(both) == sorted(alone) and len(alone) == 2
    for case, value in alone.items():
        assert both[case] == pytest.approx(value, abs=1e-6)


def _worker_of(agent: subprocess.Popen) -> psutil.Process | None:
    for child in psutil.Process(agent.pid).children(recursive=True):
        if "mmar_hydra" in " ".join(child.cmdline()) and "RANK" in child.environ():
            return child
    return None


def test_a_killed_node_stops_the_other_naming_its_rank_then_resume_auto(
    tiny_demo, tmp_path, spawned
):
    port = _free_port()
    args = [
        "task=train",
        "trainer=ddp_cpu",
        *TINY_TRAIN,
        "epochs=400",
        "ddp_timeout=20",
        "resume=auto",
    ]
    procs = _torchrun(spawned, tiny_demo, *args, logs=tmp_path / "killed", port=port)
    deadline = time.monotonic() + 300
    while not (tiny_demo / "models" / "resume_state.pt").exists():
        assert all(p.poll() is None for p in procs), "a node ended before training"
        assert time.monotonic() < deadline
        time.sleep(0.3)
    workers = {int(w.environ()["RANK"]): (agent, w) for agent in procs if (w := _worker_of(agent))}
    assert sorted(workers) == [0, 1]
    agent, worker = workers[1]
    _kill_node(agent)  # the whole node: its agent and its worker
    killed = time.monotonic()
    survivor = workers[0][0]
    code = survivor.wait(timeout=120)
    took = time.monotonic() - killed
    text = (tmp_path / "killed" / f"node{procs.index(survivor)}.log").read_text()
    print(f"the surviving node exited {took:.1f} s after the other was killed")
    assert code != 0 and took < 20 + 15, (code, took, text[-3000:])
    assert f"rank 0 stops: rank 1 (pid {worker.pid} on {socket.gethostname()}) is gone" in text, (
        text[-3000:]
    )
    assert "resume with: " in text or "resume=auto" in text
    stopped = torch.load(tiny_demo / "models" / "resume_state.pt", weights_only=True)["epoch"]

    args = ["task=train", "trainer=ddp_cpu", *TINY_TRAIN, f"epochs={stopped + 2}", "resume=auto"]
    procs = _torchrun(spawned, tiny_demo, *args, logs=tmp_path / "resumed", port=_free_port())
    text = _wait_all(procs, tmp_path / "resumed")
    assert "resume: continuing from" in text
    stats = json.loads((tiny_demo / "models" / "train_stats.json").read_text())
    assert stats["epochs"] == stopped + 2


def test_slurm_variables_make_two_processes_one_ddp_run(tiny_demo, tmp_path, spawned):
    port = _free_port()
    procs = []
    for rank in range(2):
        env = dict(
            os.environ,
            SLURM_JOB_ID="4242", SLURM_JOB_NAME="mmar", SLURM_NTASKS="2", SLURM_NNODES="2",
            SLURM_NTASKS_PER_NODE="1", SLURM_PROCID=str(rank), SLURM_LOCALID="0",
            SLURM_NODEID=str(rank), SLURM_NODELIST="localhost", MASTER_ADDR="127.0.0.1",
            MASTER_PORT=str(port),
        )  # fmt: skip
        cmd = [
            sys.executable,
            "-m",
            "mmar_hydra",
            f"mmar={tiny_demo}",
            "task=train",
            "trainer=ddp_cpu",
            *TINY_TRAIN,
        ]
        log = (tmp_path / f"node{rank}.log").open("w")
        procs.append(
            subprocess.Popen(
                cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        )
        spawned.append(procs[-1])
    text = _wait_all(procs, tmp_path)
    assert "started by slurm: 2 node(s) x 1 process(es)" in text
    assert "rank 0 of 2 trained" in text and "rank 1 of 2 trained" in text
    runs = [p.name for p in (tiny_demo / "runs").iterdir()]
    assert runs == ["train_slurm4242"]
    stats = json.loads((tiny_demo / "models" / "train_stats.json").read_text())
    assert stats["iterations"] == 2  # 2 cases per rank, batch 2: 1 step per epoch x 2 epochs


def test_submitit_local_tasks_of_one_job_form_one_ddp_group(tiny_demo):
    """The SLURM preset's layout (tasks_per_node = devices) run by submitit's local executor."""
    from conftest import run_cli

    args = ["hydra/launcher=local", "hydra.launcher.tasks_per_node=2", "trainer=ddp_cpu"]
    proc = run_cli(
        "-m",
        f"mmar={tiny_demo}",
        "task=train",
        *args,
        *TINY_TRAIN,
        "epochs=1",
        "learning_rate=0.001",
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    sweep = next((tiny_demo / "runs").glob("multirun_*"))
    logs = "".join(p.read_text() for p in (sweep / ".submitit").glob("*/*_log.*"))
    assert "rank 0 of 2 trained" in logs and "rank 1 of 2 trained" in logs, logs[-3000:]
    models = sweep / "0" / "mmar" / "models"
    assert len(list(models.glob("events.out.tfevents.*"))) == 1  # written once, by rank 0
    stats = json.loads((sweep / "0" / "mmar" / "models" / "train_stats.json").read_text())
    assert stats["iterations"] == 1  # 2 cases per task, batch 2: one step
    assert json.loads((sweep / "0" / "job.json").read_text())["status"] == "finished"
