"""Run by tests/test_computation_self_play.py in a fresh process (XLA_FLAGS must be set before jax
starts): a short computation self-play run whose numbers the test compares between 1 and 4 devices."""

import json
import sys
import tempfile
from pathlib import Path

import jax
import numpy as np

sys.path.insert(0, str(Path(__file__).parent.parent))  # this checkout, before any installed copy
from debate.core.sharding import shard_batch  # noqa: E402
from training.self_play import SelfPlayConfig, train_self_play  # noqa: E402

config = SelfPlayConfig("computation", num_steps=4, modulus=7, games_per_iteration=16, num_simulations=8, hidden=16,
                        batch_size=32, train_steps_per_iteration=4)
with tempfile.TemporaryDirectory() as out:
    run = train_self_play(config, out, iterations=2, final_eval=False, progress=False, log=lambda *a: None)["run"]
    metrics = [json.loads(line) for line in (Path(out) / "metrics.jsonl").read_text().splitlines()]
    replay = run.replay.state_dict()
    print(json.dumps({
        "devices": jax.device_count(),
        "shards": len(shard_batch(np.zeros((8, 2)), run.mesh).sharding.device_set),
        "losses": [[m["loss"], m["policy_loss"], m["value_loss"]] for m in metrics],
        "pending": replay["pending"][: run.replay.size].tolist(),
        "policy": replay["policy"][: run.replay.size].tolist(),
        "value": replay["value"][: run.replay.size].tolist(),
        "params": [np.asarray(x).ravel().tolist() for x in jax.tree.leaves(jax.device_get(run.params))],
    }))
