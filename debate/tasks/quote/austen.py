"""Jane Austen cloze questions: "Who is the blank in ...?" about a window of one of the six novels.

Data: Debian's ``r-cran-janeaustenr`` (``apt-get install r-cran-janeaustenr``) ships the novels as
an R *lazy-load database* (``data/Rdata.rdx`` + ``data/Rdata.rdb``), not as ``.rda`` files. PyPI
``rdata`` cannot open such a database as a whole, but both halves are plain R serialisation:
``Rdata.rdx`` is an ordinary compressed RDS (read with ``rdata.read_rds``) holding, per object,
its byte offset and length in ``Rdata.rdb``; each such chunk is a 4-byte big-endian length
followed by a zlib stream of ``serialize()`` output, which ``rdata.parser.parse_data`` reads.
That is exactly what R's ``lazyLoadDBfetch`` does, so no R is needed (see ``read_lazyload_db``).

Construction of one question (``cloze_question``), from a window of ``window`` consecutive
sentences inside one chapter (non-overlapping windows, so no two questions share a passage):

- characters are found with a FIXED, hand-written list per novel (``CHARACTERS``: canonical name
  and its aliases). Not a frequency list of capitalised words: that list mixes in places (Bath,
  Hartfield), titles and exclamations, and cannot tell that "Miss Woodhouse" is Emma, so a
  distractor could be the answer under another name. Ambiguous forms ("Mrs. Rushworth" in
  Mansfield Park, "Mr. Musgrove" in Persuasion) are left out on purpose. A bare name preceded by a
  title ("Miss Darcy" for "Darcy") or followed by another capitalised word ("Mary King" for
  "Mary") is not counted as a mention unless that longer form is itself listed.
- a pair of characters {A, B} both mentioned in the window is drawn, then a fair coin says which
  is the answer. A pair is used only if EITHER could be the answer (each has a sentence naming it
  but not the other, and each is named elsewhere in the window), so every option string is correct
  exactly half the time in expectation: the option names alone predict nothing.
- the cloze sentence (one naming the answer, not the distractor, at least 6 words, not a duplicate
  of another sentence in the window) is removed from the passage; the question shows it with
  every mention of the answer replaced by "___". The correct option is first or second by
  another coin. ``supporting``: the remaining sentences naming the answer; ``misleading`` (per
  option, empty for the correct one): the remaining sentences naming the distractor.

So a passage has ``window - 1`` sentences. Deterministic for a seed: every window draws from its
own generator seeded by (seed, novel, start), and windows are shuffled by a generator seeded by
``seed``. Ids are ``austen:<novel slug>:<first sentence of the window in the novel>``.
"""

from __future__ import annotations

import functools
import re
import struct
import zlib
from pathlib import Path

import numpy as np

from debate.tasks.quote.passages import MAX_SENTENCES, PassageError, TextQuestion, split_sentences

INSTALL_HINT = ("the Austen source needs Debian's r-cran-janeaustenr and PyPI rdata: run "
                "`sudo apt-get install r-cran-janeaustenr` and `pip install rdata`.")

#: Where R packages live on Debian (site-library for Debian packages, then a local install).
R_LIBRARY_DIRS = ("/usr/lib/R/site-library", "/usr/local/lib/R/site-library", "/usr/lib/R/library")

#: R object name in the package -> (display title, slug used in ids).
NOVELS = {
    "sensesensibility": ("Sense and Sensibility", "sense-and-sensibility"),
    "prideprejudice": ("Pride and Prejudice", "pride-and-prejudice"),
    "mansfieldpark": ("Mansfield Park", "mansfield-park"),
    "emma": ("Emma", "emma"),
    "northangerabbey": ("Northanger Abbey", "northanger-abbey"),
    "persuasion": ("Persuasion", "persuasion"),
}
NOVELS_BY_TITLE = {title: slug for title, slug in NOVELS.values()}

#: Per novel: canonical name (the option shown) -> aliases that name only that character.
CHARACTERS: dict[str, dict[str, tuple[str, ...]]] = {
    "Sense and Sensibility": {
        "Elinor": ("Elinor", "Miss Dashwood", "Elinor Dashwood"),
        "Marianne": ("Marianne", "Miss Marianne", "Marianne Dashwood", "Miss Marianne Dashwood"),
        "Mrs. Dashwood": ("Mrs. Dashwood",),
        "Margaret": ("Margaret",),
        "Fanny Dashwood": ("Mrs. John Dashwood", "Fanny"),
        "John Dashwood": ("Mr. John Dashwood", "John Dashwood", "Mr. Dashwood"),
        "Edward": ("Edward", "Edward Ferrars", "Mr. Edward Ferrars", "Mr. Ferrars"),
        "Robert Ferrars": ("Robert", "Robert Ferrars", "Mr. Robert Ferrars"),
        "Mrs. Ferrars": ("Mrs. Ferrars",),
        "Colonel Brandon": ("Colonel Brandon", "Brandon"),
        "Willoughby": ("Willoughby", "Mr. Willoughby", "John Willoughby"),
        "Sir John": ("Sir John", "Sir John Middleton"),
        "Lady Middleton": ("Lady Middleton",),
        "Mrs. Jennings": ("Mrs. Jennings",),
        "Lucy": ("Lucy", "Lucy Steele", "Miss Lucy Steele"),
        "Mrs. Palmer": ("Mrs. Palmer", "Charlotte", "Charlotte Palmer"),
        "Anne Steele": ("Miss Steele", "Anne Steele", "Nancy"),
        "Mr. Palmer": ("Mr. Palmer",),
    },
    "Pride and Prejudice": {
        "Elizabeth": ("Elizabeth", "Lizzy", "Eliza", "Elizabeth Bennet", "Miss Elizabeth",
                      "Miss Elizabeth Bennet", "Eliza Bennet", "Miss Eliza Bennet", "Miss Eliza"),
        "Jane": ("Jane", "Jane Bennet"),
        "Lydia": ("Lydia", "Lydia Bennet"),
        "Kitty": ("Kitty",),
        "Mary": ("Mary", "Mary Bennet"),
        "Mr. Bennet": ("Mr. Bennet",),
        "Mrs. Bennet": ("Mrs. Bennet",),
        "Mr. Darcy": ("Mr. Darcy", "Darcy", "Fitzwilliam Darcy"),
        "Georgiana": ("Georgiana", "Miss Darcy", "Georgiana Darcy"),
        "Mr. Bingley": ("Mr. Bingley", "Bingley", "Charles Bingley"),
        "Miss Bingley": ("Miss Bingley", "Caroline", "Caroline Bingley"),
        "Wickham": ("Wickham", "Mr. Wickham"),
        "Mr. Collins": ("Mr. Collins", "Collins", "William Collins"),
        "Charlotte": ("Charlotte", "Charlotte Lucas", "Miss Lucas", "Mrs. Collins"),
        "Maria Lucas": ("Maria", "Maria Lucas"),
        "Sir William": ("Sir William", "Sir William Lucas"),
        "Lady Catherine": ("Lady Catherine", "Lady Catherine de Bourgh"),
        "Mr. Gardiner": ("Mr. Gardiner",),
        "Mrs. Gardiner": ("Mrs. Gardiner",),
        "Colonel Fitzwilliam": ("Colonel Fitzwilliam",),
        "Mrs. Phillips": ("Mrs. Phillips",),
        "Mr. Hurst": ("Mr. Hurst",),
        "Mrs. Hurst": ("Mrs. Hurst",),
    },
    "Mansfield Park": {
        "Fanny": ("Fanny", "Fanny Price", "Miss Price"),
        "Edmund": ("Edmund", "Edmund Bertram", "Mr. Edmund Bertram"),
        "Tom": ("Tom", "Tom Bertram", "Mr. Bertram"),
        "Maria": ("Maria", "Miss Bertram", "Maria Bertram"),
        "Julia": ("Julia", "Julia Bertram", "Miss Julia Bertram", "Miss Julia"),
        "Sir Thomas": ("Sir Thomas", "Sir Thomas Bertram"),
        "Lady Bertram": ("Lady Bertram",),
        "Mrs. Norris": ("Mrs. Norris",),
        "Henry Crawford": ("Henry Crawford", "Mr. Crawford", "Henry", "Crawford"),
        "Mary Crawford": ("Mary Crawford", "Miss Crawford", "Mary"),
        "Mr. Rushworth": ("Mr. Rushworth", "Rushworth"),
        "Mr. Yates": ("Mr. Yates", "Yates"),
        "Dr. Grant": ("Dr. Grant",),
        "Mrs. Grant": ("Mrs. Grant",),
        "William": ("William", "William Price"),
        "Susan": ("Susan", "Susan Price"),
        "Mrs. Price": ("Mrs. Price",),
        "Mr. Price": ("Mr. Price",),
        "Betsey": ("Betsey",),
    },
    "Emma": {
        "Emma": ("Emma", "Miss Woodhouse", "Emma Woodhouse"),
        "Mr. Woodhouse": ("Mr. Woodhouse",),
        "Mr. Knightley": ("Mr. Knightley", "Knightley", "George Knightley"),
        "John Knightley": ("Mr. John Knightley", "John Knightley"),
        "Isabella": ("Isabella", "Mrs. John Knightley"),
        "Harriet": ("Harriet", "Harriet Smith", "Miss Smith"),
        "Mr. Elton": ("Mr. Elton", "Elton"),
        "Mrs. Elton": ("Mrs. Elton", "Miss Hawkins", "Augusta Hawkins"),
        "Jane Fairfax": ("Jane Fairfax", "Miss Fairfax", "Jane"),
        "Frank Churchill": ("Frank Churchill", "Mr. Frank Churchill", "Frank"),
        "Mrs. Weston": ("Mrs. Weston", "Miss Taylor"),
        "Mr. Weston": ("Mr. Weston", "Weston"),
        "Miss Bates": ("Miss Bates",),
        "Mrs. Bates": ("Mrs. Bates",),
        "Robert Martin": ("Robert Martin", "Mr. Martin", "Mr. Robert Martin"),
        "Mr. Perry": ("Mr. Perry", "Perry"),
        "Mrs. Goddard": ("Mrs. Goddard",),
        "Mrs. Cole": ("Mrs. Cole",),
        "Mr. Cole": ("Mr. Cole",),
    },
    "Northanger Abbey": {
        "Catherine": ("Catherine", "Catherine Morland", "Miss Morland"),
        "Henry Tilney": ("Henry", "Henry Tilney", "Mr. Henry Tilney", "Mr. Tilney"),
        "Eleanor": ("Eleanor", "Eleanor Tilney", "Miss Tilney"),
        "General Tilney": ("General Tilney",),
        "Captain Tilney": ("Captain Tilney", "Frederick", "Frederick Tilney"),
        "Isabella": ("Isabella", "Isabella Thorpe", "Miss Thorpe"),
        "John Thorpe": ("John Thorpe", "Mr. Thorpe", "Thorpe", "John"),
        "James": ("James", "James Morland"),
        "Mrs. Allen": ("Mrs. Allen",),
        "Mr. Allen": ("Mr. Allen",),
        "Mrs. Thorpe": ("Mrs. Thorpe",),
        "Mrs. Morland": ("Mrs. Morland",),
        "Mr. Morland": ("Mr. Morland",),
    },
    "Persuasion": {
        "Anne": ("Anne", "Anne Elliot", "Miss Anne Elliot", "Miss Anne"),
        "Captain Wentworth": ("Captain Wentworth", "Wentworth", "Frederick Wentworth", "Frederick"),
        "Sir Walter": ("Sir Walter", "Sir Walter Elliot"),
        "Elizabeth": ("Elizabeth", "Miss Elliot", "Elizabeth Elliot"),
        "Mary": ("Mary", "Mary Musgrove", "Mrs. Charles Musgrove"),
        "Charles Musgrove": ("Charles Musgrove", "Mr. Charles Musgrove", "Charles"),
        "Charles Hayter": ("Charles Hayter",),
        "Louisa": ("Louisa", "Louisa Musgrove", "Miss Louisa Musgrove", "Miss Louisa"),
        "Henrietta": ("Henrietta", "Henrietta Musgrove", "Miss Henrietta"),
        "Lady Russell": ("Lady Russell",),
        "Mrs. Clay": ("Mrs. Clay",),
        "Mr. Elliot": ("Mr. Elliot", "William Elliot", "Mr. William Elliot"),
        "Captain Benwick": ("Captain Benwick", "Benwick"),
        "Captain Harville": ("Captain Harville", "Harville"),
        "Mrs. Harville": ("Mrs. Harville",),
        "Admiral Croft": ("Admiral Croft", "the Admiral"),
        "Mrs. Croft": ("Mrs. Croft",),
        "Mrs. Smith": ("Mrs. Smith",),
        "Lady Dalrymple": ("Lady Dalrymple",),
        "Mr. Shepherd": ("Mr. Shepherd",),
    },
}

MIN_CLOZE_WORDS = 6  # a blanked "___!" alone says nothing; the question needs some content
BLANK = "___"


# ---------------------------------------------------------------- reading the R data without R

def janeaustenr_data_dir() -> Path | None:
    """The package's data folder (holding Rdata.rdx/.rdb), or None when it is not installed."""
    for base in R_LIBRARY_DIRS:
        d = Path(base) / "janeaustenr" / "data"
        if (d / "Rdata.rdx").is_file() and (d / "Rdata.rdb").is_file():
            return d
    return None


def austen_available() -> bool:
    """Whether the novels can be read here (Debian package present and PyPI rdata importable)."""
    try:
        import rdata  # noqa: F401
    except ImportError:
        return False
    return janeaustenr_data_dir() is not None


def read_lazyload_db(data_dir: Path) -> dict[str, object]:
    """Every object of an R lazy-load database (name.rdx + name.rdb), as rdata converts them."""
    import rdata

    index = rdata.read_rds(data_dir / "Rdata.rdx")
    raw = (data_dir / "Rdata.rdb").read_bytes()
    compressed = bool(np.asarray(index.get("compressed", [True])).ravel()[0])
    objects = {}
    for name, (offset, length) in index["variables"].items():
        objects[str(name)] = rdata.conversion.convert(
            rdata.parser.parse_data(decompress_lazyload_chunk(raw[offset:offset + length], compressed),
                                    extension=".rds"))
    return objects


def decompress_lazyload_chunk(chunk: bytes, compressed: bool) -> bytes:
    """One rdb chunk as serialize() bytes: 4-byte big-endian size, then zlib (R's compress=TRUE).
    R's other modes (2: bzip2, 3: xz) add a type byte after the size; handled for completeness."""
    if not compressed:
        return chunk
    size = struct.unpack(">I", chunk[:4])[0]
    kind = chunk[4:5]
    if kind == b"Z":
        import lzma
        data = lzma.decompress(chunk[5:])
    elif kind == b"2":
        import bz2
        data = bz2.decompress(chunk[5:])
    elif kind == b"0":
        data = chunk[5:]
    else:
        data = zlib.decompress(chunk[4:])
    if len(data) != size:
        raise PassageError(f"a janeaustenr data chunk holds {len(data)} bytes, not the {size} announced; "
                           f"reinstall r-cran-janeaustenr.")
    return data


def lines_to_paragraphs(lines) -> list[str]:
    """Text lines (blank line = paragraph break) as paragraphs, each on one line."""
    paragraphs, current = [], []
    for line in lines:
        line = str(line).strip()
        if line:
            current.append(line)
        elif current:
            paragraphs.append(" ".join(current))
            current = []
    if current:
        paragraphs.append(" ".join(current))
    return paragraphs


@functools.lru_cache(maxsize=4)
def _novels(data_dir: Path) -> tuple[tuple[str, tuple[str, ...]], ...]:
    objects = read_lazyload_db(data_dir)  # about 5 s: rdata parses the 1.6 MB of text slowly
    return tuple((title, tuple(lines_to_paragraphs(objects[name]))) for name, (title, _) in NOVELS.items())


def load_novels() -> dict[str, list[str]]:
    """Title -> paragraphs (the whole text, headings included), read once per process."""
    data_dir = janeaustenr_data_dir()
    if data_dir is None or not austen_available():
        raise PassageError(INSTALL_HINT)
    return {title: list(paragraphs) for title, paragraphs in _novels(data_dir)}


# ---------------------------------------------------------------- chapters and sentences

_CHAPTER_HEADING = re.compile(r"^chapter\s+(\d+|[ivxlc]+)\.?$", re.IGNORECASE)
_END_OF_NOVEL = re.compile(r"^(the end|finis|a note on the text)$", re.IGNORECASE)


def chapters(paragraphs: list[str]) -> list[list[str]]:
    """The body of a novel as chapters of prose paragraphs: the title page and preface before the
    first chapter heading and everything after "THE END"/"Finis" are dropped, and so are headings
    without lower-case letters ("VOLUME II", "* * *", letter salutations in capitals)."""
    result: list[list[str]] = []
    for paragraph in paragraphs:
        if _END_OF_NOVEL.match(paragraph):
            break
        if _CHAPTER_HEADING.match(paragraph):
            result.append([])
        elif result and re.search("[a-z]", paragraph):
            result[-1].append(paragraph)
    return [c for c in result if c]


def clean_paragraph(paragraph: str) -> str:
    """Drop the _underscores_ that mark italics in the Gutenberg text."""
    return paragraph.replace("_", "")


def chapter_sentences(chapter: list[str]) -> list[str]:
    """A chapter's sentences; split per paragraph so no sentence runs across a paragraph break."""
    return [s for p in chapter for s in split_sentences(clean_paragraph(p))]


# ---------------------------------------------------------------- finding characters

@functools.cache
def mention_pattern(novel: str) -> tuple[re.Pattern, dict[str, str]]:
    """One regex over all aliases of a novel (longest first, so "Mrs. John Knightley" wins over
    "John Knightley") and the alias -> canonical map. "Mr."/"Mrs."/"Dr." match with or without the
    period (Persuasion writes "Mr Elliot")."""
    alias_to_name = {alias: name for name, aliases in CHARACTERS[novel].items() for alias in aliases}
    alternatives = "|".join(_ABBREVIATION.sub(r"\1\\.?", re.escape(a))
                            for a in sorted(alias_to_name, key=len, reverse=True))
    return re.compile(rf"(?<![\w.])({alternatives})(?!\w)"), {without_periods(a): n for a, n in alias_to_name.items()}


_ABBREVIATION = re.compile(r"\b(Mr|Mrs|Dr)\\\.")
_TITLE_BEFORE = re.compile(r"\b(Mr|Mrs|Ms|Dr)\.? $|\b(Miss|Lady|Sir|Colonel|Captain|Admiral|General|Master) $")


def without_periods(name: str) -> str:
    """ "Mr. Elliot" and "Mr Elliot" as one key."""
    return re.sub(r"\b(Mr|Mrs|Dr)\.", r"\1", name)


def mentions(sentence: str, novel: str) -> list[tuple[int, int, str]]:
    """(start, end, canonical name) of each character mention in a sentence. A mention preceded by
    a title (not part of the alias) or followed by another capitalised word is someone else."""
    pattern, alias_to_name = mention_pattern(novel)
    found = []
    for m in pattern.finditer(sentence):
        if _TITLE_BEFORE.search(sentence[:m.start()]) or re.match(r" [A-Z][a-z]", sentence[m.end():]):
            continue
        found.append((m.start(), m.end(), alias_to_name[without_periods(m.group(1))]))
    return found


def blank_out(sentence: str, spans: list[tuple[int, int, str]], name: str) -> str:
    """The sentence with every mention of ``name`` replaced by the blank."""
    out, last = [], 0
    for start, end, who in spans:
        if who == name:
            out += [sentence[last:start], BLANK]
            last = end
    return "".join(out + [sentence[last:]])


# ---------------------------------------------------------------- one question from one window

def usable_cloze_sentences(answer: str, other: str, names: list[set[str]], sentences: list[str]) -> list[int]:
    """Window positions that can be blanked for ``answer`` against ``other``: the sentence names
    the answer and not the other, has some content, is not repeated in the window, and both
    characters stay named in the rest of the window (so the passage has evidence for each)."""
    usable = []
    for i, here in enumerate(names):
        if answer not in here or other in here or len(sentences[i].split()) < MIN_CLOZE_WORDS:
            continue
        if sentences.count(sentences[i]) > 1:
            continue
        rest = [n for j, n in enumerate(names) if j != i]
        if any(answer in n for n in rest) and any(other in n for n in rest):
            usable.append(i)
    return usable


def cloze_question(novel: str, start: int, sentences: list[str], rng: np.random.Generator) -> TextQuestion | None:
    """The cloze question for one window (see the module docstring), or None when it has no pair
    of characters that could each be the answer."""
    spans = [mentions(s, novel) for s in sentences]
    names = [{who for _, _, who in sp} for sp in spans]
    present = sorted(set().union(*names))
    pairs = []
    for a_i, a in enumerate(present):
        for b in present[a_i + 1:]:
            for_a = usable_cloze_sentences(a, b, names, sentences)
            for_b = usable_cloze_sentences(b, a, names, sentences)
            if for_a and for_b:  # either can be the answer: the coin below then hides which
                pairs.append(((a, for_a), (b, for_b)))
    if not pairs:
        return None
    pair = pairs[int(rng.integers(len(pairs)))]
    answer_side = int(rng.integers(2))
    (answer, candidates), (distractor, _) = pair[answer_side], pair[1 - answer_side]
    cloze = candidates[int(rng.integers(len(candidates)))]
    correct = int(rng.integers(2))
    options = (answer, distractor) if correct == 0 else (distractor, answer)

    keep = [j for j in range(len(sentences)) if j != cloze]
    passage = tuple(sentences[j] for j in keep)

    def naming(who: str) -> tuple[int, ...]:  # passage indices of the sentences naming who
        return tuple(k for k, j in enumerate(keep) if who in names[j])

    title, slug = novel, NOVELS_BY_TITLE[novel]
    return TextQuestion(
        id=f"austen:{slug}:{start}", sentences=passage,
        question=f"Who is the blank in: “{blank_out(sentences[cloze], spans[cloze], answer)}”?",
        options=options, correct=correct, supporting=naming(answer),
        misleading=tuple(() if o == answer else naming(o) for o in options),
        source=f"Jane Austen, {title} (janeaustenr)", kind="cloze",
        meta={"novel": title, "start": start, "window": len(sentences), "cloze_position": cloze})


# ---------------------------------------------------------------- all questions

def windows(window: int, stride: int | None = None) -> list[tuple[str, int, list[str]]]:
    """(novel, first sentence index in the novel, sentences) for windows of ``window`` sentences,
    one every ``stride`` sentences (default: ``window``, so they do not overlap), that stay inside
    one chapter (a chapter's tail shorter than a window is left out)."""
    result = []
    for title, paragraphs in load_novels().items():
        offset = 0
        for chapter in chapters(paragraphs):
            sentences = chapter_sentences(chapter)
            for start in range(0, len(sentences) - window + 1, stride or window):
                result.append((title, offset + start, sentences[start:start + window]))
            offset += len(sentences)
    return result


def cloze_questions(num_questions: int | None, seed: int = 0, window: int = 24,
                    max_sentences: int = MAX_SENTENCES, *, stride: int | None = None) -> list[TextQuestion]:
    """``num_questions`` cloze questions (None: every window that yields one), in a seeded random
    order; a PassageError if the novels are not installed or hold fewer questions than asked.
    ``stride`` < ``window`` gives more questions from overlapping windows (the default does not
    overlap: 981 questions at window 24; stride 8 gives 2,679)."""
    if not 3 <= window <= max_sentences + 1:
        raise PassageError(f"window must be 3..{max_sentences + 1} sentences (a passage is the window less "
                           f"the blanked sentence; got {window}).")
    if stride is not None and stride < 1:
        raise PassageError(f"stride must be at least 1 sentence (got {stride}).")
    all_windows = windows(window, stride)
    order = np.random.default_rng(seed).permutation(len(all_windows))
    novel_number = {title: k for k, (title, _) in enumerate(NOVELS.values())}
    questions = []
    for k in order:
        novel, start, sentences = all_windows[k]
        rng = np.random.default_rng([seed, novel_number[novel], start])  # same window, same draw
        q = cloze_question(novel, start, sentences, rng)
        if q is not None:
            questions.append(q)
            if num_questions is not None and len(questions) == num_questions:
                return questions
    if num_questions is not None:
        raise PassageError(f"the novels give only {len(questions)} cloze questions with window={window}, "
                           f"fewer than the {num_questions} asked; ask for fewer or a smaller window.")
    return questions
