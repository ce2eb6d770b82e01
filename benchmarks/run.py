"""mmar_hydra vs a hand-written PyTorch+MONAI loop vs `python -m monai.bundle run`.

The same workload (the demo MMAR's UNet, DiceCE, Adam, CacheDataset, random crops, train
Accuracy, sliding-window validation every epoch, TensorBoard, model.pt / final_model.pt) on the
same synthetic data, at two data sizes. Each run is a fresh process under /usr/bin/time (peak
RSS). The three paths are interleaved, and each repeat rotates their order (ABC, BCA, CAB, ...)
so that no path always runs first. Figures are medians over repeats with min and max.

The ratios are taken per repeat, between the runs of that repeat, and then summarized the same
way: this machine's speed drifts by +-20 % within minutes, and a ratio of runs a few seconds
apart cancels most of that drift, where a ratio of two medians over the whole session does not.
A second measure of the overhead needs no pairing: mmar_hydra and the plain loop run at the
same time, each pinned to its own core with one thread (run_side_by_side).
Results: results/latest.json and results/latest.md.

    python benchmarks/run.py [--repeats 6] [--epochs 4] [--side-by-side 4] [--sizes small large]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SIZES = {"small": {"shape": (64, 64, 48), "n_train": 8}, "large": {"shape": (80, 80, 56), "n_train": 16}}


def launch(cmd: list[str], core: int | None = None) -> dict:
    """Start one fresh process under /usr/bin/time; with ``core``, pinned to it with 1 thread."""
    env = dict(os.environ)
    preexec = None
    if core is not None:
        env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
        preexec = lambda: os.sched_setaffinity(0, {core})  # noqa: E731
    rss_file = Path(tempfile.mktemp(suffix=".rss"))
    start = time.time()
    proc = subprocess.Popen(["/usr/bin/time", "-f", "%M", "-o", str(rss_file), *cmd], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=preexec)
    return {"cmd": cmd, "proc": proc, "start": start, "rss_file": rss_file}


def finish(run: dict) -> tuple[float, float, int]:
    """(start time, wall seconds, peak RSS in MB) of a launched process, once it has exited."""
    _, err = run["proc"].communicate()
    wall = time.time() - run["start"]
    if run["proc"].returncode != 0:
        raise RuntimeError(f"{run['cmd'][:4]} failed:\n{err[-3000:]}")
    return run["start"], wall, int(run["rss_file"].read_text().split()[-1]) // 1024


def steady(values: list[float], skip: int) -> list[float]:
    return values[skip:] if len(values) > skip else values


def clear(folder: Path) -> None:
    """Every run starts from an empty output folder (no best model.pt to beat)."""
    for old in folder.glob("*") if folder.is_dir() else []:
        old.unlink()


def mmar_hydra_cmd(mmar: Path, epochs: int) -> list[str]:
    clear(mmar / "models")
    return [sys.executable, "-m", "mmar_hydra", f"mmar={mmar}", "task=train", f"epochs={epochs}",
            "num_interval_per_valid=1", "hydra.output_subdir=null", "hydra/job_logging=disabled"]


def mmar_hydra_result(mmar: Path, start: float, wall: float, rss: int) -> dict:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

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
    return {"wall": wall, "rss_mb": rss, "first_iter_s": steps[0].wall_time - start,
            "iter_s": statistics.median(iters), "epoch_s": statistics.median(steady(stats["epoch_times"], 1)),
            "val_s": statistics.median(val_times), "dice": stats["best_key_metric"],
            "data_wait_share": stats["data_wait_share"]}


def run_mmar_hydra(mmar: Path, epochs: int) -> dict:
    return mmar_hydra_result(mmar, *finish(launch(mmar_hydra_cmd(mmar, epochs))))


def plain_cmd(mmar: Path, epochs: int, out: Path) -> list[str]:
    clear(mmar / "models_plain")
    return [sys.executable, str(HERE / "plain_loop.py"), str(mmar), str(epochs), str(out), str(time.time())]


def plain_result(out: Path, epochs: int, wall: float, rss: int) -> dict:
    r = json.loads(out.read_text())
    per_epoch = len(r["iter_times"]) // epochs
    steps = [(d, c) for i, (d, c) in enumerate(zip(r["data_times"], r["iter_times"])) if i >= per_epoch]
    iters = [d + c for i, (d, c) in enumerate(steps) if i % per_epoch]  # not an epoch's first
    wait = sum(d for d, _ in steps) / sum(d + c for d, c in steps)
    return {"wall": wall, "rss_mb": rss, "first_iter_s": r["first_iter_s"], "iter_s": statistics.median(iters),
            "epoch_s": statistics.median(steady(r["epoch_times"], 1)),
            "val_s": statistics.median(steady(r["val_times"], 1)), "data_wait_share": wait, "dice": r["best_dice"]}


def run_plain(mmar: Path, epochs: int) -> dict:
    out = Path(tempfile.mktemp(suffix=".json"))
    _, wall, rss = finish(launch(plain_cmd(mmar, epochs, out)))
    return plain_result(out, epochs, wall, rss)


def run_bundle(mmar: Path, epochs: int) -> dict:
    clear(mmar / "models_bundle")
    cmd = [sys.executable, "-m", "monai.bundle", "run", "--config_file", str(HERE / "bundle" / "train.json"),
           "--mmar_root", str(mmar), "--epochs", str(epochs)]
    _, wall, rss = finish(launch(cmd))
    return {"wall": wall, "rss_mb": rss}


def run_side_by_side(mmar: Path, epochs: int, pair: int) -> dict:
    """mmar_hydra and the plain loop at the same time, each pinned to its own core, 1 thread.

    Both see the same moment of the machine, so the slow drift between two runs made one after
    the other cancels. The two cores can still differ at a given moment (measured spread here:
    0.72 to 1.48), so the cores swap between pairs.
    """
    out = Path(tempfile.mktemp(suffix=".json"))
    swap = pair % 2
    a = launch(mmar_hydra_cmd(mmar, epochs), core=swap)
    b = launch(plain_cmd(mmar, epochs, out), core=1 - swap)
    ours = mmar_hydra_result(mmar, *finish(a))
    _, wall, rss = finish(b)
    plain = plain_result(out, epochs, wall, rss)
    return {key: ours[key] / plain[key] for key in ("iter_s", "val_s", "epoch_s", "first_iter_s", "wall")}



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


PATHS = ("mmar_hydra", "plain", "bundle")
RUNNERS = {"mmar_hydra": run_mmar_hydra, "plain": run_plain, "bundle": run_bundle}
# JSON key -> (figure, other path, target, True when lower than the target is required)
RATIOS = {
    "train_iter_ratio_vs_plain": ("iter_s", "plain", 1.03, False),
    "val_ratio_vs_plain": ("val_s", "plain", 1.03, False),
    "epoch_ratio_vs_bundle": ("wall", "bundle", 1.0, True),
    "startup_ratio_vs_plain": ("first_iter_s", "plain", 1.5, False),
    "peak_rss_ratio_vs_plain": ("rss_mb", "plain", 1.15, False),
}


def paired_ratios(raw: dict[str, list[dict]]) -> dict:
    """Per-repeat mmar_hydra / other ratios of each RATIOS figure, summarized over repeats."""
    out = {}
    for key, (figure, other, target, strict) in RATIOS.items():
        values = [a[figure] / b[figure] for a, b in zip(raw["mmar_hydra"], raw[other], strict=True)]
        median = statistics.median(values)
        out[key] = {"median": median, "min": min(values), "max": max(values), "target": target,
                    "met": median < target if strict else median <= target, "per_repeat": values}
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    # 6 interleaved repeats of 4 epochs (3 steady-state epochs each) + 4 side-by-side pairs at
    # the larger size: about 12 minutes here
    parser.add_argument("--repeats", type=int, default=6)
    parser.add_argument("--side-by-side", type=int, default=4, dest="side_by_side")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--sizes", nargs="+", choices=list(SIZES), default=list(SIZES))
    args = parser.parse_args()
    from mmar_hydra.tasks.demo_data import make_demo

    work = Path(tempfile.mkdtemp(prefix="mmar_hydra_bench_"))
    results: dict = {"machine": machine(), "epochs": args.epochs, "repeats": args.repeats, "sizes": {}}
    for size in args.sizes:
        spec = SIZES[size]
        mmar = make_demo(work / size, n_train=spec["n_train"], n_val=4, n_test=1, shape=spec["shape"])
        raw: dict[str, list[dict]] = {name: [] for name in PATHS}
        for repeat in range(args.repeats):
            for name in PATHS[repeat % 3:] + PATHS[:repeat % 3]:
                raw[name].append(RUNNERS[name](mmar, args.epochs))
        summary = {name: summarize(samples) for name, samples in raw.items()}
        results["sizes"][size] = {"spec": {"shape": spec["shape"], "n_train": spec["n_train"]},
                                  "summary": summary, "ratios": paired_ratios(raw), "raw": raw}
        print(size, json.dumps({k: round(v["median"], 3) for k, v in results["sizes"][size]["ratios"].items()}),
              flush=True)
    if args.side_by_side:
        pairs = [run_side_by_side(mmar, args.epochs, i) for i in range(args.side_by_side)]
        results["side_by_side"] = {"size": size, "pairs": pairs, "ratios": summarize(pairs)}
    main_ratios = results["sizes"][args.sizes[-1]]["ratios"]
    results["ratios_from_size"] = args.sizes[-1]
    results.update({key: value["median"] for key, value in main_ratios.items()})
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    latest = out / "latest.json"
    kept = json.loads(latest.read_text()) if latest.is_file() else {}
    # fast_preset.py's figures (fast_*) come from another script: keep them
    results = {**{k: v for k, v in kept.items() if k.startswith("fast_")}, **results}
    latest.write_text(json.dumps(results, indent=2))
    (out / "latest.md").write_text(markdown(results))
    print(markdown(results))


def markdown(r: dict) -> str:
    m = r["machine"]
    lines = [f"Machine: {m['cpu']}, {m['cores']} cores, no GPU; torch {m['torch']}, MONAI {m['monai']}, "
             f"Lightning {m['pytorch_lightning']}; {m['date']}. {r['epochs']} epochs with validation every epoch, "
             f"median of {r['repeats']} interleaved repeats (min-max).", "",
             "| size | path | iteration (s) | epoch (s) | validation (s) | first iteration (s) | end to end (s) "
             "| peak RSS (MB) | data wait |",
             "|---|---|---|---|---|---|---|---|---|"]
    for data in r["sizes"].values():
        spec = data["spec"]
        label = f"{'x'.join(map(str, spec['shape']))}, {spec['n_train']} cases"
        for name in PATHS:
            s = data["summary"][name]
            cell = lambda k: f"{s[k]['median']:.3f} ({s[k]['min']:.3f}-{s[k]['max']:.3f})" if k in s else "-"  # noqa: E731
            wait = f"{s['data_wait_share']['median']:.1%}" if "data_wait_share" in s else "-"
            lines.append(f"| {label} | {name} | {cell('iter_s')} | {cell('epoch_s')} | {cell('val_s')} | "
                         f"{cell('first_iter_s')} | {cell('wall')} | {cell('rss_mb')} | {wait} |")
    lines += ["", "| ratio (mmar_hydra / other, per repeat) | size | median (min-max) | target | met |",
              "|---|---|---|---|---|"]
    for size, data in r["sizes"].items():
        for key, v in data["ratios"].items():
            sign = "<" if RATIOS[key][3] else "<="
            lines.append(f"| {key} | {size} | {v['median']:.3f} ({v['min']:.3f}-{v['max']:.3f}) | "
                         f"{sign} {v['target']} | {'yes' if v['met'] else 'no'} |")
    if "side_by_side" in r:
        sbs = r["side_by_side"]
        lines += ["", f"Side by side ({sbs['size']} size, {len(sbs['pairs'])} pairs): mmar_hydra and the plain loop "
                  "at the same time, each pinned to its own core with 1 thread, cores swapped between pairs.", "",
                  "| ratio (mmar_hydra / plain, same moment) | median (min-max) |", "|---|---|"]
        for key, label in (("iter_s", "iteration"), ("val_s", "validation"), ("epoch_s", "epoch"),
                           ("first_iter_s", "first iteration"), ("wall", "end to end")):
            v = sbs["ratios"][key]
            lines.append(f"| {label} | {v['median']:.3f} ({v['min']:.3f}-{v['max']:.3f}) |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
