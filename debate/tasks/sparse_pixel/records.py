"""People-facing views of sparse-pixel debates: transcripts for storage and ASCII art for terminals.

The text of a debate (``describe_transcript``, ``ascii_board``) and the stored image (``transcript_image``,
``revealed_pixels``) live in ``debate.tasks.sparse_pixel.rendering`` (no jax); the names here stay for existing callers."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from debate.records import rendering
from debate.tasks.sparse_pixel.rendering import ascii_board, revealed_pixels, transcript_image  # noqa: F401  (re-exported)
from debate.records.transcript import Transcript, TranscriptError, Turn, players_from_roles, quote

if TYPE_CHECKING:
    from debate.core.runner import Games

# This module imports no jax (``Transcript.validate`` runs ``check_transcript`` from here): the game's
# constants are repeated below and the jax modules are imported inside the functions that need them.
ROLES = ["honest", "liar"]
HONEST, LIAR, NO_CLAIM = 0, 1, -1  # as debate.tasks.sparse_pixel.game (tests pin that they agree)
DEFAULT_MAX_CANDIDATES = 256  # game.DEFAULT_MAX_CANDIDATES
DEFAULT_NUM_CLASSES = 10
MAX_PIXELS = 1 << 20  # the largest image a transcript may store


def games_to_transcripts(games: Games, images: np.ndarray, labels: np.ndarray, instance_ids: list[str],
                         protocol: str, debaters: tuple[str, str], judge: str, seed: int,
                         experiment: str | None = None) -> list[Transcript]:
    """One transcript per game; ``images``/``labels``/``instance_ids`` are indexed by
    ``games.image_index``. Images are stored as 0..255 so the app can redraw them.

    Only the moves the game made are recorded: a game ends early when no nonzero pixel is left to
    reveal (a tiny image, many reveals), and the compiled play keeps scanning its fixed number of
    turns after that, recording no-op actions (``game.step`` ignores them) that are not moves."""
    out = []
    for g in range(len(games.honest_margin)):
        i = int(games.image_index[g])
        image = np.asarray(images[i])
        pixels_uint8 = image if image.dtype == np.uint8 else np.round(image * 255).astype(np.uint8)
        liar_claim = int(games.liar_claim[g])
        turns = []
        for t in range(_num_moves(games.actions[g], pixels_uint8.reshape(-1))):
            row, col = (int(v) for v in games.pixels[g, t])
            turns.append(Turn(index=t, player=int(games.players[g, t]), action=int(games.actions[g, t]),
                              revealed={"row": row, "col": col, "value": int(pixels_uint8[row, col])},
                              judge_probs=[float(p) for p in games.claim_probs[g, t]],
                              judge_class_probs=[float(p) for p in games.class_probs[g, t]]))
        logits = games.final_logits[g]
        honest_won = bool(games.honest_margin[g] > 0)
        label = int(labels[i])
        if liar_claim == NO_CLAIM:
            others = np.where(np.arange(len(logits)) == label, -np.inf, logits)
            verdict = label if honest_won else int(np.argmax(others))
        else:
            verdict = label if honest_won else liar_claim
        out.append(Transcript(
            task="sparse_pixel", instance_id=instance_ids[i], protocol=protocol,
            claims=[label, None if liar_claim == NO_CLAIM else liar_claim],
            players=players_from_roles(ROLES, debaters), judge=judge, first_player=int(games.first_player[g]), turns=turns,
            winner=HONEST if honest_won else LIAR, verdict_claim=verdict, ground_truth=label,
            seeds={"experiment_seed": seed, "seed_index": int(games.seed_index[g])},
            instance={"height": int(image.shape[0]), "width": int(image.shape[1]),
                      "pixels": pixels_uint8.reshape(-1).tolist()},
            experiment=experiment,
            meta={"final_logits": [float(v) for v in logits], "honest_margin": float(games.honest_margin[g])},
        ))
    return out


def _num_moves(actions: np.ndarray, flat: np.ndarray) -> int:
    """How many of one game's recorded ``actions`` are moves: the game reveals a new nonzero
    candidate pixel at each move, and once it has ended (no such pixel left among its candidates,
    a prefix of ``candidate_order``) every later action is a no-op on a revealed or empty one."""
    candidates = candidate_order(flat, flat.size)
    revealed: set[int] = set()
    for t, action in enumerate(int(a) for a in actions):
        pixel = int(candidates[action]) if 0 <= action < candidates.size else -1
        if pixel < 0 or pixel in revealed:
            return t
        revealed.add(pixel)
    return len(actions)


def describe_transcript(transcript: Transcript, show_image: bool = True) -> str:
    """Turn-by-turn text of a stored sparse-pixel debate, with the judge's belief after each turn
    (``debate.records.rendering`` renders every task; this keeps the sparse-pixel signature)."""
    return rendering.describe_transcript(transcript, show_image=show_image)


def transcript_judge_view(transcript: Transcript, turns_seen: int | None = None) -> np.ndarray:
    """The judge's two planes ``[H, W, 2]`` float32 after ``turns_seen`` turns (all when None): the
    mask of revealed pixels and their values in [0, 1], as ``sparse_pixel.masked_view`` builds them."""
    image = transcript_image(transcript)
    mask = np.zeros(image.shape, np.float32)
    for row, col, _, _ in revealed_pixels(transcript, turns_seen):
        mask[row, col] = 1.0
    return np.stack([mask, mask * (image.astype(np.float32) / 255.0)], axis=-1)


# ------------------------------------------------------------------------------------- the rules


def candidate_order(flat: np.ndarray, num_actions: int) -> np.ndarray:
    """``game.candidate_pixels`` in numpy for one flat image: flat indices of its nonzero pixels,
    brightest first (ties in raster order), ``-1`` padding, ``num_actions`` long."""
    order = np.argsort(-flat.astype(np.int64), kind="stable")[:num_actions]
    out = np.where(flat[order] > 0, order, -1)
    return np.concatenate([out, np.full(num_actions - out.size, -1, out.dtype)]) if out.size < num_actions else out


def _int(value, lo: int, hi: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi


def _meta_int(meta: dict, key: str, lo: int, hi: int, what: str) -> int | None:
    """``meta[key]`` when recorded (an int in lo..hi; None and absence mean not recorded)."""
    value = meta.get(key)
    if value is None:
        return None
    if not _int(value, lo, hi):
        raise TranscriptError(f"meta {key} is {quote(value)} but must be {what}; fix the file")
    return value


def check_transcript(transcript: Transcript) -> None:
    """The sparse-pixel rules, without jax (``Transcript.validate`` runs this; the replay
    ``debate.core.replay.replay_transcript`` agrees on every valid transcript). Raises
    ``TranscriptError`` naming the first field or turn that breaks them:

    - the instance is an image: ``height`` and ``width`` positive, ``pixels`` ``height * width``
      integers 0..255;
    - two players, player ``i`` on team ``i``; claims ``[true class, liar's class or None]`` with
      classes in ``0..num_classes-1`` (``meta num_classes``, else the length of the judge's class
      distribution, else 10), the liar's claim not the true one, ``ground_truth`` the honest claim;
    - turn ``i`` has index ``i`` and is played by ``(first_player + i) % 2``; at most
      ``meta num_reveals`` turns;
    - each action is a candidate of the image (``game.candidate_pixels``: nonzero pixels, brightest
      first; ``meta max_candidates`` of them, all pixels when not recorded) not revealed before, and
      ``revealed`` is ``{"row", "col", "value"}`` of that pixel with its value in the image;
    - ``winner`` is a team and ``verdict_claim`` its claim (for the liar without a claim, a class
      other than the true one); without a winner there is no debate verdict to check.
    """
    inst, meta = transcript.instance, transcript.meta
    height, width, pixels = inst.get("height"), inst.get("width"), inst.get("pixels")
    if not _int(height, 1, MAX_PIXELS) or not _int(width, 1, MAX_PIXELS) or height * width > MAX_PIXELS:
        raise TranscriptError(f"instance height {quote(height)} and width {quote(width)} must be positive integers "
                              f"with at most {MAX_PIXELS} pixels in all; fix the file")
    if not isinstance(pixels, list) or len(pixels) != height * width:
        size = len(pixels) if isinstance(pixels, list) else type(pixels).__name__
        raise TranscriptError(f"instance pixels must be a list of height * width = {height * width} values, got "
                              f"{size}; fix the file")
    # the fast test first (C loops: every store write of a 784-pixel debate runs it): bytes() takes
    # exactly the integers 0..255 (and bools, which the type test refuses); then the slow one that
    # names the first bad pixel
    try:
        raw = bytes(pixels) if set(map(type, pixels)) == {int} else None
    except (TypeError, ValueError):
        raw = None
    if raw is None:
        bad = next(i for i, v in enumerate(pixels) if not (type(v) is int and 0 <= v <= 255))
        raise TranscriptError(f"instance pixels[{bad}] is {quote(pixels[bad])} but pixel values must be integers "
                              "0..255; fix the file")
    flat = np.frombuffer(raw, np.uint8).astype(np.int64)

    if len(transcript.players) != 2 or transcript.teams != [HONEST, LIAR]:
        raise TranscriptError(f"a sparse-pixel debate has two players on teams 0 (honest claim) and 1 (liar), "
                              f"got teams {quote(transcript.teams)}; fix the file")
    class_lengths = {len(t.judge_class_probs) for t in transcript.turns if t.judge_class_probs is not None}
    num_classes = _meta_int(meta, "num_classes", 2, 1 << 16, "a number of classes (at least 2)")
    if num_classes is None:
        num_classes = class_lengths.pop() if len(class_lengths) == 1 else DEFAULT_NUM_CLASSES
    bad_lengths = sorted(n for n in class_lengths if n != num_classes)
    if bad_lengths:
        i = next(t.index for t in transcript.turns
                 if t.judge_class_probs is not None and len(t.judge_class_probs) != num_classes)
        raise TranscriptError(f"turn {i} has {len(transcript.turns[i].judge_class_probs)} class probabilities but "
                              f"the debate has {num_classes} classes; fix the file")
    if len(transcript.claims) != 2:
        raise TranscriptError(f"a sparse-pixel debate has two claims (the true class and the liar's), got "
                              f"{len(transcript.claims)}; fix the file")
    truth, lie = transcript.claims
    if not _int(transcript.ground_truth, 0, num_classes - 1):
        raise TranscriptError(f"ground_truth {quote(transcript.ground_truth)} is not a class (0..{num_classes - 1}); "
                              "fix the file")
    if truth != transcript.ground_truth:
        raise TranscriptError(f"claims[0] is {quote(truth)} but the honest team claims the true class "
                              f"{transcript.ground_truth}; fix the file")
    if lie is not None and (not _int(lie, 0, num_classes - 1) or lie == truth):
        raise TranscriptError(f"claims[1] is {quote(lie)} but the liar claims a class 0..{num_classes - 1} other "
                              f"than the true {truth}, or null (no precommitment); fix the file")

    max_candidates = _meta_int(meta, "max_candidates", 1, MAX_PIXELS, "a positive number of candidates")
    if "max_candidates" not in meta:
        max_candidates = None  # as api.task_of: every pixel is a candidate (a prefix of any shorter list)
    num_actions = flat.size if max_candidates is None else min(max_candidates, flat.size)
    candidates = candidate_order(flat, num_actions)
    num_reveals = _meta_int(meta, "num_reveals", 1, 1 << 30, "a positive number of reveals")
    if num_reveals is not None and len(transcript.turns) > num_reveals:
        raise TranscriptError(f"turn {num_reveals} comes after the game's {num_reveals} reveals (meta "
                              "num_reveals); fix the file")
    revealed: set[int] = set()
    for i, turn in enumerate(transcript.turns):
        player = (transcript.first_player + i) % 2
        if turn.player != player:
            raise TranscriptError(f"turn {i} is played by player {quote(turn.player)} but players alternate from "
                                  f"first_player {transcript.first_player}, so it is player {player}'s move")
        action = turn.action
        if not 0 <= action < num_actions:
            raise TranscriptError(f"turn {i} plays action {quote(action)}, outside the action space "
                                  f"0..{num_actions - 1} (one action per candidate pixel)")
        pixel = int(candidates[action])
        if pixel < 0:
            raise TranscriptError(f"turn {i} plays action {action}, which is no pixel: the image has only "
                                  f"{int((candidates >= 0).sum())} nonzero pixels to reveal")
        if pixel in revealed:
            raise TranscriptError(f"turn {i} reveals pixel ({pixel // width}, {pixel % width}) again; each pixel "
                                  "is revealed once")
        revealed.add(pixel)
        expected = {"row": pixel // width, "col": pixel % width, "value": int(flat[pixel])}
        said = turn.revealed
        if set(said) != set(expected) or any(type(said[k]) is not int or said[k] != v for k, v in expected.items()):
            raise TranscriptError(f"turn {i} records {quote(said)} but its action {action} reveals "
                                  f"{expected} of the image")
    if num_reveals is not None and transcript.turns:
        expected_turns = min(num_reveals, int((candidates >= 0).sum()))
        if len(transcript.turns) != expected_turns:
            raise TranscriptError(f"turn {len(transcript.turns) - 1} is the last but the game has {expected_turns} "
                                  "moves (meta num_reveals, or every nonzero pixel revealed); fix the file")
    winner, verdict = transcript.winner, transcript.verdict_claim
    if verdict is not None and not _int(verdict, 0, num_classes - 1):
        raise TranscriptError(f"verdict_claim {quote(verdict)} is not a class (0..{num_classes - 1}); fix the file")
    if (winner is None) != (verdict is None):
        raise TranscriptError(f"winner is {quote(winner)} but verdict_claim is {quote(verdict)}; a debate has both "
                              "(the verdict is the winner's claim) or neither")
    _check_recorded_verdict(transcript, num_classes)
    if winner is not None:
        claim = transcript.claims[winner]
        if claim is not None and verdict != claim:
            raise TranscriptError(f"verdict_claim is {quote(verdict)} but team {winner} won, whose claim is {claim}; "
                                  "the verdict is the winner's claim")
        if claim is None and (verdict is None or verdict == truth):
            raise TranscriptError(f"verdict_claim is {quote(verdict)} but the liar (no precommitment) won, so the "
                                  f"verdict is a class other than the true {truth}")


def _check_recorded_verdict(transcript: Transcript, num_classes: int) -> None:
    """When meta records the judge's ``honest_margin`` and ``final_logits`` (as ``games_to_transcripts``
    writes them), the winner is the honest team exactly when the margin is positive, and a liar
    without a claim wins with the judge's best class other than the true one."""
    meta = transcript.meta
    margin, logits = meta.get("honest_margin"), meta.get("final_logits")
    if isinstance(margin, (int, float)) and not isinstance(margin, bool) and transcript.winner is not None:
        if (transcript.winner == HONEST) != (margin > 0):
            raise TranscriptError(f"winner is team {transcript.winner} but the judge's recorded honest_margin is "
                                  f"{quote(margin)} (the honest team wins exactly when it is positive)")
    if (isinstance(logits, list) and len(logits) == num_classes and transcript.winner == LIAR
            and transcript.claims[LIAR] is None
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in logits)):
        others = [(v, c) for c, v in enumerate(logits) if c != transcript.ground_truth]
        best = max(others, key=lambda vc: (vc[0], -vc[1]))[1]  # argmax, first on ties
        if transcript.verdict_claim != best:
            raise TranscriptError(f"verdict_claim is {quote(transcript.verdict_claim)} but the judge's recorded "
                                  f"final_logits put class {best} first after the true one")
