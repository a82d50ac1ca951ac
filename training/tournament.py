"""Round-robin tournaments between debaters, rated with ``training.ratings``: what ``debate tournament`` runs.

Debaters are given as spec strings:

- ``random``: a uniformly random legal pixel;
- ``greedy``: one-step lookahead on the judge;
- ``mcts-N``: Gumbel MuZero search (mctx) with N simulations per move, the judge as leaf value;
- ``learned:DIR``: a trained policy network from checkpoint DIR, no search;
- ``learned-mcts-N:DIR``: the network's prior and value inside an N-simulation search.

Learned debaters come from ``training.self_play.load_learned_debater(checkpoint_dir, task, judge_fn,
num_simulations) -> (Debater, net_params)``; their ``select`` takes ``(judge_params, net_params)``.

Every ordered pair (A, B) of different debaters plays ``games`` precommit debates with A honest and
B liar, so each debater argues both sides against every other. Game i of every pairing is played
on the same held-out image i with the same random wrong class for the liar, and the first player
alternates with i (even: honest first, odd: liar first): pairings differ only in who debates. The
images start at the first one the judge never saw (the app's default judge: sklearn digit 1500 on;
a checkpoint that does not say: 0, or ``first_image``). One ``debate.core.runner.Runner`` over the pool compiles one play function
for the whole round robin (each debater's search once), not one per pairing and first player.

``run_tournament`` writes ``leaderboard.json`` (config, seeds, every game, ratings with bootstrap
intervals overall/honest/liar, head-to-head win rates, provenance) and ``leaderboard.md``; the app's
Results page finds them (``find_leaderboard_files``, ``load_leaderboard``).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import jax
import numpy as np

from debate.core import names
from debate.core.names import DebaterSpec, parse_debater_spec  # noqa: F401  (re-exported for studies)
from debate.core.runner import Runner
from debate.tasks.sparse_pixel.protocols import play_images
from debate.tasks.sparse_pixel.game import HONEST, LIAR
from training import ratings as R
from training.interrupts import Interrupted
from training.partial_run import PartialRun

LEADERBOARD_FILE = "leaderboard.json"
SPEC_HELP = names.GENERIC_HELP


# ------------------------------------------------------------------------------------ debater specs


def parse_debater_specs(specs, kinds=()) -> list[DebaterSpec]:
    """At least two distinct specs, each valid (``kinds``: the task's own debater kinds); learned
    checkpoints must exist."""
    parsed = [parse_debater_spec(s, kinds) for s in specs]
    if len(parsed) < 2:
        raise ValueError(f"a tournament needs at least two debaters (got {len(parsed)}); pass e.g. "
                         "--debaters random greedy mcts-64.")
    seen = set()
    for p in parsed:
        if p.spec in seen:
            raise ValueError(f"debater {p.spec!r} is listed twice; list each debater once.")
        seen.add(p.spec)
        if p.checkpoint is not None and not Path(p.checkpoint).expanduser().is_dir():
            raise ValueError(f"debater {p.spec!r}: checkpoint directory {p.checkpoint} does not exist; "
                             "pass the directory of a trained debater.")
    return parsed


def task_kind_names(task_name: str) -> tuple[str, ...]:
    """The debater kinds a task registers (e.g. the text task's ``expert``), for parsing specs."""
    from debate import tasks

    return tuple(getattr(tasks.api(task_name), "DEBATER_KINDS", {}))


def _load_learned(spec: DebaterSpec, task, judge_fn):
    try:
        from training.self_play import load_learned_debater
    except ImportError:
        raise ValueError(f"debater {spec.spec!r} needs training.self_play.load_learned_debater, which this "
                         "installation lacks; update debate-sim or leave learned debaters out.") from None
    return load_learned_debater(Path(spec.checkpoint).expanduser(), task, judge_fn, spec.simulations)


def build_debater(spec: DebaterSpec | str, task, judge_fn):
    """The engine's ``Debater`` for a spec (``debate.core.names``), learned networks loaded and their
    parameters bound inside ``select``. It keeps the engine's name (``mcts-gumbel-64`` for ``mcts-64``),
    which transcripts record and the app's game-tree page parses to search a position again; the
    leaderboard names debaters by their spec strings."""
    from debate.core.debaters import bind_network_params

    def learned(spec, task, judge_fn):
        return bind_network_params(*_load_learned(spec, task, judge_fn))

    return names.build_debater(spec, task, judge_fn, learned_loader=learned)


# ------------------------------------------------------------------------------------------- config


@dataclass
class TournamentConfig:
    debaters: list[str]
    games: int = 10  # per ordered (honest, liar) pair
    pixels: int | None = None  # K; None: the K the judge was trained for
    judge: str | None = None  # judge checkpoint directory; None: the app's default 8x8-digits judge
    first_image: int | None = None  # None: the first image the judge never saw (0 when unknown)
    seed: int = 0
    bootstrap: int = R.DEFAULT_BOOTSTRAP
    alpha: float = R.DEFAULT_ALPHA
    reference: str | None = R.DEFAULT_REFERENCE
    k_factor: float = R.DEFAULT_K_FACTOR
    batch_size: int = 256
    task: str = "sparse_pixel"  # or "quote": text debates with the Play page's text judge
    quotes: int | None = None  # K of text debates; None: the K the text judge was trained for


@dataclass
class TournamentField:
    """What one task brings to a tournament: the judge, the game, the instance of every game
    (``games`` of them, the liar's claim ``lies[i]``), and how to play rows of them and record them.
    Every pairing plays the same games; the round robin (``run_tournament``) never names a task."""

    task: object
    judge_fn: object
    params: object
    judge_name: str
    judge_info: dict  # for the leaderboard: checkpoint, description and the task's own facts
    k: int  # moves per debate (pixels, quotes)
    instance_ids: list[str]
    labels: np.ndarray
    lies: np.ndarray
    data_note: str
    protocol: str  # in words, for leaderboard.md
    play: object  # (runner, rows, first_player, key, progress, seating, chunks) -> Games
    transcripts: object  # (games, rows, protocol, debater names, experiment id) -> [Transcript]


def pixel_field(config: "TournamentConfig", log=print) -> TournamentField:
    """Precommit sparse-pixel debates on held-out images, with the app's (or ``config.judge``'s) judge."""
    from debate.tasks.sparse_pixel.records import games_to_transcripts
    from training.app_judge import load_app_judge

    if config.quotes is not None:
        raise ValueError("--quotes is for text tournaments (--task quote); sparse-pixel ones take --pixels.")
    judge = load_app_judge(config.judge)
    k = int(config.pixels or judge.config.num_reveals)
    task = judge.make_task(k)
    dataset = judge.load_images()
    start = judge.first_unseen_index if config.first_image is None else int(config.first_image)
    index, lies, data_note = tournament_images(dataset, start, config.games, k, dataset.num_classes, config.seed)
    if config.first_image is None and judge.first_unseen_index == 0:
        data_note += "; the judge checkpoint does not say which images it was trained on"
    images, labels = dataset.images[index], dataset.labels[index].astype(np.int32)
    instance_ids = [f"{dataset.name}:{int(i)}" for i in index]

    def play(runner, rows, first_player, key, progress, seating, chunks):
        return play_images(runner, images[rows], labels[rows], lies[rows], first_player, key, progress=progress,
                           image_index=rows, seating=seating, chunks=chunks)

    def transcripts(games, rows, protocol, debater_names, experiment_id):
        return games_to_transcripts(games, images, labels, instance_ids, protocol, debater_names, judge.name,
                                    config.seed, experiment_id)

    return TournamentField(task, judge.judge_fn, judge.params, judge.name,
                           {"checkpoint": judge.name, "description": judge.description,
                            "trained_pixels": int(judge.config.num_reveals)},
                           k, instance_ids, labels, lies, data_note, f"precommit debate, K={k} pixels", play, transcripts)


def text_field(config: "TournamentConfig", log=print) -> TournamentField:
    """Text debates (``quote``) on the Play page's stories with its text judge (trained once, cached;
    ``config.judge``: another quote judge's directory): game i is story i, cycling when there are
    fewer stories than games. The liar argues the story's wrong option."""
    from debate.tasks.quote import data
    from debate.tasks.quote.records import quote_games_to_transcripts
    from training.app_judge import load_play_judge, play_questions

    if config.pixels is not None or config.first_image is not None:
        raise ValueError("--pixels and --first-image are for sparse-pixel tournaments; text tournaments take --quotes.")
    judge = load_play_judge(config.judge)
    k = int(config.quotes or judge.config.num_quotes)
    task = judge.make_task(k)
    pool = play_questions()
    questions = [pool[i % len(pool)] for i in range(config.games)]
    shortest = min(len(q.sentences) for q in questions)
    if k > shortest:
        raise ValueError(f"--quotes {k} is more than the {shortest} sentences of some stories; pass a smaller --quotes.")
    instance = data.instances_of(questions, judge.embed, task)
    data_note = (f"{config.games} game(s) per pairing on the Play page's stories {questions[0].id}.."
                 f"{questions[-1].id}" + (f" (the {len(pool)} stories reused in turn)" if config.games > len(pool) else ""))

    def play(runner, rows, first_player, key, progress, seating, chunks):
        rows_of = jax.tree.map(lambda x: None if x is None else np.asarray(x)[rows], instance)
        return runner.play(rows_of, first_player, key, seating=seating, row_labels={"question_index": np.asarray(rows)},
                           progress=progress, chunks=chunks)

    def transcripts(games, rows, protocol, debater_names, experiment_id):
        return quote_games_to_transcripts(games, [questions[r] for r in rows], task, protocol, tuple(debater_names),
                                          judge.name, config.seed, experiment_id)

    return TournamentField(task, judge.judge_fn, judge.params, judge.name,
                           {"checkpoint": judge.name, "description": judge.description,
                            "trained_quotes": int(judge.config.num_quotes)},
                           k, [q.id for q in questions], np.asarray(instance.label), np.asarray(instance.liar_claim),
                           data_note, f"text debate over hidden stories, K={k} quotes", play, transcripts)


#: How each task sets up a tournament (``TournamentConfig.task``).
FIELDS = {"sparse_pixel": pixel_field, "quote": text_field}


def tournament_images(dataset, start: int, games: int, k: int, num_classes: int, seed: int):
    """Indices (into ``dataset``) of the images of games 0..games-1 (from ``start`` on, skipping images
    with fewer than K nonzero pixels, cycling when there are fewer images than games), the liar's
    random wrong class per game, and a sentence saying so."""
    if not 0 <= start < len(dataset):
        raise ValueError(f"the first image {start} is outside {dataset.name} (0..{len(dataset) - 1}); pass a smaller --first-image.")
    nonzero = (dataset.images[start:].reshape(len(dataset) - start, -1) > 0).sum(axis=1)
    pool = start + np.flatnonzero(nonzero >= k)
    if pool.size == 0:
        raise ValueError(f"no image of {dataset.name} from index {start} on has K={k} nonzero pixels; choose a smaller --pixels.")
    index = pool[np.arange(games) % pool.size]
    labels = dataset.labels[index].astype(int)
    offset = np.random.default_rng(seed).integers(1, num_classes, size=games)
    lies = (labels + offset) % num_classes
    note = (f"{games} game(s) per pairing on {dataset.name} images {int(index.min())}..{int(index.max())} "
            f"(from index {start}, images with at least K={k} nonzero pixels"
            + (f"; the {pool.size} such images are reused in turn" if games > pool.size else "") + ")")
    return index, lies, note


# ------------------------------------------------------------------------------------------ playing


def run_tournament(config: TournamentConfig, out_dir, store=None, log=print, progress: bool = True) -> dict:
    """Play the round robin, rate it, write ``leaderboard.json`` and ``leaderboard.md`` in ``out_dir``
    and store the transcripts in ``store`` (when given). Returns the leaderboard dict."""
    from tqdm.auto import tqdm

    t_start = time.time()
    specs = parse_debater_specs(config.debaters, task_kind_names(config.task))
    if config.games < 1:
        raise ValueError(f"--games must be at least 1 (got {config.games}).")
    if config.reference not in (None, R.DEFAULT_REFERENCE) and config.reference not in [s.spec for s in specs]:
        raise ValueError(f"the reference debater {config.reference!r} is not in the tournament; pass one of "
                         f"{', '.join(s.spec for s in specs)}.")
    if config.task not in FIELDS:
        raise ValueError(f"tournaments are played on {' or '.join(FIELDS)}, not {config.task!r}; pass one of those.")
    field = FIELDS[config.task](config, log)
    k, task = field.k, field.task
    log(field.data_note)
    first = np.where(np.arange(config.games) % 2 == 0, HONEST, LIAR)
    debaters = [build_debater(s, task, field.judge_fn) for s in specs]

    config_dict = _jsonable(asdict(config))
    config_dict["quotes" if config.task == "quote" else "pixels"] = k
    # The experiment and its transcripts are stored together once every game is played: an
    # interrupted tournament leaves nothing half-made in the database.
    to_store = []
    pairs = [(a, b) for a in range(len(debaters)) for b in range(len(debaters)) if a != b]
    # One pool, one compiled game: each pairing is a seating of the same runner.
    runner = Runner(task, field.judge_fn, field.params, debaters,
                    batch_size=max(1, min(config.batch_size, -(-config.games // 2))))
    base_key = jax.random.key(config.seed)
    # Each pairing's finished batches are kept in OUT/partial until the tournament is rated, so Ctrl-C
    # loses at most the batch in flight and the same command resumes (same games, same ratings).
    partial = PartialRun(out_dir, {"config": config_dict, "judge": field.judge_name, "stored": store is not None}, log)
    experiment_id = partial.experiment_id if store is not None else None
    records, stored = [], 0
    bar = tqdm(total=len(pairs) * config.games, desc="tournament", unit="game", disable=not progress)
    for a, b in pairs:
        honest, liar = debaters[a], debaters[b]
        honest_name, liar_name = specs[a].spec, specs[b].spec
        pair_key = jax.random.fold_in(jax.random.fold_in(base_key, a), b)
        for player in (HONEST, LIAR):
            rows = np.flatnonzero(first == player)
            if rows.size == 0:
                continue
            try:
                played = field.play(runner, rows, int(player), jax.random.fold_in(pair_key, int(player)), bar.update,
                                    (a, b), partial.chunks(f"{a} {b} {player}"))
            except KeyboardInterrupt:
                bar.close()
                raise Interrupted(f"the finished batches of games are kept in {partial.dir}; run the same "
                                  "command again to resume") from None
            ids = [None] * rows.size
            if store is not None:
                protocol = "debate_precommit_" + ("honest_first" if player == HONEST else "liar_first")
                transcripts = field.transcripts(played, rows, protocol, (honest.name, liar.name), experiment_id)
                to_store += transcripts
                ids = [t.id for t in transcripts]
            for j, row in enumerate(rows):
                records.append({"honest": honest_name, "liar": liar_name,
                                "winner": "honest" if played.honest_margin[j] > 0 else "liar",
                                "game": int(row), "instance": field.instance_ids[row], "label": int(field.labels[row]),
                                "lie": int(field.lies[row]), "first": "honest" if player == HONEST else "liar",
                                "honest_margin": round(float(played.honest_margin[j]), 4),
                                "transcript_id": ids[j]})
        bar.set_postfix_str(f"{honest_name} vs {liar_name}")
    bar.close()
    if store is not None and store.get_experiment(experiment_id) is None:  # None: stored before a crash
        store.create_experiment("tournament", "tournament", config_dict, transcripts=to_store,
                                experiment_id=experiment_id)
    stored = len(to_store)
    names = [s.spec for s in specs]
    records.sort(key=lambda r: (names.index(r["honest"]), names.index(r["liar"]), r["game"]))

    leaderboard = leaderboard_from_games(records, config_dict, bootstrap=config.bootstrap, alpha=config.alpha,
                                         reference=config.reference, seed=config.seed, k_factor=config.k_factor)
    leaderboard.update({
        "experiment_id": experiment_id,
        "debater_specs": [{**asdict(s), "engine_name": d.name} for s, d in zip(specs, debaters)],
        "judge": field.judge_info,
        "data": field.data_note,
        "protocol": field.protocol,
        "seeds": {"seed": config.seed,
                  "lies": ("the story's other option" if config.task == "quote" else
                           f"numpy.random.default_rng({config.seed}).integers(1, classes, games) added to the true class"),
                  "games": f"jax.random.key({config.seed}) folded with the honest and the liar debater's index and "
                           "the first player (0 honest, 1 liar)",
                  "bootstrap": f"numpy.random.default_rng({config.seed}) resamples the games",
                  "sequential_elo": f"games in the order of numpy.random.default_rng({config.seed}).permutation"},
        "transcripts_stored": stored,
        "wall_seconds": round(time.time() - t_start, 1),
    })
    out_dir = Path(out_dir)
    write_leaderboard(leaderboard, out_dir)
    partial.clear()
    return leaderboard


def leaderboard_from_games(games: list[dict], config: dict, bootstrap: int = R.DEFAULT_BOOTSTRAP,
                           alpha: float = R.DEFAULT_ALPHA, reference: str | None = R.DEFAULT_REFERENCE,
                           seed: int = 0, k_factor: float = R.DEFAULT_K_FACTOR) -> dict:
    """The leaderboard of some game records (dicts with at least ``honest``, ``liar`` and ``winner``):
    ratings with intervals, head-to-head honest win rates per pairing and per pair of debaters, provenance."""
    from debate.records.provenance import provenance

    ratings = R.rate(games, reference=reference, alpha=alpha, bootstrap=bootstrap, seed=seed, k_factor=k_factor)
    return {"kind": "leaderboard", "experiment": "tournament", "config": config, "games": list(games),
            "ratings": ratings, "head_to_head": R.head_to_head(games), "pairs": pair_results(games),
            "provenance": provenance()}


def pair_results(games) -> list[dict]:
    """Per unordered pair {A, B}: games, A's wins and win rate over both role assignments."""
    out: dict[tuple[str, str], dict] = {}
    order: dict[str, int] = {}
    for g in R.as_games(games):
        for n in (g.honest, g.liar):
            order.setdefault(n, len(order))
        if g.honest == g.liar:
            continue
        a, b = sorted((g.honest, g.liar), key=order.get)
        cell = out.setdefault((a, b), {"a": a, "b": b, "games": 0, "a_wins": 0})
        cell["games"] += 1
        cell["a_wins"] += int(g.winning_debater == a)
    for cell in out.values():
        cell["a_win_rate"] = round(cell["a_wins"] / cell["games"], 4)
    return list(out.values())


# ------------------------------------------------------------------------------------------ writing


def head_to_head_table(leaderboard: dict) -> str:
    """Markdown matrix: rows honest debater, columns liar debater, cells the honest win rate (games)."""
    names = leaderboard["ratings"]["debaters"]
    cells = {(r["honest"], r["liar"]): r for r in leaderboard["head_to_head"]}
    lines = ["| honest \\ liar | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for h in names:
        row = []
        for l in names:
            r = cells.get((h, l))
            row.append(f"{r['honest_win_rate'] * 100:.0f}% ({r['games']})" if r else "-")
        lines.append(f"| {h} | " + " | ".join(row) + " |")
    return "\n".join(lines)


def write_leaderboard(leaderboard: dict, out_dir) -> None:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / LEADERBOARD_FILE).write_text(json.dumps(leaderboard, indent=2))
    ratings, cfg = leaderboard["ratings"], leaderboard.get("config", {})
    anchor = (f"anchored at {ratings['anchor']} = 1000 overall, its honest and liar ratings averaging 1000"
              if ratings["anchor"] != "mean" else "anchored at a mean rating of 1000")
    judge_text = (leaderboard.get("judge") or {}).get("description", "")
    md = ["# Debate tournament leaderboard", "",
          f"{ratings['games']} games; {cfg.get('games', '?')} per ordered pairing (honest, liar), "
          + (leaderboard.get("protocol") or f"precommit debate, K={cfg.get('pixels', '?')} pixels")
          + (f"; {leaderboard['data']}" if leaderboard.get("data") else "") + ".",
          (judge_text[:1].upper() + judge_text[1:] + "." if judge_text else ""), "",
          f"Bradley-Terry ratings on the Elo scale, {anchor}; brackets: 95% bootstrap intervals over games "
          f"({ratings['bootstrap']} resamples). Honest and liar ratings share one scale: honest A against liar B "
          "is expected to win 1 / (1 + 10^((liar B - honest A) / 400)). Sequential Elo: K-factor "
          f"{ratings['sequential_elo']['k_factor']:g}, {ratings['sequential_elo']['order']}.", "",
          R.ratings_table(ratings), "", "## Head to head: honest win rate", "", head_to_head_table(leaderboard), ""]
    if leaderboard.get("provenance"):
        md.append(f"Code {leaderboard['provenance'].get('code_version', '?')}"
                  + (f"; wall time {leaderboard['wall_seconds']} s" if "wall_seconds" in leaderboard else "") + ".")
    (out_dir / "leaderboard.md").write_text("\n".join(md) + "\n")


def _jsonable(x):
    return json.loads(json.dumps(x, default=str))


# ------------------------------------------------------------------ reading leaderboards back (the app)


def find_leaderboard_files(directories) -> list[Path]:
    """Every ``leaderboard.json`` under the given directories (recursively), sorted; missing ones are skipped."""
    found: set[Path] = set()
    for d in directories:
        d = Path(d).expanduser()
        if d.is_file() and d.name == LEADERBOARD_FILE:
            found.add(d.resolve())
        elif d.is_dir():
            found.update(p.resolve() for p in d.rglob(LEADERBOARD_FILE) if p.is_file())
    return sorted(found)


def load_leaderboard(path) -> dict:
    """A ``leaderboard.json`` written by ``write_leaderboard``; one clear ValueError if it is not one."""
    path = Path(path)
    try:
        board = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ValueError(f"{path} could not be read as JSON ({e}); rerun the tournament that wrote it.") from None
    ratings = board.get("ratings") if isinstance(board, dict) else None
    if not (isinstance(ratings, dict) and isinstance(ratings.get("debaters"), list)
            and all(isinstance(ratings.get(k), dict) for k in ("overall", "honest", "liar"))):
        raise ValueError(f"{path} is not a tournament leaderboard (it needs ratings -> debaters, overall, honest, "
                         "liar); point the app at the leaderboard.json of `debate tournament`.")
    return board


def head_to_head_matrix(leaderboard: dict) -> dict[str, dict[str, float | None]]:
    """``{honest: {liar: honest win rate}}`` over the leaderboard's debaters (None where not played)."""
    names = leaderboard["ratings"]["debaters"]
    cells = {(r["honest"], r["liar"]): r["honest_win_rate"] for r in leaderboard.get("head_to_head", [])}
    return {h: {l: cells.get((h, l)) for l in names} for h in names}
