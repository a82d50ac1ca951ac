"""A language-model judge for text debates: a chat model reads the question, the options and what
the debaters quoted (never the passage), and the probability of each option is read off the
log-probabilities at the answer position of each option's first token (``answer="text"``, the
default) or of the option labels "A", "B", ... (``answer="label"``, the options listed with labels).

Small models prefer a label whatever the content (SmolLM2-135M, listed options and no quote: its top
choice followed the label, not the option, in 20 of 20 easy stories), so every score here is
the mean over all option orders (both for two options, the cyclic shifts for more) and over all
assignments of debater names to debaters (cyclic shifts of the names), mapped back to the option
order the caller gave. The options and names are first put in a canonical order (sorted text), so a
case and any reordering of its options or names give the same prompts in the same batch rows and
therefore bit-for-bit the same scores: order-invariance holds by construction, not approximately.

What is averaged is each variant's answer-token log-probabilities, normalised over the options; the mean is
the judge's logit per option and ``softmax(logit / temperature)`` its probability. The temperature
is fitted on held-out questions (``fit_temperature``). All prompts of all cases go through
``next_token_logprobs`` together, deduplicated and sorted by length, in chunks of fixed row counts
(powers of two up to ``batch_size``) so that jit compiles few shapes.

Modes: ``debate`` (the default: the quotes and arguments), ``blind`` (question and options only) and
``oracle`` (every sentence of the passage, numbered, and no debate). This judge scores final
positions; inside search the cheap quote judge over embeddings stays the leaf value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from judges.llm.generate import PromptTooLong, next_token_logprobs
from judges.llm.tokenizer import chat_prompt_ids

LABELS = "ABCDEFGHIJ"
MODES = ("debate", "blind", "oracle")
#: What is scored at the answer position: the first token of the option's own text (the options are
#: named only by the debaters' claims, or listed in blind mode) or the option's label ("A", "B", ...: the
#: options are listed with labels). SmolLM2-135M reads a quote into the answer word (20/20 easy stories
#: with the supporting quote) but not into a letter (0/20 there: it cannot map a listed option to its
#: label), so "text" is the default; docs/language-models.md has the numbers.
ANSWERS = ("text", "label")
DEFAULT_NAMES = ("Alice", "Bob")
#: Text put at the start of the assistant's turn before the answer token is scored: "Answer:" then
#: " kitchen" (or " A"); on ten easy stories it beat scoring the first token of the bare assistant turn
#: (mean probability of the right answer 0.80 against 0.64; docs/language-models.md).
DEFAULT_ANSWER_PREFIX = "Answer:"
#: SmolLM2 was pre-trained with 2048-token sequences (its config says 8192 after a long-context stage);
#: judge prompts are refused above this unless the caller raises it.
DEFAULT_MAX_PROMPT_TOKENS = 2048

SYSTEM = {
    "debate": ("You judge a debate about a story you cannot read. The debaters can read it. Their quotes "
               "are exact sentences of the story; sentence numbers give the order of events, so a later "
               "sentence tells what happened last. Reply with the letter of the correct answer only."),
    "blind": "Answer the question about a story you cannot read. Reply with the letter of the best answer only.",
    "oracle": ("Read the story and answer the question. Sentence numbers give the order of events. Reply "
               "with the letter of the correct answer only."),
}
SYSTEM_TEXT = {mode: text.replace("the letter of the correct answer", "the correct answer").replace(
    "the letter of the best answer", "the best answer") for mode, text in SYSTEM.items()}


class JudgeInputError(ValueError):
    """A case the judge cannot score: the message says which and what to do."""


# ------------------------------------------------------------------ what is judged
@dataclass(frozen=True)
class ArgumentQuote:
    """A quote inside a free-text argument, checked against the passage by whoever built the turn."""

    text: str
    verified: bool


@dataclass(frozen=True)
class DebateTurn:
    """One move: ``debater`` (index into the case's ``claims``; -1 for a quote nobody argued with)
    quoted sentence ``sentence`` (0-based; None for an argument without a quote) whose text is
    ``text``, and may add a free-text ``argument`` with its checked ``argument_quotes``."""

    debater: int
    sentence: int | None = None
    text: str = ""
    argument: str = ""
    argument_quotes: tuple[ArgumentQuote, ...] = ()


@dataclass(frozen=True)
class JudgeCase:
    """One debate to judge: debater ``i`` argues option ``claims[i]``. ``sentences`` (the passage)
    are shown only in ``oracle`` mode."""

    question: str
    options: tuple[str, ...]
    claims: tuple[int, ...] = ()
    turns: tuple[DebateTurn, ...] = ()
    sentences: tuple[str, ...] = ()
    id: str = ""

    def where(self, index: int | None = None) -> str:
        return f"case {self.id[:60]!r}" if self.id else f"case {index}" if index is not None else "a case"


def check_case(case: JudgeCase, index: int | None = None, max_names: int | None = None) -> None:
    where = case.where(index)
    if not isinstance(case.question, str) or not case.question.strip():
        raise JudgeInputError(f"{where} has an empty question; give it the question text.")
    if not 2 <= len(case.options) <= len(LABELS) or len(set(case.options)) != len(case.options) or not all(
            isinstance(o, str) and o.strip() for o in case.options):
        raise JudgeInputError(f"{where} needs 2 to {len(LABELS)} different, non-empty options.")
    if any(not 0 <= c < len(case.options) for c in case.claims):
        raise JudgeInputError(f"{where}: every claim must index one of its {len(case.options)} options "
                              f"(got {list(case.claims)}).")
    if max_names is not None and len(case.claims) > max_names:
        raise JudgeInputError(f"{where} has {len(case.claims)} debaters but the judge has {max_names} names; "
                              "pass one name per debater.")
    for t, turn in enumerate(case.turns):
        if not -1 <= turn.debater < len(case.claims):
            raise JudgeInputError(f"{where}, turn {t + 1}: debater {turn.debater} is not one of its "
                                  f"{len(case.claims)} debaters (or -1 for an unargued quote).")
        if turn.sentence is not None and (turn.sentence < 0 or not turn.text.strip()):
            raise JudgeInputError(f"{where}, turn {t + 1}: a quote needs a sentence index >= 0 and its text.")
        if turn.sentence is None and not turn.argument.strip():
            raise JudgeInputError(f"{where}, turn {t + 1} has neither a quote nor an argument; drop it.")


def _show(text: str) -> str:
    return " ".join(str(text).split())


# ------------------------------------------------------------------ prompts
def judge_messages(case: JudgeCase, names: Sequence[str] = DEFAULT_NAMES, mode: str = "debate",
                   option_order: Sequence[int] | None = None, name_order: Sequence[int] | None = None,
                   answer: str = "label") -> list[dict]:
    """The chat messages asking the judge for one option label (``answer="text"``: for the answer
    itself; the options are then named by the debaters' claims, and listed only in blind mode).

    ``option_order[j]`` is the option shown with label ``LABELS[j]`` (default: as given);
    debater ``i`` is called ``names[name_order[i]]`` (default: ``names[i]``). Only the quoted
    sentences are shown (``blind``: no debate; ``oracle``: every sentence and no debate)."""
    if answer not in ANSWERS:
        raise JudgeInputError(f"unknown answer kind {answer!r}; choose one of {', '.join(ANSWERS)}.")
    if mode not in MODES:
        raise JudgeInputError(f"unknown judge mode {mode!r}; choose one of {', '.join(MODES)}.")
    check_case(case, max_names=len(names))
    num = len(case.options)
    order = list(range(num)) if option_order is None else list(option_order)
    if sorted(order) != list(range(num)):
        raise JudgeInputError(f"option_order must be a permutation of 0..{num - 1} (got {order}).")
    name_order = list(range(len(case.claims))) if name_order is None else list(name_order)
    if len(name_order) < len(case.claims) or any(not 0 <= i < len(names) for i in name_order):
        raise JudgeInputError(f"name_order must give each of the {len(case.claims)} debaters one of the "
                              f"{len(names)} names (got {name_order}).")
    label_of = {option: LABELS[j] for j, option in enumerate(order)}
    name = [names[name_order[i]] for i in range(len(case.claims))]
    letters = ", ".join(LABELS[:num - 1]) + f" or {LABELS[num - 1]}"

    story = []
    if mode == "oracle":
        if not case.sentences:
            raise JudgeInputError(f"{case.where()} has no passage sentences, which oracle mode shows; pass them.")
        story = ["Story:"] + [f"{i + 1}. {_show(s)}" for i, s in enumerate(case.sentences)]
    question = [f"Question: {_show(case.question)}"]
    if answer == "label":
        question += [f"{LABELS[j]}. {_show(case.options[o])}" for j, o in enumerate(order)]
    elif mode == "blind":
        question.append("Possible answers: " + " or ".join(_show(case.options[o]) for o in order) + ".")
    debate = []
    if mode == "debate":
        speakers = sorted({t.debater for t in case.turns if t.debater >= 0})
        for d in speakers:
            debate.append(f"{name[d]} argues for {label_of[case.claims[d]]}." if answer == "label" else
                          f'{name[d]} says the answer is "{_show(case.options[case.claims[d]])}".')
        if speakers and case.turns:
            debate.append("")
        for turn in case.turns:
            who = name[turn.debater] if turn.debater >= 0 else None
            if turn.sentence is not None:
                head = f"{who} quotes sentence {turn.sentence + 1}" if who else f"Sentence {turn.sentence + 1}"
                debate.append(f'{head}: "{_show(turn.text)}"')
            if turn.argument.strip():
                debate.append(f'{who or "Note"}: {_show(turn.argument)}')
                for q in turn.argument_quotes:
                    mark = "verified, in the story" if q.verified else "NOT found in the story"
                    debate.append(f'  (quote "{_show(q.text)}": {mark})')
    if answer == "label":  # question and labelled options first, the debate, then the request
        blocks = [story, question, debate, [f"Which answer is correct, {letters}?"]]
        system = SYSTEM[mode]
    else:  # the evidence first and the question last, the answer itself to follow
        blocks = [story, debate, question]
        system = SYSTEM_TEXT[mode]
    text = "\n\n".join("\n".join(b) for b in blocks if b)
    return [{"role": "system", "content": system}, {"role": "user", "content": text}]


# ------------------------------------------------------------------ scores
@dataclass
class Judgment:
    """Scores of ``N`` cases with ``O`` options each, over ``V = O * D`` variants (option shift x
    name shift; ``D`` the number of names). Everything is in the caller's option order."""

    logits: np.ndarray  # [N, O] mean over variants of the label log-probabilities normalised over the labels
    probs: np.ndarray  # [N, O] softmax(logits / temperature)
    raw: np.ndarray  # [N, V, O] each variant's normalised label probabilities
    order: np.ndarray  # [N, V, O] the option shown at each label position in each variant
    name_shift: np.ndarray  # [V] the name shift of each variant
    temperature: float = 1.0

    @property
    def choice(self) -> np.ndarray:
        return self.probs.argmax(axis=1)


def _log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    x = np.asarray(x, np.float64)
    top = x.max(axis=axis, keepdims=True)
    return x - top - np.log(np.exp(x - top).sum(axis=axis, keepdims=True))


def probs_at(logits, temperature: float = 1.0) -> np.ndarray:
    """``softmax(logits / temperature)`` along the last axis."""
    if not temperature > 0:
        raise ValueError(f"the temperature must be positive (got {temperature!r}).")
    return np.exp(_log_softmax(np.asarray(logits, np.float64) / temperature))


class LMJudge:
    """A chat model judging text debates by the probabilities of the option labels.

    ``model`` is a ``judges.llm.llama.Llama``; ``tokenizer`` a transformers tokenizer with a chat
    template (``judges.llm.tokenizer.load_tokenizer``). ``LMJudge.load()`` builds SmolLM2 from the
    model cache (``debate models fetch smollm2``)."""

    def __init__(self, model, tokenizer, *, names: Sequence[str] = DEFAULT_NAMES, mode: str = "debate",
                 answer: str = "text", answer_prefix: str = DEFAULT_ANSWER_PREFIX, max_prompt_tokens: int | None = None,
                 batch_size: int = 16, temperature: float = 1.0):
        if mode not in MODES:
            raise JudgeInputError(f"unknown judge mode {mode!r}; choose one of {', '.join(MODES)}.")
        if answer not in ANSWERS:
            raise JudgeInputError(f"unknown answer kind {answer!r}; choose one of {', '.join(ANSWERS)}.")
        if len(names) < 1 or len(set(names)) != len(names) or not all(isinstance(n, str) and n.strip() for n in names):
            raise JudgeInputError("the judge needs different, non-empty debater names.")
        if batch_size < 1:
            raise JudgeInputError(f"batch_size must be at least 1 (got {batch_size}).")
        self.model, self.tokenizer = model, tokenizer
        self.names, self.mode, self.answer, self.answer_prefix = tuple(names), mode, answer, answer_prefix
        context = int(model.sizes.max_positions)
        self.max_prompt_tokens = min(DEFAULT_MAX_PROMPT_TOKENS, context) if max_prompt_tokens is None else int(
            max_prompt_tokens)
        if self.max_prompt_tokens > context:
            raise JudgeInputError(f"max_prompt_tokens {self.max_prompt_tokens} is more than the model's context of "
                                  f"{context}; pass at most {context}.")
        self.batch_size = int(batch_size)
        self.temperature = float(temperature)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.prefix_ids = self._ids(answer_prefix) if answer_prefix else []
        self.label_ids = [self._label_id(label) for label in LABELS]
        self.calls = 0  # next_token_logprobs calls made
        self.shapes: set[tuple[int, int]] = set()  # (rows, longest prompt rounded to 16) of those calls

    @classmethod
    def load(cls, folder: str | Path | None = None, **options) -> LMJudge:
        """SmolLM2-135M-Instruct from ``folder`` or the model cache, as a judge."""
        from judges.llm.tokenizer import load_tokenizer
        from judges.llm.weights import load_llama
        from judges.model_files import find_model

        folder = find_model("smollm2", folder)
        model, _, _ = load_llama(folder)
        return cls(model, load_tokenizer(folder), **options)

    def _ids(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _label_id(self, label: str, whole: bool = True) -> int:
        """The token that follows the answer prefix when the reply is ``prefix + label`` (``whole``: and
        the only one; else the first of the label's tokens)."""
        text = f"{self.answer_prefix} {label}" if self.answer_prefix else label
        ids = self._ids(text)
        if ids[: len(self.prefix_ids)] != self.prefix_ids or len(ids) <= len(self.prefix_ids) or (
                whole and len(ids) != len(self.prefix_ids) + 1):
            raise JudgeInputError(f"the tokenizer does not write the answer {text!r} as the prefix's tokens and "
                                  f"{'one label token' if whole else 'the answer'}; choose another answer_prefix.")
        return ids[len(self.prefix_ids)]

    def answer_ids(self, case: JudgeCase) -> list[int]:
        """The token scored for each option (caller's order): its label's when ``answer="label"`` (the
        label of position j then stands for whichever option is shown there), else its text's first."""
        if self.answer == "label":
            return self.label_ids[: len(case.options)]
        ids = [self._label_id(_show(o), whole=False) for o in case.options]
        if len(set(ids)) != len(ids):
            raise JudgeInputError(f"{case.where()}: two options begin with the same token, so answer='text' cannot "
                                  "tell them apart; use answer='label'.")
        return ids

    def with_temperature(self, temperature: float) -> LMJudge:
        probs_at([0.0], temperature)  # checks it
        self.temperature = float(temperature)
        return self

    # -------------------------------------------------------------- variants
    def variants(self, case: JudgeCase) -> list[tuple[list[int], list[int]]]:
        """``(option order, name order)`` of every variant of a case: options and names put in their
        canonical (sorted) order, then each cyclic shift of the options times each of the names."""
        num, names = len(case.options), len(self.names)
        canon = sorted(range(num), key=lambda i: case.options[i])
        canon_names = sorted(range(names), key=lambda i: self.names[i])
        debaters = max(len(case.claims), 1)
        out = []
        for s in range(num):
            for r in range(names):
                out.append(([canon[(j + s) % num] for j in range(num)],
                            [canon_names[(i + r) % names] for i in range(debaters)]))
        return out

    def prompt_ids(self, case: JudgeCase, option_order=None, name_order=None) -> list[int]:
        messages = judge_messages(case, self.names, self.mode, option_order, name_order, self.answer)
        return list(chat_prompt_ids(self.tokenizer, messages, add_generation_prompt=True)) + self.prefix_ids

    def prompts(self, cases: Sequence[JudgeCase]) -> list[list[list[int]]]:
        """The token ids of every variant of every case (refusing one that does not fit)."""
        out = []
        for n, case in enumerate(cases):
            check_case(case, n, max_names=len(self.names))
            rows = []
            for order, name_order in self.variants(case):
                ids = self.prompt_ids(case, order, name_order)
                if len(ids) > self.max_prompt_tokens:
                    raise PromptTooLong(f"the judge prompt for {case.where(n)} is {len(ids)} tokens, more than the "
                                        f"limit of {self.max_prompt_tokens}; show fewer or shorter quotes and "
                                        "arguments, or raise max_prompt_tokens (the model's context is "
                                        f"{self.model.sizes.max_positions}).")
                rows.append(ids)
            out.append(rows)
        return out

    def _scores(self, requests: list[tuple[tuple[int, ...], tuple[int, ...]]]) -> dict:
        """Log-probabilities of the wanted tokens after each distinct prompt (``(prompt, token ids)``
        requests), in as few model calls as the batch allows: prompts deduplicated and sorted by
        length, chunks of ``batch_size`` rows (fewer only as a power of two): few compiled shapes."""
        wanted: dict[tuple[int, ...], set[int]] = {}
        for prompt, ids in requests:
            wanted.setdefault(prompt, set()).update(ids)
        unique = sorted(wanted, key=lambda p: (len(p), p))
        out = {}
        for start in range(0, len(unique), self.batch_size):
            chunk = [list(p) for p in unique[start:start + self.batch_size]]
            rows = min(self.batch_size, 1 << (len(chunk) - 1).bit_length())
            padded = chunk + [chunk[-1]] * (rows - len(chunk))
            logprobs = next_token_logprobs(self.model, padded, self.pad_id)
            self.calls += 1
            self.shapes.add((rows, -(-max(len(p) for p in padded) // 16) * 16))
            for row, prompt in enumerate(chunk):
                out[tuple(prompt)] = {i: float(logprobs[row, i]) for i in wanted[tuple(prompt)]}
        return out

    def judge(self, cases: Sequence[JudgeCase]) -> Judgment:
        """Scores of every case, averaged over option orders and name orders."""
        cases = list(cases)
        if not cases:
            raise JudgeInputError("there are no cases to judge; pass at least one.")
        num = len(cases[0].options)
        if any(len(c.options) != num for c in cases):
            raise JudgeInputError("every case of one call must have the same number of options; judge cases with "
                                  "different numbers of options in separate calls.")
        prompts = self.prompts(cases)
        answer_ids = [self.answer_ids(c) for c in cases]
        variants = [self.variants(c) for c in cases]
        scored = self._scores([(tuple(p), tuple(answer_ids[n])) for n, rows in enumerate(prompts) for p in rows])
        v = len(variants[0])
        raw_log = np.zeros((len(cases), v, num))
        order = np.zeros((len(cases), v, num), np.int64)
        for n, rows in enumerate(prompts):
            for k, (ids, (option_order, _)) in enumerate(zip(rows, variants[n])):
                got = scored[tuple(ids)]
                order[n, k] = option_order
                if self.answer == "label":  # label j (display position j) stands for option option_order[j]
                    raw_log[n, k, option_order] = _log_softmax([got[i] for i in answer_ids[n]])
                else:  # normalised in the canonical order (as every sum here), then put in the caller's
                    canon = sorted(range(num), key=lambda i: cases[n].options[i])
                    raw_log[n, k, canon] = _log_softmax([got[answer_ids[n][i]] for i in canon])
        # the variants are listed in canonical order, so this sum runs in one order for any reordering
        logits = raw_log.mean(axis=1)
        name_shift = np.asarray([k % len(self.names) for k in range(v)])
        return Judgment(logits=logits, probs=self._probs(cases, logits), raw=np.exp(raw_log), order=order,
                        name_shift=name_shift, temperature=self.temperature)

    def _probs(self, cases: Sequence[JudgeCase], logits: np.ndarray) -> np.ndarray:
        """``softmax(logits / temperature)``, each row summed in its case's canonical option order."""
        probs = np.empty_like(logits)
        for n, case in enumerate(cases):
            canon = sorted(range(len(case.options)), key=lambda i: case.options[i])
            probs[n, canon] = probs_at(logits[n, canon], self.temperature)
        return probs

    def option_probs(self, cases: Sequence[JudgeCase]) -> np.ndarray:
        """``[N, O]`` probability of each option (the caller's order); each row sums to 1."""
        return self.judge(cases).probs

    # -------------------------------------------------------------- the quote task
    def judge_questions(self, questions, quote_index, quoter=None, claims=None) -> np.ndarray:
        """``[N, O]`` option probabilities for ``TextQuestion``s and the quotes each debate revealed
        (see ``cases_from_quotes``)."""
        return self.option_probs(cases_from_quotes(questions, quote_index, quoter, claims))

    def judge_games(self, games, questions=None) -> np.ndarray:
        """``[G, O]`` option probabilities of finished quote games (``debate.core.runner.Games``)."""
        return self.option_probs(cases_from_games(games, questions))


def honest_margin(probs, claims) -> np.ndarray:
    """Log-probability of the honest claim minus the liar's (``claims [N, 2]`` = [honest, liar])."""
    probs, claims = np.asarray(probs, np.float64), np.asarray(claims)
    pick = lambda c: np.take_along_axis(probs, c[:, None], axis=1)[:, 0]
    return np.log(pick(claims[:, 0])) - np.log(pick(claims[:, 1]))


# ------------------------------------------------------------------ the quote task's positions
def case_of_question(question, quotes: Sequence[tuple[int, int]] = (), claims: Sequence[int] = ()) -> JudgeCase:
    """A case from a ``TextQuestion``: ``quotes`` are ``(sentence index, debater)`` in the order made
    (debater -1: unargued), debater ``i`` argues ``claims[i]``."""
    turns = []
    for sentence, debater in quotes:
        if not 0 <= int(sentence) < len(question.sentences):
            raise JudgeInputError(f"question {question.id[:60]!r} has no sentence {int(sentence)} (it has "
                                  f"{len(question.sentences)}); quote one of its sentences.")
        turns.append(DebateTurn(int(debater), int(sentence), question.sentences[int(sentence)]))
    return JudgeCase(question=question.question, options=tuple(question.options), claims=tuple(int(c) for c in claims),
                     turns=tuple(turns), sentences=tuple(question.sentences), id=question.id)


def cases_from_quotes(questions, quote_index, quoter=None, claims=None) -> list[JudgeCase]:
    """Cases from ``TextQuestion``s and what each debate revealed: ``quote_index [N, K]`` the sentence of
    each quote in order (-1: none), ``quoter [N, K]`` the player who made it (0 honest, 1 liar; -1 or
    None: unargued) and ``claims [N, 2]`` the option each player argues (the game's ``claims``)."""
    quote_index = np.asarray(quote_index, np.int64).reshape(len(questions), -1)
    quoter = np.full(quote_index.shape, -1) if quoter is None else np.asarray(quoter, np.int64).reshape(quote_index.shape)
    if claims is None:
        if (quoter >= 0).any():
            raise JudgeInputError("quotes made by players need the claims each player argues; pass claims [N, 2].")
        claims = np.zeros((len(questions), 0), np.int64)
    claims = np.asarray(claims, np.int64).reshape(len(questions), -1)
    return [case_of_question(q, [(s, p) for s, p in zip(quote_index[n], quoter[n]) if s >= 0], claims[n])
            for n, q in enumerate(questions)]


def cases_from_games(games, questions=None) -> list[JudgeCase]:
    """Cases from finished quote games: the ``quotes`` column (sentence of each quote, -1 where none),
    each quoter read from the ``players`` who made those ``actions``, and the ``claims``. Without
    ``questions`` (row ``g`` the question of game ``g``) the games' ``question_number`` finds them."""
    if questions is None:
        if "question_number" not in games.columns:
            raise JudgeInputError("these games do not say their questions; pass questions (one per game) or play "
                                  "instances built by debate.tasks.quote.data.instances_of.")
        from debate.tasks.quote.data import question_by_number

        questions = [question_by_number(int(n)) for n in games.question_number]
    if len(questions) != len(games):
        raise JudgeInputError(f"there are {len(games)} games but {len(questions)} questions; pass one per game.")
    quotes = np.asarray(games["quotes"]) if "quotes" in games.columns else np.asarray(games.actions)
    actions, players = np.asarray(games.actions), np.asarray(games.players)
    quoter = np.full(quotes.shape, -1, np.int64)
    for g in range(len(questions)):
        for k, sentence in enumerate(quotes[g]):
            made = np.flatnonzero(actions[g] == sentence)
            if sentence >= 0 and made.size:
                quoter[g, k] = players[g, made[0]]
    return cases_from_quotes(questions, quotes, quoter, np.asarray(games.claims))


def case_of_transcript(transcript) -> JudgeCase:
    """A case from a quote transcript: each turn's revealed sentence, and its free-text argument and
    checked quotes where the turn has them (``revealed["argument"]``, ``["argument_quotes"]``)."""
    inst = transcript.instance
    turns = []
    for turn in transcript.turns:
        revealed = turn.revealed or {}
        quotes = tuple(ArgumentQuote(str(q.get("text", "")), bool(q.get("verified", False)))
                       for q in revealed.get("argument_quotes", []) or [])
        sentence = revealed.get("sentence")
        turns.append(DebateTurn(debater=int(transcript.teams[turn.player]),
                                sentence=None if sentence is None else int(sentence),
                                text=str(revealed.get("text", "")), argument=str(revealed.get("argument", "") or ""),
                                argument_quotes=quotes))
    return JudgeCase(question=inst["question"], options=tuple(inst["options"]),
                     claims=tuple(int(c) for c in transcript.claims), turns=tuple(turns),
                     sentences=tuple(inst.get("sentences", ())), id=str(transcript.instance_id))


def shifted(case: JudgeCase, shift: int = 1) -> tuple[JudgeCase, list[int]]:
    """The case with its options rotated by ``shift`` (claims follow them) and ``where[i]``, the new
    index of old option ``i``."""
    num = len(case.options)
    new_order = [(j + shift) % num for j in range(num)]  # new option j is old option new_order[j]
    where = [new_order.index(i) for i in range(num)]
    return replace(case, options=tuple(case.options[o] for o in new_order),
                   claims=tuple(where[c] for c in case.claims)), where


# ------------------------------------------------------------------ position bias
def position_bias(judge: LMJudge, cases: Sequence[JudgeCase], correct: Sequence[int] | None = None) -> dict:
    """How much the label order moves the judge, before and after averaging.

    Before: ``raw_flip_rate``, the share of (case, name order) whose top option is not the same in
    every option order; ``raw_first_label_prob``, the mean probability of label "A" over all variants
    (every case is shown in every cyclic order, so content cancels: 1/O is no bias).
    After: the cases are judged again with their options rotated by one (claims following);
    ``averaged_flip_rate`` is the share whose top option changes, ``averaged_max_difference`` the
    largest change of any probability (both 0 by construction) and ``averaged_first_option_prob``
    the mean probability of the first-listed option over both listings. With ``correct`` (the right
    option of each case, caller's order) also the accuracies."""
    cases = list(cases)
    result = judge.judge(cases)
    num = result.probs.shape[1]
    top = result.raw.argmax(axis=2)  # [N, V], in the caller's option order
    names = len(judge.names)
    flips = [len(set(top[n, result.name_shift == r])) > 1 for n in range(len(cases)) for r in range(names)]
    first_label = np.take_along_axis(result.raw, result.order[:, :, :1], axis=2)[..., 0]
    moved = [shifted(c) for c in cases]
    again = judge.judge([c for c, _ in moved])
    back = np.stack([again.probs[n, where] for n, (_, where) in enumerate(moved)])
    first_listed = np.concatenate([result.probs[:, 0], again.probs[:, 0]])
    out = {"cases": len(cases), "options": num, "raw_flip_rate": float(np.mean(flips)),
           "raw_first_label_prob": float(first_label.mean()),
           "averaged_flip_rate": float(np.mean(back.argmax(1) != result.probs.argmax(1))),
           "averaged_max_difference": float(np.abs(back - result.probs).max()),
           "averaged_first_option_prob": float(first_listed.mean())}
    if correct is not None:
        correct = np.asarray(correct)
        out["raw_accuracy"] = float(np.mean(top == correct[:, None]))
        out["averaged_accuracy"] = float(np.mean(result.probs.argmax(1) == correct))
        out["mean_prob_correct"] = float(np.mean(result.probs[np.arange(len(cases)), correct]))
    return out


# ------------------------------------------------------------------ calibration
def log_loss_at(logits, labels, temperature: float) -> float:
    """Mean negative log-probability of the labels under ``softmax(logits / temperature)``."""
    logits, labels = np.asarray(logits, np.float64), np.asarray(labels)
    return float(-_log_softmax(logits / temperature)[np.arange(len(labels)), labels].mean())


def fit_temperature(logits, labels, low: float = 1e-2, high: float = 1e2) -> float:
    """The one temperature minimising the log loss of ``softmax(logits / T)`` on held-out questions
    (a bounded 1-D search over log T)."""
    from scipy.optimize import minimize_scalar

    logits, labels = np.asarray(logits, np.float64), np.asarray(labels)
    if logits.ndim != 2 or labels.shape != (logits.shape[0],) or logits.shape[0] == 0:
        raise ValueError(f"fit_temperature needs logits [N, O] and labels [N] (got {logits.shape} and {labels.shape}).")
    if labels.min() < 0 or labels.max() >= logits.shape[1]:
        raise ValueError(f"labels must index the {logits.shape[1]} options.")
    found = minimize_scalar(lambda t: log_loss_at(logits, labels, math.exp(t)), bounds=(math.log(low), math.log(high)),
                            method="bounded", options={"xatol": 1e-6})
    return float(math.exp(found.x))


def calibration_report(probs, labels, num_bins: int = 10) -> dict:
    """Accuracy, log loss, and the Brier score and ECE of the top choice's probability against
    whether it is right (``debate.analysis.metrics``; for two options that Brier score is
    ``mean((1 - p_correct)^2)``)."""
    from debate.analysis.metrics import brier_score, expected_calibration_error

    probs, labels = np.asarray(probs, np.float64), np.asarray(labels)
    confidence = probs.max(axis=1)
    right = probs.argmax(axis=1) == labels
    return {"n": len(labels), "accuracy": float(right.mean()),
            "log_loss": float(-np.log(np.maximum(probs[np.arange(len(labels)), labels], 1e-300)).mean()),
            "brier": brier_score(np.clip(confidence, 0.0, 1.0), right),
            "ece": expected_calibration_error(np.clip(confidence, 0.0, 1.0), right, num_bins)}


@dataclass
class Calibration:
    temperature: float
    before: dict = field(default_factory=dict)  # calibration_report on the evaluation split at T = 1
    after: dict = field(default_factory=dict)  # and at the fitted temperature


def calibrate(judge: LMJudge, held_out: Sequence[JudgeCase], held_out_labels, evaluate: Sequence[JudgeCase] = (),
              evaluate_labels=()) -> Calibration:
    """Fit the judge's temperature on ``held_out`` cases, set it, and report Brier and ECE on the
    ``evaluate`` cases (on the held-out ones when none are given) before and after."""
    fitted = fit_temperature(judge.judge(held_out).logits, held_out_labels)
    cases, labels = (evaluate, evaluate_labels) if len(evaluate) else (held_out, held_out_labels)
    logits = judge.judge(cases).logits
    judge.with_temperature(fitted)
    return Calibration(fitted, calibration_report(probs_at(logits, 1.0), labels),
                       calibration_report(probs_at(logits, fitted), labels))


__all__ = [
    "LABELS",
    "MODES",
    "ArgumentQuote",
    "Calibration",
    "DebateTurn",
    "JudgeCase",
    "JudgeInputError",
    "Judgment",
    "LMJudge",
    "PromptTooLong",
    "calibrate",
    "calibration_report",
    "case_of_question",
    "case_of_transcript",
    "cases_from_games",
    "cases_from_quotes",
    "fit_temperature",
    "honest_margin",
    "judge_messages",
    "log_loss_at",
    "position_bias",
    "probs_at",
    "shifted",
]
