"""Quote debates for people: the question, the options, and the quotes so far in passage order with
the gaps between them shown as redacted; the passage itself only in the researcher's view.

``RENDERER`` is what ``debate.records.rendering`` uses for ``task == "quote"`` (standard library
only, no jax).
"""

from __future__ import annotations

from typing import Mapping

from debate.records.rendering import TaskRenderer
from debate.records.transcript import Transcript, Turn

__all__ = ["QuoteRenderer", "RENDERER", "quotes_in_passage_order"]


def quotes_in_passage_order(transcript: Transcript, num_moves: int | None = None) -> list[tuple[int, str, int]]:
    """``(sentence index, text, player)`` of the quotes of the first ``num_moves`` turns, by position."""
    turns = transcript.turns if num_moves is None else transcript.turns[:num_moves]
    return sorted((int(t.revealed["sentence"]), str(t.revealed["text"]), int(t.player)) for t in turns)


class QuoteRenderer(TaskRenderer):
    task = "quote"
    instructions = ("Two debaters have read a passage you cannot see. Each argues for one answer to the question "
                    "and quotes sentences of the passage to support it. Every quote is exact and shows where it "
                    "stands in the passage; the debaters choose what to quote, so a true sentence can still mislead. "
                    "Decide which answer the passage supports.")

    def _instance(self, transcript: Transcript) -> dict:
        inst = transcript.instance
        if not isinstance(inst, dict) or not all(k in inst for k in ("sentences", "question", "options")):
            raise self.unreadable(transcript, "its instance lacks sentences, question or options")
        return inst

    def value_text(self, transcript: Transcript, value: int | None) -> str:
        options = self._instance(transcript)["options"]
        if value is None:
            return "none"
        return f"“{options[value]}”" if isinstance(value, int) and 0 <= value < len(options) else f"option {value}"

    def turn_text(self, transcript: Transcript, turn: Turn, names: Mapping[int, str] | None = None) -> str:
        who = names[turn.player] if names is not None else self.role_name(transcript, turn.player).capitalize()
        try:
            index, text = int(turn.revealed["sentence"]), str(turn.revealed["text"])
        except (KeyError, TypeError, ValueError):
            raise self.unreadable(transcript, f"turn {turn.index} is not a quote") from None
        line = f"{who} quotes sentence {index + 1}: “{text}”"
        argument = self.argument_text(turn)
        return line + (f" — {argument}" if argument else "")

    @staticmethod
    def argument_text(turn: Turn) -> str | None:
        """The turn's free-text argument with each quote inside it marked ``[✓ verified]`` or
        ``[✗ not in the passage]`` (its ``argument_quotes``, which ``check_transcript`` keeps equal to
        a fresh check), so a judge can tell evidence from invention; None without an argument."""
        argument = turn.revealed.get("argument") if isinstance(turn.revealed, dict) else None
        if not argument:
            return None
        unplaced = []
        for mark in turn.revealed.get("argument_quotes") or []:
            quoted, tag = str(mark.get("text", "")), "[✓ verified]" if mark.get("verified") else "[✗ not in the passage]"
            at = argument.find(quoted) if quoted else -1
            if at < 0:
                unplaced.append(f"“{quoted}” {tag}")
                continue
            end = at + len(quoted)
            end += 1 if argument[end:end + 1] in ('"', "”") else 0  # after the closing quotation mark
            argument = f"{argument[:end]} {tag}{argument[end:]}"
        return argument + (f" (quotes: {'; '.join(unplaced)})" if unplaced else "")

    def judge_question(self, transcript: Transcript) -> str:
        inst = self._instance(transcript)
        options = " or ".join(f"“{o}”" for o in inst["options"])
        return f"{inst['question']} ({options}; the passage has {len(inst['sentences'])} sentences)"

    def redacted_passage(self, transcript: Transcript, num_moves: int | None = None) -> list[str]:
        """The quotes so far in passage order, each gap between them one line ``[... n sentences ...]``."""
        total = len(self._instance(transcript)["sentences"])
        lines, at = [], 0
        for index, text, _ in quotes_in_passage_order(transcript, num_moves):
            if index > at:
                lines.append(f"[… {index - at} sentence{'s' if index - at > 1 else ''} not quoted …]")
            lines.append(f"{index + 1}. {text}")
            at = index + 1
        if at < total:
            lines.append(f"[… {total - at} sentence{'s' if total - at > 1 else ''} not quoted …]")
        return lines

    def final_evidence(self, transcript: Transcript) -> str:
        return "\n".join(self.redacted_passage(transcript))

    def evidence_check(self, transcript: Transcript) -> str | None:
        supporting = self._instance(transcript).get("supporting") or []
        quoted = {int(t.revealed["sentence"]) for t in transcript.turns}
        if not supporting:
            return None
        shown = [i + 1 for i in supporting if i in quoted]
        return (f"the sentences that prove the answer are {', '.join(str(i + 1) for i in supporting)}; "
                + (f"quoted: {', '.join(map(str, shown))}" if shown else "none of them was quoted"))

    def describe_transcript(self, transcript: Transcript, **options) -> str:
        self._instance(transcript)  # one clear error for a transcript without a question
        claims = ", ".join(f"{self.role_name(transcript, p)} argues {self.claim_text(transcript, p)}"
                           for p in range(len(transcript.players)))
        lines = [f"{transcript.protocol}: {self.judge_question(transcript)}",
                 f"{claims} (correct: {self.value_text(transcript, transcript.ground_truth)}); the "
                 f"{self.role_name(transcript, transcript.first_player)} player quotes first."]
        for turn in transcript.turns:
            beliefs = ", ".join(f"{transcript.role_of_team(c) or f'claim {c}'} {float(q):.2f}"
                                for c, q in enumerate(turn.judge_probs))
            lines.append(f"turn {turn.index + 1}: {self.turn_text(transcript, turn)}; judge belief: {beliefs}")
        lines.append("what the judge saw, in passage order:")
        lines += [f"  {line}" for line in self.redacted_passage(transcript)]
        check = self.evidence_check(transcript)
        if check:
            lines.append(f"evidence: {check}")
        winner = "nobody wins" if transcript.winner_role is None else f"the {transcript.winner_role} player wins"
        lines.append(f"verdict: {self.value_text(transcript, transcript.verdict_claim)}; {winner}.")
        return "\n".join(lines)


RENDERER = QuoteRenderer()
