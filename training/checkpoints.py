"""Orbax checkpoints of pytrees under ``<dir>/checkpoints/<step>``, keeping the newest few.

A step directory is only listed once orbax has finished writing it (orbax writes to a temporary
name and renames), so a run killed mid-save resumes from the previous complete step.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import orbax.checkpoint as ocp

KEEP = 2


class CheckpointError(ValueError):
    """A checkpoint is missing or does not match; the message says what to do."""


def _root(directory: str | Path) -> Path:
    return Path(directory).absolute() / "checkpoints"


def saved_steps(directory: str | Path) -> list[int]:
    root = _root(directory)
    if not root.exists():
        return []
    return sorted(int(p.name) for p in root.iterdir() if p.is_dir() and p.name.isdigit())


def latest_step(directory: str | Path) -> int | None:
    steps = saved_steps(directory)
    return steps[-1] if steps else None


def save_pytree(directory: str | Path, step: int, tree) -> Path:
    path = _root(directory) / str(step)
    if path.exists():
        shutil.rmtree(path)
    checkpointer = ocp.StandardCheckpointer()
    checkpointer.save(path, tree)
    checkpointer.wait_until_finished()
    for old in saved_steps(directory)[:-KEEP]:
        shutil.rmtree(_root(directory) / str(old), ignore_errors=True)
    return path


def restore_pytree(directory: str | Path, step: int, like):
    """Restore the entries of ``like`` (a dict of pytrees giving structure, shapes and dtypes)."""
    path = _root(directory) / str(step)
    if not path.exists():
        raise CheckpointError(f"checkpoint step {step} is missing under {_root(directory)}; pass an existing directory.")
    if not (path / "_METADATA").is_file():
        raise CheckpointError(f"checkpoint {path} is incomplete (_METADATA is missing; the save was interrupted or "
                              "the files were copied in part); delete that step directory to resume from an earlier "
                              "one, or pass another checkpoint directory.")
    checkpointer = ocp.StandardCheckpointer()
    try:
        return checkpointer.restore(path, like)
    except Exception:
        # Older checkpoints may hold more entries than asked for (e.g. optimizer state): restore all
        # and pick what was asked.
        try:
            full = checkpointer.restore(path)
            return {k: full[k] for k in like}
        except Exception as e:  # noqa: BLE001 - orbax's own messages name no file and no fix
            reason = " ".join(str(e).split())[:160]
            raise CheckpointError(f"checkpoint {path} cannot be read ({type(e).__name__}: {reason}); it is corrupt or "
                                  "of another model: delete it to resume from an earlier step, or pass another "
                                  "checkpoint directory.") from None
