"""training.tournament without playing: debater specs, learned-debater wiring, image and lie choice,
leaderboard files. (The command line plays a real tiny tournament in tests/test_cli.py.)"""

from __future__ import annotations

import json
import sys
import types

import numpy as np
import pytest

from debate.tasks.sparse_pixel.data import ImageDataset
from training import tournament as T


@pytest.mark.parametrize("text, kind, simulations, checkpoint", [
    ("random", "random", 0, None),
    ("greedy", "greedy", 0, None),
    ("mcts-64", "mcts", 64, None),
    ("learned:runs/a", "learned", 0, "runs/a"),
    ("learned-mcts-16:runs/b", "learned-mcts", 16, "runs/b"),
])
def test_parse_debater_spec(text, kind, simulations, checkpoint):
    spec = T.parse_debater_spec(text)
    assert (spec.spec, spec.kind, spec.simulations, spec.checkpoint) == (text, kind, simulations, checkpoint)


@pytest.mark.parametrize("text", ["mcts", "mcts-", "MCTS-8", "learned", "learned:", "learned-mcts:dir", "minimax"])
def test_unknown_specs_are_refused(text):
    with pytest.raises(ValueError, match="unknown debater|names no checkpoint") as info:
        T.parse_debater_spec(text)
    assert "\n" not in str(info.value)


def test_learned_specs_bind_the_network_parameters(tmp_path, monkeypatch):
    """load_learned_debater's select takes (judge_params, net_params); the tournament passes judge params only."""
    from debate.core.debaters import Debater

    calls = []

    def load_learned_debater(checkpoint_dir, task, judge_fn, num_simulations):
        calls.append((checkpoint_dir, num_simulations))
        return Debater("net", lambda params, key, state: ("select", params, key, state)), {"w": 1}

    monkeypatch.setitem(sys.modules, "training.self_play", types.SimpleNamespace(load_learned_debater=load_learned_debater))
    for text, simulations in ((f"learned:{tmp_path}", 0), (f"learned-mcts-4:{tmp_path}", 4)):
        (spec,) = [s for s in T.parse_debater_specs(["random", text]) if s.kind.startswith("learned")]
        debater = T.build_debater(spec, task=None, judge_fn=None)
        assert debater.select("judge", "key", "state") == ("select", ("judge", {"w": 1}), "key", "state")
        assert debater.search is None and calls[-1] == (tmp_path, simulations)


def test_learned_specs_without_self_play_are_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "training.self_play", None)  # import fails as if the module were missing
    (spec,) = T.parse_debater_specs([f"learned:{tmp_path}", "random"])[:1]
    with pytest.raises(ValueError, match="needs training.self_play.load_learned_debater, which this installation lacks"):
        T.build_debater(spec, task=None, judge_fn=None)


def test_tournament_images_skip_sparse_images_cycle_and_lie():
    images = np.zeros((6, 4, 4), np.uint8)
    for i, n in enumerate([5, 1, 5, 5, 0, 5]):  # images 1 and 4 have fewer than K=2 nonzero pixels
        images[i].reshape(-1)[:n] = 200
    data = ImageDataset(images, np.array([0, 1, 2, 3, 4, 5], np.int32), 10, "tiny", "test")
    index, lies, note = T.tournament_images(data, start=1, games=5, k=2, num_classes=10, seed=0)
    assert index.tolist() == [2, 3, 5, 2, 3]  # from image 1 on, sparse ones skipped, reused in turn
    assert all(l != y and 0 <= l < 10 for l, y in zip(lies, data.labels[index]))
    assert "reused in turn" in note
    again, lies_again, _ = T.tournament_images(data, start=1, games=5, k=2, num_classes=10, seed=0)
    assert lies_again.tolist() == lies.tolist()
    with pytest.raises(ValueError, match="choose a smaller --pixels"):
        T.tournament_images(data, start=0, games=1, k=20, num_classes=10, seed=0)
    with pytest.raises(ValueError, match="outside tiny"):
        T.tournament_images(data, start=6, games=1, k=1, num_classes=10, seed=0)


def test_leaderboard_files_round_trip_and_bad_files(tmp_path):
    games = [("a", "b", "honest"), ("b", "a", "liar"), ("a", "b", "liar"), ("b", "a", "honest")]
    board = T.leaderboard_from_games([{"honest": h, "liar": l, "winner": w} for h, l, w in games],
                                     {"games": 2}, bootstrap=10)
    T.write_leaderboard(board, tmp_path / "run")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / T.LEADERBOARD_FILE).write_text("not json")
    found = T.find_leaderboard_files([tmp_path, tmp_path / "missing"])
    assert [p.parent.name for p in found] == ["bad", "run"]
    assert T.load_leaderboard(tmp_path / "run" / T.LEADERBOARD_FILE)["ratings"] == json.loads(json.dumps(board["ratings"]))
    with pytest.raises(ValueError, match="could not be read as JSON"):
        T.load_leaderboard(found[0])
    assert board["pairs"] == [{"a": "a", "b": "b", "games": 4, "a_wins": 2, "a_win_rate": 0.5}]
    assert T.head_to_head_matrix(board) == {"a": {"a": None, "b": 0.5}, "b": {"a": 0.5, "b": None}}
    md = (tmp_path / "run" / "leaderboard.md").read_text()
    assert "| a |" in md and "honest \\ liar" in md and "anchored at a mean rating of 1000" in md
