"""Asking within one article (``Corpus.ask(article_id=…)``, ``ask --article``, ``/ask
article:``): the corpus's own BM25 over that article's sentences only, quotes from it
alone, paging that stays in it, and clear messages. On the seed corpus's real SQLite file;
the Xapian backend gives the same answers (tests/test_parity.py)."""

from __future__ import annotations

import pytest
from rank_bm25 import BM25Okapi

from retrieval.answer import rank_within
from retrieval.errors import CorpusError
from retrieval.models import Status
from retrieval.question import points_at_one_article
from retrieval.text import tokenize

pytestmark = pytest.mark.unit

QUESTIONS = [
    "cooperation between China and Kazakhstan",
    "energy at the expo",
    "which tourism year was launched",
]
# Words of several seed articles: unscoped, the quotes come from more than one.
SHARED = "what cooperation was agreed at the expo"


@pytest.fixture(scope="module")
def oracle(seed_corpus):
    rows = seed_corpus.store.conn.execute("SELECT id, text FROM sentences ORDER BY id").fetchall()
    return rows, BM25Okapi([tokenize(t) for _, t in rows])


def test_rank_within_is_the_corpus_bm25_over_one_articles_sentences(seed_corpus, oracle):
    rows, bm25 = oracle
    for article in seed_corpus.articles():
        own = {s.id for s in seed_corpus.store.article_sentences(article.id)}
        for question in QUESTIONS:
            terms = tokenize(question)
            scores = bm25.get_scores(terms)
            expected = sorted(
                (
                    (-scores[i], sid)
                    for i, (sid, _) in enumerate(rows)
                    if sid in own and scores[i] > 0
                )
            )
            sentences = seed_corpus.store.article_sentences(article.id)
            ranked = rank_within(seed_corpus.store, terms, sentences, need=len(own))
            assert ranked.ids.tolist() == [sid for _, sid in expected], (article.id, question)
            assert ranked.scores.tolist() == pytest.approx([-s for s, _ in expected], rel=1e-9)


def test_quotes_come_from_the_named_article_only(seed_corpus):
    unscoped = seed_corpus.ask(SHARED, k=10, cut=False)
    cited = {h.article.id for h in unscoped.hits}
    assert len(cited) > 1  # the question is not about one article
    for article in seed_corpus.articles():
        answer = seed_corpus.ask(SHARED, k=10, cut=False, article_id=article.id)
        assert answer.within == article
        if answer.answered:
            assert {h.article.id for h in answer.hits} == {article.id}
    answered = [a.id for a in seed_corpus.articles()
                if seed_corpus.ask(SHARED, article_id=a.id).answered]  # fmt: skip
    assert len(answered) > 1  # more than one article answers it in its own words


def test_the_answer_in_another_article_is_not_quoted(seed_corpus):
    question = "Which tourism year was launched in Kazakhstan in 2017?"
    best = seed_corpus.ask(question).hits[0]
    assert best.sentence.text.startswith("The China Tourism Year")
    for article in seed_corpus.articles():
        if article.id == best.article.id:
            continue
        answer = seed_corpus.ask(question, k=5, article_id=article.id)
        assert all(h.article.id == article.id for h in answer.hits)
        assert best.sentence.id not in [h.sentence.id for h in answer.hits]


def test_pages_stay_in_the_article(seed_corpus):
    article = seed_corpus.find_source("Zhejiang seeks cooperation").article
    question = "what happened on zhejiang day"
    whole = seed_corpus.ask(question, k=4, cut=False, article_id=article.id)
    assert len(whole.hits) == 4
    pages = [seed_corpus.ask(question, k=1, offset=i, cut=False, article_id=article.id)
             for i in range(4)]  # fmt: skip
    assert [p.hits[0].sentence.id for p in pages] == [h.sentence.id for h in whole.hits]
    assert all(p.within == article for p in pages)
    assert [p.hits[0].rank for p in pages] == [1, 2, 3, 4]


def test_not_found_within_an_article_says_so(seed_corpus):
    article = seed_corpus.find_source("Zhejiang seeks cooperation").article
    answer = seed_corpus.ask("Hunan Yangtze River Delta trade week", article_id=article.id)
    assert answer.status is Status.NOT_FOUND
    assert "this article" in answer.message
    assert answer.within == article
    # The same question of the whole corpus is answered (from the Hunan article).
    assert seed_corpus.ask("Hunan Yangtze River Delta trade week").answered


def test_a_bad_question_is_invalid_within_an_article_too(seed_corpus):
    answer = seed_corpus.ask("the of and", article_id=1)
    assert answer.status is Status.INVALID


def test_an_unknown_article_is_a_clear_error(seed_corpus):
    with pytest.raises(CorpusError, match="no article with id 999999"):
        seed_corpus.ask("energy", article_id=999_999)


@pytest.mark.parametrize(
    "question, points",
    [
        ("What are the conclusions of this study?", True),
        ("what did THESE authors find", True),
        ("What did the present paper show", True),
        ("this is a study of what", False),
        ("What is R0?", False),
        ("Which tourism year was launched in Kazakhstan in 2017?", False),
    ],
)
def test_a_question_that_points_at_an_unnamed_article(question, points):
    assert points_at_one_article(question) is points


def test_the_answer_says_when_the_question_points_at_an_unnamed_article(seed_corpus):
    question = "what did this study find about energy in Kazakhstan"
    whole = seed_corpus.ask(question)
    assert whole.answered and whole.unnamed_article
    within = seed_corpus.ask(question, article_id=whole.hits[0].article.id)
    assert within.within is not None and not within.unnamed_article
    assert not seed_corpus.ask("energy in Kazakhstan").unnamed_article
    # A "not found" carries the tip too: the article may hold the answer in other words.
    missing = seed_corpus.ask("this study")
    assert missing.status is Status.NOT_FOUND and missing.unnamed_article
