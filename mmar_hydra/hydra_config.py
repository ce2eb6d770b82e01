"""Hand the reader's normalized MMAR config to Hydra.

Hydra cannot load JSON from its search path, so the MMAR is registered in the ConfigStore:
the whole normalized config as the primary part ``_mmar_``, and the training components as
the ``mmar`` option of the groups ``network``, ``loss``, ``optimizer`` and ``lr_scheduler``
(so ``network=segresnet`` swaps the MMAR's model for a preset and sweeps work over it).

Clara's ``--set`` accepted keys neither config file had; Hydra refuses them. Overrides of keys
the composed config does not have are rewritten to ``++key=value`` (add or override), which is
what Clara users mean.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mmar_hydra.errors import ConfigError
from mmar_hydra.settings import FRAMEWORK_KEYS, SETTINGS_KEYS, Settings, parse_settings

__all__ = [
    "COMPONENT_GROUPS",
    "conf_dir",
    "register_mmar",
    "register_empty",
    "register_settings",
    "check_settings_overrides",
    "rewrite_overrides",
    "parse_overrides",
    "runs_dir",
    "job_overrides",
    "in_multirun",
    "debug_presets",
    "normalize_debug",
    "debug_wanted",
]

# config groups whose options are open argument lists (trainer.devices=4, trainer.precision=...)
TRAINER_GROUPS = ("trainer",)

# group name -> key inside the `train` section it provides
COMPONENT_GROUPS: dict[str, str] = {
    "network": "model",
    "loss": "loss",
    "optimizer": "optimizer",
    "lr_scheduler": "lr_scheduler",
}


def _framework_keys() -> set[str]:
    """Keys of conf/config.yaml, its config groups and Hydra's namespace: never rewritten."""
    groups = {p.name for p in conf_dir().iterdir() if p.is_dir()}
    return {*FRAMEWORK_KEYS, "hydra", *COMPONENT_GROUPS, *groups}


def conf_dir() -> Path:
    """The shipped ``conf/``: inside the package in a wheel, beside it in a source checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "conf", here.parent / "conf"):
        if (candidate / "config.yaml").is_file():
            return candidate
    raise ConfigError(
        "mmar_hydra's conf/ folder is missing from the installation",
        expected=f"{here / 'conf'} or {here.parent / 'conf'} with config.yaml",
        fix="reinstall mmar_hydra (`pip install -e .` from a checkout, or the wheel)",
    )


def runs_dir(mmar: Any) -> str:
    """Where Hydra puts run folders: ``<mmar>/runs`` when there is an MMAR, else ``outputs``."""
    if mmar in (None, "", "None"):
        return "outputs"
    return str(Path(str(mmar)) / "runs")


def _store(group: str | None, name: str, node: Any, package: str | None = None) -> None:
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(group=group, name=name, node=node, package=package)


def _forget(group: str, name: str) -> None:
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().repo.get(group, {}).pop(f"{name}.yaml", None)


def register_settings() -> None:
    """Register ``_settings_``: :class:`mmar_hydra.settings.Settings` as typed nodes, so Hydra
    itself converts ``force=no`` to false and refuses ``force=maybe`` while composing.

    The root stays a plain dict (the MMAR's keys merge into it); each key keeps its node
    type from the schema (bool, int, float, str, optional, list).
    """
    from omegaconf import OmegaConf

    typed = OmegaConf.structured(Settings)
    node = OmegaConf.create({})
    for key in SETTINGS_KEYS:
        node[key] = typed._get_node(key)
    _store(None, "_settings_", node)


def check_settings_overrides(overrides: Sequence[str]) -> None:
    """The command line's values of mmar_hydra's own keys, read by the schema before anything
    runs: ``force=maybe`` is a clean ConfigError naming the key (Hydra would stop composing
    with its own message). Sweeps (``seed=1,2``) are read per job."""
    values = {}
    for override in parse_overrides(overrides):
        key = override.key_or_group.lstrip("+")
        if key in SETTINGS_KEYS and key != "debug" and not override.is_sweep_override():
            values[key] = override.value()
    parse_settings(values)


def _forget_previous_mmar() -> None:
    """Drop the ``mmar`` group options an earlier in-process run stored (a flat config, or no
    MMAR, has none: they would leak into its composition)."""
    from hydra.core.config_store import ConfigStore

    repo = ConfigStore.instance().repo
    for group in COMPONENT_GROUPS:
        node = repo.get(group)
        if isinstance(node, dict):
            node.pop("mmar.yaml", None)


def register_empty() -> None:
    """Register an empty ``_mmar_`` for tasks that run without an MMAR (demo_data, compare)."""
    register_settings()
    _forget_previous_mmar()
    _store(None, "_mmar_", {})


def register_mmar(config: Mapping[str, Any]) -> dict[str, Any]:
    """Register the normalized MMAR config; returns the primary node that was stored."""
    register_settings()
    _forget_previous_mmar()
    primary = copy.deepcopy(dict(config))
    train = primary.get("train")
    for group, key in COMPONENT_GROUPS.items():
        # a component is an object; anything else stays in place for the resolver to report
        if isinstance(train, dict) and isinstance(train.get(key), dict):
            _store(group, "mmar", train.pop(key), package=f"train.{key}")
        else:  # an earlier MMAR of this process (in-process callers) must not leak into this one
            _forget(group, "mmar")
    _store(None, "_mmar_", primary)
    return primary


def _has_path(config: Mapping[str, Any], dotted: str) -> bool:
    node: Any = config
    for part in dotted.split("."):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False
    return True


def parse_overrides(overrides: Sequence[str]) -> list[Any]:
    """Parse command-line overrides with Hydra's grammar, as a clear ConfigError on bad syntax."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    parser = OverridesParser.create()
    parsed = []
    for text in overrides:
        try:
            parsed.extend(parser.parse_overrides([text]))
        except OverrideParseException as exc:
            raise ConfigError(
                f"cannot parse the override '{text}'",
                path=text.split("=", 1)[0],
                expected="key=value, e.g. epochs=5, learning_rate=1e-3, "
                "train.model.args.channels=[8,16,32], DATA_ROOT=/data",
                fix=f"{str(exc).splitlines()[0]}; quote values with spaces or special "
                "characters, e.g. 'out=\"my dir\"'",
            ) from None
    return parsed


def rewrite_overrides(overrides: Sequence[str], known: Mapping[str, Any]) -> list[str]:
    """Prefix ``++`` to overrides of keys that ``known`` (the MMAR's config) does not have."""
    out = []
    framework = _framework_keys()
    for text in overrides:
        key = text.split("=", 1)[0]
        if "=" not in text or key.startswith(("+", "~", "hydra.", "hydra/")) or "@" in key:
            out.append(text)
            continue
        top = key.split(".", 1)[0].split("/", 1)[0]
        if top in TRAINER_GROUPS and "." in key:
            # any Trainer argument, whatever the chosen preset already sets (add or override)
            out.append("++" + text)
        elif top in framework or _has_path(known, key):
            out.append(text)
        else:
            out.append("++" + text)
    return out


def in_multirun() -> bool:
    """Whether this process runs a job of a ``-m`` sweep."""
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        return HydraConfig.get().mode == RunMode.MULTIRUN
    except (ImportError, ValueError):  # not under Hydra
        return False


def job_overrides() -> list[str]:
    """This Hydra job's own overrides, without the ``+``/``++`` the CLI may have added."""
    try:
        from hydra.core.hydra_config import HydraConfig
        from omegaconf import OmegaConf

        # raw: an override such as lr=${learning_rate} must not be resolved (or lost) here
        task = OmegaConf.to_container(HydraConfig.get().overrides.task, resolve=False)
        return [str(o).lstrip("+") for o in task or []]
    except (ImportError, ValueError):
        return []


_BOOL_WORDS = {"true": True, "yes": True, "on": True, "1": True, "y": True}
_BOOL_WORDS.update({"false": False, "no": False, "off": False, "0": False, "n": False})


def debug_presets() -> list[str]:
    """The shipped ``debug`` group's presets (``conf/debug/*.yaml``)."""
    return sorted(p.stem for p in (conf_dir() / "debug").glob("*.yaml"))


def debug_wanted(value: str | None) -> bool:
    """Whether ``debug=VALUE`` turns tracebacks on: a true word, or any preset but false."""
    if value is None or value == "":
        return False
    word = value.strip().strip("'\"")
    return _BOOL_WORDS.get(word.lower(), word in debug_presets())


def normalize_debug(overrides: Sequence[str], *, own_conf: bool = False) -> list[str]:
    """``debug=`` is both the traceback switch and the ``debug`` config group.

    Boolean words (``debug=true``, ``yes``, ``on``, ``1``... as the settings schema reads
    them) become the group's ``true`` / ``false`` presets; a preset name is kept; anything
    else is a ConfigError listing both (unless ``own_conf``: the user's --config-dir or
    hydra.searchpath may hold presets of their own).
    """
    out = []
    for text in overrides:
        key, sep, value = text.partition("=")
        if not sep or key.lstrip("+") != "debug" or key.startswith("++"):
            out.append(text)
            continue
        items = [v.strip().strip("'\"") for v in value.split(",")]
        names = []
        for item in items:
            word = item.lower()
            if word in _BOOL_WORDS:
                names.append("'true'" if _BOOL_WORDS[word] else "'false'")
            elif own_conf or item in debug_presets():
                names.append(item)
            else:
                raise ConfigError(
                    f"debug={item!r} is neither true/false nor a debug preset",
                    path="debug",
                    expected="true or false (tracebacks), or a preset: "
                    + ", ".join(p for p in debug_presets() if p not in ("true", "false")),
                    fix="e.g. debug=true, or debug=fast_dev_run for one batch of train and "
                    "validation",
                )
        out.append(f"{key}={','.join(names)}")
    return out
