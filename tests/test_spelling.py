"""Misspelt question words read as the corpus's own (retrieval/spelling.py), and the
chat-typed questions `corpusbot eval --typos` asks (retrieval/chat_typing.py)."""

from __future__ import annotations

import random

import pytest

from retrieval import spelling
from retrieval.chat_typing import as_typed, typed_questions, typo
from retrieval.corpus import Corpus
from retrieval.evaluate import GoldQuestion
from retrieval.models import Status

pytestmark = pytest.mark.unit


def _story(title: str, *sentences: str) -> str:
    return f"{title}\n\n" + " ".join(sentences) + "\n"


@pytest.fixture(scope="module")
def harbour(tmp_path_factory: pytest.TempPathFactory):
    """A hand-made corpus of our own words (not the seeds, not an eval set)."""
    root = tmp_path_factory.mktemp("harbour")
    files = root / "articles"
    files.mkdir()
    (files / "ferry.txt").write_text(
        _story(
            "Ferry service",
            "The Tarvanek ferry crossed the river at dawn.",
            "Forty passengers boarded the ferry in Tarvanek.",
            "A daye of festivals followed in the harbour.",
        )
    )
    (files / "museum.txt").write_text(
        _story(
            "Museum opens",
            "The mayor opened the museum of Fécamp on Monday.",
            "The museum shows river boats and old ferry tickets.",
            "Visitors came from the harbour towns.",
        )
    )
    with Corpus.create(root / "c.db") as corpus:
        corpus.ingest([files])
        yield corpus


def test_a_misspelt_word_is_read_as_the_corpus_word_and_answered_the_same(harbour):
    typed = harbour.ask("which ferry crossed the rivver")
    right = harbour.ask("which ferry crossed the river")
    assert typed.answered
    assert typed.read_as == (("rivver", "river"),)
    assert typed.reading == "Read “rivver” as “river”."
    assert typed.question == "which ferry crossed the rivver"  # shown as typed
    assert typed.terms == right.terms
    assert [h.sentence for h in typed.hits] == [h.sentence for h in right.hits]


def test_one_typo_in_the_only_word_is_not_a_not_found(harbour):
    assert harbour.ask("tarvenek").status is Status.ANSWERED
    assert harbour.ask("tarvenek").read_as == (("tarvenek", "tarvanek"),)
    assert harbour.ask("Tarvanekk ferry").read_as == (("tarvanekk", "tarvanek"),)


def test_a_word_the_corpus_holds_is_never_changed(harbour):
    assert harbour.ask("which ferry crossed the river").read_as == ()
    # "daye" is in the corpus: a word of the corpus is not a typo, even of "date".
    assert harbour.ask("daye of festivals").read_as == ()


def test_an_english_word_the_corpus_lacks_is_not_read_as_another(harbour):
    # "date" is one edit from the corpus's "daye"; it is English, so it stays.
    answer = harbour.ask("what date did the festivals begin")
    assert answer.read_as == ()
    assert "date" not in answer.terms  # a frame word; and no "daye" either
    assert "day" not in answer.terms


def test_a_stopword_one_edit_away_means_no_reading(harbour):
    # "whiich" is a typo of "which", a word searches leave out: nothing to read.
    assert spelling.correct("whiich ferry", harbour.store.frequencies) is None


def test_short_words_and_numbers_are_left_alone(harbour):
    assert spelling.correct("riv 2017x rivver2", harbour.store.frequencies) is None
    assert spelling.correct("rivr", harbour.store.frequencies).read_as == (("rivr", "river"),)


def test_accents_typed_without_them_come_first(harbour):
    assert harbour.ask("museum of fecamp").read_as == (("fecamp", "fécamp"),)


def test_most_sentences_win_then_alphabetical_order():
    held = {"ferri": 3, "berri": 5, "terri": 5}
    got = spelling.correct("derri", lambda terms: {t: held[t] for t in terms if t in held})
    assert got is not None
    assert got.read_as == (("derri", "berri"),)
    held["terri"] = 6
    assert spelling.correct("derri", lambda terms: {t: held[t] for t in terms if t in held}) == (
        spelling.Spelling("terri", (("derri", "terri"),))
    )


def test_no_word_read_gives_none_and_the_store_is_asked_twice_at_most(harbour):
    calls = []

    def frequencies(terms):
        calls.append(terms)
        return harbour.store.frequencies(terms)

    assert spelling.correct("zzqxv wklpt", frequencies) is None
    assert len(calls) == 2


def test_a_long_question_of_typos_is_answered_or_refused_plainly(harbour):
    answer = harbour.ask(" ".join(["rivvers ferryy tarvanekk"] * 12))
    assert answer.status in (Status.ANSWERED, Status.NOT_FOUND)
    assert len(answer.read_as) == 3


# -- chat typing (eval --typos) ------------------------------------------------------------


def test_as_typed_lowercases_strips_punctuation_and_makes_one_typo():
    question = "Where did Jiangxi's delegation go, in 2017?"
    typed = as_typed(question, random.Random(3))
    assert typed == typed.lower()
    assert not set(typed) & set("?,'")
    clean = ["where", "did", "jiangxis", "delegation", "go", "in", "2017"]
    words = typed.split()
    changed = [(a, b) for a, b in zip(clean, words, strict=False) if a != b]
    assert len(words) == len(clean) and len(changed) == 1
    before, after = changed[0]
    assert after in spelling.english().edit_distance_1(before) and after != before


@pytest.mark.parametrize("seed", range(40))
def test_a_typo_is_one_edit_and_never_the_word(seed):
    word = random.Random(seed).choice(["ferry", "harbour", "all", "tall", "museum"])
    out = typo(word, random.Random(seed))
    assert out != word
    assert out in spelling.english().edit_distance_1(word)


def test_typed_questions_are_repeatable_and_keep_the_gold():
    gold = [GoldQuestion(id=f"q{i}", question=f"Which ferry crossed river {i}?", answerable=True,
                         article="a.txt", gold=("x",)) for i in range(5)]  # fmt: skip
    once, again, other = typed_questions(gold), typed_questions(gold), typed_questions(gold, 1)
    assert once == again
    assert once != other
    assert [(q.id, q.article, q.gold) for q in once] == [(q.id, q.article, q.gold) for q in gold]


def test_the_english_word_list_loads_from_the_wheel(monkeypatch):
    # No network: the word list ships inside pyspellchecker's wheel.
    import socket

    def refuse(*args, **kwargs):
        raise OSError("no network in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    spelling.english.cache_clear()
    assert "river" in spelling.english()
    assert "rivver" not in spelling.english()


def test_frequencies_are_the_vocabulary_dfs(harbour: Corpus):
    found = harbour.store.frequencies(["ferri", "river", "zzz", "harbour"])
    assert found == {"ferri": 3, "river": 2, "harbour": 2}  # sentences, not mentions
    many = [f"x{i}" for i in range(2000)] + ["ferri"]  # over one statement's parameters
    assert harbour.store.frequencies(many) == {"ferri": 3}


def test_the_word_read_keeps_the_case_it_was_typed_in():
    read = (("zhejang", "zhejiang"), ("sarss", "sars"))
    assert spelling.apply(read, "Zhejang, zhejang and SARSS?") == "Zhejiang, zhejiang and SARS?"


@pytest.mark.parametrize(
    ("typed", "written"),
    [
        ("whats the purpose of the ferry", "what's the purpose of the ferry"),
        ("hows the museum", "how's the museum"),
        ("didnt the ferry cross the river", "didn't the ferry cross the river"),
        ("whens the festival", "when's the festival"),
    ],
)
def test_a_contraction_typed_without_its_apostrophe_reads_as_written(harbour, typed, written):
    from retrieval.question import answer_type, query_terms

    assert query_terms(typed) == query_terms(written)
    assert answer_type(typed) == answer_type(written)
    answer = harbour.ask(typed)
    assert answer.question == typed  # shown as typed
    assert answer.read_as == ()  # read as a stopword, never as a corpus word one edit away
    assert answer.terms == harbour.ask(written).terms
    assert [h.sentence for h in answer.hits] == [h.sentence for h in harbour.ask(written).hits]


def test_the_frame_of_a_question_typed_without_apostrophes_is_still_read():
    from retrieval.question import answer_type, query_terms

    assert query_terms("whats the purpose of the visit") == ["visit"]
    assert answer_type("whats the purpose of the visit") == "reason"
    assert "what" not in query_terms("whats the weather")


def test_with_apostrophes_keeps_the_typed_case_and_leaves_other_words_alone():
    from retrieval.question import with_apostrophes

    assert with_apostrophes("Whats up, DIDNT they?") == "What's up, DIDN'T they?"
    assert with_apostrophes("Tarvanek dont") == "Tarvanek don't"
    for unchanged in ("what's the shell of its ferry", "ill well wed shes'"):
        assert with_apostrophes(unchanged) == unchanged
