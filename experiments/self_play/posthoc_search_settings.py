"""Post hoc, on a finished pixel self-play run: does the learned debater do better against plain
64-simulation search with another Gumbel root sample (considered actions) or with the network's value
mixed into the leaf value? Selection set: the first 100 held-out images (both orders); the run's
final evaluation uses all 500.

    python experiments/self_play/posthoc_search_settings.py runs/self_play_mnist --considered 16 32 64
    python experiments/self_play/posthoc_search_settings.py runs/self_play_mnist --network-value 0.5 1
"""

import argparse
import sys
import time
from pathlib import Path

import jax

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from training.self_play import Evaluator, SelfPlayRun, read_run  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run")
    parser.add_argument("--considered", type=int, nargs="*", default=[])
    parser.add_argument("--network-value", type=float, nargs="*", default=[])
    parser.add_argument("--images", type=int, default=100)
    args = parser.parse_args()
    config, _ = read_run(args.run, "sparse_pixel")
    run = SelfPlayRun(config, args.run, log=lambda *a: None)
    instances = run.eval_instances(args.images)
    settings = [(c, config.network_value) for c in args.considered]
    settings += [(config.eval_max_num_considered_actions, w) for w in args.network_value]
    for considered, weight in settings:
        t = time.time()
        evaluator = Evaluator(run.task, run.judge_fn, run.judge_params, run.network_fn, 64, considered,
                              network_value=weight)
        r = evaluator.evaluate(run.params, instances, key=jax.random.key(config.seed))
        roles = {k: (round(r[k]["learned_win_rate"], 3), round(r[k]["baseline_win_rate"], 3), round(r[k]["elo"], 1))
                 for k in ("as_honest", "as_liar")}
        print(f"considered {considered}, network value {weight}: {roles} pooled Elo {r['pooled']['elo']:.1f} "
              f"{[round(x, 1) for x in r['pooled']['elo_ci95']]} ({time.time() - t:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
