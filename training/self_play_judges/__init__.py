"""Judges of self-play runs that the engine cannot build: one module per task that needs one, named
as the task (``training.self_play_judges.sparse_pixel`` trains a small CNN judge first).

``prepare_judge(config, setup, out_dir) -> (judge_fn, judge_params, description)`` uses the task's
module here when there is one, else the judge the task's ``Setup`` builds itself
(``setup.default_judge()``: the computation task's step checker). Adding a task never edits this file.
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path


def prepare_judge(config, setup, out_dir: Path):
    """The judge of a self-play run of ``config.task`` (trained and stored under ``out_dir`` if need be)."""
    name = f"{__name__}.{config.task}"
    if importlib.util.find_spec(name) is not None:
        return importlib.import_module(name).prepare_judge(config, setup, Path(out_dir))
    judge = setup.default_judge()
    if judge is None:
        raise ValueError(f"task {config.task!r} has no judge for self-play; pass judge=(judge_fn, params) to "
                         "training.self_play.train_self_play.")
    return judge
