"""Ratings of debaters from the games they played: Bradley-Terry strengths as Elo, with bootstrap intervals.

A game is one debate: debater ``honest`` argued the truth, debater ``liar`` argued a lie, and one of the
two sides won. Debate is asymmetric (the honest side usually wins), so besides an overall rating each
debater gets two side ratings that are fitted together:

- **honest / liar** ("split") model: the items are ``(debater, side)``; a game compares
  ``(A, honest)`` with ``(B, liar)``, so ``P(A's honest side beats B's liar side) = 1 / (1 + 10 **
  ((liar_B - honest_A) / 400))`` in Elo. Honest and liar ratings share one scale: an honest rating
  can be compared with any liar rating (that difference predicts a win rate); two honest ratings
  compare how well two debaters defend the truth.
- **overall** model: the items are the debaters, and a game is a plain win of whoever's side won
  (games of a debater against itself carry no information and are skipped). It is fair to compare
  debaters only when each played both sides about equally often, as in a round-robin tournament.

Both are maximum-likelihood Bradley-Terry fits by choix's iterative Luce spectral ranking
(``choix.ilsr_pairwise_dense``, the same estimator as ``choix.ilsr_pairwise`` on a matrix of win
counts) with a small regularisation ``alpha``: ``alpha`` is a transition rate added between every two
items of LSR's Markov chain, which keeps every strength finite when a debater never loses (or never
wins) and pulls items with few games towards the mean. Strengths ``theta`` (natural-log odds) become
Elo as ``theta * 400 / ln 10``, shifted so that the reference debater (default ``"random"``) is at
1000: overall, its own rating; split, the mean of its honest and liar ratings. Without the reference
among the debaters the mean rating is 1000 (``anchor == "mean"``).

Intervals are percentile bootstrap 95% intervals: the games are resampled with replacement
(seeded), both models are refitted and re-anchored each time. Because of the anchor they describe
differences from the reference: the reference's own overall interval is ``[1000, 1000]``.

Documented degenerate cases (no error): a debater that never loses gets a finite rating, set by
``alpha`` and the number of its games rather than by any measured strength (measured at the default
alpha: 1,000-1,500 Elo above the next debater for 20-400 unbeaten games), so such a gap only says
"never lost"; the same holds for a side that always wins, common in debate; a single game gives finite
ratings and zero-width intervals (every resample is that game); a (debater, side) that played no
game gets ``elo = None``. No games at all, a malformed game or a non-positive ``alpha`` raise one
``ValueError`` sentence.

``sequential_elo`` is the classic online update (K-factor) over the same games, for comparison;
unlike Bradley-Terry it depends on the order of the games.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np

SIDES = ("honest", "liar")
ELO_PER_NAT = 400.0 / math.log(10.0)
ELO_BASE = 1000.0
DEFAULT_REFERENCE = "random"
#: Regularisation of the Bradley-Terry fits (choix's ``alpha``): small against the games of a pair.
DEFAULT_ALPHA = 0.01
DEFAULT_BOOTSTRAP = 200
DEFAULT_K_FACTOR = 32.0
#: Iteration limit of choix's ILSR (its default, 100, is too few for near-separable data).
MAX_ITER = 10_000


@dataclass(frozen=True)
class Game:
    """One debate: ``honest`` argued the truth against ``liar``; ``winner`` is ``"honest"`` or ``"liar"``."""

    honest: str
    liar: str
    winner: str

    @property
    def honest_won(self) -> bool:
        return self.winner == "honest"

    @property
    def winning_debater(self) -> str:
        return self.honest if self.honest_won else self.liar

    @property
    def losing_debater(self) -> str:
        return self.liar if self.honest_won else self.honest


def as_games(rows: Iterable) -> list[Game]:
    """``Game`` objects from games, dicts with ``honest``, ``liar`` and ``winner`` (``"honest"``/``"liar"``)
    or ``honest_won`` (bool), or ``(honest, liar, winner)`` tuples; one ValueError sentence otherwise."""
    games = []
    for i, row in enumerate(rows):
        if isinstance(row, Game):
            game = row
        elif isinstance(row, Mapping):
            winner = row.get("winner")
            if winner is None and "honest_won" in row:
                winner = "honest" if row["honest_won"] else "liar"
            game = Game(row.get("honest"), row.get("liar"), winner)
        elif isinstance(row, (tuple, list)) and len(row) == 3:
            game = Game(*row)
        else:
            raise ValueError(f"game {i} is {row!r}; give (honest, liar, winner) or a dict with honest, liar and winner.")
        if not (isinstance(game.honest, str) and game.honest and isinstance(game.liar, str) and game.liar):
            raise ValueError(f"game {i} names debaters {game.honest!r} and {game.liar!r}; both must be non-empty strings.")
        if game.winner not in SIDES:
            raise ValueError(f"game {i} has winner {game.winner!r}; the winner must be 'honest' or 'liar'.")
        games.append(game)
    return games


def debater_names(games: Sequence[Game]) -> list[str]:
    """Every debater in order of first appearance."""
    names: dict[str, None] = {}
    for g in games:
        names.setdefault(g.honest)
        names.setdefault(g.liar)
    return list(names)


def elo_from_theta(theta) -> np.ndarray:
    """Bradley-Terry strengths (log odds) on the Elo scale (not yet anchored)."""
    return np.asarray(theta, float) * ELO_PER_NAT


def win_probability(elo_a: float, elo_b: float) -> float:
    """The Elo/Bradley-Terry probability that a side rated ``elo_a`` beats one rated ``elo_b``."""
    return 1.0 / (1.0 + 10.0 ** ((elo_b - elo_a) / 400.0))


def fit_bradley_terry(wins: np.ndarray, alpha: float = DEFAULT_ALPHA) -> np.ndarray:
    """Strengths ``theta`` (mean 0) from ``wins[i, j]`` = times item i beat item j, by choix's ILSR."""
    import choix

    if not alpha > 0:
        raise ValueError(f"alpha must be positive (got {alpha}); it keeps strengths finite when a debater never loses.")
    wins = np.asarray(wins, float)
    try:
        return choix.ilsr_pairwise_dense(wins, alpha=alpha, max_iter=MAX_ITER)
    except (RuntimeError, ValueError) as e:  # pragma: no cover - not seen with alpha > 0
        raise ValueError(f"the Bradley-Terry fit failed ({e}); raise alpha.") from None


# ------------------------------------------------------------------------------------------ fitting


def _index(games: Sequence[Game], names: Sequence[str]):
    index = {n: i for i, n in enumerate(names)}
    honest = np.array([index[g.honest] for g in games], int)
    liar = np.array([index[g.liar] for g in games], int)
    honest_won = np.array([g.honest_won for g in games], bool)
    return honest, liar, honest_won


def _win_matrices(honest, liar, honest_won, n: int, weights=None):
    """Win-count matrices of both models; ``weights`` counts how often each game is used (bootstrap)."""
    w = np.ones(len(honest)) if weights is None else weights
    split = np.zeros((2 * n, 2 * n))
    h_item, l_item = 2 * honest, 2 * liar + 1
    np.add.at(split, (np.where(honest_won, h_item, l_item), np.where(honest_won, l_item, h_item)), w)
    overall = np.zeros((n, n))
    distinct = honest != liar
    winner = np.where(honest_won, honest, liar)[distinct]
    loser = np.where(honest_won, liar, honest)[distinct]
    np.add.at(overall, (winner, loser), w[distinct])
    return overall, split


def _anchored(overall_theta, split_theta, overall_games, split_games, ref: int | None):
    """Elo arrays ``overall [n]`` and ``split [n, 2]``, NaN where an item played no game."""
    overall = elo_from_theta(overall_theta)
    split = elo_from_theta(split_theta).reshape(-1, 2)
    overall = np.where(overall_games > 0, overall, np.nan)
    split = np.where(split_games > 0, split, np.nan)
    if ref is not None and overall_games[ref] > 0:
        overall_shift = overall[ref]
    else:
        overall_shift = np.nanmean(overall) if np.isfinite(overall).any() else 0.0
    if ref is not None and np.isfinite(split[ref]).any():
        split_shift = np.nanmean(split[ref])
    else:
        split_shift = np.nanmean(split) if np.isfinite(split).any() else 0.0
    return overall - overall_shift + ELO_BASE, split - split_shift + ELO_BASE


def _fit(honest, liar, honest_won, n, ref, alpha, weights=None):
    overall_wins, split_wins = _win_matrices(honest, liar, honest_won, n, weights)
    overall_games = (overall_wins + overall_wins.T).sum(axis=1)
    split_games = (split_wins + split_wins.T).sum(axis=1).reshape(-1, 2)
    return _anchored(fit_bradley_terry(overall_wins, alpha), fit_bradley_terry(split_wins, alpha),
                     overall_games, split_games, ref)


def _reference_index(names: Sequence[str], reference: str | None) -> int | None:
    return names.index(reference) if reference is not None and reference in names else None


def fit_ratings(games: Iterable, reference: str | None = DEFAULT_REFERENCE, alpha: float = DEFAULT_ALPHA) -> dict:
    """Point estimates: ``{"overall": {name: elo}, "honest": {...}, "liar": {...}, "anchor": ...}``
    (``elo`` None for a side a debater never played)."""
    games = _checked(games)
    names = debater_names(games)
    ref = _reference_index(names, reference)
    overall, split = _fit(*_index(games, names), len(names), ref, alpha)
    out = {"anchor": names[ref] if ref is not None else "mean",
           "overall": {n: _num(overall[i]) for i, n in enumerate(names)}}
    for s, side in enumerate(SIDES):
        out[side] = {n: _num(split[i, s]) for i, n in enumerate(names)}
    return out


def _checked(games: Iterable) -> list[Game]:
    games = as_games(games)
    if not games:
        raise ValueError("there are no games to rate; play a tournament (or pass games) first.")
    return games


def _num(x, digits: int = 1):
    return None if x is None or not np.isfinite(x) else round(float(x), digits)


def rate(games: Iterable, reference: str | None = DEFAULT_REFERENCE, alpha: float = DEFAULT_ALPHA,
         bootstrap: int = DEFAULT_BOOTSTRAP, seed: int = 0, k_factor: float = DEFAULT_K_FACTOR) -> dict:
    """The full rating report of some games (JSON-ready).

    ``{"method", "alpha", "reference", "anchor", "bootstrap", "seed", "games", "debaters",
    "overall": {name: entry}, "honest": {...}, "liar": {...}, "sequential_elo": {...}}`` where an entry
    is ``{"elo", "ci95": [low, high], "games", "wins", "perfect_record"}`` (Elo rounded to 0.1;
    ``perfect_record`` is ``"won all"``, ``"lost all"`` or None) and the debaters are listed from the
    highest overall rating down. ``bootstrap`` resamples (0: no intervals)."""
    games = _checked(games)
    if bootstrap < 0:
        raise ValueError(f"bootstrap must be 0 or more resamples (got {bootstrap}).")
    names = debater_names(games)
    n = len(names)
    ref = _reference_index(names, reference)
    honest, liar, honest_won = _index(games, names)
    overall, split = _fit(honest, liar, honest_won, n, ref, alpha)

    rng = np.random.default_rng(seed)
    boot_overall = np.full((bootstrap, n), np.nan)
    boot_split = np.full((bootstrap, n, 2), np.nan)
    for b in range(bootstrap):
        weights = np.bincount(rng.integers(0, len(games), len(games)), minlength=len(games)).astype(float)
        boot_overall[b], boot_split[b] = _fit(honest, liar, honest_won, n, ref, alpha, weights)

    def interval(samples):
        samples = samples[np.isfinite(samples)]
        if samples.size == 0:
            return None
        low, high = np.percentile(samples, [2.5, 97.5])
        return [_num(low), _num(high)]

    counts = _counts(games, names)
    for table in counts.values():
        for entry in table.values():
            entry["perfect_record"] = _perfect(entry)
    out = {"method": "Bradley-Terry, choix.ilsr_pairwise_dense", "alpha": alpha, "reference": reference,
           "anchor": names[ref] if ref is not None else "mean", "bootstrap": int(bootstrap), "seed": int(seed),
           "games": len(games)}
    order = sorted(range(n), key=lambda i: -np.nan_to_num(overall[i], nan=-np.inf))
    out["debaters"] = [names[i] for i in order]
    out["overall"] = {names[i]: {"elo": _num(overall[i]), "ci95": interval(boot_overall[:, i]) if bootstrap else None,
                                 **counts["overall"][names[i]]} for i in order}
    for s, side in enumerate(SIDES):
        out[side] = {names[i]: {"elo": _num(split[i, s]),
                                "ci95": interval(boot_split[:, i, s]) if bootstrap and np.isfinite(split[i, s]) else None,
                                **counts[side][names[i]]} for i in order}
    out["sequential_elo"] = sequential_elo(games, k_factor=k_factor, seed=seed)
    return out


def _counts(games: Sequence[Game], names: Sequence[str]) -> dict:
    counts = {key: {n: {"games": 0, "wins": 0} for n in names} for key in ("overall",) + SIDES}
    for g in games:
        counts["honest"][g.honest]["games"] += 1
        counts["honest"][g.honest]["wins"] += int(g.honest_won)
        counts["liar"][g.liar]["games"] += 1
        counts["liar"][g.liar]["wins"] += int(not g.honest_won)
        if g.honest != g.liar:
            for name in (g.honest, g.liar):
                counts["overall"][name]["games"] += 1
            counts["overall"][g.winning_debater]["wins"] += 1
    return counts


def _perfect(entry: dict) -> str | None:
    """``"won all"`` / ``"lost all"`` for an item with games and no losses / no wins: its rating is then
    set by ``alpha`` and the number of games, not by a measured strength."""
    if entry["games"] and entry["wins"] == entry["games"]:
        return "won all"
    if entry["games"] and entry["wins"] == 0:
        return "lost all"
    return None


def sequential_elo(games: Iterable, k_factor: float = DEFAULT_K_FACTOR, initial: float = ELO_BASE,
                   seed: int | None = None) -> dict:
    """Online Elo: every rating starts at ``initial``; after each game the winner gains and the loser
    loses ``k_factor * (1 - expected score of the winner)``. Games are taken in the order given, or in
    a seeded random order when ``seed`` is not None (a round robin listed pair by pair would otherwise
    favour whoever played last). Returns ``{"k_factor", "order", "overall": {name: elo}, "honest":
    {...}, "liar": {...}}``; the side ratings update the items ``(honest A, liar B)`` of each game."""
    games = _checked(games)
    if not k_factor > 0:
        raise ValueError(f"k_factor must be positive (got {k_factor}).")
    order = np.arange(len(games)) if seed is None else np.random.default_rng(seed).permutation(len(games))
    names = debater_names(games)
    overall = {n: float(initial) for n in names}
    side = {s: {n: float(initial) for n in names} for s in SIDES}
    played = {s: set() for s in SIDES}

    def update(ratings_w, w, ratings_l, l):
        delta = k_factor * (1.0 - win_probability(ratings_w[w], ratings_l[l]))
        ratings_w[w] += delta
        ratings_l[l] -= delta

    for i in order:
        g = games[int(i)]
        if g.honest != g.liar:
            update(overall, g.winning_debater, overall, g.losing_debater)
        played["honest"].add(g.honest)
        played["liar"].add(g.liar)
        if g.honest_won:
            update(side["honest"], g.honest, side["liar"], g.liar)
        else:
            update(side["liar"], g.liar, side["honest"], g.honest)
    return {"k_factor": k_factor, "order": "as given" if seed is None else f"shuffled with seed {seed}",
            "overall": {n: round(v, 1) for n, v in overall.items()},
            **{s: {n: (round(v, 1) if n in played[s] else None) for n, v in side[s].items()} for s in SIDES}}


# ------------------------------------------------------------------------------------ presenting


def head_to_head(games: Iterable) -> list[dict]:
    """Per ordered pairing (honest debater, liar debater): games, honest wins and the honest win rate."""
    from debate.analysis.metrics import wilson_interval

    table: dict[tuple[str, str], list[int]] = {}
    for g in _checked(games):
        cell = table.setdefault((g.honest, g.liar), [0, 0])
        cell[0] += 1
        cell[1] += int(g.honest_won)
    rows = []
    for (h, l), (n, w) in table.items():
        rows.append({"honest": h, "liar": l, "games": n, "honest_wins": w, "honest_win_rate": round(w / n, 4),
                     "ci95": [round(v, 4) for v in wilson_interval(w / n, n)]})
    return rows


def rating_rows(report: Mapping) -> list[dict]:
    """One flat row per debater (best first) from a ``rate`` report: ``debater, elo, elo_low, elo_high,
    honest_elo, honest_low, honest_high, liar_elo, liar_low, liar_high, games, wins, sequential_elo,
    perfect_record`` (e.g. ``"overall won all; honest won all"``, None when no item won or lost every game)."""
    rows = []
    for name in report["debaters"]:
        row = {"debater": name}
        for prefix, key in (("", "overall"), ("honest_", "honest"), ("liar_", "liar")):
            entry = report[key].get(name) or {}
            ci = entry.get("ci95") or [None, None]
            row[f"{prefix}elo"] = entry.get("elo")
            row[f"{prefix}low"], row[f"{prefix}high"] = ci
        row["elo_low"], row["elo_high"] = row.pop("low"), row.pop("high")
        row["games"] = report["overall"][name].get("games")
        row["wins"] = report["overall"][name].get("wins")
        row["sequential_elo"] = (report.get("sequential_elo") or {}).get("overall", {}).get(name)
        row["perfect_record"] = "; ".join(f"{key} {report[key][name]['perfect_record']}"
                                          for key in ("overall",) + SIDES
                                          if (report[key].get(name) or {}).get("perfect_record")) or None
        rows.append(row)
    return rows


def _cell(entry: Mapping) -> str:
    elo, ci = entry.get("elo"), entry.get("ci95")
    if elo is None:
        return "-"
    mark = " *" if entry.get("perfect_record") else ""
    return (f"{elo:.0f} [{ci[0]:.0f}, {ci[1]:.0f}]" if ci else f"{elo:.0f}") + mark


def ratings_table(report: Mapping) -> str:
    """Markdown: one row per debater with overall, honest and liar Elo and their 95% intervals."""
    lines = ["| debater | Elo [95% CI] | honest Elo [95% CI] | liar Elo [95% CI] | games | wins | sequential Elo |",
             "|---|---|---|---|---|---|---|"]
    for name in report["debaters"]:
        o, h, l = (report[k][name] for k in ("overall", "honest", "liar"))
        seq = (report.get("sequential_elo") or {}).get("overall", {}).get(name)
        lines.append(f"| {name} | {_cell(o)} | {_cell(h)} | {_cell(l)} | {o['games']} | {o['wins']} | "
                     f"{'-' if seq is None else f'{seq:.0f}'} |")
    if any(report[k][n].get("perfect_record") for k in ("overall",) + SIDES for n in report["debaters"]):
        lines += ["", PERFECT_NOTE]
    return "\n".join(lines)


PERFECT_NOTE = ("\\* won or lost every game: the rating is set by the regularisation (alpha) and the number of "
                "games, not by a measured strength; read it as \"never lost\" or \"never won\".")


__all__ = ["Game", "as_games", "debater_names", "elo_from_theta", "win_probability", "fit_bradley_terry",
           "fit_ratings", "rate", "sequential_elo", "head_to_head", "rating_rows", "ratings_table",
           "ELO_PER_NAT", "ELO_BASE", "DEFAULT_REFERENCE", "DEFAULT_ALPHA", "DEFAULT_BOOTSTRAP", "SIDES"]
