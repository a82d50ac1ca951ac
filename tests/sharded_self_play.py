"""Run by tests/test_self_play.py in a fresh process (XLA_FLAGS must be set before jax starts):
a short self-play run whose numbers the test compares between 1 and 4 devices."""

import json
import sys
import tempfile
from pathlib import Path

import jax
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent))  # this checkout, before any installed copy
from self_play_setup import TINY, linear_judge  # noqa: E402

from debate.core.sharding import shard_batch  # noqa: E402
from training.self_play import train_self_play  # noqa: E402

with tempfile.TemporaryDirectory() as out:
    summary = train_self_play(TINY, out, iterations=2, progress=False, judge=linear_judge(), log=lambda *a: None)
    run = summary["run"]
    metrics = [json.loads(line) for line in (Path(out) / "metrics.jsonl").read_text().splitlines()]
    replay = run.replay.state_dict()
    leaves = jax.tree.leaves(jax.device_get(run.params))
    print(json.dumps({
        "devices": jax.device_count(),
        "shards": len(shard_batch(np.zeros((8, 2)), run.mesh).sharding.device_set),
        "losses": [[m["loss"], m["policy_loss"], m["value_loss"]] for m in metrics],
        "revealed_by": replay["revealed_by"][: run.replay.size].tolist(),
        "policy": replay["policy"][: run.replay.size].tolist(),
        "value": replay["value"][: run.replay.size].tolist(),
        "params": [np.asarray(x).ravel().tolist() for x in leaves],
    }))
