"""Train the folds as one Hydra sweep, in a child ``python -m mmar_hydra -m`` process.

``task=cv`` itself runs inside a Hydra job, and a Hydra app cannot start a second one in the
same process. The folds are therefore a sweep of a child process over ``cv_fold=0,1,...``:
each fold is an ordinary ``-m task=train`` job, so it gets what every sweep job gets -- its
own MMAR run folder (``runs/run_folder.py``), any launcher the user picks
(``hydra/launcher=slurm``, ``local``, joblib...) and DDP per job (``distributed.py``) --
without a second code path. The fold's datalist reaches the job as ``DATASET_JSON``.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from mmar_hydra.cv.folder import CVFolder

__all__ = ["fold_sweep_argv", "passthrough_overrides", "run_child", "CV_KEYS"]

# keys of task=cv itself: they shape the split, never a fold's training
CV_KEYS = ("task", "mmar", "folds", "cv_pool", "group_key", "cv_dir", "cv_fold", "seed")
# what the CLI adds for a task without a run folder; the fold jobs keep Hydra's defaults
_CLI_HYDRA = (
    "hydra.run.",
    "hydra.output_subdir",
    "hydra/job_logging",
    "hydra/hydra_logging",
    "hydra.mode",
    "hydra.sweep.",
    "hydra.job.chdir",
)


def _quote(value: str) -> str:
    """A path as one Hydra override value (quoted: spaces, commas and ``$`` stay literal)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def passthrough_overrides(
    task_overrides: Sequence[str], hydra_overrides: Sequence[str], dataset_keys: Sequence[str]
) -> list[str]:
    """The user's overrides a fold job must see: all but task=cv's own keys and the datalist.

    Args:
        task_overrides: the cv job's overrides (``HydraConfig.overrides.task``).
        hydra_overrides: its Hydra overrides (``hydra/launcher=slurm``, ``hydra.launcher.x=``).
        dataset_keys: keys the fold sweep sets itself (``DATASET_JSON``, dataset paths).
    """
    skip = {*CV_KEYS, *dataset_keys}
    out = []
    for text in task_overrides:
        key = str(text).split("=", 1)[0].lstrip("+~")
        if key not in skip:
            out.append(str(text))
    for text in hydra_overrides:
        if not str(text).startswith(_CLI_HYDRA):
            out.append(str(text))
    return out


def fold_sweep_argv(
    mmar: Path,
    folder: CVFolder,
    folds: Sequence[int],
    passthrough: Sequence[str],
    dataset_paths: Sequence[str] = (),
) -> list[str]:
    """argv of the child sweep that trains ``folds`` into ``<cv_dir>/fold_<i>/mmar``.

    Args:
        mmar: the MMAR root.
        folder: the CV folder (its split files exist).
        folds: the folds to train (the unfinished ones).
        passthrough: the user's overrides, from :func:`passthrough_overrides`.
        dataset_paths: JSON paths of datasets that do not read ``{DATASET_JSON}`` (they get
            the fold's datalist by their own ``data_list_file_path``).
    """
    pattern = _quote(folder.split_pattern())
    return [
        "-m",
        f"mmar={_quote(str(mmar))}",
        "task=train",
        *passthrough,
        f"cv_fold={','.join(str(f) for f in folds)}",
        f"DATASET_JSON={pattern}",
        *(f"{p}.data_list_file_path={pattern}" for p in dataset_paths),
        f"hydra.sweep.dir={_quote(str(folder.root))}",
        "hydra.sweep.subdir=fold_${cv_fold}",
    ]


def run_child(argv: Sequence[str]) -> int:
    """Run ``python -m mmar_hydra ARGV`` with this interpreter; its output goes to ours."""
    sys.stdout.flush()
    sys.stderr.flush()
    return subprocess.call([sys.executable, "-m", "mmar_hydra", *argv])
