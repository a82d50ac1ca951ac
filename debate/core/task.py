"""The one shape every task has: a ``Task`` protocol, players with teams, and per-task instances.

A task is a pure, batched game in the style of pgx. Shapes below use ``B`` for the batch, ``A`` for
``num_actions``, ``N`` for ``num_players`` and ``C`` for the number of claims (one per team).

- An **instance** (one ``flax.struct`` pytree class per task, every leaf with the batch axis first)
  carries everything ``init`` needs: an image, its label and the liar's claim; a computation's seed
  and the liar's final value; a passage and its question. ``init(instance, first_player)`` is the
  same call for every task.
- **Players** are ids ``0..N-1``. ``task.player_teams[i]`` is the team of player ``i``; team ``t``
  argues claim ``t``. Team ``HONEST_TEAM`` (0) argues the truth: the honest/liar game is two players
  on two teams, consultancy is one team that moves several times. A value "for the honest team" is
  positive when team 0 is winning.
- A **state** is a ``flax.struct`` pytree with at least ``current_player [B]``,
  ``legal_action_mask [B, A]``, ``terminated [B]``, ``turn [B]`` and ``claims [B, C]``.

Rules the engine relies on (the conformance test, ``tests/test_task_conformance.py``, checks every
registered task): ``step`` is a no-op on a finished game and on an illegal action (search expands
past terminals); the legal mask is empty once a game is over; every game ends within ``num_turns``
moves; rows of a batch never affect each other; within one batch every unfinished game has the same
player to move at each turn when all games started with the same first player (so the play loop
can pick one debater per turn); ``merge_static(static, split_static(state)[1])`` gives the state back.

A task **package** ``debate/tasks/<name>/`` is found by the registry (``debate.tasks``). Its
``__init__`` stays light (the app imports it to render) and exposes ``RENDERER``
(a ``debate.records.rendering.TaskRenderer``). Its ``api`` module (``debate.tasks.api(name)``) is
the engine-facing surface:

- ``NAME``, ``Task`` (the class), ``make_task(**config)``;
- ``example(key, num_games, task=None) -> (task, instance)``: a small game and random instances
  that need no data files (tests, demos, the conformance test);
- ``to_transcripts(task, games, *, protocol, debaters, judge, seed, instance_ids=None,
  experiment=None)``: a ``debate.core.runner.Games`` record as validated transcripts;
- ``task_of(transcript)``, ``instance_of(transcript)`` (a batch of one) and
  ``check_turn(task, state, turn, transcript)`` (raise ``ValueError`` when a stored turn disagrees
  with what its action does): ``debate.core.replay.replay_transcript`` needs nothing else;
- ``DEBATER_KINDS``: ``{kind: (task, judge_fn, simulations) -> Debater}`` for the task's own
  debaters (the computation task's ``expert``, ``mcts-expert``), named in the one debater grammar;
- optionally ``NetworkConfig``, ``make_network(config, seed)``, ``network_function(task, model)``
  (the task's policy/value network, ``<name>/network.py``) and ``SELF_PLAY`` (``<name>/self_play.py``:
  what the one self-play loop, ``training.self_play``, needs from the task; described there).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import jax
import jax.numpy as jnp

HONEST_TEAM = 0  # the team that argues the true answer

State = Any  # a task's flax.struct state pytree
Instance = Any  # a task's flax.struct instance pytree


@runtime_checkable
class Task(Protocol):
    """What the engine (play loop, runner, debaters, search, exact solver) needs from a task."""

    name: str

    @property
    def num_actions(self) -> int:
        """A, the size of the action space (one space for every move of the game)."""

    @property
    def num_turns(self) -> int:
        """The most moves a game can have."""

    @property
    def player_teams(self) -> tuple[int, ...]:
        """Team of each player id; ``len`` is the number of players N."""

    def init(self, instance: Instance, first_player) -> State:
        """A batch of games from ``instance`` (leaves [B, ...]); ``first_player`` a scalar or [B]."""

    def step(self, state: State, action: jax.Array) -> State:
        """One move per game (``action [B]``); a no-op on finished games and illegal actions."""

    def judge_view(self, state: State) -> jax.Array:
        """What the judge sees, [B, ...]: a judge is a function ``(params, view) -> logits``."""

    def claim_probs(self, state: State, logits: jax.Array) -> jax.Array:
        """[B, C] the judge's probability for each claim."""

    def honest_margin(self, state: State, logits: jax.Array) -> jax.Array:
        """[B] positive when the honest team wins (the judge's margin for the true claim)."""

    def split_static(self, state: State) -> tuple[State, Any]:
        """(the part fixed for a game, the small part moves change): search trees store the latter."""

    def merge_static(self, static: State, moving: Any) -> State:
        """The full state from any state of the same games and a moving part."""

    def record_extras(self, final: State, actions: jax.Array) -> dict[str, jax.Array]:
        """Per-game arrays a games record keeps besides the generic ones (e.g. revealed pixels)."""


class ExactlySolvable(Task, Protocol):
    """Tasks whose small instances ``debate.analysis.tree.solve_exact`` can enumerate."""

    def state_key(self, state: State) -> jax.Array:
        """[B, k] int32 rows equal exactly when two states of one game have the same future."""

    def tree_size_bound(self, state: State, game_index: int = 0) -> int:
        """An upper bound on the distinct states of one game, computed without expanding any."""


def num_players(task: Task) -> int:
    return len(task.player_teams)


def num_teams(task: Task) -> int:
    return len(set(task.player_teams))


def team_of(task: Task, player: jax.Array) -> jax.Array:
    """The team of each player id in ``player`` (any shape)."""
    return jnp.asarray(task.player_teams, jnp.int32)[player]


def honest_sign(task: Task, player: jax.Array) -> jax.Array:
    """+1 for players of the honest team, -1 for the others: turns an honest-team value into the
    value for ``player`` in a two-team game."""
    return jnp.where(team_of(task, player) == HONEST_TEAM, 1.0, -1.0)


def require_two_teams(task: Task, what: str) -> None:
    """Zero-sum search backs values up with +1 to a teammate and -1 to an opponent; with more than
    two teams that is not a game value, so refuse it in one sentence."""
    teams = num_teams(task)
    if teams > 2:
        raise ValueError(f"{what} needs a game of two teams but task {task.name!r} has {teams}; search for "
                         "more than two teams (max-n or coalitions) does not exist yet: use random or greedy debaters.")
