"""Run by tests/test_sharding.py in a fresh process (XLA_FLAGS must be set before jax starts)."""

import json
import sys

import jax
import numpy as np

sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
from conftest import linear_judge_fn  # noqa: E402

from debate.tasks.sparse_pixel import protocols  # noqa: E402
from debate.tasks.sparse_pixel.data import load_sklearn_digits  # noqa: E402
from debate.core.debaters import mcts_debater  # noqa: E402
from debate.core.runner import Runner  # noqa: E402
from debate.core.sharding import batch_mesh, shard_batch  # noqa: E402
from debate.tasks.sparse_pixel.game import HONEST, SparsePixelTask  # noqa: E402

digits = load_sklearn_digits()
judge_fn, params = linear_judge_fn(np.random.default_rng(0).normal(size=(10, 8, 8)).astype(np.float32))
task = SparsePixelTask(num_reveals=3, height=8, width=8, num_classes=10, max_candidates=24)
mcts = mcts_debater(task, judge_fn, num_simulations=16, gumbel_scale=1.0)  # noise: keys must agree too
runner = Runner(task, judge_fn, params, [mcts, mcts], batch_size=32)
images, labels = digits.images[:6], digits.labels[:6]
result = protocols.precommit_debate(runner, images, labels, HONEST, 1, jax.random.key(3), 10)
alone = protocols.judge_alone(judge_fn, params, digits.images[:40], digits.labels[:40], 3, jax.random.key(4))
placed = shard_batch(jax.numpy.zeros((8, 2)), batch_mesh())
print(json.dumps({
    "devices": jax.device_count(),
    "shards": len(placed.sharding.device_set),
    "actions": result.games.actions.tolist(),
    "margins": result.games.honest_margin.tolist(),
    "honest_wins": result.honest_wins.tolist(),
    "judge_alone": alone.honest_wins.tolist(),
}))
