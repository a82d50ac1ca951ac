"""People-facing views of sparse-pixel debates: transcripts for storage and ASCII art for terminals.

The text of a debate (``describe_transcript``, ``ascii_board``) and the stored image (``transcript_image``,
``revealed_pixels``) live in ``debate.tasks.sparse_pixel.rendering`` (no jax); the names here stay for existing callers."""

from __future__ import annotations

import numpy as np

from debate.records import rendering
from debate.core.runner import Games
from debate.tasks.sparse_pixel.rendering import ascii_board, revealed_pixels, transcript_image  # noqa: F401  (re-exported)
from debate.tasks.sparse_pixel.game import HONEST, LIAR, NO_CLAIM
from debate.records.transcript import Transcript, Turn, players_from_roles

ROLES = ["honest", "liar"]


def games_to_transcripts(games: Games, images: np.ndarray, labels: np.ndarray, instance_ids: list[str],
                         protocol: str, debaters: tuple[str, str], judge: str, seed: int,
                         experiment: str | None = None) -> list[Transcript]:
    """One transcript per game; ``images``/``labels``/``instance_ids`` are indexed by
    ``games.image_index``. Images are stored as 0..255 so the app can redraw them."""
    out = []
    for g in range(len(games.honest_margin)):
        i = int(games.image_index[g])
        image = np.asarray(images[i])
        pixels_uint8 = image if image.dtype == np.uint8 else np.round(image * 255).astype(np.uint8)
        liar_claim = int(games.liar_claim[g])
        turns = []
        for t in range(games.actions.shape[1]):
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
