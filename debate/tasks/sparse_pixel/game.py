"""The sparse-pixel debate game of Irving, Christiano & Amodei (2018), section 3.1.

Two players argue about the class of an image the judge cannot see. They alternately reveal one
not-yet-revealed nonzero pixel; revealed pixels are always true. After ``num_reveals`` pixels the
judge sees two planes (which pixels are revealed, and their values) and decides.

Pure, batched and ``jax.jit``-able in the style of pgx: ``init`` builds a batch of games, ``step``
applies one action per game and is a no-op on finished games (search keeps expanding past
terminals). Players are ids: player ``HONEST`` (0) argues the true class, player ``LIAR`` (1) a
wrong one. Any image size and any number of classes work.

The action space is a per-image list of *candidate pixels* (flat indices, brightest first). With
``max_candidates = H * W`` every pixel of the image is a candidate and the game is exactly the
paper's; a smaller list keeps the search tree small (the tree holds ``[batch, sims, actions]``
arrays) at the price of leaving the dimmest pixels out of play for images with more nonzero
pixels than candidates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
from flax import struct
from typing import Callable
import numpy as np

HONEST = 0
LIAR = 1
NUM_PLAYERS = 2
NO_CLAIM = -1  # the liar without precommitment argues "any class but the true one"
#: Images larger than this many pixels play on their brightest pixels only (as the reproduction).
DEFAULT_MAX_CANDIDATES = 256


def default_max_candidates(height: int, width: int) -> int | None:
    """Every pixel is an action on small images; 28x28 images play on their 256 brightest pixels."""
    return None if height * width <= DEFAULT_MAX_CANDIDATES else DEFAULT_MAX_CANDIDATES


@struct.dataclass
class Instance:
    """What one game starts from (every leaf [B, ...]): the image, its true class, and the liar's
    claim (``NO_CLAIM`` for debate without precommitment)."""

    image: jax.Array  # [B, H, W] float32 in [0, 1] or uint8 0..255
    label: jax.Array  # [B] int32
    liar_claim: jax.Array  # [B] int32


@struct.dataclass
class State:
    image: jax.Array  # [B, H, W] float32 in [0, 1]
    label: jax.Array  # [B] int32, the true class
    claims: jax.Array  # [B, NUM_PLAYERS] int32, claim of each player id (NO_CLAIM = uncommitted)
    candidates: jax.Array  # [B, A] int32 flat pixel index of each action, -1 where unused
    mask: jax.Array  # [B, H, W] float32, 1 where revealed
    revealed_by: jax.Array  # [B, A] int32, player who revealed each candidate, -1 if hidden
    legal_action_mask: jax.Array  # [B, A] bool
    current_player: jax.Array  # [B] int32
    first_player: jax.Array  # [B] int32
    turn: jax.Array  # [B] int32, reveals made so far
    terminated: jax.Array  # [B] bool


@dataclass(frozen=True)
class SparsePixelTask:
    """Static configuration of the game; the methods are pure functions of arrays."""

    num_reveals: int  # K, the total number of pixels revealed by both players
    height: int = 28
    width: int = 28
    num_classes: int = 10
    max_candidates: int | None = None  # None: every pixel is an action

    name = "sparse_pixel"
    player_teams = (HONEST, LIAR)  # player 0 argues the true class, player 1 a lie

    def __post_init__(self):
        if self.num_reveals < 1:
            raise ValueError(f"num_reveals must be at least 1 (got {self.num_reveals}).")
        if self.num_classes < 2:
            raise ValueError(f"a debate needs at least 2 classes (got {self.num_classes}).")

    @property
    def num_actions(self) -> int:
        pixels = self.height * self.width
        return pixels if self.max_candidates is None else min(self.max_candidates, pixels)

    @property
    def num_turns(self) -> int:
        """The most moves a game can have (task interface): one per reveal."""
        return self.num_reveals

    # ------------------------------------------------------------------ game
    def init(self, instance: Instance, first_player) -> State:
        """A batch of games from ``instance``; ``first_player`` scalar or [B]."""
        images = _as_unit_float(instance.image)
        batch = images.shape[0]
        labels = jnp.asarray(instance.label, jnp.int32)
        claims = jnp.stack([labels, jnp.asarray(instance.liar_claim, jnp.int32)], axis=1)
        candidates = candidate_pixels(images, self.num_actions)
        legal = candidates >= 0
        first = jnp.broadcast_to(jnp.asarray(first_player, jnp.int32), (batch,))
        return State(
            image=images,
            label=labels,
            claims=claims,
            candidates=candidates,
            mask=jnp.zeros_like(images),
            revealed_by=jnp.full(candidates.shape, -1, jnp.int32),
            legal_action_mask=legal,
            current_player=first,
            first_player=first,
            turn=jnp.zeros((batch,), jnp.int32),
            terminated=~legal.any(axis=1),
        )

    def step(self, state: State, action) -> State:
        """Reveal candidate ``action`` [B] for the player to move. An illegal action or a finished
        game leaves the state unchanged (pgx convention is to punish; here search and replay only
        ever send legal moves, and a no-op keeps ``step`` total)."""
        action = jnp.asarray(action, jnp.int32)
        batch_index = jnp.arange(state.turn.shape[0])
        in_range = (action >= 0) & (action < self.num_actions)
        action = jnp.clip(action, 0, self.num_actions - 1)  # indexing only: out-of-range moves are illegal
        legal = state.legal_action_mask[batch_index, action] & in_range
        active = legal & ~state.terminated
        pixel = state.candidates[batch_index, action]
        flat_mask = state.mask.reshape(state.mask.shape[0], -1)
        flat_mask = flat_mask.at[batch_index, jnp.maximum(pixel, 0)].max(active.astype(flat_mask.dtype))
        revealed_by = state.revealed_by.at[batch_index, action].set(
            jnp.where(active, state.current_player, state.revealed_by[batch_index, action])
        )
        turn = state.turn + active
        legal_mask = (state.candidates >= 0) & (revealed_by < 0)
        # A game also ends when no nonzero pixel is left to reveal (tiny images, large K).
        terminated = state.terminated | (turn >= self.num_reveals) | ~legal_mask.any(axis=1)
        legal_mask = legal_mask & ~terminated[:, None]
        next_player = jnp.where(active, (state.current_player + 1) % NUM_PLAYERS, state.current_player)
        return state.replace(
            mask=flat_mask.reshape(state.mask.shape),
            revealed_by=revealed_by,
            legal_action_mask=legal_mask,
            current_player=next_player,
            turn=turn,
            terminated=terminated,
        )

    # ------------------------------------------- compact states for search trees
    def split_static(self, state: State) -> tuple[State, tuple]:
        """Split into the parts fixed for a game (image, claims, candidates) and the small part
        that moves change. A search tree stores one state per node; storing only the moving part
        keeps its bookkeeping from growing with the image size (see ``merge_static``)."""
        # int8 player ids: a quarter of the bytes per node (at most 127 players).
        moving = (state.revealed_by.astype(jnp.int8), state.current_player, state.turn, state.terminated)
        return state, moving

    def merge_static(self, static: State, moving: tuple) -> State:
        """The full state from ``static`` (any state of the same games) and a moving part."""
        revealed_by, current_player, turn, terminated = moving
        revealed_by = revealed_by.astype(jnp.int32)
        revealed = revealed_by >= 0
        batch = revealed.shape[0]
        flat = jnp.zeros((batch, self.height * self.width), jnp.float32)
        flat = flat.at[jnp.arange(batch)[:, None], jnp.maximum(static.candidates, 0)].max(
            (revealed & (static.candidates >= 0)).astype(jnp.float32))
        legal = (static.candidates >= 0) & ~revealed & ~terminated[:, None]
        return static.replace(mask=flat.reshape(static.mask.shape), revealed_by=revealed_by,
                              legal_action_mask=legal, current_player=current_player, turn=turn,
                              terminated=terminated)

    # ------------------------------------------- exact game trees (debate.analysis.exact.solve_exact)
    # Task interface for exact solving: ``num_turns``, ``state_key`` and ``tree_size_bound``.
    def state_key(self, state: State) -> jax.Array:
        """[B, A + 2] int32 rows that are equal exactly when two states of the same game have the same
        future and the same verdict: which candidates are revealed (0/1 each; the order of reveals and
        who revealed them do not matter to the judge), the player to move, and whether it is over.
        ``debate.analysis.exact.solve_exact`` merges states with equal keys into one node."""
        revealed = (state.revealed_by >= 0).astype(jnp.int32)
        return jnp.concatenate(
            [revealed, state.current_player[:, None].astype(jnp.int32), state.terminated[:, None].astype(jnp.int32)],
            axis=1)

    def tree_size_bound(self, state: State, game_index: int = 0) -> int:
        """An upper bound (a Python int) on the distinct states of game ``game_index`` from ``state``:
        every set of at most K' of the n legal candidates, sum over d = 0..K' of C(n, d), where K' is
        the number of reveals left. Cheap: nothing is expanded."""
        if bool(state.terminated[game_index]):
            return 1
        n = int(jnp.sum(state.legal_action_mask[game_index]))
        left = max(0, self.num_reveals - int(state.turn[game_index]))
        return sum(math.comb(n, d) for d in range(min(left, n) + 1))

    # ------------------------------------------------------- what the judge sees
    def judge_view(self, state: State) -> jax.Array:
        """[B, H, W, 2]: the mask plane and the revealed values (zero where hidden)."""
        return jnp.stack([state.mask, state.mask * state.image], axis=-1)

    def honest_margin(self, state: State, logits: jax.Array) -> jax.Array:
        """Judge logit of the honest claim minus that of the opposing claim: the liar's class with
        precommitment, the best other class without. Positive means the honest player wins."""
        return claim_margin(logits, state.claims[:, HONEST], state.claims[:, LIAR])

    def claim_probs(self, state: State, logits: jax.Array) -> jax.Array:
        """[B, 2] judge probability of each player's claim: softmax over the two committed claims,
        or p(true class) vs p(any other class) without precommitment."""
        honest_p = jax.nn.sigmoid(self.honest_margin(state, logits))
        probs_all = jax.nn.softmax(logits, axis=-1)
        p_true = jnp.take_along_axis(probs_all, state.claims[:, HONEST, None], axis=1)[:, 0]
        honest_p = jnp.where(state.claims[:, LIAR] == NO_CLAIM, p_true, honest_p)
        return jnp.stack([honest_p, 1.0 - honest_p], axis=1)

    def record_extras(self, final: State, actions: jax.Array) -> dict:
        """``pixels`` [B, T, 2]: the (row, col) revealed at each turn, for transcripts."""
        return {"pixels": self.action_pixels(final, actions)}

    def action_pixels(self, state: State, actions: jax.Array) -> jax.Array:
        """(row, col) of candidate ``actions`` [B, T] of each game: [B, T, 2]; renders turns."""
        pixel = jnp.take_along_axis(jnp.maximum(state.candidates, 0), actions, axis=1)
        return jnp.stack([pixel // self.width, pixel % self.width], axis=-1)


def instances(images, labels, liar_claims) -> Instance:
    """An ``Instance`` batch from parallel arrays (numpy stays numpy: the runner pads and shards)."""
    return Instance(image=images, label=labels, liar_claim=liar_claims)


def claim_margin(logits, honest_claim, liar_claim):
    """logit[honest] - logit[liar]; with ``liar_claim == NO_CLAIM``, minus the best other class."""
    num_classes = logits.shape[-1]
    honest_logit = jnp.take_along_axis(logits, honest_claim[:, None], axis=1)[:, 0]
    liar_logit = jnp.take_along_axis(logits, jnp.maximum(liar_claim, 0)[:, None], axis=1)[:, 0]
    others = jnp.where(jax.nn.one_hot(honest_claim, num_classes, dtype=bool), -jnp.inf, logits)
    best_other = others.max(axis=1)
    return honest_logit - jnp.where(liar_claim == NO_CLAIM, best_other, liar_logit)


def candidate_pixels(images, num_candidates: int) -> jax.Array:
    """[B, num_candidates] flat indices of nonzero pixels, brightest first (ties by index), -1 pad."""
    flat = images.reshape(images.shape[0], -1)
    # Stable sort on -value keeps equal-brightness pixels in raster order, so candidates are
    # deterministic and identical on every device.
    order = jnp.argsort(-flat, axis=1, stable=True)[:, :num_candidates].astype(jnp.int32)
    nonzero = jnp.take_along_axis(flat, order, axis=1) > 0
    return jnp.where(nonzero, order, -1)


def random_nonzero_mask(key, images, num_pixels: int) -> jax.Array:
    """[B, H, W] float mask of ``num_pixels`` distinct nonzero pixels chosen uniformly per image
    (all nonzero pixels where an image has fewer). The judge-alone condition and judge training."""
    images = _as_unit_float(images)
    flat = images.reshape(images.shape[0], -1)
    scores = jnp.where(flat > 0, jax.random.uniform(key, flat.shape), -1.0)
    _, top = jax.lax.top_k(scores, num_pixels)
    chosen = jnp.take_along_axis(scores, top, axis=1) >= 0
    mask = jnp.zeros_like(flat).at[jnp.arange(flat.shape[0])[:, None], top].max(chosen.astype(flat.dtype))
    return mask.reshape(images.shape)


def masked_view(images, mask) -> jax.Array:
    """The judge's two planes for an arbitrary mask (no game needed)."""
    images = _as_unit_float(images)
    return jnp.stack([mask, mask * images], axis=-1)


def _as_unit_float(images) -> jax.Array:
    images = jnp.asarray(images)
    if images.dtype == jnp.uint8:
        return images.astype(jnp.float32) / 255.0
    return images.astype(jnp.float32)


def pixel_action_labels(candidates_row, width: int) -> Callable[[int], str]:
    """Labels for the sparse-pixel task: candidate index -> "(row, col)" of its pixel, using one
    game's candidate list (``state.candidates[b]``); "-" for padding (-1) or an index out of range."""
    row = np.asarray(candidates_row)
    if row.ndim != 1:
        raise ValueError(f"candidates_row must be one game's 1-D candidate list (got shape {row.shape}).")
    if width < 1:
        raise ValueError(f"width must be at least 1 (got {width}).")

    def label(action: int) -> str:
        action = int(action)
        if not 0 <= action < row.shape[0] or row[action] < 0:
            return "-"
        pixel = int(row[action])
        return f"({pixel // width}, {pixel % width})"

    return label
