"""judges.human_adapter (stored human judgments -> judge training data) and `train-judge --from-judgments`."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from app.cli import app
from debate.records.storage import Store
from debate.records.transcript import Transcript, Turn
from debate.tasks.sparse_pixel.records import candidate_order
from judges.human_adapter import judgments_to_dataset, judgments_to_examples, load_examples, save_examples


def digit_transcript(image: np.ndarray, label: int, index: int, *, lie: int | None, n_turns: int = 4,
                     experiment: str | None = None) -> Transcript:
    """A debate on one 8x8 digit (0..255): the players alternately reveal its brightest pixels, so
    turn ``i`` plays candidate ``i`` (``candidate_order``: nonzero pixels brightest first, ties in
    raster order) and reveals that pixel."""
    flat = np.asarray(image).reshape(-1)
    order = candidate_order(flat, flat.size)[:n_turns]
    turns = [Turn(i, i % 2, i, {"row": int(a) // 8, "col": int(a) % 8, "value": int(flat[a])},
                  [0.7, 0.3], [0.05] * 9 + [0.55]) for i, a in enumerate(order)]
    return Transcript(task="sparse_pixel", instance_id=f"sklearn-digits:{index}",
                      protocol="debate_precommit_honest_first" if lie is not None else "debate_no_precommit_honest_first",
                      claims=[label, lie], roles=["honest", "liar"], debaters=["mcts", "mcts"], judge="j",
                      first_player=0, turns=turns, winner=0, verdict_claim=label, ground_truth=label,
                      seeds={}, instance={"height": 8, "width": 8, "pixels": image.reshape(-1).tolist()},
                      experiment=experiment)


@pytest.fixture
def url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'h.db'}"


@pytest.fixture
def seeded(url, digits):
    """Three debates on sklearn digits and four judgments by two people."""
    store = Store(url)
    exp = store.create_experiment("human-study", "debate", {})
    images = digits.images[:3]
    labels = [int(v) for v in digits.labels[:3]]
    ts = [digit_transcript(images[0], labels[0], 0, lie=(labels[0] + 1) % 10, experiment=exp),
          digit_transcript(images[1], labels[1], 1, lie=(labels[1] + 2) % 10, experiment=exp),
          digit_transcript(images[2], labels[2], 2, lie=None)]
    store.add_transcripts(ts)
    alice = store.get_or_create_annotator("alice")["id"]
    bob = store.get_or_create_annotator("bob")["id"]
    plan = [  # (transcript, annotator, verdict, confidence, turns_seen)
        (0, alice, labels[0], 0.9, 4),
        (1, alice, ts[1].claims[1], 0.6, 2),  # chose the liar after two turns
        (0, bob, ts[0].claims[1], 0.55, 1),
        (2, bob, 7 if labels[2] != 7 else 8, 0.7, 3),  # "not <honest>", naming a digit
    ]
    for i, who, verdict, conf, seen in plan:
        store.add_judgment(ts[i].id, who, int(verdict), conf, "why", "honest-left", 3.0, seen)
    yield store, ts, plan, images, exp
    store.close()


def test_examples_have_exactly_the_pixels_people_saw(seeded):
    store, ts, plan, images, exp = seeded
    data = judgments_to_dataset(store)
    views, labels, weights = judgments_to_examples(store)
    assert views.dtype == np.float32 and labels.dtype == np.int32 and weights.dtype == np.float32
    assert views.shape == (4, 8, 8, 2) and len(data) == 4 and data.num_classes == 10
    np.testing.assert_array_equal(views, data.views)
    for n, (i, _, verdict, conf, seen) in enumerate(plan):
        expected_mask = np.zeros((8, 8), np.float32)
        for turn in ts[i].turns[:seen]:
            expected_mask[turn.revealed["row"], turn.revealed["col"]] = 1.0
        np.testing.assert_array_equal(views[n, ..., 0], expected_mask)
        assert views[n, ..., 0].sum() == seen
        np.testing.assert_allclose(views[n, ..., 1], expected_mask * images[i] / 255.0, rtol=0, atol=1e-7)
        assert labels[n] == verdict and weights[n] == pytest.approx(conf)
        assert data.transcript_ids[n] == ts[i].id
    # filters are query_judgments' arguments
    only_exp = judgments_to_dataset(store, experiment_id=exp)
    assert len(only_exp) == 3 and ts[2].id not in only_exp.transcript_ids
    alice = store.get_or_create_annotator("alice")["id"]
    assert judgments_to_examples(store, annotator_id=alice)[1].tolist() == [plan[0][2], plan[1][2]]


def test_save_and_load_examples(seeded, tmp_path):
    store = seeded[0]
    views, labels, weights = judgments_to_examples(store)
    path = save_examples(tmp_path / "sub" / "ex.npz", views, labels, weights, judgment_ids=np.array(["a"] * 4))
    got = load_examples(path)
    for a, b in zip(got, (views, labels, weights)):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match=r"\.npz"):
        save_examples(tmp_path / "ex.txt", views, labels, weights)


def test_no_judgments_is_a_clear_error(url):
    store = Store(url)
    with pytest.raises(ValueError, match="no human judgments"):
        judgments_to_examples(store)
    result = CliRunner().invoke(app, ["train-judge", "--from-judgments", "--out", str(url.split("///")[1] + "-judge"),
                                      "--db", url])
    assert result.exit_code == 2, result.output
    lines = [l for l in result.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: no human judgments"), result.stderr
    assert "Traceback" not in result.output


def test_train_judge_from_judgments_writes_a_loadable_checkpoint(seeded, url, tmp_path):
    from training.judge_training import load_judge

    out = tmp_path / "human-judge"
    args = ["train-judge", "--from-judgments", "--out", str(out), "--db", url, "--architecture", "small",
            "--steps", "3", "--batch-size", "8", "--learning-rate", "0.001", "--checkpoint-every", "3"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, (result.output, result.exception)
    assert "trained 3 steps on 4 human judgments" in result.stdout
    model, config = load_judge(out)
    assert (config.judge.architecture, config.judge.height, config.judge.width, config.judge.num_classes) == (
        "small", 8, 8, 10)
    assert config.judge.num_reveals == 4 and config.steps == 3 and "4 human judgments" in config.data
    views, _, _ = judgments_to_examples(seeded[0])
    logits = np.asarray(model(views))
    assert logits.shape == (4, 10) and np.isfinite(logits).all()
    assert json.loads((out / "config.json").read_text())["kind"] == "sparse_pixel_judge"
    assert load_examples(out / "human-judgments.npz")[0].shape == (4, 8, 8, 2)


def test_weighted_training_validates_its_input(tmp_path):
    from judges.sparse_cnn import JudgeConfig
    from training.judge_training import TrainConfig, train_judge_on_examples

    config = TrainConfig(judge=JudgeConfig(architecture="small", height=8, width=8), steps=1, checkpoint_every=1)
    views = np.zeros((2, 8, 8, 2), np.float32)
    with pytest.raises(ValueError, match="one entry per view"):
        train_judge_on_examples(views, [1], [1.0, 1.0], config, tmp_path / "a")
    with pytest.raises(ValueError, match="not all zero"):
        train_judge_on_examples(views, [1, 2], [0.0, 0.0], config, tmp_path / "b")
    with pytest.raises(ValueError, match="0..9"):
        train_judge_on_examples(views, [1, 12], [1.0, 1.0], config, tmp_path / "c")
    with pytest.raises(ValueError, match="8x8"):
        train_judge_on_examples(np.zeros((2, 28, 28, 2)), [1, 2], [1.0, 1.0], config, tmp_path / "d")


# ------------------------------------------------------------------------------- text debates
def test_text_judgments_become_examples_and_fine_tune_the_quote_judge(tmp_path, url):
    import jax

    from debate.core.runner import Runner
    from debate.tasks.quote import data as quote_data
    from debate.tasks.quote.api import expert_debater
    from debate.tasks.quote.game import QuoteTask
    from debate.tasks.quote.records import LIAR, quote_games_to_transcripts
    from judges.human_adapter import text_judgments_to_dataset
    from judges.quote_judge import quote_judge_function
    from training.quote_judge_training import (QuoteTrainConfig, load_quote_judge, train_quote_judge,
                                               train_quote_judge_on_judgments, words_arrays, words_embedder,
                                               words_judge_config)

    questions = quote_data.load_questions("stories-easy", 300, seed=0)
    config, tokenizer = words_judge_config(questions, num_quotes=2, max_sentences=16)
    start = tmp_path / "start"
    model, _ = train_quote_judge(words_arrays(questions, tokenizer, config),
                                 QuoteTrainConfig(judge=config, steps=150, checkpoint_every=150), start,
                                 tokenizer=tokenizer, progress=False, log=lambda *a: None)
    played = quote_data.load_questions("stories-easy", 24, seed=1)
    task = QuoteTask(num_quotes=2, max_sentences=16, dim=config.dim, encoder="words")
    judge_fn, params = quote_judge_function(model)
    expert = expert_debater(task)
    games = Runner(task, judge_fn, params, [expert, expert], batch_size=24).play(
        quote_data.instances_of(played, words_embedder(model, tokenizer), task), 0, jax.random.key(0))
    transcripts = quote_games_to_transcripts(games, played, task, "debate_honest_first", ("expert", "expert"),
                                             "words", seed=0)
    store = Store(url)
    with pytest.raises(ValueError, match="no human judgments of text debates are stored"):
        text_judgments_to_dataset(store)
    store.add_transcripts(transcripts)
    person = store.get_or_create_annotator("contrarian")["id"]
    # a person who always sides with the liar, having seen the first quote only (half of them) or both
    for i, t in enumerate(transcripts):
        store.add_judgment(t.id, person, t.claims[LIAR], confidence=0.9 if i % 3 else 0.6, explanation="x",
                           side_order="honest-left", seconds_spent=5.0, turns_seen=1 + i % 2)
    examples = text_judgments_to_dataset(store)
    assert len(examples) == 24 and examples.quote_index.shape == (24, 2)
    by_id = {t.id: t for t in transcripts}
    for i, tid in enumerate(examples.transcript_ids):
        t = by_id[tid]
        seen = 1 + i % 2
        np.testing.assert_array_equal(examples.quote_valid[i], [True, seen == 2])
        assert list(examples.quote_index[i, :seen]) == [turn.revealed["sentence"] for turn in t.turns[:seen]]
        assert list(examples.side[i, :seen]) == [t.claim_of(turn.player) for turn in t.turns[:seen]]
        assert examples.labels[i] == t.claims[LIAR] and examples.questions[i].sentences == tuple(t.instance["sentences"])
    np.testing.assert_allclose(examples.weights, [0.9 if i % 3 else 0.6 for i in range(24)])

    out = tmp_path / "human"
    tuned, summary = train_quote_judge_on_judgments(examples, start, out, steps=300, learning_rate=1e-3, progress=False, log=lambda *a: None)
    assert np.isfinite(summary["final_loss"])  # unseen quote slots (zero vectors) must not give NaN gradients
    assert summary["agreement_before"] <= 0.5 < 0.9 <= summary["agreement_after"]
    reloaded, reloaded_config, _ = load_quote_judge(out)
    assert reloaded_config.steps == 300 and "24 human judgments" in reloaded_config.data
    again, summary2 = train_quote_judge_on_judgments(examples, start, out, steps=300, learning_rate=1e-3, progress=False, log=lambda *a: None)
    assert summary2["final_loss"] is None and summary2["agreement_after"] == summary["agreement_after"]

    # the same through the command line; without a start judge: one sentence
    cli = tmp_path / "cli"
    result = CliRunner().invoke(app, ["train-judge", "--from-judgments", "--text", "--start-judge", str(start), "--out",
                                      str(cli), "--db", url, "--steps", "40", "--learning-rate", "1e-3"])
    assert result.exit_code == 0, result.output
    assert "fine-tuned 40 steps on 24 human judgments of text debates" in result.output
    assert load_quote_judge(cli)[1].steps == 40
    result = CliRunner().invoke(app, ["train-judge", "--from-judgments", "--text", "--out", str(cli), "--db", url])
    assert result.exit_code == 2 and "--text needs --start-judge DIR" in result.output
