"""The sparse-pixel view: debates drawn on a board (the judging page, the Transcripts replay), and the
only task whose stored searches the Game-tree page re-runs (``app.live`` plays this task).

``board_image`` draws the board; the data it reads (``transcript_image``, ``revealed_pixels``) comes
from ``debate.tasks.sparse_pixel.rendering`` (numpy only, no jax).
"""

from __future__ import annotations

import functools

import numpy as np
import streamlit as st
from PIL import Image, ImageDraw, ImageFont

from app.common import (BOARD_LABEL, BOARD_MARGIN, GRID, HIDDEN, HIDDEN_HATCH, NEWEST, NEWEST_EDGE, role_color,
                        swatch)
from app.views import TaskView
from debate.records.transcript import Transcript
from debate.tasks.sparse_pixel.rendering import revealed_pixels, transcript_image

#: How far apart the row and column numbers may be (every row, every 2nd, every 4th, ...).
_LABEL_STEPS = (1, 2, 4, 5, 10, 20, 25, 50, 100)


@functools.lru_cache(maxsize=32)
def _font(size: int):
    """Pillow's own font at ``size`` pixels (Pillow >= 10.1); older Pillows: its fixed small bitmap font."""
    try:
        return ImageFont.load_default(size=size)
    except TypeError:
        return ImageFont.load_default()


def _text_size(font, text: str) -> tuple[int, int, int, int]:
    """``(left, top, width, height)`` of ``text``'s ink drawn at (0, 0)."""
    x0, y0, x1, y1 = font.getbbox(text)
    return x0, y0, x1 - x0, y1 - y0


@functools.lru_cache(maxsize=256)
def _number_font(inner: int, border: int, text: str):
    """The largest font whose ``text`` fits a revealed square's inside (``inner`` pixels), overlapping its
    frame (``border`` pixels) a little sideways at most; and the text's ink box."""
    tallest = inner if inner <= 16 else max(16, 0.75 * inner)  # big squares: not a giant number
    size = max(6, round(tallest * 1.4))
    while size > 6:
        box = _text_size(_font(size), text)
        if box[3] <= tallest and box[2] <= inner + border:
            break
        size -= 1
    return _font(size), _text_size(_font(size), text)


def default_cell(height: int, width: int) -> int:
    """The side of one board square in pixels when ``board_image`` is given none (20 for 28x28, 48 for 8x8)."""
    return max(8, min(48, 560 // max(height, width)))


def _ring_width(cell: int) -> int:
    """How wide the gold ring around the newest revealed square is (it lies outside the square)."""
    return max(3, cell // 8)


@functools.lru_cache(maxsize=64)
def _layout(height: int, width: int, cell: int):
    """Label font, label step, the margins ``(top, left, bottom, right)`` of a numbered board, and the gap
    between the numbers and the board (room for the newest square's ring)."""
    font = _font(max(10, min(24, round(cell * 1.1))))
    widest = _text_size(font, str(max(height, width) - 1))[2]
    digits_height = _text_size(font, "0123456789")[3]
    step = next((s for s in _LABEL_STEPS if s * cell >= widest + max(6, cell // 2)), _LABEL_STEPS[-1])
    ring = _ring_width(cell) + 1  # the ring and its dark edge
    outer, gap = max(2, cell // 8), max(3, cell // 5) + ring
    return font, step, (outer + digits_height + gap, outer + widest + gap, ring + 1, ring + 1), gap


def board_margins(height: int, width: int, cell: int | None = None) -> tuple[int, int, int, int]:
    """The margins ``(top, left, bottom, right)`` in pixels that ``board_image(numbers=True)`` puts around a
    ``height`` x ``width`` board: the column numbers above it, the row numbers on its left."""
    return _layout(height, width, default_cell(height, width) if cell is None else cell)[2]


@functools.lru_cache(maxsize=16)
def _empty_board(height: int, width: int, cell: int, numbers: bool, ghost_ink: bytes | None) -> Image.Image:
    """The board before any pixel is revealed, with its numbered margin when ``numbers``; ``ghost_ink``: the
    image's bytes, drawn faintly. Cached (the same picture for every debate without ghost): copy it."""
    rgb = np.empty((height, width, 3), np.float32)
    rgb[:] = HIDDEN
    if ghost_ink is not None:  # towards white with the ink, at most 40% of the way: a faint trace, not a revealed pixel
        faint = (np.frombuffer(ghost_ink, np.uint8).reshape(height, width).astype(np.float32) / 255.0)[..., None]
        rgb = rgb + (255.0 - rgb) * 0.4 * faint
    base = np.round(rgb).astype(np.uint8)
    # hidden cells are tinted and hatched so no revealed brightness can be mistaken for them
    hatched = np.round(base * (np.asarray(HIDDEN_HATCH, np.float32) / np.asarray(HIDDEN, np.float32))
                       ).clip(0, 255).astype(np.uint8)
    yy, xx = np.ogrid[: height * cell, : width * cell]
    hatch = ((yy + xx) % max(4, cell // 4)) < max(1, cell // 24)
    big = np.where(hatch[..., None], hatched.repeat(cell, axis=0).repeat(cell, axis=1),
                   base.repeat(cell, axis=0).repeat(cell, axis=1))
    # grid lines
    big[::cell, :, :] = GRID
    big[:, ::cell, :] = GRID
    if not numbers:
        return Image.fromarray(big, "RGB")
    font, step, (top, left, bottom, right), gap = _layout(height, width, cell)
    picture = Image.new("RGB", (left + width * cell + right, top + height * cell + bottom), BOARD_MARGIN)
    picture.paste(Image.fromarray(big, "RGB"), (left, top))
    draw = ImageDraw.Draw(picture)
    draw.rectangle((left, top, left + width * cell, top + height * cell), outline=GRID)  # closes the grid
    _, digits_top, _, digits_height = _text_size(font, "0123456789")
    for r in range(0, height, step):
        x0, y0, tw, th = _text_size(font, str(r))
        draw.text((left - gap - tw - x0, top + r * cell + (cell - th) / 2 - y0), str(r), fill=BOARD_LABEL, font=font)
    for c in range(0, width, step):
        x0, y0, tw, th = _text_size(font, str(c))
        draw.text((left + c * cell + (cell - tw) / 2 - x0, top - gap - digits_height - digits_top), str(c), fill=BOARD_LABEL, font=font)
    return picture


def board_image(transcript: Transcript, turns_shown: int, colors: list[tuple[int, int, int]] | None = None,
                player_colors: dict[int, tuple[int, int, int]] | None = None, cell: int | None = None,
                ghost: bool = False, *, numbers: bool = True, turn_numbers: bool = True,
                mark_newest: bool = True) -> np.ndarray:
    """An enlarged RGB picture of the board after ``turns_shown`` turns: ``[H*cell, W*cell, 3]`` and, with
    ``numbers``, a margin around it (``board_margins``) holding the row numbers (left) and column
    numbers (top), 0-based as the turn log names pixels ("row 5, column 12"): every row and column on a
    small board, every 2nd or 4th on a 28x28 one.

    Hidden pixels are a hatched pale blue-grey; a revealed pixel shows its true brightness (white =
    ink) inside a thick frame in the colour of the player who revealed it (``player_colors`` maps
    player id to colour; default: each player's role colour). With ``turn_numbers`` each revealed pixel
    carries the (1-based) number of the turn that revealed it, black on light greys and white on dark
    ones; with ``mark_newest`` the pixel of the last shown turn gets a gold ring with a dark edge around
    its frame. With ``ghost`` the hidden ink is drawn faintly, lighter than the hidden background but
    paler than a revealed pixel (for researchers, never for judges).
    """
    image = transcript_image(transcript)
    h, w = image.shape
    if cell is None:
        cell = default_cell(h, w)
    if player_colors is None:
        player_colors = ({p: c for p, c in enumerate(colors)} if colors else
                         {p: role_color(r) for p, r in enumerate(transcript.roles)})
    picture = _empty_board(h, w, cell, numbers, image.tobytes() if ghost else None).copy()
    top, left = _layout(h, w, cell)[2][:2] if numbers else (0, 0)
    draw = ImageDraw.Draw(picture)
    border = max(2, cell // 6)
    revealed = revealed_pixels(transcript, turns_shown)
    for row, col, value, player in revealed:
        y, x = top + row * cell, left + col * cell
        draw.rectangle((x, y, x + cell - 1, y + cell - 1), fill=tuple(player_colors.get(player, (0, 0, 0))))
        draw.rectangle((x + border, y + border, x + cell - border - 1, y + cell - border - 1), fill=(value,) * 3)
    if mark_newest and revealed:
        row, col = revealed[-1][:2]
        y, x = top + row * cell, left + col * cell
        ring = _ring_width(cell)  # outside the frame, over the grid line and a little of the neighbours
        draw.rectangle((x - ring, y - ring, x + cell - 1 + ring, y + cell - 1 + ring), outline=NEWEST, width=ring)
        draw.rectangle((x - ring - 1, y - ring - 1, x + cell + ring, y + cell + ring), outline=NEWEST_EDGE)
    if turn_numbers:
        inner = cell - 2 * border
        for (row, col, value, _), turn in zip(revealed, transcript.turns):
            text = str(turn.index + 1)
            f, (x0, y0, tw, th) = _number_font(inner, border, text)
            draw.text((left + col * cell + (cell - tw) / 2 - x0, top + row * cell + (cell - th) / 2 - y0), text,
                      fill=(0, 0, 0) if value >= 128 else (255, 255, 255), font=f)
    return np.array(picture)


def newest_caption(transcript: Transcript, turns_shown: int) -> str:
    """What the numbers and the ring on ``board_image`` mean, for the caption under it."""
    text = ("Rows and columns are numbered from 0, as in the turn log; the number on a revealed pixel is the turn "
            "that revealed it")
    if turns_shown:
        text += f", and the gold ring marks the newest (turn {transcript.turns[turns_shown - 1].index + 1})"
    return text + "."


class SparsePixelView(TaskView):
    task = "sparse_pixel"
    label = "sparse-pixel"
    judge_order = 0  # offered first on the judging page
    explanation_hint = "e.g. the revealed pixels at the top form a closed loop"
    debater_mark = "frame"
    searchable = True

    def board(self, transcript, shown, *, player_colors):
        return board_image(transcript, shown, player_colors=player_colors)

    def judge_turns(self, transcript, shown, *, first_mover, player_colors, turn_log) -> None:
        n = len(transcript.turns)
        st.caption(f"{first_mover} moves first; {n} pixels are revealed in total.")
        board_col, log_col = st.columns([1, 1])  # the verdict form beside the board, on screen at 1400 px
        with board_col:
            # a short caption, so that on a phone the Next-turn control comes right under the board
            newest = f"; gold ring: the newest (turn {transcript.turns[shown - 1].index + 1})" if shown else ""
            st.image(board_image(transcript, shown, player_colors=player_colors), width="stretch",
                     caption=f"After {shown} of {n} turns. Hatched: not revealed; a framed square: a revealed pixel in "
                             f"its true grey (white = ink), framed in its debater's colour, numbered by turn{newest}.")
        with log_col:
            turn_log()

    def replay(self, transcript, turn, *, turn_lines) -> None:
        n = len(transcript.turns)
        roles = transcript.roles
        ghost = st.checkbox("Show the hidden image faintly", value=True, key="replay_ghost")
        board_col, info_col = st.columns([3, 2])
        with board_col:
            st.image(board_image(transcript, turn, ghost=ghost), width="stretch",
                     caption=f"After {turn} of {n} turns. {newest_caption(transcript, turn)} "
                             "Framed: the revealed pixels (white = ink); hatched "
                             "blue-grey: hidden" + (", with the hidden ink drawn faintly in lighter blue." if ghost else "."))
            st.markdown(" · ".join(swatch(role_color(roles[p]), f"{roles[p]}") for p in range(min(2, len(roles)))),
                        unsafe_allow_html=True)
        with info_col:
            turn_lines(transcript.turns[:turn])


VIEW = SparsePixelView()
