"""Glue shared by the app's pages: the cached Store, the board picture and small formatting helpers.

UI only: whatever computes something lives in the library (debate/, judges/, training/).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import streamlit as st

from debate.records import revealed_pixels, transcript_image
from debate.storage import StorageError, Store
from debate.transcript import Transcript

PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: Colours of the two debaters on the board (matplotlib's tab:blue and tab:orange).
COLORS = [(31, 119, 180), (255, 127, 14)]
COLOR_NAMES = ["blue", "orange"]
HIDDEN = (150, 150, 158)
GRID = (120, 120, 128)


def db_url() -> str | None:
    """The database the app uses: ``$DEBATE_DB`` (set by ``debate app --db``), else the default."""
    return os.environ.get("DEBATE_DB") or None


@st.cache_resource(show_spinner=False)
def _store_for(url: str | None) -> Store:
    # a Store owns a SQLAlchemy engine: per-thread pooled connections, safe across browser sessions
    return Store(url)


def get_store() -> Store:
    """The Store for ``$DEBATE_DB``, cached per URL; stops the page with a clear error if unusable."""
    try:
        return _store_for(db_url())
    except StorageError as e:
        st.error(f"The database cannot be opened: {e}")
        st.stop()


def board_image(transcript: Transcript, turns_shown: int, colors: list[tuple[int, int, int]] | None = None,
                player_colors: dict[int, tuple[int, int, int]] | None = None, cell: int | None = None,
                ghost: bool = False) -> np.ndarray:
    """An enlarged RGB picture ``[H*cell, W*cell, 3]`` of the board after ``turns_shown`` turns.

    Hidden pixels are hatched grey; a revealed pixel shows its true brightness (white = ink) inside a
    thick frame in the colour of the player who revealed it (``player_colors`` maps player id to
    colour). With ``ghost`` the hidden ink is drawn faintly (for researchers, never for judges).
    """
    image = transcript_image(transcript)
    h, w = image.shape
    if cell is None:
        cell = max(8, min(48, 560 // max(h, w)))
    player_colors = player_colors or {p: c for p, c in enumerate(colors or COLORS)}
    rgb = np.empty((h, w, 3), np.uint8)
    rgb[:] = HIDDEN
    if ghost:
        faint = (image.astype(np.float32) / 255.0)[..., None]
        rgb = np.round(rgb * (1 - 0.45 * faint)).astype(np.uint8)
    big = np.kron(rgb, np.ones((cell, cell, 1), np.uint8))
    # hidden cells are hatched so no revealed brightness can be mistaken for them
    yy, xx = np.indices(big.shape[:2])
    hatch = ((yy + xx) % max(4, cell // 4)) == 0
    big[hatch] = (big[hatch] * 0.8).astype(np.uint8)
    # grid lines
    big[::cell, :, :] = GRID
    big[:, ::cell, :] = GRID
    border = max(2, cell // 6)
    for row, col, value, player in revealed_pixels(transcript, turns_shown):
        y, x = row * cell, col * cell
        big[y : y + cell, x : x + cell] = player_colors.get(player, (0, 0, 0))
        big[y + border : y + cell - border, x + border : x + cell - border] = value
    return big


def swatch(color: tuple[int, int, int], text: str) -> str:
    """Markdown-safe HTML: a coloured square followed by ``text``."""
    r, g, b = color
    return (f'<span style="display:inline-block;width:0.9em;height:0.9em;background:rgb({r},{g},{b});'
            f'border-radius:2px;margin-right:0.35em;vertical-align:-0.1em"></span>{text}')


def short_id(transcript_id: str) -> str:
    return transcript_id[:8]


def claim_text(transcript: Transcript, player: int) -> str:
    """What a player argues, for people: the class, or "not <honest claim>" without precommitment."""
    claim = transcript.claims[player]
    if claim is not None:
        return str(claim)
    others = [c for p, c in enumerate(transcript.claims) if p != player and c is not None]
    return f"not {others[0]}" if others else "any class"


def num_classes(transcript: Transcript, default: int = 10) -> int:
    probs = next((t.judge_class_probs for t in transcript.turns if t.judge_class_probs), None)
    return len(probs) if probs else default


def default_results_dirs() -> list[str]:
    """``$DEBATE_RESULTS_DIRS`` (separated by the OS path separator), else the project's
    ``experiments/`` folder and ``./debate-results``."""
    env = os.environ.get("DEBATE_RESULTS_DIRS", "").strip()
    if env:
        return [p for p in env.split(os.pathsep) if p.strip()]
    return [str(PROJECT_ROOT / "experiments"), str(Path.cwd() / "debate-results")]


def shortcut(key: str) -> dict:
    """``{"shortcut": key}`` where this Streamlit's buttons take keyboard shortcuts (1.5x+), else ``{}``."""
    import inspect

    return {"shortcut": key} if "shortcut" in inspect.signature(st.button).parameters else {}


@st.cache_data(ttl=30, show_spinner=False)
def transcript_index(url: str | None) -> list[dict]:
    """One summary row per stored transcript (no turns, no image), oldest first; cached 30 s."""
    rows = []
    for t in _store_for(url).iter_transcripts():
        rows.append({
            "id": t.id, "experiment_id": t.experiment, "task": t.task, "protocol": t.protocol,
            "instance_id": t.instance_id, "honest_debater": t.debater_of_role("honest"),
            "liar_debater": t.debater_of_role("liar"), "judge": t.judge, "winner_role": t.winner_role,
            "ground_truth": t.ground_truth, "claims": ", ".join("-" if c is None else str(c) for c in t.claims),
            "turns": len(t.turns), "created_at": t.created_at,
        })
    return rows
