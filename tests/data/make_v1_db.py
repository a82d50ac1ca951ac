"""How tests/data/v1_store.sqlite was made: a real database written by the previous release.

That release (store schema 2, transcript schema 1, the code before ``debate/records/``) wrote it,
not this package; run it from a checkout of that release, e.g. a git worktree at /tmp/before::

    cd /tmp && PYTHONPATH=/tmp/before:/tmp/before/tests python REPO/tests/data/make_v1_db.py REPO/tests/data/v1_store.sqlite

(``cd /tmp`` so that this checkout is not on ``sys.path``; ``/tmp/before/tests`` for its ``conftest``.)

It holds an experiment of computation debates (T=16, 3 instances, honest and liar claimer), two
sparse-pixel debates on sklearn digits (precommit, honest first; no precommit, liar first) outside
any experiment, one hand-built debate whose player 0 is the liar, two annotators, three judgments
and one open assignment. tests/test_store_v1_fixture.py opens a copy with the current Store.
(The suffix is .sqlite because .gitignore ignores *.db.)
"""

from __future__ import annotations

import os
import sqlite3
import sys

import jax
import numpy as np


def main(out: str) -> None:
    import debate

    if not os.path.exists(os.path.join(os.path.dirname(debate.__file__), "storage.py")):
        raise SystemExit("run this with the previous release first on PYTHONPATH (see the docstring)")
    from conftest import linear_judge_fn

    from debate.computation import ComputationTask, exact_checker
    from debate.computation_protocols import ComputationDebateRunner, debate as computation_debate, expert_debater
    from debate.computation_records import computation_games_to_transcripts
    from debate.data import load_sklearn_digits
    from debate.debaters import greedy_debater
    from debate.protocols import DebateRunner, no_precommit_debate, precommit_debate
    from debate.records import games_to_transcripts
    from debate.sparse_pixel import HONEST, LIAR, SparsePixelTask
    from debate.storage import STORE_SCHEMA_VERSION, Store
    from debate.transcript import SCHEMA_VERSION, Transcript, Turn

    assert (STORE_SCHEMA_VERSION, SCHEMA_VERSION) == (2, 1), "not the previous release"
    if os.path.exists(out):
        os.remove(out)
    store = Store(f"sqlite:///{out}")

    # computation debates, filed under an experiment
    task = ComputationTask(num_steps=16, modulus=31)
    expert = expert_debater(task)
    runner = ComputationDebateRunner(task, exact_checker(task), None, expert, expert, batch_size=3)
    seeds = np.arange(3)
    lies = (task.trace(seeds)[:, -1] + 5) % task.modulus
    comp = []
    for claimer in (HONEST, LIAR):
        result = computation_debate(runner, seeds, lies, claimer, jax.random.key(claimer))
        comp += computation_games_to_transcripts(result.games, task, result.condition, ("expert", "expert"),
                                                 "exact-checker", 0)
    exp = store.create_experiment("computation T=16", "computation", {"steps": 16, "instances": 3})
    store.add_transcripts(comp, exp)

    # sparse-pixel debates (a fixed linear judge on 8x8 digits), no experiment
    digits = load_sklearn_digits()
    judge_fn, params = linear_judge_fn(np.random.default_rng(0).normal(size=(10, 8, 8)).astype(np.float32))
    ptask = SparsePixelTask(num_reveals=4, height=8, width=8, num_classes=10, max_candidates=32)
    greedy = greedy_debater(ptask, judge_fn)
    prunner = DebateRunner(ptask, judge_fn, params, greedy, greedy, batch_size=8)
    images, labels, ids = digits.images[:1], digits.labels[:1], ["sklearn-digits:0"]
    pre = precommit_debate(prunner, images, labels, HONEST, 1, jax.random.key(0), 10)
    keep = int(np.argmax(pre.games.liar_claim == (labels[0] + 1) % 10))
    pixel = games_to_transcripts(pre.games, images, labels, ids, pre.condition, ("greedy", "mcts-gumbel-16"),
                                 "linear-test-judge", 0)[keep:keep + 1]
    nop = no_precommit_debate(prunner, images, labels, LIAR, 1, jax.random.key(0))
    pixel += games_to_transcripts(nop.games, images, labels, ids, nop.condition, ("random", "greedy"),
                                  "linear-test-judge", 0)
    # player 0 is the liar here (the builders always make player 0 honest)
    swapped = Transcript(
        task="sparse_pixel", instance_id="hand:0", protocol="debate_precommit_liar_first", claims=[4, 2],
        roles=["liar", "honest"], debaters=["human:bob", "greedy"], judge="linear-test-judge", first_player=0,
        turns=[Turn(0, 0, 9, {"row": 1, "col": 1, "value": 255}, [0.7, 0.3], None),
               Turn(1, 1, 10, {"row": 1, "col": 2, "value": 128}, [0.4, 0.6], None)],
        winner=1, verdict_claim=2, ground_truth=2, seeds={"game": 7},
        instance={"height": 2, "width": 8, "pixels": [0] * 9 + [255, 128] + [0] * 5}, meta={"note": "hand-built"})
    store.add_transcripts([*pixel, swapped])

    # people judging
    alice = store.get_or_create_annotator("alice")["id"]
    bob = store.get_or_create_annotator("bob")["id"]
    for who, t, confidence in ((alice, pixel[0], 0.8), (alice, comp[0], 0.65), (bob, pixel[0], 0.3)):
        store.add_judgment(t.id, who, verdict_claim=t.claims[0], confidence=confidence,
                           explanation=f"judged by {who[:4]}", side_order="honest-left",
                           seconds_spent=12.5, turns_seen=len(t.turns))
    assert store.next_assignment(bob) is not None  # one open reservation
    store.close()

    con = sqlite3.connect(out)  # one self-contained file
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.execute("PRAGMA journal_mode = DELETE")
    con.execute("VACUUM")
    con.close()
    n = len(comp) + len(pixel) + 1
    print(f"wrote {out}: {n} transcripts, 3 judgments, {os.path.getsize(out)} bytes")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "v1_store.sqlite")
