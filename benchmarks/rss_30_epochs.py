"""Long-run hygiene: does a training run's memory grow over epochs?

Trains the demo MMAR (synthetic data) for ``--epochs`` epochs through the CLI, in a child
process, and samples the child's RSS (psutil) each time it prints its end-of-epoch line. The
figure of merit is RSS after the last epoch against RSS after epoch 5 (``--baseline``): leaked
MetaTensor metadata, growing metric buffers or an unflushed TensorBoard queue show up as a
steady climb. Results: results/rss_30_epochs.json.

    python benchmarks/rss_30_epochs.py [--epochs 30] [--n-train 8] [--size 64]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil

from mmar_hydra.tasks.demo_data import make_demo

EPOCH_LINE = re.compile(r"^epoch (\d+)/(\d+)")
RESULTS = Path(__file__).parent / "results" / "rss_30_epochs.json"


def measure(epochs: int, n_train: int, size: int) -> dict[int, float]:
    """RSS in MB after each epoch of one training run.

    Args:
        epochs: how many epochs to train.
        n_train: training cases of the synthetic demo data.
        size: edge of the synthetic volumes (size x size x 3/4 size voxels).
    """
    with tempfile.TemporaryDirectory() as tmp:
        mmar = make_demo(Path(tmp) / "mmar", n_train=n_train, n_val=2, n_test=1,
                         shape=(size, size, size * 3 // 4))  # fmt: skip
        cmd = [
            sys.executable, "-m", "mmar_hydra", f"mmar={mmar}", "task=train",
            f"epochs={epochs}", "num_interval_per_valid=1",
        ]  # fmt: skip
        rss: dict[int, float] = {}
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        child = psutil.Process(proc.pid)
        assert proc.stdout is not None
        for line in proc.stdout:
            match = EPOCH_LINE.match(line)
            if match:
                rss[int(match.group(1))] = child.memory_info().rss / 1e6
        if proc.wait() != 0:
            raise SystemExit(f"training failed with exit code {proc.returncode}")
    return rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--baseline", type=int, default=5)
    parser.add_argument("--n-train", type=int, default=8)
    parser.add_argument("--size", type=int, default=64)
    args = parser.parse_args()
    rss = measure(args.epochs, args.n_train, args.size)
    base, last = rss[args.baseline], rss[args.epochs]
    result = {
        "epochs": args.epochs,
        "n_train": args.n_train,
        "size": args.size,
        "rss_mb": rss,
        f"rss_epoch_{args.baseline}_mb": round(base, 1),
        f"rss_epoch_{args.epochs}_mb": round(last, 1),
        "growth_percent": round(100 * (last - base) / base, 2),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "rss_mb"}, indent=2))


if __name__ == "__main__":
    main()
