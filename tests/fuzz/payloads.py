"""Payloads that leave a canary file behind if they ever run.

Every payload here is built around one absolute canary path: a component that runs a
command, a code string that calls ``os.system``, a module that writes the file when it is
imported, a pickle that calls ``os.system`` when it is loaded. The oracle looks for the
file after each case; it must never be there.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

__all__ = [
    "touch_command",
    "component_payloads",
    "code_payloads",
    "evil_module",
    "EvilPickle",
    "SHORT_NAMES",
]


def touch_command(canary: Path) -> str:
    return f"touch {canary}"


def _py_touch(canary: Path) -> str:
    """A Python expression that creates ``canary`` (and evaluates to something harmless)."""
    return f"__import__('os').system({touch_command(canary)!r})"


def component_payloads(canary: Path, outside: Path) -> list[tuple[str, dict[str, Any]]]:
    """(label, component) pairs: classes and functions outside the allowlist, stdlib code
    runners, dunder walks, ``path`` values with ``..``. Built, each would create ``canary``
    (or delete ``outside/sentinel``, which the oracle also sees)."""
    touch = touch_command(canary)
    argv = ["touch", str(canary)]
    sentinel = outside / "sentinel"
    return [
        ("os.system", {"path": "os.system", "args": {"command": touch}}),
        ("os.popen", {"name": "os.popen", "args": {"cmd": touch}}),
        ("subprocess.Popen", {"path": "subprocess.Popen", "args": {"args": argv}}),
        ("subprocess.run", {"name": "subprocess.run", "args": {"args": argv}}),
        ("subprocess.check_call", {"path": "subprocess.check_call", "args": {"args": argv}}),
        (
            "builtins.exec",
            {"path": "builtins.exec", "args": {"source": f"import os; os.system({touch!r})"}},
        ),
        ("builtins.eval", {"path": "builtins.eval", "args": {"source": _py_touch(canary)}}),
        ("builtins.open", {"path": "builtins.open", "args": {"file": str(canary), "mode": "w"}}),
        ("builtins.__import__", {"path": "builtins.__import__", "args": {"name": "evil_outside"}}),
        (
            "importlib.import_module",
            {"path": "importlib.import_module", "args": {"name": "evil_outside"}},
        ),
        ("shutil.rmtree", {"path": "shutil.rmtree", "args": {"path": str(sentinel)}}),
        ("shutil.copy", {"path": "shutil.copy", "args": {"src": __file__, "dst": str(canary)}}),
        ("pathlib.Path.touch", {"path": "pathlib.Path.touch", "args": {"self": str(canary)}}),
        ("monai.utils.run_cmd", {"path": "monai.utils.run_cmd", "args": {"cmd_list": argv}}),
        (
            "torch.hub.load",
            {
                "path": "torch.hub.load",
                "args": {"repo_or_dir": str(outside), "model": "x", "source": "local"},
            },
        ),
        (
            "torch.os.system (a library's os)",
            {"path": "torch.os.system", "args": {"command": touch}},
        ),
        (
            "monai's subprocess.Popen",
            {"path": "monai.utils.misc.subprocess.Popen", "args": {"args": argv}},
        ),
        (
            "torch.serialization.pickle.loads",
            {"path": "torch.serialization.pickle.loads", "args": {"data": "x"}},
        ),
        (
            "dunder walk to __globals__",
            {"path": "monai.networks.nets.UNet.__init__.__globals__", "args": {}},
        ),
        (
            "dunder walk to __builtins__",
            {"path": "torch.nn.Module.__init__.__builtins__", "args": {}},
        ),
        ("dunder __subclasses__", {"path": "torch.nn.Module.__subclasses__", "args": {}}),
        ("class via __class__", {"path": "monai.__class__", "args": {"name": "x"}}),
        (
            "monai.bundle.ConfigParser",
            {
                "path": "monai.bundle.ConfigParser",
                "args": {"config": {"x": f"$__import__('os').system({touch!r})"}},
            },
        ),
        (
            "Lambdad with a code func",
            {"name": "Lambdad", "args": {"keys": "image", "func": "#" + _py_touch(canary)}},
        ),
        ("custom module (runs at import)", {"path": "evil_custom.Net", "args": {}}),
        ("custom. prefix", {"path": "custom.evil_custom.Net", "args": {}}),
        ("path ..custom", {"path": "..custom.evil_custom.Net", "args": {}}),
        ("path ../outside", {"path": "../outside/evil_outside.Net", "args": {}}),
        ("path ..outside", {"path": "..outside.evil_outside.Net", "args": {}}),
        ("path ....", {"path": "....evil_outside.Net", "args": {}}),
        ("path absolute", {"path": f"{outside}/evil_outside.Net", "args": {}}),
        ("module in the cwd", {"path": "evil_outside.Net", "args": {}}),
        (
            "reader=subprocess.Popen",
            {"name": "LoadImaged", "args": {"keys": ["image"], "reader": "subprocess.Popen"}},
        ),
        (
            "reader=evil module",
            {"name": "LoadImaged", "args": {"keys": ["image"], "reader": "evil_outside.Net"}},
        ),
        (
            "writer=os.system",
            {
                "name": "SaveImaged",
                "args": {"keys": ["pred"], "writer": "os.system", "output_dir": "eval"},
            },
        ),
    ]


# short names: stdlib functions and dunders, where a component name is looked up
SHORT_NAMES = (
    "system",
    "popen",
    "Popen",
    "exec",
    "eval",
    "open",
    "compile",
    "breakpoint",
    "input",
    "__import__",
    "__builtins__",
    "__class__",
    "__init__",
    "__globals__",
    "__subclasses__",
    "__dict__",
    "__reduce__",
    "getattr",
    "globals",
    "rmtree",
    "run_cmd",
    "load",
    "hub",
    "UNet\x00",
    "ＵＮｅｔ",
    " UNet ",
    "UNet.",
    ".UNet",
    "U" * 5000,
    "",
    "..",
    ".",
    "@model",
)


def code_payloads(canary: Path) -> list[tuple[str, str]]:
    """(label, code string) pairs: attribute chains, f-strings, lambdas with defaults, and
    near misses of the safe forms; evaluated (or, for a lambda, called), each creates ``canary``."""
    touch = _py_touch(canary)
    cmd = touch_command(canary)
    chain = (
        "[c for c in ().__class__.__mro__[1].__subclasses__() if c.__name__ == '_wrap_close']"
        f"[0].__init__.__globals__['system']({cmd!r})"
    )
    return [
        ("#__import__", "#" + touch),
        ("attribute chain ().__class__.__mro__", "#" + chain),
        ("attribute chain in a lambda", f"lambda x: {chain}"),
        (
            "attribute chain off a ref",
            f"#@model.__class__.__init__.__globals__['os'].system({cmd!r})",
        ),
        (
            "attribute chain off parameters",
            "#@model.parameters.__self__.__class__.__mro__[-1].__subclasses__()",
        ),
        ("f-string", '#f"{' + touch + '}"'),
        ("f-string in a lambda", 'lambda x: f"{' + touch + '}"'),
        ("f-string with a format spec", "#f'{" + touch + ":>{10}}'"),
        ("lambda with a default", f"lambda x, y={touch}: x['pred']"),
        ("lambda default only", f"lambda x={touch}: x"),
        ("lambda kw-only default", f"lambda x, *, y={touch}: x['pred']"),
        ("lambda body call", f"lambda x: {touch}"),
        ("lambda conditional", f"lambda x: x['pred'] if {touch} else x['label']"),
        ("lambda computed key", f"lambda x: x[{touch}]"),
        ("lambda slice", f"lambda x: x['pred'][{touch}:]"),
        ("lambda walrus", f"lambda x: (y := {touch})"),
        ("lambda comprehension", f"lambda x: [{touch} for _ in 'a']"),
        ("lambda tuple with a call", f"lambda x: (x['pred'], {touch})"),
        ("from_engine with a call", f"#monai.handlers.from_engine(['pred'], first={touch})"),
        ("from_engine star args", f"#monai.handlers.from_engine(*[{touch}])"),
        ("from_engine keys call", f"#monai.handlers.from_engine({touch})"),
        ("from_engine kwargs", f"#monai.handlers.from_engine(**{{'keys': {touch}}})"),
        ("parameters() with args", f"#@model.parameters({touch})"),
        ("ref then call", f"#@model({touch})"),
        ("exec", f"#exec({touch!r})"),
        ("eval of a string", f"#eval({touch!r})"),
        ("getattr", f"#getattr(__import__('os'), 'system')({cmd!r})"),
        ("lambda default in a nested lambda", f"lambda x: (lambda y={touch}: y)"),
        ("decorated-style call chain", f"#(lambda: {touch})()"),
        ("multi-line", "#@model\n" + touch),
        ("comment after a safe form", f"#@model.parameters()  # {touch}"),
        ("safe form with odd spaces", "# @ model . parameters ( )"),
        ("deep parentheses", "#" + "(" * 300 + "1" + ")" * 300),
        ("deep subscripts", "lambda x: x" + "[0]" * 3000),
        ("deep attribute chain", "#@model" + ".a" * 3000),
        ("huge lambda", "lambda x: x['" + "k" * (1 << 20) + "']"),
        ("syntax error", "lambda x: x["),
        ("bare #", "#"),
        ("bare lambda", "lambda"),
        ("NUL", "#@model\x00.parameters()"),
    ]


def evil_module(canary: Path) -> str:
    """Source of a module that creates ``canary`` when imported, then defines ``Net``."""
    return (
        f"import os\nos.system({touch_command(canary)!r})\n"
        "class Net:\n    def __init__(self, *a, **k):\n        pass\n"
    )


class EvilPickle:
    """Unpickled, it runs ``touch CANARY`` (``__reduce__`` returns ``os.system``)."""

    def __init__(self, canary: Path) -> None:
        self.canary = canary

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.system, (touch_command(self.canary),))
