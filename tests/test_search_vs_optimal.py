"""The search-vs-optimal study in quick mode: runs end to end in a subprocess and writes results whose
numbers agree with the per-game exact values they record.

Slow: the quick study trains two judges and compiles four searches; it took 146 s here (about 64 s of
CPU) on two shared cores."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
STUDY = ROOT / "experiments" / "search_vs_optimal" / "study.py"


pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def quick_results(tmp_path_factory):
    out = tmp_path_factory.mktemp("search_vs_optimal")
    proc = subprocess.run([sys.executable, str(STUDY), "--quick", "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out, json.loads((out / "results.json").read_text())


def test_quick_study_results(quick_results):
    out, results = quick_results
    config = results["config"]
    sims = config["simulations"]
    assert results["study"] == "search_vs_optimal"
    assert {"code_version", "packages", "created_at"} <= set(results["provenance"])
    assert results["wall_seconds"] > 0 and results["seeds"]["seed"] == config["seed"]
    names = [f"{s['dataset']} K={s['num_reveals']} C={s['max_candidates']}" for s in config["settings"]]
    assert [s["name"] for s in results["settings"]] == names
    assert {r["setting"] for r in results["rows"]} == set(names)

    for setting in results["settings"]:
        rows = [r for r in results["rows"] if r["setting"] == setting["name"]]
        games = setting["games"]
        assert len(games) == 2 * config["instances"]
        assert sum(g["first"] == "honest_first" for g in games) == config["instances"]

        def row(**match):
            found = [r for r in rows if all(r.get(k) == v for k, v in match.items())]
            assert len(found) == 1, match
            return found[0]

        # every accuracy cell present, a fraction with a Wilson interval around it
        for cond in ("judge_alone", "judge_all_candidates"):
            r = row(kind="accuracy", condition=cond)
            assert r["n"] == config["held_out"]
        for order in ("both", "honest_first", "liar_first"):
            row(kind="accuracy", condition="debate_optimal", order=order)
            for s in sims:
                row(kind="accuracy", condition="debate_mcts", order=order, simulations=s)
        for r in rows:
            if r["kind"] == "accuracy":
                assert 0 <= r["ci95"][0] <= r["accuracy"] <= r["ci95"][1] <= 1

        # the optimal-play honest-win rate is the share of exact game values that are +1
        values = np.array([g["value"] for g in games])
        assert set(values.tolist()) <= {-1.0, 1.0}
        assert row(condition="debate_optimal", order="both")["accuracy"] == pytest.approx((values > 0).mean(), abs=1e-4)
        for order in ("honest_first", "liar_first"):
            sub = np.array([g["value"] for g in games if g["first"] == order])
            r = row(condition="debate_optimal", order=order)
            assert r["n"] == len(sub) and r["accuracy"] == pytest.approx((sub > 0).mean(), abs=1e-4)

        exploit_seen = 0
        for s in sims:
            search = row(kind="search", simulations=s)
            played = [g["mcts"][str(s)] for g in games]
            outcome = np.array([m["outcome"] for m in played])
            for key in ("match_optimal", "honest_blunder_games", "liar_blunder_games", "optimal_move_share"):
                assert 0.0 <= search[key] <= 1.0
            assert search["match_optimal"] == pytest.approx((outcome == values).mean(), abs=1e-4)
            assert row(condition="debate_mcts", order="both", simulations=s)["accuracy"] == pytest.approx(
                (outcome > 0).mean(), abs=1e-4)
            for m, g in zip(played, games):
                assert len(m["actions"]) == setting["num_reveals"] == m["moves"]
                # an outcome differs from the game value only after an odd number of blunders
                assert (m["outcome"] != g["value"]) == ((m["honest_blunders"] + m["liar_blunders"]) % 2 == 1)
                if "exploitability" in m:
                    exploit_seen += 1
                    for side in ("honest", "liar"):
                        assert 0.0 <= m["exploitability"][side] <= 2.0
                    br = m["best_response_value"]
                    assert br["honest"] == pytest.approx(g["value"] - m["exploitability"]["honest"], abs=1e-3)
                    assert br["liar"] == pytest.approx(g["value"] + m["exploitability"]["liar"], abs=1e-3)
            for side in ("honest", "liar"):
                if search[f"exploitability_{side}"] is not None:
                    assert 0.0 <= search[f"exploitability_{side}"] <= search[f"exploitability_{side}_max"] <= 2.0
        assert exploit_seen > 0  # the quick settings are small enough to score exploitability

    md = (out / "results.md").read_text()
    assert all(name in md for name in names) and "Search against the exact solution" in md
    png = out / "results.png"
    assert png.stat().st_size > 10_000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "judges").is_dir()  # judges cached beside the results for reruns
