"""``make fuzz``: N hostile cases over every family, in worker processes, with a fixed seed.

    python tests/fuzz/run.py [--examples N] [--workers W] [--seed S] [--families a,b]

``--examples`` defaults to ``$FUZZ_EXAMPLES`` or 2000, split over the families by
``campaign.WEIGHTS`` and over the workers. The seeds are built once, here; each worker is a
``python tests/fuzz/run.py --worker i`` process that runs its share of every family (its own
Hypothesis seed), under a 6 GB data limit so that a config that asks for a huge allocation
gets a MemoryError instead of the machine's OOM killer. The process prints the cases tried
and the runs per family, then every failure, and exits 1 if there is one.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

from fuzz.campaign import ALL_FAMILIES, WEIGHTS, Result, make_ctx, run_family  # noqa: E402
from fuzz.seeds import Seed, Target, build_seeds  # noqa: E402

DATA_LIMIT = 6 << 30


def shares(total: int, families: list[str]) -> dict[str, int]:
    """``total`` examples split over ``families`` by weight (every family gets at least 1)."""
    weight = sum(WEIGHTS[f] for f in families)
    out = {f: max(1, total * WEIGHTS[f] // weight) for f in families}
    out[families[0]] += max(0, total - sum(out.values()))
    return out


def _split(n: int, worker: int, workers: int) -> int:
    return n // workers + (1 if worker < n % workers else 0)


def _save_seeds(seeds: list[Seed], path: Path) -> None:
    rows = [
        {
            "name": s.name,
            "root": str(s.root),
            "has_data": s.has_data,
            "targets": [[t.file, t.config] for t in s.targets],
        }
        for s in seeds
    ]
    path.write_text(json.dumps(rows))


def _load_seeds(path: Path) -> list[Seed]:
    return [
        Seed(r["name"], Path(r["root"]), [Target(*t) for t in r["targets"]], r["has_data"])
        for r in json.loads(path.read_text())
    ]


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    """(size, mtime) of every file under ``root``: cases hard-link the seeds' images."""
    return {
        str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()
    }


def worker(args: argparse.Namespace) -> int:
    """One worker: its share of each family; the result as JSON in ``--out``."""
    resource.setrlimit(resource.RLIMIT_DATA, (DATA_LIMIT, DATA_LIMIT))
    work = Path(args.work)
    ctx = make_ctx(_load_seeds(work / "seeds.json"), work / f"worker{args.worker}")
    result = Result()
    start = time.perf_counter()
    families = args.families.split(",")
    for name, n in shares(args.examples, families).items():
        family_start = time.perf_counter()
        mine = _split(n, args.worker, args.workers)
        run_family(name, mine, ctx, result, seed_value=args.seed * 1000 + args.worker)
        print(
            f"[worker {args.worker}] {name}: {result.tried.get(name, 0)} cases in "
            f"{time.perf_counter() - family_start:.0f} s",
            flush=True,
        )
    result.seconds = time.perf_counter() - start
    Path(args.out).write_text(json.dumps(result.as_dict()))
    return 0


def merge(parts: list[dict]) -> dict:
    total: dict = {"tried": {}, "runs": {}, "failures": [], "slowest": [], "seconds": 0.0}
    total["task_seconds"] = {}
    for part in parts:
        for task, sec in part["task_seconds"].items():
            total["task_seconds"][task] = total["task_seconds"].get(task, 0.0) + sec
        for fam, n in part["tried"].items():
            total["tried"][fam] = total["tried"].get(fam, 0) + n
        for fam, runs in part["runs"].items():
            mine = total["runs"].setdefault(fam, {})
            for task, n in runs.items():
                mine[task] = mine.get(task, 0) + n
        total["failures"] += part["failures"]
        total["slowest"] = sorted(total["slowest"] + part["slowest"], reverse=True)[:5]
        total["seconds"] = max(total["seconds"], part["seconds"])
    return total


KINDS = ("traceback", "unclean error", "canary", "outside write", "model lost", "hang", "harness")


def report(total: dict, families: list[str], wall: float) -> str:
    """The table of cases per family and what the oracle found, then each failure."""
    lines = ["", f"{'family':<14} {'cases':>6}  {'failures':>8}  runs"]
    for fam in families:
        bad = sum(1 for f in total["failures"] if f["family"] == fam)
        runs = ", ".join(f"{t} {n}" for t, n in sorted(total["runs"].get(fam, {}).items()))
        lines.append(f"{fam:<14} {total['tried'].get(fam, 0):>6}  {bad:>8}  {runs}")
    cases = sum(total["tried"].values())
    lines.append(f"{'total':<14} {cases:>6}  {len(total['failures']):>8}")
    counts = {k: sum(1 for f in total["failures"] if f["kind"] == k) for k in KINDS}
    lines.append(
        f"tracebacks {counts['traceback']}, canary executions "
        f"{counts['canary']}, outside writes {counts['outside write']}, lost models "
        f"{counts['model lost']}, unclean errors {counts['unclean error']}, hangs "
        f"{counts['hang']}, harness errors {counts['harness']}"
    )
    load = os.getloadavg()
    lines.append(
        f"{cases} cases in {wall:.0f} s wall ({cases / max(wall, 1e-9):.2f} cases/s), "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    runs = {t: sum(r.get(t, 0) for r in total["runs"].values()) for t in total["task_seconds"]}
    per_run = [
        f"{t} {total['task_seconds'][t] / max(runs[t], 1):.2f} s x {runs[t]}"
        for t in sorted(runs, key=lambda t: -runs[t])
    ]
    lines.append("time in the CLI per run: " + ", ".join(per_run))
    lines.append(
        "slowest: " + "; ".join(f"{s:.1f} s {what[:100]}" for s, what in total["slowest"][:3])
    )
    for i, f in enumerate(total["failures"], 1):
        lines.append(f"\n[{i}] {f['family']}: {f['kind']}: {f['detail']}")
        lines.append(f"    case: {' | '.join(f['steps'])}")
        lines.append(f"    run:  {f['run']}")
    return "\n".join(lines)


def parent(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    work = Path(args.work or tempfile.mkdtemp(prefix="mmar_fuzz_"))
    try:
        return _campaign(args, work, start)
    finally:
        if not args.work:  # a folder of our own: the seeds and the workers' results
            shutil.rmtree(work, ignore_errors=True)


def _campaign(args: argparse.Namespace, work: Path, start: float) -> int:
    families = args.families.split(",")
    seeds = build_seeds(work / "seeds")
    if len(seeds) == 1:
        print("../shared/clara_examples/public is absent: the cases start from the demo only")
    _save_seeds(seeds, work / "seeds.json")
    print(
        f"seeds built in {time.perf_counter() - start:.0f} s: {', '.join(s.name for s in seeds)}",
        flush=True,
    )
    seeds_before = _tree(work / "seeds")
    procs, outs = [], []
    for i in range(args.workers):
        out = work / f"result{i}.json"
        outs.append(out)
        cmd = [
            sys.executable,
            __file__,
            "--worker",
            str(i),
            "--workers",
            str(args.workers),
            "--examples",
            str(args.examples),
            "--seed",
            str(args.seed),
            "--work",
            str(work),
            "--families",
            args.families,
            "--out",
            str(out),
        ]
        procs.append(subprocess.Popen(cmd, env={**os.environ, "OMP_NUM_THREADS": "1"}))
    codes = [p.wait() for p in procs]
    parts = [json.loads(o.read_text()) for o in outs if o.is_file()]
    total = merge(parts)
    seeds_after = _tree(work / "seeds")
    changed = sorted(
        p for p in {*seeds_before, *seeds_after} if seeds_before.get(p) != seeds_after.get(p)
    )
    total["failures"] += [
        {
            "family": "seeds",
            "kind": "outside write",
            "detail": f"a seed file changed: {p}",
            "run": "",
            "steps": [],
        }
        for p in changed[:10]
    ]
    print(report(total, families, time.perf_counter() - start))
    if args.json:
        Path(args.json).write_text(
            json.dumps({**total, "wall": time.perf_counter() - start}, indent=1)
        )
    if any(codes) or len(parts) != args.workers:
        print(f"a worker failed: exit codes {codes}")
        return 1
    return 1 if total["failures"] else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=int(os.environ.get("FUZZ_EXAMPLES", 2000)))
    parser.add_argument("--workers", type=int, default=int(os.environ.get("FUZZ_WORKERS", 2)))
    parser.add_argument("--seed", type=int, default=int(os.environ.get("FUZZ_SEED", 0)))
    parser.add_argument("--families", default=",".join(ALL_FAMILIES))
    parser.add_argument("--work", default=None)
    parser.add_argument("--json", default=None, help="also write the merged result here")
    parser.add_argument("--worker", type=int, default=None)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    return worker(args) if args.worker is not None else parent(args)


if __name__ == "__main__":
    sys.exit(main())
