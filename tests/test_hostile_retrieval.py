"""Arbitrary and hostile input at the retrieval layer: never an exception, quotes exact."""

import itertools
import shutil
import sqlite3

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retrieval.corpus import Corpus
from retrieval.errors import StoreError
from retrieval.models import Status
from retrieval.segment import sentences
from retrieval.text import tokenize

pytestmark = pytest.mark.hostile

# Every code point, lone surrogates included (Discord and stdin can deliver them).
ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=400)

HOSTILE = [
    "'; DROP TABLE sentences; --",
    '" OR 1=1 --',
    "NEAR(expo astana)",
    "*",
    "expo*",
    "@everyone what is the expo?",
    "<@123456789> <@&987654321> <#42> expo",
    "```expo``` ||spoiler|| **bold** [x](http://evil.example) expo",
    "北京 Астана الصين expo",
    "expo\u200b\u200d\u202e\x00\x07 astana",
    "\ud800 expo astana \udfff",
    "🙂🙂🙂",
    "....!!!???",
]


@pytest.mark.parametrize("question", HOSTILE)
def test_hostile_questions_never_raise(seed_corpus, question):
    answer = seed_corpus.ask(question)
    assert answer.status in set(Status)
    for hit in answer.hits:
        text = seed_corpus.article_text(hit.article.id)
        assert text[hit.sentence.start : hit.sentence.end] == hit.sentence.text


def test_sql_in_a_question_changes_nothing(corpus_path):
    with Corpus.open(corpus_path) as corpus:
        before = corpus.stats()
        corpus.ask("'; DROP TABLE sentences; --")
        corpus.find_source("'; DROP TABLE articles; --")
        assert corpus.stats() == before


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(question=ANY_TEXT)
def test_any_question_gives_an_answer_object(seed_corpus, question):
    answer = seed_corpus.ask(question)
    assert answer.status in set(Status)
    if answer.status is Status.INVALID:
        assert answer.message and not answer.hits
    for hit in answer.hits:
        text = seed_corpus.article_text(hit.article.id)
        assert text[hit.sentence.start : hit.sentence.end] == hit.sentence.text


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=ANY_TEXT)
def test_any_article_name_is_found_or_not(seed_corpus, name):
    match = seed_corpus.find_source(name)
    assert match.article is None or match.article.id in {a.id for a in seed_corpus.articles()}
    seed_corpus.suggest(name)


@given(text=ANY_TEXT)
def test_segmenter_spans_are_exact_and_inside_their_span(text):
    spans = list(sentences(text, [(0, len(text))]))
    for start, end in spans:
        piece = text[start:end]
        assert piece and piece == piece.strip()
    assert spans == sorted(spans)
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))


@given(text=ANY_TEXT)
def test_tokenizer_accepts_anything(text):
    assert all(isinstance(t, str) and t for t in tokenize(text))


def test_truncated_database_is_a_store_error(seed_db, tmp_path):
    path = tmp_path / "truncated.db"
    shutil.copy(seed_db, path)
    size = path.stat().st_size
    with path.open("r+b") as f:
        f.truncate(size // 3)
    with pytest.raises(StoreError) as err, Corpus.open(path, create=False) as corpus:
        corpus.ask("Which tourism year was launched in Kazakhstan in 2017?")
        corpus.find_source("Zhejiang at the Astana Expo")
    assert "\n" not in str(err.value)


def test_corruption_under_an_open_corpus_is_an_answer_or_a_store_error(seed_db, tmp_path):
    """The file is damaged while a corpus (a running bot, say) has it open: every call
    still returns, from pages SQLite already holds, or fails with one line; never with a
    raw SQLite error or a traceback of another kind."""
    path = tmp_path / "damaged.db"
    shutil.copy(seed_db, path)
    size = path.stat().st_size
    calls = {
        "ask": lambda c: c.ask("Which tourism year was launched in Kazakhstan in 2017?"),
        "ask other": lambda c: c.ask("WeChat users in Kazakhstan"),
        "find_source": lambda c: c.find_source("Zhejiang at the Astana Expo"),
        "suggest": lambda c: c.suggest("expo"),
        "articles": lambda c: c.articles(),
        "article_text": lambda c: [c.article_text(a) for a in range(1, 6)],
        "context": lambda c: c.context(10, before=2, after=2),
        "stats": lambda c: c.stats(),
    }
    with Corpus.open(path, create=False) as corpus:
        corpus.ask("expo")  # opened and warm, as a serving bot is
        with path.open("r+b") as f:
            f.seek(size // 3)
            f.write(bytes(range(256)) * (size // 3 // 256))
        outcomes = {}
        for name, call in calls.items():
            try:
                call(corpus)
                outcomes[name] = "ok"
            except StoreError as err:
                assert "\n" not in str(err)
                outcomes[name] = "store error"
    # Any other exception has failed the test above; the damage must also be noticed.
    assert "store error" in outcomes.values(), outcomes


def test_empty_file_is_not_a_corpus(tmp_path):
    path = tmp_path / "empty.db"
    path.touch()
    with pytest.raises(StoreError, match="not a corpusbot database"):
        Corpus.open(path)


def test_reads_go_on_while_a_writer_holds_the_lock(corpus_path):
    writer = sqlite3.connect(corpus_path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO meta (key, value) VALUES ('x', 'y')")
    try:
        with Corpus.open(corpus_path) as corpus:  # WAL: readers are not blocked
            assert corpus.ask("Which tourism year was launched in Kazakhstan in 2017?").answered
    finally:
        writer.execute("ROLLBACK")
        writer.close()
