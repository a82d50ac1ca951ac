"""The debater-strength study (experiments/debater_strength/study.py): its bookkeeping on planted
outcomes, and the computation setting end to end on a tiny league."""

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
SPEC = importlib.util.spec_from_file_location("debater_strength_study",
                                              ROOT / "experiments" / "debater_strength" / "study.py")
study = importlib.util.module_from_spec(SPEC)
sys.modules[SPEC.name] = study  # dataclasses look their module up
SPEC.loader.exec_module(study)


def _planted_outcomes(rng, strengths, games=200):
    """Honest a beats liar b with probability sigmoid(strength a - strength b + 0.5)."""
    outcomes = {}
    for a, sa in enumerate(strengths):
        for b, sb in enumerate(strengths):
            p = 1 / (1 + np.exp(-(sa - sb + 0.5)))
            outcomes[a, b] = rng.random(games) < p
    return outcomes


def test_strength_rows_order_debaters_and_take_debate_accuracy_from_self_play():
    rng = np.random.default_rng(0)
    names = ["random", "weak", "strong"]
    outcomes = _planted_outcomes(rng, [0.0, 1.0, 2.5])
    consultancy = {n: {"accuracy": 0.6, "ci95": [0.5, 0.7], "honest_consultant_win_rate": 0.9,
                       "lying_consultant_win_rate": 0.7} for n in names}
    rows, report, games = study.strength_rows(names, outcomes, consultancy, bootstrap=30, seed=0)
    by_name = {r["debater"]: r for r in rows}
    assert by_name["random"]["elo"] == 1000
    assert by_name["random"]["elo"] < by_name["weak"]["elo"] < by_name["strong"]["elo"]
    for i, name in enumerate(names):
        assert by_name[name]["debate_accuracy"] == pytest.approx(outcomes[i, i].mean())
        assert by_name[name]["debate_games"] == 200
    # self-pairings carry no information about strength and are left out of the ratings
    assert report["games"] == len(games) == 6 * 200 and all(g["honest"] != g["liar"] for g in games)


def test_trend_finds_the_sign_of_a_planted_relation():
    rows = [{"elo": e, "elo_ci95": [e - 20, e + 20], "debate_games": 400, "debate_accuracy": a,
             "consultancy_accuracy": 1 - a} for e, a in ((1000, 0.55), (1200, 0.65), (1400, 0.75), (1600, 0.85))]
    up = study.trend(rows, "debate", bootstrap=200, seed=0)
    down = study.trend(rows, "consultancy", bootstrap=200, seed=0)
    assert up["slope_per_100_elo"] == pytest.approx(0.05) and up["spearman_rho"] == pytest.approx(1.0)
    assert down["slope_per_100_elo"] == pytest.approx(-0.05)
    assert up["slope_ci95"][0] > 0 and down["slope_ci95"][1] < 0


@pytest.mark.slow  # over 45 s on 2 cores: `python -m pytest -m slow` (docs/tests.md)
def test_computation_setting_end_to_end(tmp_path):
    from training.self_play import SelfPlayConfig, train_self_play

    learned_run = tmp_path / "learned"
    train_self_play(SelfPlayConfig("computation", num_steps=8, games_per_iteration=8, num_simulations=4, hidden=16,
                                   train_steps_per_iteration=2),
                    learned_run, iterations=1, final_eval=False, progress=False)
    config = study.StudyConfig(settings=["computation"], games=16, bootstrap=10, computation_steps=8,
                               computation_debaters=["random", "mcts-expert-4", "expert"], checker_steps=5000,
                               batch_size=16, computation_self_play_run=str(learned_run),
                               computation_learned_simulations=4)
    results = study.run_study(config, tmp_path / "study", log=lambda *a: None)
    tmp_path = tmp_path / "study"
    setting = results["settings"][0]
    assert setting["judge"]["accuracy"] > 0.9  # the learned checker is nearly exact after 5,000 steps
    rows = {r["debater"]: r for r in setting["rows"]}
    assert set(rows) == {"random", "mcts-expert-4", "expert", "learned", "learned-mcts-4"}
    assert rows["expert"]["elo"] > rows["random"]["elo"] == 1000
    # an expert consultant that lies keeps its lie away from a random challenger most of the time
    # (it survives with probability 1 - 1/T before an exact checker)
    assert rows["expert"]["lying_consultant_win_rate"] > 0.5
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["settings"][0]["rows"] == json.loads(json.dumps(setting["rows"]))
    assert (tmp_path / "results.md").read_text().count("| expert |") == 1 and (tmp_path / "results.png").exists()
    assert saved["provenance"]["code_version"]
    # the league is also a tournament leaderboard, as the app's Results page reads them
    from training.tournament import load_leaderboard

    board = load_leaderboard(tmp_path / "leaderboards" / "computation" / "leaderboard.json")
    assert board["ratings"]["overall"]["expert"]["elo"] == rows["expert"]["elo"]
    assert all(g["honest"] != g["liar"] for g in board["games"]) and len(board["games"]) == 5 * 4 * 16
    assert "bisection debate" in (tmp_path / "leaderboards" / "computation" / "leaderboard.md").read_text()
