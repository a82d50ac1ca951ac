"""The quote task's text sources: Jane Austen cloze questions and QuALITY (through a fixture)."""

import json
import urllib.error
import zipfile
from collections import defaultdict
from pathlib import Path

import pytest

from debate.tasks.quote import austen, quality
from debate.tasks.quote.passages import MAX_SENTENCES, PassageError, check_question, split_sentences

FIXTURE = Path(__file__).parent / "data" / "quality_fixture.jsonl"
AUSTEN_SKIP = ("Jane Austen's novels are not installed: run `sudo apt-get install r-cran-janeaustenr` "
               "and `pip install rdata`")
MANY_STRIDE = 8  # overlapping windows: about 2,700 questions, enough for the 2,000-question checks


# ---------------------------------------------------------------- Austen

@pytest.fixture(scope="module")
def austen_questions():
    if not austen.austen_available():
        pytest.skip(AUSTEN_SKIP)
    return austen.cloze_questions(None, seed=0)


@pytest.fixture(scope="module")
def many_austen_questions():
    if not austen.austen_available():
        pytest.skip(AUSTEN_SKIP)
    questions = austen.cloze_questions(None, seed=0, stride=MANY_STRIDE)
    assert len(questions) >= 2000, "fewer than 2,000 questions: the balance checks below would be too loose"
    return questions


def test_austen_questions_are_valid(austen_questions):
    by_window = {(novel, start): sentences for novel, start, sentences in austen.windows(24)}
    assert len(austen_questions) > 900
    for q in austen_questions:
        check_question(q, max_sentences=MAX_SENTENCES)
        novel, start = q.meta["novel"], q.meta["start"]
        window = by_window[(novel, start)]
        removed = window[q.meta["cloze_position"]]
        assert q.id == f"austen:{austen.NOVELS_BY_TITLE[novel]}:{start}"
        assert removed not in q.sentences and len(q.sentences) == len(window) - 1
        assert austen.BLANK in q.question and q.kind == "cloze"
        named = [{who for _, _, who in austen.mentions(s, novel)} for s in q.sentences]
        answer, (distractor,) = q.options[q.correct], set(q.options) - {q.options[q.correct]}
        assert {answer, distractor} <= set(austen.CHARACTERS[novel]) and answer != distractor
        # both options are characters named in the passage; the evidence lists say where
        assert q.supporting == tuple(i for i, n in enumerate(named) if answer in n) != ()
        assert q.misleading[q.correct] == ()
        assert q.misleading[1 - q.correct] == tuple(i for i, n in enumerate(named) if distractor in n) != ()
        # the blanked sentence named the answer, not the distractor
        assert answer in {who for _, _, who in austen.mentions(removed, novel)}
        assert distractor not in {who for _, _, who in austen.mentions(removed, novel)}


def test_austen_is_deterministic_for_a_seed(austen_questions):
    again = austen.cloze_questions(50, seed=0)
    assert [q.to_dict() for q in again] == [q.to_dict() for q in austen_questions[:50]]
    other = austen.cloze_questions(50, seed=1)
    assert [q.to_dict() for q in other] != [q.to_dict() for q in again]


def test_austen_correct_position_is_balanced(many_austen_questions):
    first = sum(q.correct == 0 for q in many_austen_questions) / len(many_austen_questions)
    assert abs(first - 0.5) <= 0.03, f"index 0 correct in {first:.1%} of {len(many_austen_questions)} questions"


def option_prior_accuracy(questions) -> float:
    """Fit on the first half, per option string, the share of times it is the correct one; on the
    second half pick the option with the higher share (unseen: 0.5; tie: the first option)."""
    half = len(questions) // 2
    shown, right = defaultdict(int), defaultdict(int)
    for q in questions[:half]:
        for i, option in enumerate(q.options):
            shown[option] += 1
            right[option] += i == q.correct
    prior = lambda option: right[option] / shown[option] if shown[option] else 0.5
    test = questions[half:]
    hits = sum(max(range(len(q.options)), key=lambda i: (prior(q.options[i]), -i)) == q.correct for q in test)
    return hits / len(test)


def test_austen_option_names_do_not_predict_the_answer(many_austen_questions):
    accuracy = option_prior_accuracy(many_austen_questions)
    assert abs(accuracy - 0.5) <= 0.03, f"option-name prior is right {accuracy:.1%} of the time"


def test_austen_refuses_without_the_package_in_one_sentence(monkeypatch):
    monkeypatch.setattr(austen, "janeaustenr_data_dir", lambda: None)
    with pytest.raises(PassageError) as e:
        austen.cloze_questions(10)
    message = str(e.value)
    assert "sudo apt-get install r-cran-janeaustenr" in message and "pip install rdata" in message
    assert len(split_sentences(message)) == 1
    assert not austen.austen_available()


def test_austen_mentions_tell_titled_people_apart():
    pp, p = "Pride and Prejudice", "Persuasion"
    names = lambda s, novel: [who for _, _, who in austen.mentions(s, novel)]
    assert names("Miss Darcy smiled at Darcy, and Mrs. Darcy laughed.", pp) == ["Georgiana", "Mr. Darcy"]
    assert names("Mary King wrote to Mary; Mr. Bennet and Mrs. Bennet read it.", pp) == [
        "Mary", "Mr. Bennet", "Mrs. Bennet"]
    assert names("Mr Elliot bowed to Miss Elliot and to Anne.", p) == ["Mr. Elliot", "Elizabeth", "Anne"]
    assert austen.blank_out("Emma saw Emma's friend Harriet.", austen.mentions(
        "Emma saw Emma's friend Harriet.", "Emma"), "Emma") == "___ saw ___'s friend Harriet."


# ---------------------------------------------------------------- QuALITY

@pytest.fixture(scope="module")
def records():
    return quality.read_release(FIXTURE, "train")


def ids(questions):
    return [q.id.removeprefix("quality:") for q in questions]


def test_quality_fixture_goes_through_every_filter(records):
    kept, dropped = quality.select_questions(records)
    assert ids(kept) == ["90001_AAAAAAAA_1", "90002_CCCCCCCC_2"]
    assert dropped == {"not-gutenberg": 1, "not-difficult": 1, "excluded": 1, "ambiguous": 1,
                       "untimed-accuracy": 1, "speed-accuracy": 1, "little-context": 1, "labels-disagree": 1,
                       "same-story": 5, "too-long": 1}
    for q in kept:
        check_question(q, max_sentences=MAX_SENTENCES)
        assert q.supporting == () and q.kind == "quality"


def test_quality_two_answer_filters_without_the_one_per_story_rule(records):
    kept, dropped = quality.select_questions(records, max_per_story=None)
    assert ids(kept) == ["90001_AAAAAAAA_1", "90001_AAAAAAAA_8", "90001_BBBBBBBB_1", "90002_CCCCCCCC_2"]
    assert {r: dropped[r] for r in ("no-distractor", "same-text", "incompatible-option", "too-long")} == {
        "no-distractor": 1, "same-text": 1, "incompatible-option": 1, "too-long": 1}
    assert "same-story" not in dropped


def test_quality_long_articles_are_left_out_not_cut(records):
    kept, dropped = quality.select_questions(records, max_sentences=100)
    assert ids(kept)[-1] == "90004_EEEEEEEE_1" and "too-long" not in dropped
    assert len(kept[-1].sentences) == 74  # the whole article


def test_quality_picks_the_best_distractor(records):
    by_id = {q.id: q for q in quality.select_questions(records, max_per_story=None)[0]}
    q = by_id["quality:90001_AAAAAAAA_1"]  # votes 3, 3, 1 against gold 2
    assert q.options[q.correct] == "His niece Wenna" and q.options[1 - q.correct] == "The schooner's captain"
    assert q.meta["gold_label"] == 2 and q.meta["distractor_label"] == 3
    q = by_id["quality:90001_AAAAAAAA_8"]  # votes 1 (the gold: ignored), 4, 3: the tie goes to option 3
    assert q.options[1 - q.correct] == "The captain's mate" and q.meta["distractor_label"] == 3


def test_quality_correct_position_is_a_seeded_coin(records):
    positions = {seed: [q.correct for q in quality.select_questions(records, seed=seed, max_per_story=None)[0]]
                 for seed in range(40)}
    assert positions[3] == [q.correct for q in quality.select_questions(records, seed=3, max_per_story=None)[0]]
    flat = [p for ps in positions.values() for p in ps]
    assert 0.35 <= sum(p == 0 for p in flat) / len(flat) <= 0.65


def test_quality_offline_refusal_names_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))

    def no_network(url, target, timeout):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(quality, "download", no_network)
    for kwargs in ({}, {"allow_download": False}):
        with pytest.raises(PassageError) as e:
            quality.quality_questions(**kwargs)
        message = str(e.value)
        assert "QuALITY.v1.0.1.htmlstripped.train" in message
        assert str(tmp_path / "debate-sim" / "data" / "quality") in message
        assert len(split_sentences(message)) == 1


def test_quality_reads_the_cache_and_the_release_zip(tmp_path, monkeypatch, records):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(quality, "download", lambda *a: pytest.fail("must not download when cached"))
    cached = tmp_path / "cache" / "debate-sim" / "data" / "quality" / "QuALITY.v1.0.1.htmlstripped.dev"
    cached.parent.mkdir(parents=True)
    cached.write_text(FIXTURE.read_text())
    assert quality.load_quality(split="dev") == records
    release = tmp_path / "QuALITY.v1.0.1.zip"
    with zipfile.ZipFile(release, "w") as z:
        z.writestr("QuALITY.v1.0.1/QuALITY.v1.0.1.htmlstripped.train", FIXTURE.read_text())
    assert quality.load_quality(release) == records
    assert ids(quality.quality_questions(release)) == ["90001_AAAAAAAA_1", "90002_CCCCCCCC_2"]


def test_quality_excluded_stories_are_dropped(records):
    record = json.loads(json.dumps(records[2]))  # "The Blue Tower"; its first question is excluded by name
    assert quality.question_drop_reason(record, record["questions"][0]) == "excluded"
    assert quality.question_drop_reason(record, record["questions"][1]) is None
    record["title"] = "MONICA!"
    assert quality.question_drop_reason(record, record["questions"][1]) == "excluded"
