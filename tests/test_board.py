"""The sparse-pixel judging board (``app.views.sparse_pixel.board_image``) and the privacy of ``debate app``.

The board: row and column numbers in a margin, the turn number on each revealed pixel, a ring around
the newest one, hidden cells drawn as before. ``debate app``: no usage statistics, and the checkout's
``.streamlit/config.toml`` says the same for ``streamlit run``.
"""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from app.common import BOARD_MARGIN, GRID, HIDDEN, NEWEST
from app.views.sparse_pixel import board_image, board_margins, default_cell, newest_caption
from debate.records.transcript import Transcript, Turn

ROOT = Path(__file__).resolve().parent.parent
PLAIN = {"numbers": False, "turn_numbers": False, "mark_newest": False}  # the board as drawn before numbers

# (row, col) of each turn; turns 4 and 6 are the same player's (player 1), far from each other and from the rest
PIXELS28 = [(5, 12), (14, 4), (20, 20), (14, 23), (9, 9), (24, 6)]


def make_board_transcript(height: int = 28, width: int = 28, pixels=PIXELS28) -> Transcript:
    img = np.zeros((height, width), np.uint8)
    for i, (r, c) in enumerate(pixels):
        img[r, c] = 255 if i != 1 else 40  # turn 2 reveals a dark pixel, the others white ink
    turns = [Turn(i, i % 2, r * width + c, {"row": r, "col": c, "value": int(img[r, c])}, [0.5, 0.5])
             for i, (r, c) in enumerate(pixels)]
    return Transcript(task="sparse_pixel", instance_id="test:0", protocol="debate_precommit_honest_first",
                      claims=[0, 6], roles=["honest", "liar"], debaters=["a", "b"], judge="j", first_player=0,
                      turns=turns, winner=0, verdict_claim=0, ground_truth=0, seeds={},
                      instance={"height": height, "width": width, "pixels": img.reshape(-1).tolist()}, meta={})


@pytest.fixture(scope="module")
def t28() -> Transcript:
    return make_board_transcript()


def cell_box(board: np.ndarray, row: int, col: int, cell: int, top: int = 0, left: int = 0) -> np.ndarray:
    return board[top + row * cell: top + (row + 1) * cell, left + col * cell: left + (col + 1) * cell]


def has_ink(region: np.ndarray, background=BOARD_MARGIN) -> bool:
    """Something other than the background is drawn in ``region``."""
    return bool((region != np.asarray(background, np.uint8)).any(axis=-1).any())


def test_margin_holds_row_and_column_numbers(t28):
    cell = default_cell(28, 28)
    plain = board_image(t28, 6, **PLAIN)
    board = board_image(t28, 6)
    top, left, bottom, right = board_margins(28, 28)
    assert plain.shape == (28 * cell, 28 * cell, 3)
    assert top > 0 and left > 0
    assert board.shape == (plain.shape[0] + top + bottom, plain.shape[1] + left + right, 3)
    # row numbers on the left of every 2nd row, column numbers above every 2nd column (0-based: 0, 2, ..., 26)
    for i in range(0, 28, 2):
        assert has_ink(board[top + i * cell: top + (i + 1) * cell, :left - cell // 4]), f"row {i} has no number"
        assert has_ink(board[:top - cell // 4, left + i * cell: left + (i + 1) * cell]), f"column {i} has no number"
    # the numbers are dark on the pale margin
    assert board[top:, :left - cell // 4].min() < 128
    # the corner above the row numbers and left of the column numbers stays empty
    assert not has_ink(board[:top - cell // 2, :left - cell // 2])
    # without numbers, no margin
    assert board_image(t28, 6, numbers=False).shape == plain.shape


def test_small_board_numbers_every_row_and_column():
    t = make_board_transcript(8, 8, [(1, 2), (3, 3), (6, 5)])
    cell = default_cell(8, 8)
    board = board_image(t, 3)
    top, left, _, _ = board_margins(8, 8)
    for i in range(8):
        assert has_ink(board[top + i * cell: top + (i + 1) * cell, :left - cell // 4]), f"row {i} has no number"
        assert has_ink(board[:top - cell // 4, left + i * cell: left + (i + 1) * cell]), f"column {i} has no number"


def test_hidden_cells_are_unchanged(t28):
    cell = default_cell(28, 28)
    plain = board_image(t28, 6, **PLAIN)
    board = board_image(t28, 6)
    top, left, _, _ = board_margins(28, 28)
    newest = PIXELS28[-1]
    allowed = {tuple(np.asarray(c, np.uint8)) for c in (GRID, HIDDEN)}
    compared = 0
    for r in range(28):
        for c in range(28):
            if (r, c) in PIXELS28 or (abs(r - newest[0]) <= 1 and abs(c - newest[1]) <= 1):
                continue  # revealed, or touched by the newest pixel's ring
            old = cell_box(plain, r, c, cell)
            np.testing.assert_array_equal(cell_box(board, r, c, cell, top, left), old)
            colors = {tuple(v) for v in old.reshape(-1, 3)}
            assert tuple(np.asarray(HIDDEN, np.uint8)) in colors and len(colors) == 3  # tint, hatching, grid line
            assert colors - allowed  # the hatching's darker blue-grey
            compared += 1
    assert compared == 28 * 28 - 6 - 8


def test_turn_numbers_are_written_on_revealed_pixels(t28):
    cell = default_cell(28, 28)
    border = max(2, cell // 6)
    plain = board_image(t28, 6, **PLAIN)
    board = board_image(t28, 6, numbers=False)
    no_numbers = board_image(t28, 6, numbers=False, turn_numbers=False)
    insides = {}
    for turn, (r, c) in enumerate(PIXELS28, start=1):
        value = 40 if turn == 2 else 255
        inside = cell_box(board, r, c, cell)[border:-border, border:-border]
        before = cell_box(plain, r, c, cell)[border:-border, border:-border]
        assert (before == value).all()  # a uniform grey square inside the frame, as before
        assert (cell_box(no_numbers, r, c, cell)[border:-border, border:-border] == value).all()
        assert not (inside == value).all(), f"no number written on turn {turn}'s pixel"
        # black on light greys, white on dark ones
        text = 255 if value < 128 else 0
        assert ((inside == text).all(axis=-1)).sum() >= 4
        insides[turn] = inside
    # different turns, different numbers (same brightness, same frame colour)
    assert not np.array_equal(insides[1], insides[3])
    assert not np.array_equal(insides[4], insides[6])


def ring_line(board: np.ndarray, row: int, col: int, cell: int) -> np.ndarray:
    """The pixel line just above a square's frame (inside the newest square's ring, which lies outside it)."""
    y = row * cell - 2
    return board[y, col * cell: (col + 1) * cell]


def test_newest_pixel_is_marked(t28):
    cell = default_cell(28, 28)
    board = board_image(t28, 6, numbers=False)
    gold = np.asarray(NEWEST, np.uint8)
    newest, older = PIXELS28[5], PIXELS28[3]  # both revealed by player 1: same frame colour
    np.testing.assert_array_equal(cell_box(board, *newest, cell)[0, 0], cell_box(board, *older, cell)[0, 0])
    assert (ring_line(board, *newest, cell) == gold).all()
    assert not (ring_line(board, *older, cell) == gold).all(axis=-1).any()
    assert not np.array_equal(board[(newest[0] * cell) - 4: (newest[0] + 1) * cell + 4, newest[1] * cell - 4:],
                              board_image(t28, 6, numbers=False, mark_newest=False)[
                                  (newest[0] * cell) - 4: (newest[0] + 1) * cell + 4, newest[1] * cell - 4:])
    # a turn earlier the ring is around turn 5's pixel, not turn 6's (not revealed yet)
    earlier = board_image(t28, 5, numbers=False)
    assert (ring_line(earlier, *PIXELS28[4], cell) == gold).all()
    assert not (earlier == gold).all(axis=-1)[newest[0] * cell - 8: (newest[0] + 1) * cell + 8,
                                              newest[1] * cell - 8: (newest[1] + 1) * cell + 8].any()
    # no ring without mark_newest, none before the first turn
    assert not (board_image(t28, 6, mark_newest=False) == gold).all(axis=-1).any()
    assert not (board_image(t28, 0) == gold).all(axis=-1).any()


def test_caption_names_the_newest_turn(t28):
    assert "turn 6" in newest_caption(t28, 6) and "numbered from 0" in newest_caption(t28, 6)
    assert "ring" not in newest_caption(t28, 0)


def test_old_call_style_still_works(t28):
    """The positional arguments of before (colors, player_colors, cell, ghost) are unchanged."""
    board = board_image(t28, 3, [(255, 0, 0), (0, 0, 255)], None, 10, True)
    top, left, bottom, right = board_margins(28, 28, 10)
    assert board.shape == (280 + top + bottom, 280 + left + right, 3)
    r, c = PIXELS28[0]
    assert tuple(cell_box(board, r, c, 10, top, left)[0, 0]) == (255, 0, 0)


# --------------------------------------------------------------------------- privacy of `debate app`

def launched(monkeypatch, *args: str) -> list[str]:
    from app.cli import app

    calls = []
    monkeypatch.setattr(subprocess, "call", lambda cmd, env: calls.append(cmd) or 0)
    result = CliRunner().invoke(app, ["app", *args])
    assert result.exit_code == 0, result.output
    (cmd,) = calls
    return cmd


def option(cmd: list[str], name: str) -> str | None:
    return cmd[cmd.index(name) + 1] if name in cmd else None


def test_app_command_turns_usage_statistics_off(monkeypatch, tmp_path):
    url = f"sqlite:///{tmp_path / 'served.db'}"
    cmd = launched(monkeypatch, "--db", url)
    assert cmd[1:4] == ["-m", "streamlit", "run"]
    assert option(cmd, "--browser.gatherUsageStats") == "false"
    assert option(cmd, "--server.showEmailPrompt") == "false"
    assert "--browser.serverAddress" not in cmd
    # headless: an address to print is given, so Streamlit asks no outside server for a public IP
    cmd = launched(monkeypatch, "--db", url, "--headless")
    assert option(cmd, "--browser.gatherUsageStats") == "false" and option(cmd, "--server.headless") == "true"
    assert option(cmd, "--browser.serverAddress")


def test_checkout_streamlit_config_is_private():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["browser"]["gatherUsageStats"] is False
    assert config["server"]["showEmailPrompt"] is False
