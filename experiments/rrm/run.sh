#!/usr/bin/env bash
# Recursive reward modeling on the sparse-pixel task (issue 5, part 4); results land in
# experiments/rrm/results/ (results.json, results.md, results.png, every level's judge and labels).
# Defaults: sklearn 8x8 digits, K=4, a 500-label budget, an 800-image unlabelled pool, 497 test images,
# 3 levels, the small judge (1,500 batches each), Gumbel MCTS with 64 simulations per move.
# Rerunning the same command continues an interrupted run; pass --db URL to store every labelling debate.
set -euo pipefail
debate rrm --out experiments/rrm/results --levels 3 --budget 500 --pool 800 --test 497 --pixels 4 \
  --simulations 64 --judge-steps 1500 --architecture small --data sklearn-digits --seed 0 "$@"
