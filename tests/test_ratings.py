"""Ratings (training.ratings): Bradley-Terry strengths fitted with choix recover the strengths that
generated a synthetic tournament, the bootstrap intervals cover them about as often as they claim,
the honest/liar split recovers a planted asymmetry, and degenerate inputs give finite, documented
numbers or one clear error. Pure numpy: the whole module runs in a few seconds."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from training import ratings as R

ELO = 400.0 / math.log(10.0)


def simulate(honest: dict, liar: dict, games: int, seed: int) -> list[tuple[str, str, str]]:
    """A round robin: every ordered pair (A honest, B liar), A != B, plays ``games`` games; the honest
    side wins with the Bradley-Terry probability sigmoid(honest[A] - liar[B]) (strengths in nats)."""
    rng = np.random.default_rng(seed)
    out = []
    for a in honest:
        for b in honest:
            if a == b:
                continue
            p = 1.0 / (1.0 + math.exp(-(honest[a] - liar[b])))
            out += [(a, b, "honest" if won else "liar") for won in rng.random(games) < p]
    return out


def true_split_elo(honest: dict, liar: dict, reference: str = "random") -> dict:
    """The true side ratings in Elo, anchored as training.ratings anchors them (reference mean = 1000)."""
    shift = (honest[reference] + liar[reference]) / 2
    return {side: {n: (s[n] - shift) * ELO + 1000 for n in s} for side, s in (("honest", honest), ("liar", liar))}


def inside(entry: dict, value: float, widen: float = 1.0) -> bool:
    """Whether ``value`` lies in the entry's 95% interval, stretched ``widen`` times about the estimate."""
    low, high = entry["ci95"]
    elo = entry["elo"]
    return elo - widen * (elo - low) <= value <= elo + widen * (high - elo)


def assert_recovered(report: dict, truth: dict) -> None:
    """Every true rating lies inside its 95% interval stretched 1.5x about the estimate (about 3 standard
    errors). The nominal intervals miss about 1 time in 13 each (measured in the coverage test below),
    and their misses are correlated through the anchor, so one tournament is not held to them."""
    for side in truth:
        for name, value in truth[side].items():
            assert inside(report[side][name], value, widen=1.5), (side, name, report[side][name], value)


# ------------------------------------------------------------------------------- recovery


def test_overall_ratings_recover_known_strengths():
    # Symmetric debate (a debater is as strong on both sides): the overall model is then exact.
    strength = {"random": 0.0, "greedy": 0.5, "mcts": 1.0, "best": 2.0}
    report = R.rate(simulate(strength, strength, 200, seed=7), bootstrap=200, seed=0)
    assert report["debaters"] == ["best", "mcts", "greedy", "random"]  # ordering recovered
    assert report["anchor"] == "random" and report["overall"]["random"]["elo"] == 1000.0
    assert report["overall"]["random"]["ci95"] == [1000.0, 1000.0]  # the anchor has no interval of its own
    truth = {"overall": {name: 1000 + s * ELO for name, s in strength.items()}}
    assert_recovered(report, truth)
    for name in strength:
        entry = report["overall"][name]
        # 1200 games per debater: errors measured here are under 20 Elo; the tolerance is 3x that
        assert abs(entry["elo"] - truth["overall"][name]) < 60, (name, entry["elo"], truth["overall"][name])
        assert entry["games"] == 2 * 3 * 200
    assert sum(report["overall"][n]["wins"] for n in strength) == report["games"] == 12 * 200


def test_split_ratings_recover_known_side_strengths():
    honest = {"random": 0.5, "greedy": 1.5, "mcts": 2.5, "other": 1.0}
    liar = {"random": -1.0, "greedy": 0.0, "mcts": 0.8, "other": 0.5}
    report = R.rate(simulate(honest, liar, 100, seed=0), bootstrap=200, seed=0)
    assert_recovered(report, true_split_elo(honest, liar))
    assert all(report[side][name]["games"] == 3 * 100 for side in ("honest", "liar") for name in honest)
    # the honest side's ordering is recovered exactly
    assert sorted(honest, key=lambda n: report["honest"][n]["elo"]) == ["random", "other", "greedy", "mcts"]
    # the reference's honest and liar ratings average 1000 (its honest advantage stays visible)
    assert report["honest"]["random"]["elo"] + report["liar"]["random"]["elo"] == pytest.approx(2000, abs=0.2)


def test_consistent_with_a_huge_tournament():
    honest = {"random": 0.5, "greedy": 1.5, "mcts": 2.5}
    liar = {"random": -1.0, "greedy": 0.0, "mcts": 0.8}
    point = R.fit_ratings(simulate(honest, liar, 5000, seed=1))
    truth = true_split_elo(honest, liar)
    for side in ("honest", "liar"):
        for name in honest:
            assert point[side][name] == pytest.approx(truth[side][name], abs=15)


def test_dense_fit_equals_choix_ilsr_pairwise():
    import choix

    games = R.as_games(simulate({"a": 0.0, "b": 1.0, "c": 0.3}, {"a": -0.5, "b": 0.2, "c": 0.0}, 20, seed=3))
    names = R.debater_names(games)
    wins = np.zeros((len(names), len(names)))
    pairs = []
    for g in games:
        if g.honest != g.liar:
            w, l = names.index(g.winning_debater), names.index(g.losing_debater)
            wins[w, l] += 1
            pairs.append((w, l))
    dense = R.fit_bradley_terry(wins, R.DEFAULT_ALPHA)
    listed = choix.ilsr_pairwise(len(names), pairs, alpha=R.DEFAULT_ALPHA, max_iter=R.MAX_ITER)
    np.testing.assert_allclose(dense, listed, atol=1e-6)


# ------------------------------------------------------------------------------- intervals


def test_bootstrap_intervals_cover_about_95_percent_and_shrink_with_games():
    honest = {"random": 0.0, "greedy": 0.7, "mcts": 1.5}
    liar = {"random": -1.0, "greedy": -0.2, "mcts": 0.3}
    truth = true_split_elo(honest, liar)
    covered = []
    for rep in range(10):
        report = R.rate(simulate(honest, liar, 30, seed=1000 + rep), bootstrap=100, seed=rep)
        covered += [inside(report[s][n], truth[s][n]) for s in ("honest", "liar") for n in honest]
    # measured over 60 tournaments: 92% coverage, 90-93% in every block of 10; percentile bootstrap
    # on 60 games per debater and side runs a little under its nominal 95%
    assert 0.8 <= np.mean(covered) <= 1.0, np.mean(covered)

    def width(games):
        report = R.rate(simulate(honest, liar, games, seed=5), bootstrap=100, seed=0)
        return np.mean([report["overall"][n]["ci95"][1] - report["overall"][n]["ci95"][0] for n in ("greedy", "mcts")])

    ratio = width(160) / width(40)  # 4x the games: about half the width (1/sqrt(4))
    assert 0.35 < ratio < 0.7, ratio


def test_bootstrap_is_seeded():
    games = simulate({"random": 0.0, "b": 1.0}, {"random": -1.0, "b": 0.0}, 20, seed=2)
    assert R.rate(games, bootstrap=50, seed=4) == R.rate(games, bootstrap=50, seed=4)
    assert R.rate(games, bootstrap=50, seed=4) != R.rate(games, bootstrap=50, seed=5)


# ------------------------------------------------------------------------------- honest / liar split


def test_split_recovers_a_planted_asymmetry():
    # "sly" lies well but defends the truth badly; "earnest" the opposite; same overall strength.
    honest = {"random": 0.5, "sly": 0.5, "earnest": 2.5}
    liar = {"random": -1.0, "sly": 1.0, "earnest": -1.0}
    report = R.rate(simulate(honest, liar, 150, seed=11), bootstrap=200, seed=0)
    truth = true_split_elo(honest, liar)
    h, l = report["honest"], report["liar"]
    assert h["earnest"]["elo"] > h["sly"]["elo"] and l["sly"]["elo"] > l["earnest"]["elo"]
    # the planted gaps (800 Elo each way) are far outside each other's intervals
    assert h["earnest"]["ci95"][0] > h["sly"]["ci95"][1]
    assert l["sly"]["ci95"][0] > l["earnest"]["ci95"][1]
    assert_recovered(report, truth)
    # the sides predict the head-to-head win rates they were fitted on
    for row in R.head_to_head(simulate(honest, liar, 150, seed=11)):
        predicted = R.win_probability(h[row["honest"]]["elo"], l[row["liar"]]["elo"])
        assert abs(predicted - row["honest_win_rate"]) < 0.08, row


# ------------------------------------------------------------------------------- sequential Elo


def test_sequential_elo_update_and_order():
    one = R.sequential_elo([("a", "b", "honest")], k_factor=32)
    assert one["overall"] == {"a": 1016.0, "b": 984.0}
    assert one["honest"] == {"a": 1016.0, "b": None} and one["liar"] == {"a": None, "b": 984.0}
    games = [("a", "b", "honest"), ("a", "b", "honest"), ("b", "a", "honest")]
    assert R.sequential_elo(games)["overall"]["a"] > 1000 > R.sequential_elo(games)["overall"]["b"]
    # it depends on the order of the games; Bradley-Terry does not
    assert R.sequential_elo(games)["overall"] != R.sequential_elo(games[::-1])["overall"]
    assert R.fit_ratings(games) == R.fit_ratings(games[::-1])
    strength = {"random": 0.0, "greedy": 1.0, "mcts": 2.0}
    big = R.sequential_elo(simulate(strength, strength, 200, seed=9), k_factor=16, seed=0)["overall"]
    assert big["mcts"] > big["greedy"] > big["random"]


# ------------------------------------------------------------------------------- degenerate inputs


def test_a_debater_that_never_loses_gets_a_finite_top_rating():
    base = simulate({"random": 0.0, "greedy": 1.0}, {"random": -1.0, "greedy": 0.0}, 20, seed=0)
    unbeaten = ([("god", x, "honest") for x in ("random", "greedy") for _ in range(20)]
                + [(x, "god", "liar") for x in ("random", "greedy") for _ in range(20)])
    report = R.rate(base + unbeaten, bootstrap=50)
    assert report["debaters"][0] == "god"
    for side in ("overall", "honest", "liar"):
        entry = report[side]["god"]
        assert all(np.isfinite(v) for v in [entry["elo"], *entry["ci95"]]), entry
    gap = report["overall"]["god"]["elo"] - report["overall"][report["debaters"][1]]["elo"]
    assert 400 < gap < 3000, gap  # documented: large, finite, set by alpha and the number of games
    assert report["overall"]["god"]["wins"] == report["overall"]["god"]["games"] == 80
    assert {report[side]["god"]["perfect_record"] for side in ("overall", "honest", "liar")} == {"won all"}
    assert report["overall"]["greedy"]["perfect_record"] is None
    json.dumps(report)  # nothing that JSON cannot hold (no inf or NaN)


def test_one_game_gives_finite_ratings_and_zero_width_intervals():
    report = R.rate([("a", "b", "honest")], bootstrap=20)
    assert report["anchor"] == "mean"  # no "random" among the debaters
    assert report["overall"]["a"]["elo"] > 1000 > report["overall"]["b"]["elo"]
    assert report["overall"]["a"]["elo"] + report["overall"]["b"]["elo"] == pytest.approx(2000, abs=0.2)
    assert report["overall"]["a"]["ci95"] == [report["overall"]["a"]["elo"]] * 2
    # a side never played has no rating and no interval
    assert report["honest"]["b"] == {"elo": None, "ci95": None, "games": 0, "wins": 0, "perfect_record": None}
    assert report["liar"]["a"]["elo"] is None
    assert R.rating_rows(report)[0]["debater"] == "a"
    assert report["overall"]["a"]["perfect_record"] == "won all" and report["liar"]["b"]["perfect_record"] == "lost all"
    table = R.ratings_table(report)
    assert "| b | 658 [658, 658] * | - | 717 [717, 717] * |" in table and table.endswith(R.PERFECT_NOTE)
    assert R.rating_rows(report)[1]["perfect_record"] == "overall lost all; liar lost all"


def test_self_play_only_informs_the_sides():
    report = R.rate([("a", "a", "honest"), ("a", "a", "honest"), ("a", "a", "liar")], bootstrap=10)
    assert report["overall"]["a"]["elo"] is None and report["overall"]["a"]["games"] == 0
    assert report["honest"]["a"]["elo"] > report["liar"]["a"]["elo"]


@pytest.mark.parametrize("games, kwargs, fragment", [
    ([], {}, "there are no games to rate"),
    ([("a", "b", "draw")], {}, "the winner must be 'honest' or 'liar'"),
    ([("a", "", "honest")], {}, "must be non-empty strings"),
    ([("a", "b")], {}, "give (honest, liar, winner)"),
    ([("a", "b", "honest")], {"alpha": 0.0}, "alpha must be positive"),
    ([("a", "b", "honest")], {"bootstrap": -1}, "bootstrap must be 0 or more"),
])
def test_bad_input_is_one_clear_error(games, kwargs, fragment):
    with pytest.raises(ValueError) as info:
        R.rate(games, **kwargs)
    message = str(info.value)
    assert fragment in message and "\n" not in message


def test_games_from_dicts_and_records():
    rows = [{"honest": "a", "liar": "b", "winner": "liar"}, {"honest": "b", "liar": "a", "honest_won": True},
            R.Game("a", "b", "honest")]
    games = R.as_games(rows)
    assert [g.winning_debater for g in games] == ["b", "b", "a"]
    assert R.rate(rows, bootstrap=0)["overall"]["b"]["ci95"] is None
