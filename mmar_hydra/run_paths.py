"""One owner of a task's output folders: :class:`RunPaths`.

Made once per task, by the job (``RunPaths.for_task`` in :class:`mmar_hydra.job.TaskJob`,
handed to the task as ``TaskContext.paths``), it decides where everything a run writes goes --
``MMAR_CKPT_DIR`` (models, TensorBoard events, train_stats.json), ``MMAR_EVAL_OUTPUT_PATH``,
cache folders, and the MMAR-shaped run folder of a sweep job -- and it enforces the write
roots. The component resolver sends every path argument of a component or handler
(``save_dir``, ``log_dir``, ``output_dir``, ``cache_dir``) through :meth:`RunPaths.write`,
so there is one confinement rule.

- **Reads** (datalists, checkpoints to load, ``data_root_dir``) resolve against the MMAR as
  given, as in Clara: :meth:`RunPaths.read`.
- **Writes** resolve against ``write_root``: the MMAR itself, or, for a job of a ``-m``
  sweep, the job's own MMAR clone under the sweep folder. A sweep job never writes into its
  parent MMAR: an absolute path inside the parent is moved to the same place in the clone.
- A write must land inside ``write_root``, the Hydra run folder or a folder of
  ``allow_write=[...]``. Without ``allow_code=true`` a path outside them is refused; with it
  (a trusted MMAR, such as GettingStarted's BYOC config whose debug ``SaveImageD`` writes to
  ``/claraDevDay/...``) the write is redirected to the same path under
  ``<run folder>/outside/`` and said once: trusted configs run, and still write only inside
  the MMAR and the run folders. ``allow_write=[DIR]`` writes to ``DIR`` itself.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmar_hydra.errors import ConfigError
from mmar_hydra.mmar.layout import ENV_DEFAULTS, MODEL_FILES, absolute_path, undefined_variable

__all__ = ["RunPaths", "WRITE_ARGS", "READ_ARGS", "check_runs_folder"]

# component / handler args that name a folder or file to write into, and to read from
WRITE_ARGS = ("output_dir", "cache_dir", "save_dir", "log_dir")
READ_ARGS = ("load_path", "data_root_dir")


@dataclass(frozen=True)
class RunPaths:
    """Where one task reads and writes.

    Args:
        mmar_root: the MMAR as given on the command line; relative reads start here.
        write_root: where relative writes start: ``mmar_root``, or a sweep job's MMAR clone.
        run_dir: Hydra's folder for this job (logs, .hydra/).
        allowed: extra folders a trusted MMAR may write to (``allow_write``).
        redirect_outside: ``allow_code=true``: a write outside the roots goes to
            ``run_dir/outside/<its absolute path>`` (with a note) instead of being refused.
        ckpt_value, eval_value: ``MMAR_CKPT_DIR`` and ``MMAR_EVAL_OUTPUT_PATH`` as configured.
    """

    mmar_root: Path
    write_root: Path
    run_dir: Path
    allowed: tuple[Path, ...] = ()
    redirect_outside: bool = False
    ckpt_value: str = ENV_DEFAULTS["MMAR_CKPT_DIR"]
    eval_value: str = ENV_DEFAULTS["MMAR_EVAL_OUTPUT_PATH"]

    # -- construction --------------------------------------------------------------------
    @classmethod
    def for_task(
        cls,
        mmar_root: str | Path,
        run_dir: str | Path,
        config: Mapping[str, Any],
        *,
        allow_write: Sequence[str | Path] = (),
        allow_code: bool = False,
        job_clone: bool = False,
    ) -> RunPaths:
        """The paths of one task: built once per job by :class:`mmar_hydra.job.TaskJob`
        (``TaskContext.paths``), the only place a :class:`RunPaths` is made.

        Args:
            mmar_root: the MMAR as given on the command line.
            run_dir: Hydra's folder for this job.
            config: the resolved MMAR config (``MMAR_CKPT_DIR``, ``MMAR_EVAL_OUTPUT_PATH``;
                their defaults are the reader's, :data:`mmar_hydra.mmar.layout.ENV_DEFAULTS`).
            allow_write: ``allow_write=[...]``, relative to the MMAR.
            allow_code: a trusted MMAR: writes outside the roots are redirected, not refused.
            job_clone: a ``-m`` sweep job: every write goes to its MMAR clone,
                ``<run dir>/mmar`` (made after the check, :mod:`mmar_hydra.tasks.preflight`).
        """
        root = Path(mmar_root).resolve()
        run = Path(run_dir).resolve()
        return cls(
            mmar_root=root,
            write_root=run / "mmar" if job_clone else root,
            run_dir=run,
            allowed=tuple(absolute_path(p, root, where="allow_write") for p in allow_write),
            redirect_outside=allow_code,
            ckpt_value=str(config.get("MMAR_CKPT_DIR") or ENV_DEFAULTS["MMAR_CKPT_DIR"]),
            eval_value=str(
                config.get("MMAR_EVAL_OUTPUT_PATH") or ENV_DEFAULTS["MMAR_EVAL_OUTPUT_PATH"]
            ),
        )

    # -- resolution ----------------------------------------------------------------------
    @property
    def is_job_clone(self) -> bool:
        return self.write_root != self.mmar_root

    def read(self, value: str | Path, *, where: str = "", file: str | None = None) -> Path:
        """A path to read, relative to the MMAR as Clara resolved it.

        Raises:
            ConfigError: the path is a model-file variable no file defines (``MMAR_CKPT``).
        """
        _refuse_undefined(value, where, file)
        return absolute_path(value, self.mmar_root, where=where, file=file)

    def write(self, value: str | Path, *, where: str = "", file: str | None = None) -> Path:
        """A path to write: relative to ``write_root``, confined to the write roots.

        Raises:
            ConfigError: the path leaves the MMAR, the run folder and ``allow_write``.
        """
        _refuse_undefined(value, where, file)
        resolved = absolute_path(value, self.write_root, where=where, file=file)
        if self.is_job_clone and _within(resolved, self.mmar_root):
            if not _within(resolved, self.write_root) and not _within(resolved, self.run_dir):
                # a sweep job writes its own copy: the same place inside its MMAR clone
                resolved = self.write_root / resolved.relative_to(self.mmar_root)
        roots = (self.write_root, self.run_dir, *self.allowed)
        if any(_within(resolved, r) for r in roots):
            return resolved
        if self.redirect_outside:
            return _redirected(resolved, self.run_dir, value, where)
        raise ConfigError(
            f"refusing to write outside the MMAR: {value}",
            file=file,
            path=where or str(value),
            expected="a path inside " + " or ".join(str(r) for r in roots),
            fix="use a path inside the MMAR (e.g. models/exp1, eval/segs); for a trusted MMAR "
            f"add allow_write=[{resolved.parent}] (allow_code=true redirects it into the run "
            "folder)",
        )

    @property
    def ckpt_dir(self) -> Path:
        """``MMAR_CKPT_DIR``: model.pt, final_model.pt, TensorBoard events, train_stats.json."""
        return self.write(self.ckpt_value, where="MMAR_CKPT_DIR")

    @property
    def eval_dir(self) -> Path:
        """``MMAR_EVAL_OUTPUT_PATH``: metrics CSVs and predictions."""
        return self.write(self.eval_value, where="MMAR_EVAL_OUTPUT_PATH")

    def cache_dir(self, section: str) -> Path:
        """The default folder of a PersistentDataset that names none (Clara picked one)."""
        return self.write(Path("cache") / f"persistent_{section or 'eval'}", where="cache_dir")

    @property
    def custom_dir(self) -> Path:
        """The MMAR's ``custom/`` code (a sweep job imports its clone's copy)."""
        clone = self.write_root / "custom"
        return clone if self.is_job_clone and clone.is_dir() else self.mmar_root / "custom"


_SAID: set[tuple[Path, Path]] = set()


def _redirected(resolved: Path, run_dir: Path, value: str | Path, where: str) -> Path:
    """``resolved`` moved under ``run_dir/outside/``; the move is said once per process."""
    target = run_dir / "outside" / resolved.relative_to(resolved.anchor)
    if (resolved, run_dir) not in _SAID:
        _SAID.add((resolved, run_dir))
        print(
            f"paths: {where or value}: {value} is outside the MMAR and the run folder; "
            f"writing to {target} instead (allow_write=[{resolved}] writes there)",
            file=sys.stderr,
        )
    return target


def _refuse_undefined(value: str | Path, where: str, file: str | None) -> None:
    """A path that is the reader's marker of an undefined ``MMAR_CKPT`` / ``MMAR_TORCHSCRIPT``."""
    name = undefined_variable(value)
    if name is None:
        return
    usual = MODEL_FILES.get(name, "models/...")
    raise ConfigError(
        f"{name} is not defined, and this config reads its model through {{{name}}}",
        file=file,
        path=where or name,
        expected=f"{name} in config/environment.json (Clara has no default for it)",
        fix=f'add "{name}": "{usual}" to config/environment.json, or pass {name}={usual}',
    )


def _within(path: Path, root: Path) -> bool:
    root = Path(root).resolve()
    return path == root or path.is_relative_to(root)


def check_runs_folder(mmar_root: Path) -> None:
    """Refuse ``<MMAR>/runs`` when it leads outside the MMAR (a symlink shipped with it):
    Hydra writes every run folder there, before any write check of ours runs.

    Raises:
        ConfigError: ``runs`` resolves to a folder outside the MMAR.
    """
    root = Path(mmar_root).resolve()
    runs = root / "runs"
    target = absolute_path(runs, root, where="runs")
    if runs.is_symlink() and not _within(target, root):
        raise ConfigError(
            f"the MMAR's runs/ folder is a symlink to {target}, outside the MMAR",
            file=runs,
            path="runs",
            expected="runs/ inside the MMAR (Hydra writes each run folder there)",
            fix="remove the symlink, or choose the run folder yourself: hydra.run.dir=/path",
        )
