"""The judge of a sparse-pixel self-play run: the judge in ``judge_dir``, or a small CNN trained once
(resumed or loaded later) in ``<out>/judge`` on the run's judge images, which self-play never uses."""

from __future__ import annotations

from pathlib import Path

from debate.tasks.sparse_pixel.self_play import check_classes
from training.checkpoints import latest_step


def prepare_judge(config, setup, out_dir: Path):
    """(judge_fn, judge_params, description) for ``config`` (a ``SelfPlayConfig`` of this task) and
    its ``setup`` (``debate.tasks.sparse_pixel.self_play.Setup``)."""
    from judges.sparse_cnn import JudgeConfig, judge_function
    from training.judge_training import TrainConfig, load_judge, train_judge

    split = setup.split
    if config.judge_dir:
        model, train_config = load_judge(config.judge_dir)
        where = str(Path(config.judge_dir).resolve())
    else:
        check_classes(split, ("judge",))
        judge_dir = Path(out_dir) / "judge"
        images = split.dataset.images
        done = latest_step(judge_dir)
        if done is not None and done >= config.judge_steps:
            model, train_config = load_judge(judge_dir)
        else:
            train_config = TrainConfig(
                judge=JudgeConfig(architecture="small", height=images.shape[1], width=images.shape[2],
                                  num_classes=split.dataset.num_classes, num_reveals=config.num_reveals),
                steps=config.judge_steps, batch_size=128, learning_rate=1e-3, seed=config.seed,
                checkpoint_every=config.judge_steps,
                data=f"{split.dataset.name} images {split.judge.start}..{split.judge.stop - 1}")
            model, _ = train_judge(split.dataset.subset(split.judge.start, split.judge.stop), train_config, judge_dir,
                                   progress=False, log=lambda *a: None)
        where = str(judge_dir.resolve())
    judge_fn, params = judge_function(model)
    j = train_config.judge
    return judge_fn, params, f"{where} ({j.architecture} CNN, K={j.num_reveals}, {train_config.steps} steps)"
