"""``python -m mmar_hydra.apps.automl``: medl.apps.automl.train's command line on mmar_hydra.

Clara's ``commands/automl.sh`` runs ``medl.apps.automl.train -m $MMAR_ROOT --set
run_id=NAME trainconf=NAME.json workers=0:0:... traceout=console [NAME] [KEY=VALUE ...]``.
Here ``trainconf`` (a file in config/) becomes ``config_file=config/NAME.json`` and
``run_id`` ``automl.run_id``; ``workers`` and ``traceout`` are accepted and have no effect
(trials train one after another in this process, output goes to the console); a bare word
equal to the run id (automl.sh passes its own ``$1`` again) is dropped. ``-c`` names the
controller config (default ``config/config_automl.json``), ``-e`` the environment file.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from mmar_hydra.apps.clara_args import set_value
from mmar_hydra.cli import entry

__all__ = ["translate", "main"]

_IGNORED = ("workers", "traceout")
_RENAMED = {"run_id": "automl.run_id", "trials": "automl.trials", "seed": "automl.seed"}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mmar_hydra.apps.automl",
        description="Clara-compatible AutoML (medl.apps.automl.train flags) on mmar_hydra.",
    )
    parser.add_argument("-m", "--mmar", required=True, help="the MMAR root")
    parser.add_argument("-c", "--config", default=None, help="config/config_automl.json")
    parser.add_argument("-e", "--env", default=None, help="config/environment.json")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    return parser


def _rel(path: str, root: Path) -> str:
    p = Path(path).expanduser()
    p = p if p.is_absolute() else root / p
    try:
        return str(p.resolve().relative_to(root))
    except ValueError:
        return str(p.resolve())


def translate(argv: Sequence[str]) -> list[str]:
    """The ``python -m mmar_hydra task=automl`` arguments for a medl automl command line."""
    parser = _parser()
    args = parser.parse_args(list(argv))
    root = Path(args.mmar).expanduser().resolve()
    out = [f"mmar={root}", "task=automl"]
    if args.config:
        out.append(f"automl.controller={_rel(args.config, root)}")
    if args.env:
        out.append(f"env_file={_rel(args.env, root)}")
    pairs = [item.partition("=") for item in args.set]
    run_id = next((v for k, s, v in pairs if s and k.strip() == "run_id"), None)
    for key, sep, value in pairs:
        key = key.strip()
        if not sep:
            if key == run_id:
                continue
            parser.error(f"--set expects KEY=VALUE, got {key!r}")
        if key in _IGNORED:
            print(f"automl: {key}={value} has no effect here (trials run one after another)")
        elif key == "trainconf":
            name = value.strip()
            out.append(f"config_file={name if '/' in name else 'config/' + name}")
        else:
            out.append(f"{_RENAMED.get(key, key)}={set_value(value)}")
    return out


def main() -> None:

    entry(translate(sys.argv[1:]))


if __name__ == "__main__":
    main()
