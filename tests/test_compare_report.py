"""task=compare on real training runs of the sample MMAR (slow), and its report in Chromium.

Clones of the demo (12 validation cases) differ only in their epochs: 3 against 30 must be a
significant difference, two identical-seed clones must not; the task's numbers are checked
against scipy run here on the eval CSVs task=validate wrote. A 3-job sweep gets
Holm-corrected p-values, and its report.html is rendered by a real headless Chromium
(Debian's ``chromium``; the test skips with a message when it is not installed).
"""

from __future__ import annotations

import csv
import html
import inspect
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
from conftest import run_main
from scipy import stats as st

from mmar_hydra.comparison.stats import RESAMPLES, holm

pytestmark = pytest.mark.slow

TRAIN = [
    "num_interval_per_valid=3",
    "train.model.args.channels=[4,8,16]",
    "train.model.args.strides=[2,2]",
    "train.pre_transforms.6.args.spatial_size=[24,24,16]",
    "validate.inferer.args.roi_size=[24,24,16]",
    "progress=none",
]
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]
# records, in the page, what a reader would see: tables, images loaded, errors
PROBE = """<script>
window.__errors = [];
window.addEventListener("error", e => __errors.push(String(e.message || e.target.src)), true);
const __error = console.error;
console.error = (...a) => { __errors.push(a.join(" ")); __error(...a); };
window.addEventListener("load", () => {
  const images = [...document.images];
  const probe = {
    tables: [...document.querySelectorAll("table")].map(t => t.id),
    paired_rows: document.querySelectorAll("#paired tbody tr").length,
    significant: document.querySelectorAll("#paired tr.sig-better").length,
    images: images.length,
    loaded: images.filter(i => i.complete && i.naturalWidth > 0).length,
    errors: __errors,
  };
  const pre = document.createElement("pre");
  pre.id = "probe";
  pre.textContent = JSON.stringify(probe);
  document.body.appendChild(pre);
});
</script>"""


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    from mmar_hydra.tasks.demo_data import make_demo

    root = tmp_path_factory.mktemp("compare_demo") / "demo"
    return make_demo(root, n_train=6, n_val=12, n_test=1, shape=(40, 40, 32))


@pytest.fixture(scope="module")
def clones(demo: Path) -> dict[str, Path]:
    """task=clone of the demo with 3 or 30 epochs (data left where it is), each trained."""
    out = {}
    data = [f"DATA_ROOT={demo / 'data'}", f"DATASET_JSON={demo / 'data' / 'dataset.json'}"]
    for name, epochs in (("short", 3), ("long", 30), ("short_again", 3)):
        root = demo.parent / name
        proc = run_main("task=clone", f"mmar={demo}", f"out={root}", f"epochs={epochs}", *data)
        assert proc.returncode == 0, proc.stderr[-3000:]
        proc = run_main(f"mmar={root}", "task=train", *TRAIN)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
        out[name] = root
    return out


def _paired(out: Path) -> list[dict[str, str]]:
    return list(csv.DictReader((out / "paired.csv").open()))


def _raw(root: Path) -> dict[str, float]:
    with (root / "eval" / "val_mean_dice_raw.csv").open() as fh:
        return {Path(r["filename"]).name: float(r["mean"]) for r in csv.DictReader(fh)}


def test_more_epochs_is_significantly_better_and_matches_scipy(clones, tmp_path):
    short, long = clones["short"], clones["long"]
    out = tmp_path / "cmp"
    proc = run_main(
        "task=compare",
        f"runs=[{short},{long}]",
        f"baseline={short}",
        "validate_missing=true",
        f"out={out}",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "short: validated by this compare (validate_missing=true)" in proc.stdout
    assert "long: validated by this compare (validate_missing=true)" in proc.stdout
    (row,) = _paired(out)
    assert (row["variant"], row["baseline"], row["verdict"]) == ("long", "short", "better")
    assert int(row["cases"]) == 12 and float(row["Wilcoxon p"]) < 0.05
    assert float(row["mean diff CI low"]) > 0

    # the same numbers from the eval CSVs, computed here with scipy
    a, b = _raw(short), _raw(long)
    cases = sorted(a)
    assert sorted(b) == cases and len(cases) == 12
    x, y = np.array([a[c] for c in cases]), np.array([b[c] for c in cases])
    assert float(row["mean diff"]) == pytest.approx(np.mean(y - x), abs=1e-12)
    assert float(row["median diff"]) == pytest.approx(np.median(y - x), abs=1e-12)
    assert float(row["Wilcoxon p"]) == pytest.approx(st.wilcoxon(y, x).pvalue, abs=1e-12)
    ci = st.bootstrap(
        (x, y),
        lambda u, v, axis=-1: np.mean(v - u, axis=axis),
        paired=True,
        vectorized=True,
        n_resamples=RESAMPLES,
        **_seeded(0),
    ).confidence_interval
    assert float(row["mean diff CI low"]) == pytest.approx(ci.low, abs=1e-12)
    assert float(row["mean diff CI high"]) == pytest.approx(ci.high, abs=1e-12)
    print(f"3 vs 30 epochs: {json.dumps(row)}")


def test_identical_seed_clones_show_no_significant_difference(clones, tmp_path):
    out = tmp_path / "cmp"
    runs = f"runs=[{clones['short']},{clones['short_again']}]"
    proc = run_main("task=compare", runs, "validate_missing=true", f"out={out}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    (row,) = _paired(out)
    assert row["verdict"] == "no significant difference" and float(row["Wilcoxon p"]) >= 0.05
    assert float(row["mean diff CI low"]) <= 0 <= float(row["mean diff CI high"])
    print(f"identical-seed clones: {json.dumps(row)}")


@pytest.fixture(scope="module")
def sweep_report(demo: Path, tmp_path_factory) -> Path:
    """A 3-job sweep over the epochs, compared against job 0 (validated by the compare)."""
    proc = run_main("-m", f"mmar={demo}", "task=train", *TRAIN, "epochs=3,9,30")
    assert proc.returncode == 0, proc.stderr[-3000:]
    sweep = next((demo / "runs").iterdir())
    out = tmp_path_factory.mktemp("sweep_compare")
    proc = run_main(
        "task=compare", f"runs={sweep}", "baseline=0", "validate_missing=true", f"out={out}"
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def test_three_variant_sweep_is_holm_corrected(sweep_report):
    rows = _paired(sweep_report)
    assert [r["variant"] for r in rows] == ["1", "2"] and {r["baseline"] for r in rows} == {"0"}
    p = [float(r["Wilcoxon p"]) for r in rows]
    assert [float(r["Holm p"]) for r in rows] == pytest.approx(holm(p))
    assert all(float(r["Holm p"]) >= q for r, q in zip(rows, p, strict=True))
    page = (sweep_report / "report.html").read_text()
    assert "Holm-corrected over the 2 variants per metric" in page
    print("sweep:", json.dumps(rows))


@pytest.fixture(scope="module")  # module scope: set up before the module-scoped sweep
def chromium() -> str:
    """Debian's chromium, else a skip (asked for before the sweep is trained)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium; .ci/run does)")
    return found


def _browse(exe: str, *args: str) -> subprocess.CompletedProcess:
    """One headless Chromium run with a fresh profile and nothing reaching the network."""
    with tempfile.TemporaryDirectory(prefix="chromium_profile_") as profile:
        return subprocess.run(
            [exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=180,
        )


def test_report_renders_in_headless_chromium(chromium, sweep_report, tmp_path):
    from PIL import Image

    exe = chromium
    report = sweep_report / "report.html"
    shot = tmp_path / "report.png"
    proc = _browse(
        exe,
        "--enable-logging=stderr",
        "--v=0",
        f"--screenshot={shot}",
        "--window-size=1400,2400",
        report.as_uri(),
    )
    assert proc.returncode == 0 and shot.is_file(), proc.stderr[-3000:]
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    assert not console, console  # the page logs nothing: no error, no failed load
    image = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert image.shape == (2400, 1400) and image.std() > 20  # a page, not a blank

    probe_page = tmp_path / "probe.html"
    probe_page.write_text(report.read_text().replace("<head>", "<head>" + PROBE, 1))
    dom = _browse(exe, "--virtual-time-budget=10000", "--dump-dom", probe_page.as_uri())
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom.stdout, re.S)
    assert found, dom.stdout[-2000:] + dom.stderr[-2000:]
    probe = json.loads(html.unescape(found.group(1)))
    assert {"variants", "paired", "config-diff"} <= set(probe["tables"])
    assert probe["paired_rows"] == 2 and probe["significant"] >= 1
    assert probe["images"] >= 3 and probe["loaded"] == probe["images"]
    assert probe["errors"] == []
    print("chromium probe:", probe)


def _seeded(seed: int) -> dict:
    """scipy's bootstrap seed argument: rng= from scipy 1.15, random_state= before."""
    key = "rng" if "rng" in inspect.signature(st.bootstrap).parameters else "random_state"
    return {key: np.random.default_rng(seed)}
