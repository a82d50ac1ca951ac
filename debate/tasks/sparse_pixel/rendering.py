"""Sparse-pixel debates for people: the text of a stored debate, its board as ASCII art, and the
stored image and revealed pixels that boards are drawn from.

``RENDERER`` is what ``debate.records.rendering`` uses for ``task == "sparse_pixel"`` (the package's
``__init__`` exposes it). Standard library and numpy only: the app and ``debate.records.rendering``
import this without jax.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from debate.records.rendering import TaskRenderer
from debate.records.transcript import Transcript, Turn

__all__ = ["SparsePixelRenderer", "RENDERER", "ascii_board", "transcript_image", "revealed_pixels"]


def ascii_board(height: int, width: int, revealed: list[tuple[int, int, int]], image: np.ndarray | None = None) -> str:
    """The board as text: ``.`` hidden, ``H``/``L`` a pixel revealed by the honest player/liar,
    and (when ``image`` is given) hidden ink drawn faintly as ``:`` for a reader who may see it."""
    grid = [["." for _ in range(width)] for _ in range(height)]
    if image is not None:
        for r in range(height):
            for c in range(width):
                if image[r, c] > 0:
                    grid[r][c] = ":"
    for row, col, player in revealed:
        if 0 <= row < height and 0 <= col < width:  # a pixel outside the board is left out, not wrapped
            grid[row][col] = "H" if player == 0 else "L"
    return "\n".join("".join(line) for line in grid)


def transcript_image(transcript: Transcript) -> np.ndarray:
    """The stored image of a sparse-pixel transcript as uint8 ``[H, W]`` (0..255)."""
    inst = transcript.instance
    try:
        height, width = int(inst["height"]), int(inst["width"])
        pixels = np.asarray(inst["pixels"], dtype=np.int64)
    except (KeyError, TypeError, ValueError, OverflowError):
        raise ValueError(f"transcript {transcript.id} has no stored image (instance needs height, width and "
                         "pixels); only sparse-pixel transcripts can be drawn.") from None
    if pixels.ndim != 1 or pixels.size != height * width or pixels.min(initial=0) < 0 or pixels.max(initial=0) > 255:
        raise ValueError(f"transcript {transcript.id} stores {pixels.size} pixels for a {height}x{width} image "
                         "(values must be 0..255); regenerate it.")
    return pixels.astype(np.uint8).reshape(height, width)


def revealed_pixels(transcript: Transcript, turns_seen: int | None = None) -> list[tuple[int, int, int, int]]:
    """``(row, col, value, player)`` of each pixel revealed in the first ``turns_seen`` turns (all when
    None), in turn order; ``value`` is the stored image's 0..255 value at that pixel."""
    n = len(transcript.turns) if turns_seen is None else int(turns_seen)
    if not 0 <= n <= len(transcript.turns):
        raise ValueError(f"turns_seen {turns_seen} is outside 0..{len(transcript.turns)} for transcript "
                         f"{transcript.id}.")
    image = transcript_image(transcript)
    out = []
    for turn in transcript.turns[:n]:
        try:
            row, col = int(turn.revealed["row"]), int(turn.revealed["col"])
        except (KeyError, TypeError, ValueError, OverflowError):
            raise ValueError(f"turn {turn.index} of transcript {transcript.id} does not say which pixel it revealed; "
                             "regenerate it.") from None
        if not (0 <= row < image.shape[0] and 0 <= col < image.shape[1]):
            raise ValueError(f"turn {turn.index} of transcript {transcript.id} reveals pixel ({row}, {col}) outside "
                             f"the {image.shape[0]}x{image.shape[1]} image; regenerate it.")
        out.append((row, col, int(image[row, col]), int(turn.player)))
    return out


class SparsePixelRenderer(TaskRenderer):
    """MNIST-style sparse-pixel debates (Irving et al. 2018): players reveal true pixels of a hidden image."""

    task = "sparse_pixel"
    instructions = ("Two debaters argue about which digit a hidden image shows. Each turn one of them reveals one "
                    "true pixel. One of them is telling the truth. Decide who.")

    def _claims(self, transcript: Transcript) -> list[str]:
        claims = ["any other class" if c is None else str(c) for c in transcript.claims]
        return claims + ["none"] * (2 - len(claims))

    def _pixel(self, transcript: Transcript, turn: Turn) -> tuple[int, int, int]:
        r = turn.revealed
        try:
            return int(r["row"]), int(r["col"]), int(r["value"])
        except (KeyError, TypeError, ValueError, OverflowError):
            raise self.unreadable(transcript, f"turn {turn.index} does not say which pixel was revealed") from None

    @staticmethod
    def _beliefs(transcript: Transcript, turn: Turn) -> str:
        """The judge's belief in each claim, named by the role of the team that argues it."""
        return ", ".join(f"{transcript.role_of_team(c) or f'claim {c}'} {float(q):.2f}"
                         for c, q in enumerate(turn.judge_probs))

    def describe_transcript(self, transcript: Transcript, show_image: bool = True) -> str:
        """Turn-by-turn text with the judge's belief after each turn and the board as ASCII art."""
        inst = transcript.instance
        try:
            height, width = int(inst["height"]), int(inst["width"])
            if height < 0 or width < 0 or height * width > 1 << 22:
                raise ValueError("image size")
            image = np.asarray(inst["pixels"], dtype=np.int64).reshape(height, width) if show_image else None
        except (KeyError, TypeError, ValueError, OverflowError):
            raise self.unreadable(transcript, "its instance needs height, width and pixels") from None
        claims = self._claims(transcript)
        lines = [f"{transcript.protocol}: honest claims {claims[0]}, liar claims {claims[1]} "
                 f"(true class {transcript.ground_truth}); {self.role_name(transcript, transcript.first_player)} "
                 "moves first.",
                 "board: H honest's pixel, L liar's pixel, : ink the judge has not seen, . blank"]
        revealed = []
        for turn in transcript.turns:
            row, col, _ = self._pixel(transcript, turn)
            revealed.append((row, col, turn.player))
            lines.append("")
            lines.append(f"turn {turn.index + 1}: {self.turn_text(transcript, turn)}; judge belief: "
                         + self._beliefs(transcript, turn))
            lines.append(ascii_board(height, width, revealed, image))
        lines.append("")
        winner = "nobody wins" if transcript.winner_role is None else f"the {transcript.winner_role} player wins"
        lines.append(f"verdict: class {transcript.verdict_claim}; {winner}.")
        return "\n".join(lines)

    def turn_text(self, transcript: Transcript, turn: Turn, names: Mapping[int, str] | None = None) -> str:
        row, col, value = self._pixel(transcript, turn)
        if names is None:
            return f"{self.role_name(transcript, turn.player)} reveals pixel (row {row}, col {col}) = {value}"
        return f"{names[turn.player]} revealed row {row}, column {col} (brightness {value}/255)"

    def judge_question(self, transcript: Transcript) -> str:
        inst = transcript.instance
        size = f"{inst.get('height', '?')}x{inst.get('width', '?')} " if isinstance(inst, dict) else ""
        return f"Which digit does the hidden {size}image show?"

    def final_evidence(self, transcript: Transcript) -> str:
        pixels = [f"(row {t.revealed.get('row')}, col {t.revealed.get('col')}) = {t.revealed.get('value')}"
                  for t in transcript.turns]
        if not pixels:
            return "no pixel was revealed"
        return f"{len(pixels)} revealed pixel{'s' if len(pixels) != 1 else ''}: " + ", ".join(pixels)

    def value_text(self, transcript: Transcript, value: int | None) -> str:
        return "any other class" if value is None else f"class {value}"

    def claim_text(self, transcript: Transcript, player: int) -> str:
        """The class, or "not <honest claim>" without precommitment."""
        claim = transcript.claim_of(player)
        if claim is not None:
            return str(claim)
        others = [c for p, c in enumerate(transcript.claims) if p != player and c is not None]
        return f"not {others[0]}" if others else "any class"


RENDERER = SparsePixelRenderer()
