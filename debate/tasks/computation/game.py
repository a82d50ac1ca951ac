"""The ``computation`` task: debate about the result of a long computation, settled by bisection.

Doubly-efficient debate (Brown-Cohen, Irving & Piliouras 2023) in its simplest form. An instance is
a deterministic computation of ``T`` steps on one number modulo a prime ``p``: a start value
``x_0`` and operations ``x_{t+1} = op_t(x_t)`` (add, subtract or multiply by an operand), all drawn
from the instance seed by a counter-based hash, so an instance of any length is a seed and nothing
else. The claim is the final value ``x_T``. The honest player claims the true value, the liar a
wrong one.

One player is the **claimer** (it defends its own final value), the other the **challenger**. The
disputed interval starts as ``[0, T]`` with the agreed start value at 0 and the claimer's final
value at ``T``. Each round the claimer commits to a value at the midpoint, and the challenger picks
the half it disputes. When the interval is a single step, the judge checks that one step
(``v_hi == op_lo(v_lo)``): the claimer wins if the step is right. The judge reads one step whatever
``T`` is; a game has ``2 * ceil(log2 T)`` moves at most.

A lying claimer always loses to a challenger that knows the computation: the interval always
starts at a true value and ends at a false one, so the last step is wrong. An honest claimer never
loses to an exact checker: every value it states is true, so the last step is right.

Action space (one array of ``p`` actions, as pgx keeps one space per game): the claimer's action
is the midpoint value ``0..p-1``; the challenger's is ``0`` (dispute the left half) or ``1`` (the
right half). Every operation is an invertible affine map mod ``p``, so the debaters' knowledge is
kept as prefix maps ``x_t = A_t x_0 + B_t`` (with ``A_t^-1``): any true value, and whether an
interval's two end values are consistent, cost O(1) after an O(T) setup.

The judge sees ``[B, 6]`` int32 ``(at_check, position, v_lo, opcode, operand, v_hi)``; before the
last step ``at_check`` is 0 and the rest is zero too. A judge returns logits ``[B, 2]`` over
``(step wrong, step right)``; only the verdict at the end counts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

HONEST = 0
LIAR = 1
NUM_PLAYERS = 2

OP_ADD, OP_SUB, OP_MUL = 0, 1, 2
OPERATOR_NAMES = ("add", "subtract", "multiply by")
OPERATOR_SYMBOLS = ("+", "-", "*")
# Named operator sets an instance draws its operations from.
OPERATOR_SETS = {"sum": (OP_ADD,), "add_sub": (OP_ADD, OP_SUB), "affine": (OP_ADD, OP_SUB, OP_MUL)}
LEFT, RIGHT = 0, 1  # the challenger's two actions
VIEW_SIZE = 6
MAX_MODULUS = 46337  # largest prime whose products of two residues (plus one) fit in int32
MAX_STEPS = 1 << 24


@struct.dataclass
class Instance:
    """One computation per row: its seed, and the liar's claimed final value (must differ from the
    truth; ``-1`` picks truth + 1 mod p)."""

    seed: jax.Array  # [B] uint32
    liar_claim: jax.Array  # [B] int32


def instances(seeds, liar_claims=None) -> Instance:
    """An ``Instance`` batch; without ``liar_claims`` every liar claims truth + 1 (mod p)."""
    seeds = jnp.asarray(seeds, jnp.uint32)
    claims = jnp.full(seeds.shape, -1, jnp.int32) if liar_claims is None else jnp.asarray(liar_claims, jnp.int32)
    return Instance(seed=seeds, liar_claim=claims)


@struct.dataclass
class State:
    seed: jax.Array  # [B] uint32, the instance
    start: jax.Array  # [B] int32, x_0
    prefix: jax.Array  # [B, T+1, 3] int32: A_t, B_t, A_t^-1 with x_t = A_t x_0 + B_t (mod p)
    claims: jax.Array  # [B, 2] int32, final value claimed by each player id
    claimer: jax.Array  # [B] int32, player id of the claimer
    lo: jax.Array  # [B] int32, disputed interval [lo, hi]
    hi: jax.Array  # [B] int32
    v_lo: jax.Array  # [B] int32, agreed value at lo
    v_hi: jax.Array  # [B] int32, claimer's value at hi
    pending: jax.Array  # [B] int32, claimer's midpoint value awaiting the challenger, -1 if none
    legal_action_mask: jax.Array  # [B, A] bool
    current_player: jax.Array  # [B] int32
    first_player: jax.Array  # [B] int32 (the claimer moves first)
    turn: jax.Array  # [B] int32, moves made so far
    terminated: jax.Array  # [B] bool


def is_prime(n: int) -> bool:
    return n >= 2 and all(n % d for d in range(2, math.isqrt(n) + 1))


@dataclass(frozen=True)
class ComputationTask:
    """Static configuration; the methods are pure functions of arrays (``jax.jit``-able)."""

    num_steps: int  # T, the length of the computation
    modulus: int = 31  # p, a prime; also the number of actions
    operators: str = "affine"  # a key of OPERATOR_SETS

    name = "computation"
    player_teams = (HONEST, LIAR)

    def __post_init__(self):
        if not isinstance(self.num_steps, (int, np.integer)) or self.num_steps < 2:
            raise ValueError(f"num_steps (T) must be an integer of at least 2 (got {self.num_steps!r}); "
                             "a computation of one step needs no debate.")
        if self.num_steps > MAX_STEPS:
            raise ValueError(f"num_steps (T) must be at most 2^24 = {MAX_STEPS} (got {self.num_steps}).")
        if not is_prime(self.modulus) or self.modulus > MAX_MODULUS:
            raise ValueError(f"modulus must be a prime between 2 and {MAX_MODULUS} (got {self.modulus}).")
        if self.operators not in OPERATOR_SETS:
            raise ValueError(f"unknown operator set {self.operators!r}; choose one of {', '.join(OPERATOR_SETS)}.")

    @property
    def num_actions(self) -> int:
        return self.modulus

    @property
    def num_rounds(self) -> int:
        """Bisection rounds to reach one step (the longest branch)."""
        return math.ceil(math.log2(self.num_steps))

    @property
    def num_turns(self) -> int:
        return 2 * self.num_rounds

    @property
    def num_classes(self) -> int:
        """Judge outputs: (step wrong, step right)."""
        return 2

    # ----------------------------------------------------------- the computation
    def operations(self, seed: jax.Array, positions: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(opcode, operand) of step ``positions`` (any shape, broadcast with ``seed``)."""
        seed = jnp.asarray(seed, jnp.uint32)
        positions = jnp.asarray(positions).astype(jnp.uint32)
        ops = jnp.asarray(OPERATOR_SETS[self.operators], jnp.int32)
        h_op = _hash(seed, positions, 1)
        h_arg = _hash(seed, positions, 2)
        opcode = ops[(h_op % jnp.uint32(len(ops))).astype(jnp.int32)]
        p = jnp.uint32(self.modulus)
        operand = jnp.where(opcode == OP_MUL, 1 + h_arg % (p - 1), h_arg % p).astype(jnp.int32)
        return opcode, operand

    def start_value(self, seed: jax.Array) -> jax.Array:
        return (_hash(jnp.asarray(seed, jnp.uint32), jnp.uint32(0xFFFFFFFF), 3) % jnp.uint32(self.modulus)).astype(jnp.int32)

    def apply(self, opcode, operand, value) -> jax.Array:
        """One step: ``op(value)`` mod p."""
        p = self.modulus
        return jnp.where(opcode == OP_ADD, (value + operand) % p,
                         jnp.where(opcode == OP_SUB, (value - operand) % p, (value * operand) % p))

    def prefix_maps(self, seed: jax.Array) -> jax.Array:
        """[B, T+1, 3] ``A_t, B_t, A_t^-1`` with ``x_t = A_t x_0 + B_t``; one parallel scan."""
        p = self.modulus
        seed = jnp.asarray(seed, jnp.uint32)
        opcode, operand = self.operations(seed[:, None], jnp.arange(self.num_steps)[None, :])
        a = jnp.where(opcode == OP_MUL, operand, 1)
        b = jnp.where(opcode == OP_ADD, operand, jnp.where(opcode == OP_SUB, (-operand) % p, 0))
        a_inv = _inverse_table(p)[a]

        def compose(earlier, later):  # later o earlier, as affine maps mod p
            a1, b1, i1 = earlier
            a2, b2, i2 = later
            return (a2 * a1) % p, (a2 * b1 + b2) % p, (i1 * i2) % p

        cum = jax.lax.associative_scan(compose, (a, b, a_inv), axis=1)
        ident = jnp.broadcast_to(jnp.asarray([1, 0, 1], jnp.int32), (seed.shape[0], 1, 3))
        return jnp.concatenate([ident, jnp.stack(cum, axis=-1).astype(jnp.int32)], axis=1)

    def trace(self, seed) -> np.ndarray:
        """[B, T+1] the true values ``x_0 .. x_T`` (a plain sequential replay; for tests and display)."""
        seed = np.asarray(seed, np.uint32)
        opcode, operand = (np.asarray(v) for v in self.operations(seed[:, None], jnp.arange(self.num_steps)[None, :]))
        x = np.asarray(self.start_value(seed)).astype(np.int64)
        out = [x]
        for t in range(self.num_steps):
            x = np.asarray(self.apply(opcode[:, t], operand[:, t], x)).astype(np.int64)
            out.append(x)
        return np.stack(out, axis=1)

    # ---------------------------------------------------------------- the game
    def init(self, instance: Instance, first_player=HONEST) -> State:
        """A batch of games from ``instance``; ``first_player`` is the claimer's player id (scalar or
        [B]): it defends its claim and moves first."""
        seeds = jnp.asarray(instance.seed, jnp.uint32)
        claimer = first_player
        batch = seeds.shape[0]
        prefix = self.prefix_maps(seeds)
        start = self.start_value(seeds)
        truth = self._value_at(prefix, start, jnp.full((batch,), self.num_steps, jnp.int32))
        liar_claims = jnp.asarray(instance.liar_claim, jnp.int32)
        liar_claims = jnp.where(liar_claims < 0, (truth + 1) % self.modulus, liar_claims)
        claims = jnp.stack([truth, liar_claims], axis=1)
        claimer = jnp.broadcast_to(jnp.asarray(claimer, jnp.int32), (batch,))
        state = State(
            seed=seeds, start=start, prefix=prefix, claims=claims, claimer=claimer,
            lo=jnp.zeros((batch,), jnp.int32), hi=jnp.full((batch,), self.num_steps, jnp.int32),
            v_lo=start, v_hi=jnp.take_along_axis(claims, claimer[:, None], axis=1)[:, 0],
            pending=jnp.full((batch,), -1, jnp.int32),
            legal_action_mask=jnp.ones((batch, self.num_actions), bool),
            current_player=claimer, first_player=claimer, turn=jnp.zeros((batch,), jnp.int32),
            terminated=jnp.zeros((batch,), bool),
        )
        return state

    def truth(self, state: State) -> jax.Array:
        """[B] the true final value (the ground truth of the claim)."""
        return state.claims[:, HONEST]

    def step(self, state: State, action) -> State:
        """The claimer states a midpoint value, or the challenger picks a half. An illegal action or
        a finished game leaves the state unchanged (search expands past terminals)."""
        action = jnp.asarray(action, jnp.int32)
        batch_index = jnp.arange(state.turn.shape[0])
        legal = state.legal_action_mask[batch_index, jnp.clip(action, 0, self.num_actions - 1)]
        active = legal & ~state.terminated & (action >= 0) & (action < self.num_actions)
        claimer_move = state.pending < 0
        mid = midpoint(state.lo, state.hi)
        left = action == LEFT
        challenge = active & ~claimer_move
        lo = jnp.where(challenge & ~left, mid, state.lo)
        hi = jnp.where(challenge & left, mid, state.hi)
        v_lo = jnp.where(challenge & ~left, state.pending, state.v_lo)
        v_hi = jnp.where(challenge & left, state.pending, state.v_hi)
        pending = jnp.where(active, jnp.where(claimer_move, action, -1), state.pending)
        terminated = state.terminated | (hi - lo <= 1)
        next_player = jnp.where(active, (state.current_player + 1) % NUM_PLAYERS, state.current_player)
        return state.replace(lo=lo, hi=hi, v_lo=v_lo, v_hi=v_hi, pending=pending,
                             legal_action_mask=self._legal(pending, terminated),
                             current_player=next_player, turn=state.turn + active, terminated=terminated)

    def record_extras(self, final: State, actions: jax.Array) -> dict:
        """Per game: the moves actually played (branches end early when T is not a power of 2), the
        step the judge checked, and the true final value."""
        return {"num_moves": final.turn, "checked_view": self.judge_view(final), "truth": self.truth(final)}

    def _legal(self, pending, terminated):
        actions = jnp.arange(self.num_actions)[None, :]
        claimer_turn = (pending < 0)[:, None]
        return (claimer_turn | (actions < 2)) & ~terminated[:, None]

    # ------------------------------------------- compact states for search trees
    def split_static(self, state: State) -> tuple[State, tuple]:
        """The instance (prefix maps: O(T) per game) stays out of search trees; nodes store the
        interval, the values and whose move it is."""
        return state, (state.lo, state.hi, state.v_lo, state.v_hi, state.pending, state.current_player,
                       state.turn, state.terminated)

    def merge_static(self, static: State, moving: tuple) -> State:
        lo, hi, v_lo, v_hi, pending, current_player, turn, terminated = moving
        return static.replace(lo=lo, hi=hi, v_lo=v_lo, v_hi=v_hi, pending=pending, current_player=current_player,
                              turn=turn, terminated=terminated, legal_action_mask=self._legal(pending, terminated))

    def state_key(self, state: State) -> jax.Array:
        """[B, 7] rows equal exactly when two states of one game have the same future and verdict."""
        return jnp.stack([state.lo, state.hi, state.v_lo, state.v_hi, state.pending, state.current_player,
                          state.terminated.astype(jnp.int32)], axis=1)

    def tree_size_bound(self, state: State, game_index: int = 0) -> int:
        """Upper bound on the distinct states of one game: every interval of the bisection with
        any pair of end values, times the claimer's pending midpoint (or none)."""
        lo, hi = int(state.lo[game_index]), int(state.hi[game_index])
        if bool(state.terminated[game_index]):
            return 1
        p = self.modulus
        total, intervals = 0, [(lo, hi)]
        fixed_ends = 0  # rounds played: ends that are still the root's values bound the count
        while intervals:
            count = len(intervals)
            ends = p ** min(2, fixed_ends)
            total += count * ends * (1 + p)
            intervals = [half for a, b in intervals if b - a > 1
                         for half in ((a, midpoint(a, b)), (midpoint(a, b), b))]
            fixed_ends += 1
        return int(total)

    # ------------------------------------------------------- what the judge sees
    def judge_view(self, state: State) -> jax.Array:
        """[B, 6] int32 ``(at_check, position, v_lo, opcode, operand, v_hi)``: the single step the
        judge checks at the end; all zeros before."""
        opcode, operand = self.operations(state.seed, state.lo)
        at = state.terminated & (state.hi - state.lo == 1)
        view = jnp.stack([jnp.ones_like(state.lo), state.lo, state.v_lo, opcode, operand, state.v_hi], axis=1)
        return jnp.where(at[:, None], view, 0).astype(jnp.int32)

    def step_is_correct(self, view: jax.Array) -> jax.Array:
        """[B] bool: the exact check of the step in a judge view."""
        return self.apply(view[:, 3], view[:, 4], view[:, 2]) == view[:, 5]

    def honest_margin(self, state: State, logits: jax.Array) -> jax.Array:
        """Positive when the honest player wins: the judge's (right - wrong) logit margin, from the
        claimer's side, 0 before the check."""
        claimer_margin = logits[:, 1] - logits[:, 0]
        honest = jnp.where(state.claimer == HONEST, claimer_margin, -claimer_margin)
        return jnp.where(state.terminated, honest, 0.0)

    def claim_probs(self, state: State, logits: jax.Array) -> jax.Array:
        """[B, 2] judge probability that each player's claim wins (0.5 each before the check)."""
        honest_p = jax.nn.sigmoid(self.honest_margin(state, logits))
        return jnp.stack([honest_p, 1.0 - honest_p], axis=1)

    # ------------------------------------------------------ what experts know
    def _value_at(self, prefix, start, position):
        a = jnp.take_along_axis(prefix[..., 0], position[:, None], axis=1)[:, 0]
        b = jnp.take_along_axis(prefix[..., 1], position[:, None], axis=1)[:, 0]
        return (a * start + b) % self.modulus

    def _prefix_at(self, state: State, position, column: int) -> jax.Array:
        """``prefix[b, position[b, ...], column]`` for positions of shape [B] or [B, R]."""
        position = jnp.asarray(position, jnp.int32)
        flat = position.reshape(position.shape[0], -1)
        return jnp.take_along_axis(state.prefix[..., column], flat, axis=1).reshape(position.shape)

    def true_value(self, state: State, position) -> jax.Array:
        """The true ``x_position`` for positions of shape [B] or [B, R]."""
        position = jnp.asarray(position, jnp.int32)
        start = state.start.reshape((-1,) + (1,) * (position.ndim - 1))
        return (self._prefix_at(state, position, 0) * start + self._prefix_at(state, position, 1)) % self.modulus

    def run_from(self, state: State, start_position, value, end_position) -> jax.Array:
        """The value at ``end_position`` when the computation restarts from ``value`` at
        ``start_position`` (``end >= start``; shapes [B] or [B, R]):
        ``F_{lo->hi}(v) = A_hi A_lo^-1 (v - B_lo) + B_hi``."""
        p = self.modulus
        scale = (self._prefix_at(state, end_position, 0) * self._prefix_at(state, start_position, 2)) % p
        return (scale * ((value - self._prefix_at(state, start_position, 1)) % p)
                + self._prefix_at(state, end_position, 1)) % p

    def run_back(self, state: State, end_position, value, start_position) -> jax.Array:
        """The value at ``start_position`` from which the computation reaches ``value`` at
        ``end_position`` (the inverse of ``run_from``)."""
        p = self.modulus
        scale = (self._prefix_at(state, start_position, 0) * self._prefix_at(state, end_position, 2)) % p
        return (scale * ((value - self._prefix_at(state, end_position, 1)) % p)
                + self._prefix_at(state, start_position, 1)) % p

    def claimer_consistent(self, state: State) -> jax.Array:
        """[B] bool: the disputed interval's end values agree with the computation (then the
        claimer wins against an exact checker with best play; otherwise the challenger does).
        With a pending midpoint, the claimer is consistent if either half is (the challenger
        must dispute an inconsistent half)."""
        whole = self.run_from(state, state.lo, state.v_lo, state.hi) == state.v_hi
        mid = midpoint(state.lo, state.hi)
        left_ok = self.run_from(state, state.lo, state.v_lo, mid) == state.pending
        right_ok = self.run_from(state, mid, state.pending, state.hi) == state.v_hi
        return jnp.where(state.pending < 0, whole, left_ok & right_ok)

    # ------------------------------------------------------- people-facing text
    def describe_step(self, seed: int, position: int) -> str:
        """"x_12 = x_11 * 7 (mod 31)"-style text for one step."""
        opcode, operand = self.operations(jnp.asarray([seed], jnp.uint32), jnp.asarray([position]))
        opcode, operand = int(opcode[0]), int(operand[0])
        return f"x_{position + 1} = x_{position} {OPERATOR_SYMBOLS[opcode]} {operand} (mod {self.modulus})"


def midpoint(lo, hi):
    return lo + (hi - lo) // 2


def _mix32(x):
    """lowbias32 (Wellons): a fast, well-mixed 32-bit integer hash."""
    x = x ^ (x >> 16)
    x = x * jnp.uint32(0x7FEB352D)
    x = x ^ (x >> 15)
    x = x * jnp.uint32(0x846CA68B)
    return x ^ (x >> 16)


def _hash(seed, counter, salt: int):
    return _mix32(_mix32(jnp.asarray(seed, jnp.uint32) ^ jnp.uint32((0x9E3779B9 * salt) & 0xFFFFFFFF))
                  + jnp.asarray(counter, jnp.uint32) * jnp.uint32(0x85EBCA6B))


def _inverse_table(modulus: int) -> jax.Array:
    """[p] int32 multiplicative inverses mod p (entry 0 unused)."""
    table = np.array([pow(int(a), modulus - 2, modulus) if a else 0 for a in range(modulus)], np.int32)
    return jnp.asarray(table)


# ---------------------------------------------------------------- checkers and examples
def exact_checker(task: ComputationTask, confidence: float = 10.0):
    """The exact step checker as a judge function: logits (0, +c) for a right step, (+c, 0) for a
    wrong one. ``params`` is unused (pass ``None`` or anything)."""

    def judge_fn(params, view):
        right = task.step_is_correct(view)
        return jnp.stack([jnp.where(right, 0.0, confidence), jnp.where(right, confidence, 0.0)], axis=1)

    return judge_fn


def noisy_checker(task: ComputationTask, confidence: float = 10.0):
    """A step checker with systematic errors: its verdict on a step is flipped when a hash of
    (noise seed, position, v_lo, opcode, operand, v_hi) falls below ``error_rate``. The errors are a
    fixed function of the step, as a flawed human checker's would be, so search can find and
    exploit them. ``params = checker_params(error_rate, noise_seed)`` (arrays: no recompiles)."""

    def judge_fn(params, view):
        right = task.step_is_correct(view)
        h = _hash(params["noise_seed"], view[:, 1].astype(jnp.uint32), 7)
        for column in (2, 3, 4, 5):
            h = _mix32(h ^ (view[:, column].astype(jnp.uint32) * jnp.uint32(0x27D4EB2F + column)))
        uniform = (h >> 8).astype(jnp.float32) / float(1 << 24)
        verdict = right ^ (uniform < params["error_rate"])
        return jnp.stack([jnp.where(verdict, 0.0, confidence), jnp.where(verdict, confidence, 0.0)], axis=1)

    return judge_fn


def checker_params(error_rate: float = 0.0, noise_seed: int = 0) -> dict:
    if not 0.0 <= error_rate <= 1.0:
        raise ValueError(f"error_rate must be between 0 and 1 (got {error_rate}).")
    return {"error_rate": jnp.float32(error_rate), "noise_seed": jnp.uint32(noise_seed)}


def step_examples(task: ComputationTask, key: jax.Array, num_examples: int, wrong_fraction: float = 0.5):
    """Judge views of single steps with labels (1 right, 0 wrong), for training a learned checker:
    random values and operations; a wrong step's claimed result is a uniformly random wrong value."""
    k_seed, k_pos, k_val, k_wrong, k_off = jax.random.split(key, 5)
    seeds = jax.random.bits(k_seed, (num_examples,), jnp.uint32)
    positions = jax.random.randint(k_pos, (num_examples,), 0, task.num_steps)
    opcode, operand = task.operations(seeds, positions)
    v_lo = jax.random.randint(k_val, (num_examples,), 0, task.modulus)
    right_value = task.apply(opcode, operand, v_lo)
    wrong = jax.random.uniform(k_wrong, (num_examples,)) < wrong_fraction
    offset = jax.random.randint(k_off, (num_examples,), 1, task.modulus)
    v_hi = jnp.where(wrong, (right_value + offset) % task.modulus, right_value)
    view = jnp.stack([jnp.ones_like(v_lo), positions, v_lo, opcode, operand, v_hi], axis=1).astype(jnp.int32)
    return view, (~wrong).astype(jnp.int32)
