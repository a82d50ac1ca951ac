"""A language-model debater for text debates: it writes a short argument, for its assigned option,
around the quote its search chose, and its quotes inside the argument are verified against the
passage before the judge sees them.

Strength knobs (Khan et al. 2024): the search budget of the quote choice (any quote-task debater
picks the sentence) and best-of-N arguments: ``best_of_n`` samples N arguments and keeps the one the
judge prefers (the highest probability of the debater's option) against a fixed opponent turn.

The word limit scales Khan et al.'s 70-150 words down to what a 135M-parameter model writes
coherently (``WORD_LIMIT``); an argument is cut at the limit, on a word boundary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from debate.tasks.quote.verify import QuoteCheck, check_argument
from judges.llm.generate import generate
from judges.llm.judge import ArgumentQuote, DebateTurn, JudgeCase, JudgeInputError
from judges.llm.tokenizer import chat_prompt_ids, stop_token_ids

#: Words per argument at most (Khan et al.: 70-150 for much larger models).
WORD_LIMIT = 40
SYSTEM = ("You are a debater. You can read the story; the judge cannot. Argue that the answer you are "
          "given is correct, using the quoted sentence. Be brief and persuasive.")


@dataclass(frozen=True)
class Argument:
    text: str  # cut at the word limit
    checks: tuple[QuoteCheck, ...]  # its quoted spans, verified against the passage

    def turn(self, debater: int, sentence: int | None = None, sentence_text: str = "") -> DebateTurn:
        """The argument as a judge's turn, with each quote's verified / unverified mark."""
        return DebateTurn(debater, sentence, sentence_text, self.text,
                          tuple(ArgumentQuote(c.text, c.verified) for c in self.checks))


def cut_words(text: str, limit: int) -> str:
    """``text`` up to ``limit`` words (whitespace-separated), whole words only."""
    words = text.split()
    return " ".join(words[:limit])


def argument_messages(sentences: Sequence[str], question: str, option: str, quote_index: int,
                      word_limit: int = WORD_LIMIT) -> list[dict]:
    """The debater's prompt: the whole story (it can read it), the question, its option and the
    sentence its search chose to quote."""
    if not 0 <= quote_index < len(sentences):
        raise JudgeInputError(f"the debater quotes sentence {quote_index}, but the story has {len(sentences)} "
                              "sentences; pick one of them.")
    story = " ".join(sentences)
    user = (f"Story: {story}\n\nQuestion: {question}\nYour answer: {option}\n"
            f'Your evidence (sentence {quote_index + 1}): "{sentences[quote_index]}"\n'
            f"In at most {word_limit} words, tell the judge why the answer is {option}.")
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def reply_prefix(option: str, quote: str) -> str:
    """How the debater's reply starts (the model continues it): its claim, then its quote opened.
    The 135M model asked for an argument with no prefix copies the story line by line."""
    return f'The answer is {option}, because the story says "{quote.rstrip(".")}'



class ArgumentWriter:
    """Samples arguments from a chat model (``judges.llm``), all prompts of a call in one batch."""

    def __init__(self, model, tokenizer, *, word_limit: int = WORD_LIMIT, max_new_tokens: int | None = None,
                 temperature: float = 0.8, top_p: float = 0.95):
        if word_limit < 1:
            raise JudgeInputError(f"word_limit must be at least 1 word (got {word_limit}).")
        self.model, self.tokenizer = model, tokenizer
        self.word_limit = int(word_limit)
        # about 1.5 tokens per English word, and room for the end-of-turn token
        self.max_new_tokens = int(max_new_tokens or 2 * word_limit + 8)
        self.temperature, self.top_p = float(temperature), float(top_p)
        self.stop_ids = stop_token_ids(tokenizer)

    def write(self, sentences: Sequence[str], question: str, option: str, quote_index: int, n: int = 1,
              seed: int = 0) -> list[Argument]:
        """``n`` sampled arguments (greedy when the temperature is 0), each cut at the word limit and
        with its quotes verified against ``sentences``."""
        if n < 1:
            raise JudgeInputError(f"n must be at least 1 argument (got {n}).")
        start = reply_prefix(option, sentences[quote_index])
        prompt = chat_prompt_ids(self.tokenizer, argument_messages(sentences, question, option, quote_index,
                                                                    self.word_limit))
        prompt = prompt + list(self.tokenizer(start, add_special_tokens=False)["input_ids"])
        new = generate(self.model, [prompt] * n, self.max_new_tokens, stop_ids=self.stop_ids,
                       pad_id=self.stop_ids[0] if self.stop_ids else 0, temperature=self.temperature,
                       top_p=self.top_p, seed=seed)
        arguments = []
        for ids in new:
            text = cut_words(start + self.tokenizer.decode([t for t in ids if t not in self.stop_ids],
                                                           skip_special_tokens=True), self.word_limit)
            arguments.append(Argument(text, tuple(check_argument(text, sentences))))
        return arguments


def best_of_n(writer: ArgumentWriter, judge, case: JudgeCase, debater: int, quote_index: int, n: int,
              opponent: DebateTurn | None = None, seed: int = 0) -> tuple[Argument, list[float]]:
    """Khan et al.'s best-of-N: ``n`` arguments for ``debater`` (quoting ``quote_index``), each judged
    after the case's turns, the debater's turn and a fixed ``opponent`` turn; the one giving the
    debater's option the highest probability wins. Returns it and every candidate's probability.
    ``judge`` is anything with ``option_probs(cases) -> [N, O]`` (an ``LMJudge``)."""
    if not 0 <= debater < len(case.claims):
        raise JudgeInputError(f"debater {debater} argues no option of this case (it has {len(case.claims)} claims).")
    if not case.sentences:
        raise JudgeInputError("best_of_n needs the passage's sentences in the case (the debater reads them).")
    option = case.options[case.claims[debater]]
    candidates = writer.write(case.sentences, case.question, option, quote_index, n=n, seed=seed)
    cases = []
    for argument in candidates:
        turns = case.turns + (argument.turn(debater, quote_index, case.sentences[quote_index]),)
        cases.append(replace(case, turns=turns + ((opponent,) if opponent is not None else ())))
    probs = [float(p[case.claims[debater]]) for p in judge.option_probs(cases)]
    best = max(range(len(candidates)), key=probs.__getitem__)
    return candidates[best], probs


__all__ = ["Argument", "ArgumentWriter", "WORD_LIMIT", "argument_messages", "best_of_n", "cut_words"]
