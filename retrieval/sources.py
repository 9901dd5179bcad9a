""" "How a person names an article" → the article, or candidates to choose from.

Tried in order: an id, a file name (with or without extension), an exact title; then
the articles holding every word of the name are ranked by SQLite FTS5 (BM25 over title,
outlet, byline, dates, file name and text, title weighted highest), and the best is
returned when it clearly wins. Otherwise the closest articles are offered as candidates.
"""

from __future__ import annotations

from retrieval.models import Article, SourceMatch
from retrieval.store import Store
from retrieval.text import STOPWORDS, clean, words

MAX_NAME_CHARS = 300
CANDIDATES = 5
# The best FTS score must beat the runner-up by this factor to count as a clear winner.
CLEAR_WIN = 1.5


def _fts_query(text: str, *, prefix: bool = False, op: str = "OR") -> str | None:
    """An FTS5 query joining the words of ``text`` with ``op``; every word is quoted, so
    nothing a person types is read as FTS5 syntax."""
    terms = [w.replace('"', "") for w in words(text)]
    terms = [w for w in terms if w and w not in STOPWORDS] or [w for w in terms if w]
    if not terms:
        return None
    quoted = [f'"{w}"' for w in dict.fromkeys(terms)]
    if prefix:
        quoted[-1] += "*"
    return f" {op} ".join(quoted)


def find(store: Store, name: str) -> SourceMatch:
    """Find the article a person means by ``name``."""
    name = clean(name)
    if not name or len(name) > MAX_NAME_CHARS:
        return SourceMatch(name[:MAX_NAME_CHARS], None)
    if name.isdecimal() and (article := store.article(int(name))):
        return SourceMatch(name, article)
    exact = store.article_by_name(name)
    if exact:
        return SourceMatch(name, exact)
    every_word = _fts_query(name, op="AND")
    if every_word is None:
        return SourceMatch(name, None)
    ranked = store.search_articles(every_word, CANDIDATES + 1)
    if ranked and (len(ranked) == 1 or ranked[0][1] >= CLEAR_WIN * ranked[1][1]):
        return SourceMatch(name, ranked[0][0])
    if not ranked:
        # No article has every word: offer the closest ones, never pick one.
        ranked = store.search_articles(_fts_query(name, op="OR"), CANDIDATES)
    return SourceMatch(name, None, tuple(a for a, _ in ranked[:CANDIDATES]))


def suggest(store: Store, text: str, *, limit: int = 25) -> list[Article]:
    """Articles for autocomplete: the best matches of ``text`` as typed so far."""
    text = clean(text)[:MAX_NAME_CHARS]
    query = _fts_query(text, prefix=True) if text else None
    if query is None:
        return store.articles(limit=limit)
    return [a for a, _ in store.search_articles(query, limit)]
