"""How the corpus is laid out on Xapian shards (see :mod:`retrieval.xapian_backend`):
the documents' terms, payloads and metadata keys, and the placement of an article."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from retrieval import text as textmod
from retrieval.errors import StoreError
from retrieval.models import Article, Sentence

try:
    import xapian
except ImportError:  # pragma: no cover - reported when the backend is chosen
    xapian = None

APP = "corpusbot"
# Client timeouts (ms): a hung shard costs at most this much before the one retry.
TIMEOUT_MS = 5000
CONNECT_TIMEOUT_MS = 2000
# Reads see other processes' ingests within this long: a connection calls reopen()
# (one round trip per shard) when it last did so longer ago.
REOPEN_AFTER_S = 1.0
# Xapian refuses terms longer than 245 bytes: longer ones are indexed by a digest.
MAX_TERM_BYTES = 200

# Every document's payload (a sentence's or an article's JSON) is in this value slot,
# which is also the collapse key of every search: each match then arrives with its
# payload in the match set itself, instead of one round trip per document fetched.
PAYLOAD = 0

_META_APP = "corpusbot:app"
_META_SHARD = "corpusbot:shard"  # {"index": i, "count": n}
_META_COUNTS = "corpusbot:counts"  # this shard's sentences, tokens, articles
_META_CORPUS = "corpusbot:corpus"  # corpus-wide: terms, idf_sum, last ids


NO_VECTORS = "the Xapian backend stores no sentence vectors (`corpusbot embed` needs SQLite)"


def require_xapian() -> None:
    if xapian is None:
        raise StoreError(
            "the Xapian backend needs its Python bindings: pip install 'corpusbot[xapian]'"
        )


def shard_of(key: str, count: int) -> int:
    """The shard of an article: a stable hash of its key (not Python's hash())."""
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % count


def _term(prefix: str, value: str) -> str:
    raw = prefix + value
    if len(raw.encode("utf-8")) <= MAX_TERM_BYTES:
        return raw
    return prefix + "#" + hashlib.blake2b(value.encode("utf-8"), digest_size=16).hexdigest()


def _key_terms(key: str) -> list[str]:
    """An article's key (``P``), the keys of the JSONL file it may be a line of (``J``, at
    each ``#``), and ``XP``: it has a key."""
    groups = [_term("J", key[: m.start()]) for m in re.finditer("#", key)]
    return [_term("P", key), *groups, "XP"]


def index_term(term: str) -> str:
    """A sentence term as indexed (always starts lowercase, a digit or ``#``, never an
    upper-case letter: those prefix the article documents' terms)."""
    return _term("", term)


def _is_sentence_term(term: bytes) -> bool:
    return not term[:1].isupper()


@dataclass(frozen=True)
class SentenceDoc:
    """A sentence as a ranking needs it: where it is, its text, its term counts."""

    sentence: Sentence
    counts: Counter
    length: int


def _doc_of(docid_local: int, payload: bytes) -> SentenceDoc:
    """A sentence document's payload: where it is, its text and its terms (each as often
    as it occurs, so a ranking scores candidates without tokenizing them again)."""
    article_id, position, start, end, text, terms = json.loads(payload)
    counts = Counter(terms.split())
    sentence = Sentence(docid_local // 2, article_id, position, text, start, end)
    return SentenceDoc(sentence, counts, sum(counts.values()))


def _article_of(data: bytes) -> Article:
    d = json.loads(data)
    return Article(
        d["id"], d["file"], d["title"], d["outlet"], d["byline"], d["date"], d["url"],
        sentences=d["sentences"],
    )  # fmt: skip


def _by_terms(db: Any, terms: list[str], limit: int = 0) -> Any:
    """Documents holding any of ``terms`` (boolean), in docid order, fetched."""
    enquire = xapian.Enquire(db)
    enquire.set_weighting_scheme(xapian.BoolWeight())
    enquire.set_docid_order(xapian.Enquire.ASCENDING)
    enquire.set_collapse_key(PAYLOAD)
    enquire.set_query(xapian.Query(xapian.Query.OP_OR, [xapian.Query(t) for t in terms]))
    # Id terms name one document each: asking for no more keeps the match set small.
    return enquire.get_mset(0, limit or len(terms))


def _fetch(mset: Any, shards: int) -> list[SentenceDoc]:
    docs = []
    for m in mset:
        docs.append(_doc_of((m.docid - 1) // shards + 1, m.collapse_key))
    return docs


def _field_words(text: str) -> list[str]:
    """Words of article fields as FTS5's porter tokenizer would see them (stemmed)."""
    ws = [w for w in textmod.words(text) if w]
    return textmod._stem(ws) if ws else []


def _names(file: str, title: str) -> list[str]:
    """Boolean terms for naming an article exactly: its file, the file without each
    extension, its title (case ignored), as the SQLite store's article_by_name matches."""
    names = {file.casefold(), title.casefold()}
    names.update(file[:m.start()].casefold() for m in re.finditer(r"\.", file))  # fmt: skip
    return [_term("N", n) for n in names if n]
