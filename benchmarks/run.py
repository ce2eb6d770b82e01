"""mmar_hydra vs a hand-written PyTorch+MONAI loop vs `python -m monai.bundle run`.

The same workload (the demo MMAR's UNet, DiceCE, Adam, CacheDataset, random crops, sliding-window
validation every epoch) on the same synthetic data, interleaved A, B, C, A, B, C ... in one
session, at two data sizes. Each run is a fresh process under /usr/bin/time (peak RSS).
Figures are medians over repeats with min and max. Results: results/latest.json and .md.

    python benchmarks/run.py [--repeats 5] [--epochs 4] [--sizes small large]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SIZES = {"small": {"shape": (64, 64, 48), "n_train": 8}, "large": {"shape": (80, 80, 56), "n_train": 16}}


def timed(cmd: list[str], cwd: Path | None = None) -> tuple[float, float, int, str]:
    """(start time, wall seconds, peak RSS in MB, stdout+stderr) of one fresh process."""
    rss_file = Path(tempfile.mktemp(suffix=".rss"))
    start = time.time()
    proc = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", str(rss_file), *cmd], cwd=cwd,
                          capture_output=True, text=True)
    wall = time.time() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[:4]} failed:\n{proc.stderr[-3000:]}")
    return start, wall, int(rss_file.read_text().split()[-1]) // 1024, proc.stdout + proc.stderr


def steady(values: list[float], skip: int) -> list[float]:
    return values[skip:] if len(values) > skip else values


def clear(folder: Path) -> None:
    """Every run starts from an empty output folder (no best model.pt to beat)."""
    for old in folder.glob("*") if folder.is_dir() else []:
        old.unlink()


def run_mmar_hydra(mmar: Path, epochs: int) -> dict:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    clear(mmar / "models")
    cmd = [sys.executable, "-m", "mmar_hydra", f"mmar={mmar}", "task=train", f"epochs={epochs}",
           "num_interval_per_valid=1", "hydra.output_subdir=null", "hydra/job_logging=disabled"]
    start, wall, rss, _ = timed(cmd)
    stats = json.loads((mmar / "models" / "train_stats.json").read_text())
    ev = EventAccumulator(str(mmar / "models"), size_guidance={"scalars": 0})
    ev.Reload()
    steps = ev.Scalars("train_loss_step")
    epoch_of = {e.step: int(e.value) for e in ev.Scalars("epoch")}
    iters = []
    for a, b in zip(steps, steps[1:]):
        if epoch_of.get(a.step) == epoch_of.get(b.step) and epoch_of.get(a.step, 0) > 0:
            iters.append(b.wall_time - a.wall_time)
    # validation start to metrics logged, as the plain loop times it (model.pt write excluded)
    val_times = steady(stats["validation_times"], 1)
    result = {"wall": wall, "rss_mb": rss, "first_iter_s": steps[0].wall_time - start,
              "iter_s": statistics.median(iters), "epoch_s": statistics.median(steady(stats["epoch_times"], 1)),
              "val_s": statistics.median(val_times), "dice": stats["best_key_metric"],
              "data_wait_share": stats["data_wait_share"]}
    return result


def run_plain(mmar: Path, epochs: int) -> dict:
    clear(mmar / "models_plain")
    out = Path(tempfile.mktemp(suffix=".json"))
    start = time.time()
    _, wall, rss, _ = timed([sys.executable, str(HERE / "plain_loop.py"), str(mmar), str(epochs), str(out), str(start)])
    r = json.loads(out.read_text())
    per_epoch = len(r["iter_times"]) // epochs
    iters = [d + c for i, (d, c) in enumerate(zip(r["data_times"], r["iter_times"])) if i >= per_epoch and i % per_epoch]
    return {"wall": wall, "rss_mb": rss, "first_iter_s": r["first_iter_s"], "iter_s": statistics.median(iters),
            "epoch_s": statistics.median(steady(r["epoch_times"], 1)), "val_s": statistics.median(steady(r["val_times"], 1)),
            "data_wait_share": sum(r["data_times"][per_epoch:]) / (sum(r["data_times"][per_epoch:]) + sum(r["iter_times"][per_epoch:])),
            "dice": r["best_dice"]}


def run_bundle(mmar: Path, epochs: int) -> dict:
    clear(mmar / "models_bundle")
    _, wall, rss, _ = timed([sys.executable, "-m", "monai.bundle", "run", "--config_file", str(HERE / "bundle" / "train.json"),
                             "--mmar_root", str(mmar), "--epochs", str(epochs)])
    return {"wall": wall, "rss_mb": rss}


def summarize(samples: list[dict]) -> dict:
    keys = {k for s in samples for k, v in s.items() if isinstance(v, int | float) and v is not None}
    return {k: {"median": statistics.median([s[k] for s in samples if s.get(k) is not None]),
                "min": min(s[k] for s in samples if s.get(k) is not None),
                "max": max(s[k] for s in samples if s.get(k) is not None)} for k in sorted(keys)}


def machine() -> dict:
    import monai
    import pytorch_lightning
    import torch

    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), platform.processor())
    return {"cpu": cpu, "cores": __import__("os").cpu_count(), "python": platform.python_version(),
            "torch": torch.__version__, "monai": monai.__version__, "pytorch_lightning": pytorch_lightning.__version__,
            "date": time.strftime("%Y-%m-%d")}


def main() -> None:
    parser = argparse.ArgumentParser()
    # this machine's speed drifts by +-20 % from minute to minute: 5 interleaved repeats of
    # 4 epochs (3 steady-state epochs each) keep the medians' spread to a few percent
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--sizes", nargs="+", choices=list(SIZES), default=list(SIZES))
    args = parser.parse_args()
    from mmar_hydra.tasks.demo_data import make_demo

    work = Path(tempfile.mkdtemp(prefix="mmar_hydra_bench_"))
    results: dict = {"machine": machine(), "epochs": args.epochs, "repeats": args.repeats, "sizes": {}}
    for size in args.sizes:
        spec = SIZES[size]
        mmar = make_demo(work / size, n_train=spec["n_train"], n_val=4, n_test=1, shape=spec["shape"])
        raw: dict[str, list[dict]] = {"mmar_hydra": [], "plain": [], "bundle": []}
        for _ in range(args.repeats):
            raw["mmar_hydra"].append(run_mmar_hydra(mmar, args.epochs))
            raw["plain"].append(run_plain(mmar, args.epochs))
            raw["bundle"].append(run_bundle(mmar, args.epochs))
        summary = {name: summarize(samples) for name, samples in raw.items()}
        results["sizes"][size] = {"spec": {"shape": spec["shape"], "n_train": spec["n_train"]},
                                  "summary": summary, "raw": raw}
        print(size, json.dumps({k: {m: v["median"] for m, v in s.items() if isinstance(v, dict)}
                                for k, s in summary.items()}), flush=True)
    main_size = results["sizes"][args.sizes[-1]]["summary"]
    med = lambda name, key: main_size[name][key]["median"]  # noqa: E731
    results.update(
        train_iter_ratio_vs_plain=med("mmar_hydra", "iter_s") / med("plain", "iter_s"),
        val_ratio_vs_plain=med("mmar_hydra", "val_s") / med("plain", "val_s"),
        epoch_ratio_vs_bundle=med("mmar_hydra", "wall") / med("bundle", "wall"),
        startup_ratio_vs_plain=med("mmar_hydra", "first_iter_s") / med("plain", "first_iter_s"),
        peak_rss_ratio_vs_plain=med("mmar_hydra", "rss_mb") / med("plain", "rss_mb"),
    )
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "latest.json").write_text(json.dumps(results, indent=2))
    (out / "latest.md").write_text(markdown(results))
    print(markdown(results))


def markdown(r: dict) -> str:
    m = r["machine"]
    lines = [f"Machine: {m['cpu']}, {m['cores']} cores, no GPU; torch {m['torch']}, MONAI {m['monai']}, "
             f"Lightning {m['pytorch_lightning']}; {m['date']}. {r['epochs']} epochs with validation every epoch, "
             f"median of {r['repeats']} interleaved repeats (min-max).", "",
             "| size | path | iteration (s) | epoch (s) | validation (s) | first iteration (s) | end to end (s) | peak RSS (MB) | data wait |",
             "|---|---|---|---|---|---|---|---|---|"]
    for size, data in r["sizes"].items():
        spec = data["spec"]
        label = f"{'x'.join(map(str, spec['shape']))}, {spec['n_train']} cases"
        for name in ("mmar_hydra", "plain", "bundle"):
            s = data["summary"][name]
            cell = lambda k: f"{s[k]['median']:.3f} ({s[k]['min']:.3f}-{s[k]['max']:.3f})" if k in s and isinstance(s[k], dict) else "-"  # noqa: E731
            wait = s.get("data_wait_share")
            wait = f"{wait['median']:.1%}" if isinstance(wait, dict) else f"{wait:.1%}" if isinstance(wait, float) else "-"
            lines.append(f"| {label} | {name} | {cell('iter_s')} | {cell('epoch_s')} | {cell('val_s')} | "
                         f"{cell('first_iter_s')} | {cell('wall')} | {cell('rss_mb')} | {wait} |")
    lines += ["", "| ratio (large size, mmar_hydra / other) | value | target |", "|---|---|---|",
              f"| train_iter_ratio_vs_plain | {r['train_iter_ratio_vs_plain']:.3f} | <= 1.03 |",
              f"| val_ratio_vs_plain | {r['val_ratio_vs_plain']:.3f} | <= 1.03 |",
              f"| epoch_ratio_vs_bundle (end to end) | {r['epoch_ratio_vs_bundle']:.3f} | < 1.0 |",
              f"| startup_ratio_vs_plain (to first iteration) | {r['startup_ratio_vs_plain']:.3f} | <= 1.5 |",
              f"| peak_rss_ratio_vs_plain | {r['peak_rss_ratio_vs_plain']:.3f} | <= 1.15 |"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
