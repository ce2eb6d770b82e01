"""Clara values -> MONAI bundle syntax: variables, ``@refs`` and code strings.

- a whole ``{VAR}`` (``${VAR}`` after the reader) becomes ``@VAR``, so the bundle command
  line overrides it everywhere (``--epochs 1``); an embedded one becomes a ``$`` expression;
- Clara's environment paths become the bundle's ids (``MMAR_CKPT_DIR`` -> ``@ckpt_dir``,
  ``DATA_ROOT`` -> ``@dataset_dir``, ...);
- ``@name`` refers to the bundle id of that component with Clara's scoping (in ``validate``,
  ``@model`` is train's network);
- ``#expr`` / ``lambda ...`` become ``$expr``; the ones mmar_hydra only runs with
  ``allow_code=true`` are reported, since the bundle runs every ``$`` expression.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mmar_hydra.bundle.report import ConversionReport
from mmar_hydra.components.code_strings import is_code_string, parse_code_string
from mmar_hydra.errors import CodeNotAllowedError, MMARError, json_path

__all__ = ["DROP", "Scope", "ENV_IDS", "RESERVED_IDS", "section_ids"]

DROP = object()  # a value with no bundle equivalent (the caller leaves its key out)

# Clara environment variable -> bundle id
ENV_IDS = {
    "DATA_ROOT": "dataset_dir",
    "DATASET_JSON": "datalist_file",
    "MMAR_CKPT_DIR": "ckpt_dir",
    "MMAR_CKPT": "ckpt_path",
    "MMAR_TORCHSCRIPT": "ts_path",
    "MMAR_EVAL_OUTPUT_PATH": "output_dir",
}
# ids the converter defines itself; a Clara global of that name is renamed mmar_<name>
RESERVED_IDS = frozenset(
    {
        *ENV_IDS.values(),
        *"imports bundle_root device network_def network loss optimizer lr_scheduler train "
        "validate initialize run finalize preprocessing postprocessing dataset dataloader "
        "inferer handlers evaluator key_metric additional_metrics checkpointloader "
        "val_interval handler_ranks sampler".split(),
    }
)
# Clara section key -> bundle key inside the section (top-level ones are listed in _TOP)
_KEYS = {"pre_transforms": "preprocessing", "post_transforms": "postprocessing"}
_TOP = {
    "model": "network",
    "loss": "loss",
    "optimizer": "optimizer",
    "lr_scheduler": "lr_scheduler",
}
_INTERP = re.compile(r"(?<!\\)\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_REF = re.compile(r"@([A-Za-z_][A-Za-z0-9_]*)")


def section_ids(section: str, keys: Any) -> dict[str, str]:
    """Clara component key -> bundle id, for ``section`` ("train", "validate" or "" for flat)."""
    ids = {}
    for key in keys:
        if section in ("train", "") and key in _TOP:
            ids[key] = _TOP[key]
        else:
            sub = _KEYS.get(key, key)
            ids[key] = f"{section}#{sub}" if section else sub
    return ids


@dataclass
class Scope:
    """How names translate inside one section of one config file.

    Args:
        file: the MMAR config file (for the report).
        section: "train", "validate" or "" (a flat validation / inference config).
        ids: Clara component key -> bundle id, this section first then its parent's.
        variables: Clara variable -> bundle id (globals and environment).
        report: where anything not carried over is recorded.
    """

    file: str
    section: str
    ids: dict[str, str]
    variables: dict[str, str]
    report: ConversionReport
    fallback: dict[str, str] = field(default_factory=dict)

    def where(self, path: str) -> str:
        return f"{self.file}: {path}"

    def ref(self, name: str, path: str) -> Any:
        if name == "conf":
            self.report.add(
                "dropped",
                self.where(path),
                "@conf (the training config saved into checkpoints) has no bundle equivalent; "
                "the bundle's configs/ are the training config",
            )
            return DROP
        if name == "evaluator" and self.section == "train":
            return "@validate#evaluator"
        target = self.ids.get(name) or self.fallback.get(name)
        return f"@{target}" if target else f"@{name}"

    def var(self, name: str) -> str:
        return self.variables.get(name, name)

    def value(self, obj: Any, path: str) -> Any:
        """``obj`` in bundle syntax; :data:`DROP` for what the bundle cannot express."""
        if isinstance(obj, str):
            return self._string(obj, path)
        if isinstance(obj, Mapping):
            out = {}
            for k, v in obj.items():
                new = self.value(v, json_path(path, str(k)))
                if new is not DROP:
                    out[k] = new
            return out
        if isinstance(obj, list):
            items = [self.value(v, json_path(path, i)) for i, v in enumerate(obj)]
            return [v for v in items if v is not DROP]
        return obj

    def _string(self, text: str, path: str) -> Any:
        if text.startswith("@") and text[1:].isidentifier():
            return self.ref(text[1:], path)
        if is_code_string(text):
            return self._code(text, path)
        whole = _INTERP.fullmatch(text)
        if whole:
            return "@" + self.var(whole.group(1))
        if _INTERP.search(text):
            parts, last = [], 0
            for m in _INTERP.finditer(text):
                if m.start() > last:
                    parts.append(repr(_unescape(text[last : m.start()])))
                parts.append(f"str(@{self.var(m.group(1))})")
                last = m.end()
            if last < len(text):
                parts.append(repr(_unescape(text[last:])))
            return "$" + " + ".join(parts)
        text = _unescape(text)
        if text[:1] in ("$", "@", "%"):  # a literal the bundle parser would read as syntax
            return "$" + repr(text)
        return text

    def _code(self, text: str, path: str) -> str:
        body = text.strip()
        body = body[1:].strip() if body.startswith("#") else body
        expr = _REF.sub(lambda m: str(self.ref(m.group(1), path)), body)
        try:
            parse_code_string(text, allow_code=False, where=path, file=self.file)
        except CodeNotAllowedError:
            self.report.add(
                "code",
                self.where(path),
                f"code string {text!r} needed allow_code=true; in the bundle it is "
                f"the expression {'$' + expr!r}",
            )
        except MMARError:
            self.report.add("changed", self.where(path), f"invalid code string {text!r} copied")
        return "$" + expr


def _unescape(text: str) -> str:
    return text.replace("\\${", "${")
