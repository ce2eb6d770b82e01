"""A job's Python logging: the MMAR's ``resources/log.config``, and quiet third parties.

**log.config.** Clara configured logging from ``resources/log.config`` with
:func:`logging.config.fileConfig`. When the MMAR has that file, a job that writes a run folder
does the same instead of Hydra's job logging (the CLI then passes ``hydra/job_logging=none``)
and says so in one line. Two values can be used in it with configparser's interpolation:
``%(mmar_root)s`` and ``%(run_dir)s`` (the job's run folder), e.g.
``args=('%(run_dir)s/mmar_hydra.log', 'a')``; relative file names are relative to the MMAR
root, as every path of an MMAR is.

fileConfig evaluates the ``class`` and ``args`` of each handler as Python. A log.config comes
with the MMAR, possibly from a stranger, so without ``allow_code=true`` only the safe forms are
accepted: the handler classes of :mod:`logging` and :mod:`logging.handlers` that write to a
stream or a file, literal arguments plus ``sys.stdout`` / ``sys.stderr``, and log files inside
the MMAR or the run folder. A file that fileConfig rejects is a :class:`ConfigError` naming it.

**Quiet by default.** Unless ``verbose=true``, records below WARNING from other libraries
(MONAI's optional imports pull in alembic, which logs seven "setup plugin" lines) are filtered
out of every handler: a run shows mmar_hydra's own lines, warnings and errors, and the
progress bar. Hydra's launcher and sweeper lines under ``-m`` (which job runs which overrides)
are kept: they are the sweep's own progress.
"""

from __future__ import annotations

import ast
import configparser
import logging
import logging.config
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mmar_hydra.errors import CodeNotAllowedError, ConfigError
from mmar_hydra.run_paths import RunPaths

__all__ = [
    "LOG_CONFIG",
    "log_config_of",
    "apply_log_config",
    "QuietFilter",
    "quiet_other_libraries",
    "job_logging",
]

LOG_CONFIG = Path("resources") / "log.config"
_OWN_LOGGERS = ("mmar_hydra",)
# Hydra's launchers and sweepers: "Launching 3 jobs locally", "#0 : lr=0.1", Optuna's study
_SWEEP_LOGGERS = ("hydra._internal.core_plugins", "hydra_plugins")
_STREAM_HANDLERS = {"StreamHandler", "NullHandler"}
_FILE_HANDLERS = {
    "FileHandler",
    "handlers.RotatingFileHandler",
    "handlers.TimedRotatingFileHandler",
    "handlers.WatchedFileHandler",
}
_SAFE_NAMES = {"sys.stdout", "sys.stderr", "ext://sys.stdout", "ext://sys.stderr"}


def log_config_of(mmar_root: Path | None) -> Path | None:
    """``<mmar>/resources/log.config`` when the MMAR has one."""
    if mmar_root is None:
        return None
    path = Path(mmar_root) / LOG_CONFIG
    return path if path.is_file() else None


def _literal(text: str, *, where: str, file: Path) -> object:
    """A handler's ``args`` / ``kwargs``: literals, plus ``sys.stdout`` and ``sys.stderr``."""

    def value(node: ast.AST) -> object:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Tuple | ast.List):
            return tuple(value(e) for e in node.elts)
        if isinstance(node, ast.Dict):
            return {
                value(k) if k is not None else None: value(v)
                for k, v in zip(node.keys, node.values, strict=True)
            }
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -value(node.operand)  # type: ignore[operator]
        if ast.unparse(node) in _SAFE_NAMES:
            return ast.unparse(node)
        raise ValueError(ast.unparse(node))

    try:
        return value(ast.parse(text.strip() or "()", mode="eval").body)
    except (SyntaxError, ValueError) as exc:
        raise CodeNotAllowedError(
            f"log.config {where} is not a literal value: {text.strip()}",
            file=file,
            path=where,
            expected="literal arguments, sys.stdout or sys.stderr, e.g. args=(sys.stdout,) "
            "or args=('%(run_dir)s/mmar_hydra.log', 'a')",
            fix=f"simplify it, or run with allow_code=true if you trust this file ({exc})",
        ) from None


def _check_handler(cp: configparser.ConfigParser, name: str, paths: RunPaths, file: Path) -> None:
    """Refuse code and files outside the MMAR; make relative log files MMAR-relative."""
    section = f"handler_{name}"
    if not cp.has_section(section):
        return  # fileConfig reports the missing section itself
    klass = cp.get(section, "class", fallback="").strip().removeprefix("logging.")
    if klass not in _STREAM_HANDLERS | _FILE_HANDLERS:
        raise CodeNotAllowedError(
            f"log.config handler '{name}' uses class {klass or '(none)'}",
            file=file,
            path=f"[{section}] class",
            expected="StreamHandler, FileHandler, NullHandler or handlers.RotatingFileHandler, "
            "handlers.TimedRotatingFileHandler, handlers.WatchedFileHandler",
            fix="use one of those, or run with allow_code=true if you trust this file",
        )
    args = _literal(cp.get(section, "args", fallback="()"), where=f"[{section}] args", file=file)
    kwargs = _literal(
        cp.get(section, "kwargs", fallback="{}"), where=f"[{section}] kwargs", file=file
    )
    if klass not in _FILE_HANDLERS:
        return
    args = list(args) if isinstance(args, tuple) else [args]
    kwargs = dict(kwargs) if isinstance(kwargs, dict) else {}
    key = "kwargs" if "filename" in kwargs else "args"
    raw = kwargs["filename"] if key == "kwargs" else (args[0] if args else None)
    if raw is None:
        return  # fileConfig reports the missing file name itself
    where = f"[{section}] {key}"
    target = paths.write(str(raw), where=where, file=str(file))
    if key == "kwargs":
        kwargs["filename"] = str(target)
        cp.set(section, "kwargs", repr(kwargs).replace("%", "%%"))
    else:
        args[0] = str(target)
        cp.set(section, "args", repr(tuple(args)).replace("%", "%%"))
    target.parent.mkdir(parents=True, exist_ok=True)


def _configured_names(cp: configparser.ConfigParser) -> list[str]:
    """The loggers a fileConfig file configures ("" is root)."""
    names = []
    for key in (k.strip() for k in cp.get("loggers", "keys", fallback="").split(",")):
        if key:
            default = "" if key == "root" else key
            names.append(cp.get(f"logger_{key}", "qualname", fallback=default, raw=True))
    return names


def _names_in(path: Path) -> list[str]:
    """The loggers ``path`` configures; ``[]`` when it cannot be read (applying it says why)."""
    cp = configparser.ConfigParser(interpolation=None)
    try:
        cp.read(path, encoding="utf-8")
        return _configured_names(cp)
    except configparser.Error:
        return []


def apply_log_config(path: Path, *, paths: RunPaths, allow_code: bool = False) -> list[str]:
    """Configure Python logging from ``path`` with :func:`logging.config.fileConfig`.

    Returns the names of the loggers it configured (``""`` for the root logger).

    Args:
        path: the MMAR's ``resources/log.config``.
        paths: the task's folders: ``%(mmar_root)s`` and ``%(run_dir)s``; a log file is a
            write like any other (:meth:`RunPaths.write`: inside the MMAR -- a sweep job's
            clone -- or the run folder).
        allow_code: accept any handler class and argument expression (fileConfig evals them).
    """
    defaults = {"mmar_root": str(paths.mmar_root), "run_dir": str(paths.run_dir)}
    cp = configparser.ConfigParser(defaults)
    try:
        with open(path, encoding="utf-8") as fh:
            cp.read_file(fh)
        if not allow_code:
            handlers = cp.get("handlers", "keys", fallback="")
            for name in (n.strip() for n in handlers.split(",") if n.strip()):
                _check_handler(cp, name, paths, path)
        names = _configured_names(cp)
        logging.config.fileConfig(cp, disable_existing_loggers=False)
        return names
    except (CodeNotAllowedError, ConfigError):
        raise
    except (
        configparser.Error,
        KeyError,
        ValueError,
        TypeError,
        AttributeError,
        ImportError,
        OSError,
    ) as exc:
        raise ConfigError(
            f"cannot configure logging from the MMAR's log.config: {type(exc).__name__}: {exc}",
            file=path,
            expected="a logging.config.fileConfig file: [loggers], [handlers] and [formatters] "
            "with their keys, and a [logger_root] section",
            fix="fix the file, or remove it to use Hydra's job logging",
        ) from None


class QuietFilter(logging.Filter):
    """Lets through warnings and errors, and mmar_hydra's (and Hydra's sweep) INFO lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        name = record.name
        return (
            record.levelno >= logging.WARNING
            or name.split(".", 1)[0] in _OWN_LOGGERS
            or name.startswith(_SWEEP_LOGGERS)
        )


class _QuietLogger(logging.Logger):
    """The logger class while a quiet job runs: libraries that give their loggers their own
    handler (MONAI's ``get_logger`` does, e.g. for SaveImaged's "writing: ..." line) are
    filtered at the source."""

    def __init__(self, name: str, level: int = logging.NOTSET) -> None:
        super().__init__(name, level)
        self.addFilter(QuietFilter())


def quiet_other_libraries() -> type[logging.Logger]:
    """Filter other libraries' INFO lines; returns the logger class to restore after the job.

    :class:`QuietFilter` goes on every handler configured now (root's and named loggers'), and
    loggers created from now on are :class:`_QuietLogger`.
    """
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    for logger in loggers:
        for handler in getattr(logger, "handlers", []):
            if not any(isinstance(f, QuietFilter) for f in handler.filters):
                handler.addFilter(QuietFilter())
    previous = logging.getLoggerClass()
    logging.setLoggerClass(_QuietLogger)
    return previous


@contextmanager
def job_logging(
    paths: RunPaths | None, *, run_dir: bool, verbose: bool, allow_code: bool
) -> Iterator[Path | None]:
    """One job's logging, for the duration of the job; yields the log.config used, if any.

    Args:
        paths: the task's folders (``None`` for tasks without an MMAR).
        run_dir: whether the task writes a run folder; tasks that write none keep their
            logging off, as the CLI configured it, and log.config is not read.
        verbose: show other libraries' INFO lines too.
        allow_code: passed to :func:`apply_log_config`.
    """
    path = log_config_of(paths.mmar_root) if paths is not None and run_dir else None
    saved = None
    if path is not None:  # the loggers it names too: they may not exist yet
        saved = _LoggerState.of(["", *_names_in(path), *_LoggerState.named()])
    if path is not None and paths is not None:
        apply_log_config(path, paths=paths, allow_code=allow_code)
    logger_class = None if verbose else quiet_other_libraries()
    if path is not None:
        message = f"logging: configured from {path} (logging.config.fileConfig, as Clara did)"
        log = logging.getLogger("mmar_hydra")
        if log.isEnabledFor(logging.INFO) and log.hasHandlers():
            log.info(message)
        else:  # the file routes mmar_hydra's INFO nowhere: still say it once
            print(message)
    try:
        yield path
    finally:
        if logger_class is not None:
            logging.setLoggerClass(logger_class)
        if saved is not None:  # in-process callers (tests, notebooks) get their logging back
            saved.restore()


class _LoggerState:
    """Handlers, level, propagation and ``disabled`` of some loggers, to put back after a job."""

    def __init__(self, state: dict[str, tuple]) -> None:
        self.state = state

    @staticmethod
    def named() -> list[str]:
        return [
            n for n, v in logging.Logger.manager.loggerDict.items() if isinstance(v, logging.Logger)
        ]

    @classmethod
    def of(cls, names: list[str]) -> _LoggerState:
        loggers = {n: logging.getLogger(n or None) for n in names}
        return cls(
            {n: (list(g.handlers), g.level, g.propagate, g.disabled) for n, g in loggers.items()}
        )

    def restore(self) -> None:
        kept = {h for handlers, *_ in self.state.values() for h in handlers}
        for name in ["", *self.named()]:
            logger = logging.getLogger(name or None)
            handlers, level, propagate, disabled = self.state.get(name, (None, None, None, None))
            if handlers is None:  # created during the job: left as its library made it
                continue
            for handler in logger.handlers:
                if handler not in kept:
                    handler.close()
            logger.handlers[:] = handlers
            logger.setLevel(level)
            logger.propagate, logger.disabled = propagate, disabled
