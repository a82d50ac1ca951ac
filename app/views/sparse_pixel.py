"""The sparse-pixel view: debates drawn on a board (the judging page, the Transcripts replay), and the
only task whose stored searches the Game-tree page re-runs (``app.live`` plays this task).

``board_image`` draws the board; the data it reads (``transcript_image``, ``revealed_pixels``) comes
from ``debate.tasks.sparse_pixel.rendering`` (numpy only, no jax).
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from app.common import GRID, HIDDEN, HIDDEN_HATCH, role_color, swatch
from app.views import TaskView
from debate.records.transcript import Transcript
from debate.tasks.sparse_pixel.rendering import revealed_pixels, transcript_image


def board_image(transcript: Transcript, turns_shown: int, colors: list[tuple[int, int, int]] | None = None,
                player_colors: dict[int, tuple[int, int, int]] | None = None, cell: int | None = None,
                ghost: bool = False) -> np.ndarray:
    """An enlarged RGB picture ``[H*cell, W*cell, 3]`` of the board after ``turns_shown`` turns.

    Hidden pixels are a hatched pale blue-grey; a revealed pixel shows its true brightness (white =
    ink) inside a thick frame in the colour of the player who revealed it (``player_colors`` maps
    player id to colour; default: each player's role colour). With ``ghost`` the hidden ink is drawn
    faintly, lighter than the hidden background but paler than a revealed pixel (for researchers,
    never for judges).
    """
    image = transcript_image(transcript)
    h, w = image.shape
    if cell is None:
        cell = max(8, min(48, 560 // max(h, w)))
    if player_colors is None:
        player_colors = ({p: c for p, c in enumerate(colors)} if colors else
                         {p: role_color(r) for p, r in enumerate(transcript.roles)})
    rgb = np.empty((h, w, 3), np.float32)
    rgb[:] = HIDDEN
    if ghost:  # towards white with the ink, at most 40% of the way: a faint trace, not a revealed pixel
        faint = (image.astype(np.float32) / 255.0)[..., None]
        rgb = rgb + (255.0 - rgb) * 0.4 * faint
    big = np.kron(np.round(rgb).astype(np.uint8), np.ones((cell, cell, 1), np.uint8))
    # hidden cells are tinted and hatched so no revealed brightness can be mistaken for them
    yy, xx = np.indices(big.shape[:2])
    hatch = ((yy + xx) % max(4, cell // 4)) < max(1, cell // 24)
    big[hatch] = np.round(big[hatch] * (np.asarray(HIDDEN_HATCH, np.float32) / np.asarray(HIDDEN, np.float32))
                          ).clip(0, 255).astype(np.uint8)
    # grid lines
    big[::cell, :, :] = GRID
    big[:, ::cell, :] = GRID
    border = max(2, cell // 6)
    for row, col, value, player in revealed_pixels(transcript, turns_shown):
        y, x = row * cell, col * cell
        big[y : y + cell, x : x + cell] = player_colors.get(player, (0, 0, 0))
        big[y + border : y + cell - border, x + border : x + cell - border] = value
    return big


class SparsePixelView(TaskView):
    task = "sparse_pixel"
    label = "sparse-pixel"
    judge_order = 0  # offered first on the judging page
    explanation_hint = "e.g. the revealed pixels at the top form a closed loop"
    debater_mark = "frame"
    searchable = True

    def judge_turns(self, transcript, shown, *, first_mover, player_colors, turn_log) -> None:
        n = len(transcript.turns)
        st.caption(f"{first_mover} moves first; {n} pixels are revealed in total.")
        board_col, log_col = st.columns([3, 2])
        with board_col:
            st.image(board_image(transcript, shown, player_colors=player_colors),
                     caption=f"After {shown} of {n} turns. Hatched blue-grey: not revealed yet. A framed square is a "
                             "revealed pixel, shown in its true grey (white = ink, dark = faint ink), framed in the "
                             "colour of the debater who revealed it.")
        with log_col:
            turn_log()

    def replay(self, transcript, turn, *, turn_lines) -> None:
        n = len(transcript.turns)
        roles = transcript.roles
        ghost = st.checkbox("Show the hidden image faintly", value=True, key="replay_ghost")
        board_col, info_col = st.columns([3, 2])
        with board_col:
            st.image(board_image(transcript, turn, ghost=ghost),
                     caption=f"After {turn} of {n} turns. Framed: the revealed pixels (white = ink); hatched "
                             "blue-grey: hidden" + (", with the hidden ink drawn faintly in lighter blue." if ghost else "."))
            st.markdown(" · ".join(swatch(role_color(roles[p]), f"{roles[p]}") for p in range(min(2, len(roles)))),
                        unsafe_allow_html=True)
        with info_col:
            turn_lines(transcript.turns[:turn])


VIEW = SparsePixelView()
