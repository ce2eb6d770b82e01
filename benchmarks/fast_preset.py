"""``fast=true`` vs the MMAR as written: time to a validation Dice of 0.90 on the demo.

Each repeat trains the demo MMAR (full 40 epochs, its own settings) twice from scratch, as
written and with ``fast=true``, one right after the other (the order alternates between
repeats), each in a fresh process. The time to Dice 0.90 is the wall time from process start
to the first validation whose mean Dice reached 0.90 (TensorBoard's event times); the final
Dice is the best validation Dice of the run. Ratios are taken per repeat, then summarized.
Results are merged into results/latest.json (``fast_time_to_dice_ratio``, ...) and written
to results/fast_preset.md.

    python benchmarks/fast_preset.py [--repeats 2] [--epochs 40] [--target 0.90]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def train(mmar: Path, epochs: int, fast: bool) -> dict:
    shutil.rmtree(mmar / "models", ignore_errors=True)
    cmd = [sys.executable, "-m", "mmar_hydra", f"mmar={mmar}", "task=train", f"epochs={epochs}",
           "hydra.output_subdir=null", "hydra/job_logging=disabled", *(["fast=true"] if fast else [])]
    start = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.time() - start
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    ev = EventAccumulator(str(mmar / "models"), size_guidance={"scalars": 0})
    ev.Reload()
    dice = [(e.wall_time - start, e.value) for e in ev.Scalars("val_mean_dice")]
    return {"wall": wall, "dice": dice, "best": max(v for _, v in dice)}


def time_to(dice: list[tuple[float, float]], target: float) -> float | None:
    return next((t for t, v in dice if v >= target), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--target", type=float, default=0.90)
    args = parser.parse_args()
    mmar = Path(tempfile.mkdtemp(prefix="fast_bench_")) / "demo"
    subprocess.run([sys.executable, "-m", "mmar_hydra", "task=demo_data", f"out={mmar}"],
                   check=True, capture_output=True)
    runs: list[dict] = []
    for repeat in range(args.repeats):
        order = (False, True) if repeat % 2 == 0 else (True, False)
        pair = {fast: train(mmar, args.epochs, fast) for fast in order}
        as_written, fast_run = pair[False], pair[True]
        t_plain, t_fast = time_to(as_written["dice"], args.target), time_to(fast_run["dice"], args.target)
        runs.append({
            "as_written": {"time_to_target": t_plain, "best_dice": as_written["best"], "wall": as_written["wall"]},
            "fast": {"time_to_target": t_fast, "best_dice": fast_run["best"], "wall": fast_run["wall"]},
            "ratio": t_fast / t_plain if t_plain and t_fast else None,
            "wall_ratio": fast_run["wall"] / as_written["wall"],
            "dice_diff": fast_run["best"] - as_written["best"],
        })
        print(json.dumps(runs[-1]), flush=True)
    ratios = [r["ratio"] for r in runs if r["ratio"] is not None]
    summary = {
        "fast_time_to_dice_ratio": statistics.median(ratios) if ratios else None,
        "fast_time_to_dice_ratios": ratios,
        "fast_wall_ratio": statistics.median(r["wall_ratio"] for r in runs),
        "fast_best_dice_diff": statistics.median(r["dice_diff"] for r in runs),
        "fast_target_dice": args.target,
        "fast_runs": runs,
    }
    latest = HERE / "results" / "latest.json"
    data = json.loads(latest.read_text()) if latest.is_file() else {}
    data.update(summary)
    latest.write_text(json.dumps(data, indent=2) + "\n")
    lines = ["| repeat | as written: s to Dice %.2f | fast: s to Dice %.2f | ratio | best Dice as written | best Dice fast |" % (args.target, args.target),
             "|---|---|---|---|---|---|"]
    for i, r in enumerate(runs):
        a, f = r["as_written"], r["fast"]
        lines.append(f"| {i} | {a['time_to_target']:.1f} | {f['time_to_target']:.1f} | {r['ratio']:.3f} | "
                     f"{a['best_dice']:.4f} | {f['best_dice']:.4f} |")
    (HERE / "results" / "fast_preset.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(json.dumps({k: v for k, v in summary.items() if k != "fast_runs"}, indent=2))


if __name__ == "__main__":
    main()
