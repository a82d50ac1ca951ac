"""The one debater grammar (``debate.core.names``): every surface parses names the same way."""

import pytest

from debate.core import names
from debate.tasks.computation.game import ComputationTask, exact_checker
from debate.tasks.sparse_pixel.game import SparsePixelTask

COMPUTATION_KINDS = ("expert", "mcts", "mcts-expert")


@pytest.mark.parametrize("text, kind, simulations, algorithm, checkpoint", [
    ("random", "random", 0, "gumbel", None),
    ("greedy", "greedy", 0, "gumbel", None),
    ("mcts-64", "mcts", 64, "gumbel", None),
    ("mcts-gumbel-8", "mcts", 8, "gumbel", None),
    ("mcts-muzero-16", "mcts", 16, "muzero", None),
    ("learned:runs/a", "learned", 0, "gumbel", "runs/a"),
    ("learned-mcts-4:runs/b", "learned-mcts", 4, "gumbel", "runs/b"),
])
def test_generic_kinds(text, kind, simulations, algorithm, checkpoint):
    spec = names.parse_debater_spec(text)
    assert (spec.kind, spec.simulations, spec.algorithm, spec.checkpoint) == (kind, simulations, algorithm, checkpoint)


def test_task_kinds_need_the_task():
    assert names.parse_debater_spec("mcts-expert-32", COMPUTATION_KINDS).kind == "mcts-expert"
    assert names.parse_debater_spec("expert", COMPUTATION_KINDS).simulations == names.DEFAULT_SIMULATIONS
    with pytest.raises(ValueError, match="unknown debater 'expert'"):
        names.parse_debater_spec("expert")  # the pixel task has no expert


@pytest.mark.parametrize("text", ["mcts", "mcts-0", "mcts-99999999", "learned:", "alphabeta-3", "MCTS-8", ""])
def test_bad_names_get_one_sentence(text):
    with pytest.raises(ValueError) as info:
        names.parse_debater_spec(text)
    assert "\n" not in str(info.value) and len(str(info.value)) < 200


def test_build_uses_the_task_registry():
    task = ComputationTask(num_steps=8, modulus=7)
    judge_fn = exact_checker(task)
    assert names.build_debater("expert", task, judge_fn).name == "expert"
    assert names.build_debater("mcts-expert-8", task, judge_fn).name == "mcts-expert-8"
    assert names.build_debater("mcts-8", task, judge_fn).name == "mcts-gumbel-8"
    pixel = SparsePixelTask(num_reveals=2, height=4, width=4)
    assert names.build_debater("mcts-muzero-4", pixel, lambda p, v: v.sum((1, 2))).name == "mcts-muzero-4"
    with pytest.raises(ValueError, match="learned network"):
        names.build_debater("learned:somewhere", pixel, None)


def test_search_settings_read_engine_names():
    assert names.search_settings("mcts-gumbel-64") == ("gumbel", 64)
    assert names.search_settings("mcts-muzero-8") == ("muzero", 8)
    assert names.search_settings("greedy") is None and names.search_settings("human:bob") is None
