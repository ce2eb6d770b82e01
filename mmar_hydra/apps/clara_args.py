"""medl.apps command lines -> mmar_hydra overrides.

Clara's ``--set`` values were Python-ish (``True``, ``2e-4``, ``[1, 2]``); Hydra's override
grammar wants ``true``, ``2e-4``, ``[1,2]`` and quotes around anything else with spaces or
special characters. Config paths were usually ``$MMAR_ROOT/config/...``: they become paths
relative to the MMAR root, as mmar_hydra's ``config_file=`` expects.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from mmar_hydra.cli import entry

__all__ = ["parser_for", "set_value", "translate", "main_for"]

_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?)$")
_PLAIN = re.compile(r"^[\w./:@~-]+$")


def set_value(value: str) -> str:
    """One ``--set`` value in Hydra's override grammar, typed as Clara typed it."""
    text = value.strip()
    if text in ("True", "False", "true", "false"):
        return text.lower()
    if text in ("None", "null"):
        return "null"
    if _NUMBER.match(text):
        return text
    if text.startswith("[") and text.endswith("]"):
        items = [i.strip() for i in text[1:-1].split(",") if i.strip()]
        return "[" + ",".join(set_value(i.strip("'\"")) for i in items) + "]"
    if _PLAIN.match(text):
        return text
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def parser_for(app: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"python -m mmar_hydra.apps.{app}",
        description=f"Clara-compatible {app} (medl.apps.{app} flags) on mmar_hydra.",
    )
    parser.add_argument("-m", "--mmar", required=True, help="the MMAR root")
    parser.add_argument(
        "-c", "--config", required=True, help="config file (e.g. config/config_train.json)"
    )
    parser.add_argument(
        "-e", "--env", default=None, help="environment file (config/environment.json)"
    )
    parser.add_argument(
        "--set", nargs="*", default=[], metavar="KEY=VALUE", help="override variables"
    )
    if app == "train":
        parser.add_argument(
            "--write_train_stats",
            action="store_true",
            help="accepted for compatibility: train_stats.json is always written",
        )
    if app == "export":
        parser.add_argument("--model_path", default=None)
        parser.add_argument("--output_path", default=None)
        parser.add_argument("--input_shape", default=None)
        parser.add_argument("--ignore_verify", action="store_true")
    return parser


def _relative(path: str, root: Path) -> str:
    p = Path(path).expanduser()
    if not p.is_absolute():
        p = (root / p) if (root / p).exists() or not Path(path).exists() else Path(path).resolve()
    try:
        return str(p.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(p.resolve())


def _task_of(app: str, config: Path) -> str:
    if app in ("train", "export"):
        return app
    import json

    try:
        data = json.loads(config.read_text())
    except (OSError, ValueError):
        return "validate"  # let the CLI report the broken file
    return "validate" if ("key_metric" in data or "metrics" in data) else "infer"


def translate(app: str, argv: Sequence[str]) -> list[str]:
    """The ``python -m mmar_hydra`` arguments for a medl.apps command line."""
    args = parser_for(app).parse_args(list(argv))
    root = Path(args.mmar).expanduser().resolve()
    config = _relative(args.config, root)
    out = [f"mmar={root}", f"task={_task_of(app, root / config)}", f"config_file={config}"]
    if args.env:
        out.append(f"env_file={_relative(args.env, root)}")
    if app == "export":
        for flag in ("model_path", "output_path"):
            if getattr(args, flag):
                out.append(f"{flag}={_relative(getattr(args, flag), root)}")
        if args.input_shape:
            out.append(f"input_shape={set_value(args.input_shape)}")
        if args.ignore_verify:
            out.append("ignore_verify=true")
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            parser_for(app).error(f"--set expects KEY=VALUE, got {item!r}")
        out.append(f"{key.strip()}={set_value(value)}")
    return out


def main_for(app: str) -> None:

    argv = sys.argv[1:]
    if argv and not any(a.startswith("-") for a in argv):
        # already mmar_hydra overrides: Lightning's DDP launcher re-runs this module with the
        # translated argv for ranks 1..N
        entry(argv)
    else:
        entry(translate(app, argv))
