""" "How a person names an article" → the article, or candidates to choose from.

Tried in order: an id, a file name (with or without extension), an exact title; then
the articles whose title, outlet, byline, dates or file name hold every word of the name,
ranked by SQLite FTS5 (BM25, title weighted highest); then, when those fields match
nothing, the topic: articles whose sentences hold every word between them, ranked by
their best sentence's BM25 score (the answers' own index, so the article text needs no
second full-text index). The best is returned when it clearly wins; otherwise the
closest articles are offered as candidates.
"""

from __future__ import annotations

from dataclasses import replace

from retrieval.backend import ArticleQuery, Backend
from retrieval.models import Article, SourceMatch
from retrieval.rank import rank
from retrieval.spelling import correct
from retrieval.text import STOPWORDS, clean, tokenize, words

MAX_NAME_CHARS = 300
CANDIDATES = 5
# The best score must beat the runner-up by this factor to count as a clear winner.
CLEAR_WIN = 1.5
# How many of the best sentences are looked at to find an article by its topic.
TOPIC_SENTENCES = 200


def _field_query(text: str, *, prefix: bool = False, every: bool = False) -> ArticleQuery | None:
    """The words of ``text`` (stopwords dropped unless nothing else is left) to look for
    in the fields that name an article: ``every`` one of them or any."""
    terms = [w.replace('"', "") for w in words(text)]
    terms = [w for w in terms if w and w not in STOPWORDS] or [w for w in terms if w]
    if not terms:
        return None
    return ArticleQuery(tuple(dict.fromkeys(terms)), every=every, prefix=prefix)


def find(store: Backend, name: str) -> SourceMatch:
    """Find the article a person means by ``name``; when it names none clearly and has a
    misspelt word (:mod:`retrieval.spelling`), the name as read is tried too."""
    match = _find(store, name)
    name = clean(name)
    if match.found or not name or len(name) > MAX_NAME_CHARS:
        return match
    spelling = correct(name, store.frequencies)
    if spelling is None:
        return match
    read = _find(store, spelling.question)
    if read.found or not match.candidates:
        return replace(read, query=match.query)
    return match


def _find(store: Backend, name: str) -> SourceMatch:
    name = clean(name)
    if not name or len(name) > MAX_NAME_CHARS:
        return SourceMatch(name[:MAX_NAME_CHARS], None)
    if name.isdecimal() and (article := store.article(int(name))):
        return SourceMatch(name, article)
    exact = store.article_by_name(name)
    if exact:
        return SourceMatch(name, exact)
    every_word = _field_query(name, every=True)
    if every_word is None:
        return SourceMatch(name, None)
    by_fields = store.search_articles(every_word, CANDIDATES + 1)
    by_topic = [] if by_fields else _by_topic(store, name)
    for ranked in (by_fields, by_topic):
        if ranked and (len(ranked) == 1 or ranked[0][1] >= CLEAR_WIN * ranked[1][1]):
            return SourceMatch(name, ranked[0][0])
    closest = by_fields or by_topic
    if not closest:
        # No article has every word: offer the closest ones, never pick one.
        closest = store.search_articles(_field_query(name), CANDIDATES)
    return SourceMatch(name, None, tuple(a for a, _ in closest[:CANDIDATES]))


def _by_topic(store: Backend, name: str) -> list[tuple[Article, float]]:
    """Articles whose sentences hold every term of ``name`` between them, best first by
    their best sentence's BM25 score."""
    terms = set(tokenize(name))
    if not any(ch.isalpha() for t in terms for ch in t):
        return []  # numbers alone ("1", "2017") name a date or an id, not a topic
    ranked = rank(store, sorted(terms), need=TOPIC_SENTENCES)
    if not terms <= set(ranked.idf):
        return []  # a word the corpus never uses: no article holds every word
    score = dict(zip(ranked.ids.tolist(), ranked.scores.tolist(), strict=True))
    best: dict[int, float] = {}
    covered: dict[int, set[str]] = {}
    for sentence in store.sentences(list(score)):
        article = sentence.article_id
        best[article] = max(best.get(article, 0.0), score[sentence.id])
        covered.setdefault(article, set()).update(terms.intersection(tokenize(sentence.text)))
    whole = sorted((a for a in best if covered[a] == terms), key=lambda a: -best[a])
    articles = {a.id: a for a in store.articles(whole[: CANDIDATES + 1])}
    return [(articles[a], best[a]) for a in whole[: CANDIDATES + 1]]


def suggest(store: Backend, text: str, *, limit: int = 25) -> list[Article]:
    """Articles for autocomplete: the best matches of ``text`` as typed so far, or of
    ``text`` with its misspelt words read when it matches none ("zhejang")."""
    text = clean(text)[:MAX_NAME_CHARS]
    query = _field_query(text, prefix=True) if text else None
    if query is None:
        return store.articles(limit=limit)
    found = [a for a, _ in store.search_articles(query, limit)]
    if found or (spelling := correct(text, store.frequencies)) is None:
        return found
    read = _field_query(spelling.question, prefix=True)
    return [a for a, _ in store.search_articles(read, limit)] if read else []
