"""The task registry: how the command line, the studies and the app find tasks.

Every task is one package under ``debate/tasks/<name>/`` and is found by its folder: adding a task
means adding a package, never editing this file or any other generic code. Code outside the source
tree (a test's toy task, a user's experiment) adds one with ``register(name, module)``.

``get(name)`` returns the task's package (light: its ``__init__`` imports no jax, so the app can
render transcripts quickly); ``api(name)`` returns its ``api`` module, the engine-facing surface
every task provides (see ``debate.core.task``): ``make_task``, ``example``, ``task_of``,
``instance_of``, ``check_turn``, ``to_transcripts`` and ``DEBATER_KINDS``.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

_EXTRA: dict[str, str] = {}  # name -> module path, for tasks registered from outside this folder


def _package_names() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if m.ispkg and not m.name.startswith("_"))


def names() -> list[str]:
    """Names of every available task, sorted."""
    return sorted(set(_package_names()) | set(_EXTRA))


def register(name: str, module: str) -> None:
    """Make the package or module ``module`` (a dotted path) available as task ``name``."""
    if not name.isidentifier():
        raise ValueError(f"task name {name!r} must be a Python identifier such as 'sparse_pixel'.")
    _EXTRA[name] = module


def unregister(name: str) -> None:
    _EXTRA.pop(name, None)


def get(name: str) -> ModuleType:
    """The package of task ``name``; one sentence naming the available tasks when it does not exist."""
    if name in _EXTRA:
        return importlib.import_module(_EXTRA[name])
    if name in _package_names():
        return importlib.import_module(f"{__name__}.{name}")
    raise KeyError(f"unknown task {name!r}; the tasks are {', '.join(names())}.")


def api(name: str) -> ModuleType:
    """The ``api`` module of task ``name`` (imports jax); a task registered as one plain module
    (no package, e.g. a test's toy task) is its own ``api``."""
    package = get(name)
    if not hasattr(package, "__path__"):
        return package
    return importlib.import_module(f"{package.__name__}.api")
