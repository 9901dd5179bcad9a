import pytest
from rank_bm25 import BM25Okapi

from retrieval.answer import MAX_QUESTION_CHARS
from retrieval.models import Status
from retrieval.text import tokenize

pytestmark = pytest.mark.unit

ACCEPTANCE = "Which tourism year was launched in Kazakhstan in 2017?"


def test_acceptance_question_quotes_the_tourism_year_sentence(seed_corpus):
    answer = seed_corpus.ask(ACCEPTANCE)
    assert answer.status is Status.ANSWERED
    first = answer.hits[0]
    assert first.sentence.text.startswith(
        "The China Tourism Year that has been launched in Kazakhstan"
    )
    assert first.article.file == "002_4aa99eda7d0eb28f.txt"
    assert first.article.title == "President Xi’s visit cements China-Kazakhstan ties"
    assert answer.marker(first) == 1


def test_quotes_are_exact_substrings_of_their_article(seed_corpus):
    for question in [ACCEPTANCE, "Who put forth the Bright Road?", "NIO electric vehicles"]:
        for hit in seed_corpus.ask(question, k=10).hits:
            text = seed_corpus.article_text(hit.article.id)
            assert text[hit.sentence.start : hit.sentence.end] == hit.sentence.text


def test_scores_equal_rank_bm25_over_all_seed_sentences(seed_corpus):
    store = seed_corpus.store
    rows = store.conn.execute("SELECT id, text FROM sentences ORDER BY id").fetchall()
    oracle = BM25Okapi([tokenize(t) for _, t in rows])
    position = {sid: i for i, (sid, _) in enumerate(rows)}
    question = "energy cooperation between Zhejiang and Kazakhstan"
    scores = oracle.get_scores(tokenize(question))
    answer = seed_corpus.ask(question, k=10)
    assert answer.hits
    for hit in answer.hits:
        assert hit.score == pytest.approx(scores[position[hit.sentence.id]], rel=1e-9)
    best = sorted(range(len(rows)), key=lambda i: (-scores[i], rows[i][0]))[0]
    assert answer.hits[0].sentence.id == rows[best][0]


@pytest.mark.parametrize(
    "question, fragment",
    [
        ("", "Ask a question"),
        ("   \n\t ", "Ask a question"),
        ("x" * (MAX_QUESTION_CHARS + 1), "limited to 300 characters"),
        ("why " * 2500, "limited to 300 characters"),
        ("what is the of and to?", "only common words"),
        ("?!… 🙂", "only common words"),
    ],
)
def test_bad_questions_get_a_clear_message(seed_corpus, question, fragment):
    answer = seed_corpus.ask(question)
    assert answer.status is Status.INVALID
    assert fragment in answer.message
    assert not answer.hits


def test_question_of_exactly_300_characters_is_accepted(seed_corpus):
    question = ("Zhejiang " * 40)[:MAX_QUESTION_CHARS]
    assert len(question) == MAX_QUESTION_CHARS
    assert seed_corpus.ask(question).status is not Status.INVALID


def test_terms_in_no_sentence_are_not_found(seed_corpus):
    answer = seed_corpus.ask("xylophone quasar zeppelin?")
    assert answer.status is Status.NOT_FOUND
    assert answer.terms == ("xylophon", "quasar", "zeppelin")
    assert answer.message


def test_citations_group_sentences_of_one_article(seed_corpus):
    answer = seed_corpus.ask("Zhejiang Day Kazakhstan cooperation", k=5)
    numbers = [answer.marker(h) for h in answer.hits]
    assert numbers[0] == 1
    cited = answer.citations
    assert sum(len(c.hits) for c in cited) == len(answer.hits)
    assert len({c.article.id for c in cited}) == len(cited)
    for c in cited:
        assert all(h.article.id == c.article.id for h in c.hits)


def test_paging_continues_without_repeats(seed_corpus):
    question = "expo cooperation energy"
    first = seed_corpus.ask(question, k=3, cut=False)
    second = seed_corpus.ask(question, k=3, offset=3, cut=False)
    assert first.has_more
    assert [h.rank for h in second.hits] == [4, 5, 6]
    texts = [h.sentence.text for h in first.hits + second.hits]
    assert len(set(texts)) == len(texts)


def test_context_returns_neighbours_in_order(seed_corpus):
    hit = seed_corpus.ask(ACCEPTANCE).hits[0]
    around = seed_corpus.context(hit.sentence.id, before=1, after=1)
    assert [s.position for s in around] == [
        hit.sentence.position - 1,
        hit.sentence.position,
        hit.sentence.position + 1,
    ]
    assert seed_corpus.context(10**9) == []
