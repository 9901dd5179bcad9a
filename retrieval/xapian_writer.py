"""Xapian's side of an ingest or removal: apply a :class:`~retrieval.plan.Plan` to shards.

What to write is the plan's (:mod:`retrieval.plan`, shared with SQLite): this module
only turns its operations into shard documents (the layout is in
:mod:`retrieval.xapian_backend`). Every shard writes inside one transaction and commits
once at the end; the corpus-wide figures are then recomputed and written to each.
"""

from __future__ import annotations

import contextlib
import itertools
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from retrieval import scoring
from retrieval.articles import ParsedArticle, date_words
from retrieval.backend import NAME_FIELD_WEIGHTS
from retrieval.discover import ArticleKey
from retrieval.errors import StoreError
from retrieval.plan import Plan
from retrieval.postings import Chunk
from retrieval.xapian_layout import (
    _META_APP,
    _META_CORPUS,
    _META_COUNTS,
    _META_SHARD,
    APP,
    PAYLOAD,
    _field_words,
    _is_sentence_term,
    _key_terms,
    _names,
    _term,
    index_term,
    require_xapian,
    shard_of,
    xapian,
)

if TYPE_CHECKING:
    from retrieval.xapian_backend import XapianStore


class ShardWriter:
    """Writable connections to every shard for one ingest or removal."""

    def __init__(self, store: XapianStore):
        self.store = store
        self.dbs: list[Any] = []
        self.counts: list[dict] = []

    def __enter__(self) -> ShardWriter:
        try:
            for s in self.store.shards:
                self.dbs.append(xapian.remote_open_writable(s.host, s.port, 60_000))
        except xapian.DatabaseLockError as err:
            self._close()
            raise StoreError(f"another ingest is writing to the shards: {err.get_msg()}") from err
        except xapian.Error as err:
            self._close()
            raise self.store._unavailable(err) from err
        n = len(self.dbs)
        for i, db in enumerate(self.dbs):
            # In a transaction the server does not commit every 10,000 documents
            # (XAPIAN_FLUSH_THRESHOLD): readers see the whole ingest or none of it.
            db.begin_transaction(True)
            db.set_metadata(_META_SHARD, json.dumps({"index": i, "count": n}))
            self.counts.append(
                {"sentences": 0, "tokens": 0, "articles": 0}
                | json.loads(db.get_metadata(_META_COUNTS) or b"{}")
            )
        corpus = scoring.latest(
            json.loads(db.get_metadata(_META_CORPUS) or b"{}") for db in self.dbs
        )
        self.next_sentence = corpus.get("max_sentence_id", 0) + 1
        self.next_article = corpus.get("max_article_id", 0) + 1
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            if exc_type is None:
                self._commit()
        except xapian.Error as err:
            raise StoreError(f"ingest not saved on every shard: {err.get_msg()}") from err
        finally:
            self._close()

    def _close(self) -> None:
        for db in self.dbs:
            with contextlib.suppress(xapian.Error):
                db.close()  # uncommitted changes are discarded

    def _commit(self) -> None:
        for db, counts in zip(self.dbs, self.counts, strict=True):
            db.set_metadata(_META_COUNTS, json.dumps(counts))
            db.commit_transaction()
        # The mean idf needs every term's df over all shards: read the union's vocabulary.
        union = xapian.Database()
        for db in self.dbs:
            union.add_database(db)
        sentences = sum(c["sentences"] for c in self.counts)
        dfs = np.fromiter(
            (t.termfreq for t in union.allterms() if _is_sentence_term(t.term)), np.float64
        )
        corpus = json.dumps(
            {
                "terms": len(dfs),
                "idf_sum": scoring.idf_sum(dfs, sentences),
                "max_sentence_id": self.next_sentence - 1,
                "max_article_id": self.next_article - 1,
            }
        )
        for db in self.dbs:
            db.set_metadata(_META_CORPUS, corpus)
            db.commit()

    def _holding(self, article_id: int) -> tuple[int, dict] | None:
        """The shard holding an article and its stored fields."""
        for shard, db in enumerate(self.dbs):
            try:
                return shard, json.loads(db.get_document(2 * article_id + 1).get_value(PAYLOAD))
            except xapian.DocNotFoundError:
                continue
        return None

    def delete(self, article_id: int) -> None:
        found = self._holding(article_id)
        if found is None:
            return
        shard, d = found
        db, counts = self.dbs[shard], self.counts[shard]
        for sid in range(d["first"], d["first"] + d["sentences"]):
            try:
                length = db.get_doclength(2 * sid)
            except xapian.DocNotFoundError:
                continue
            db.delete_document(2 * sid)
            counts["sentences"] -= 1
            counts["tokens"] -= length
        db.delete_document(2 * article_id + 1)
        db.set_metadata(f"t{article_id}", "")
        counts["articles"] -= 1

    def claim(self, key: ArticleKey, article_id: int) -> None:
        """Give an article stored without a key (by an older version) its key."""
        found = self._holding(article_id)
        if found is None:
            return
        shard, d = found
        db = self.dbs[shard]
        doc = db.get_document(2 * article_id + 1)
        for term in _key_terms(key):
            doc.add_boolean_term(term)
        doc.add_value(PAYLOAD, json.dumps(d | {"key": key}))
        db.replace_document(2 * article_id + 1, doc)

    def add(
        self,
        key: ArticleKey,
        digest: str,
        article: ParsedArticle,
        spans: list[tuple[int, int]],
        sentence_terms: list[list[tuple[str, int]]],
    ) -> None:
        """Write one article and its sentences (their terms counted) on its shard."""
        shard = shard_of(key, len(self.dbs))
        db, counts = self.dbs[shard], self.counts[shard]
        article_id, first = self.next_article, self.next_sentence
        text = article.text
        for i, ((s, e), terms) in enumerate(zip(spans, sentence_terms, strict=True)):
            doc = xapian.Document()
            for t, c in terms:
                doc.add_term(index_term(t), c)
            doc.add_boolean_term(f"Q{first + i}")
            tokens = " ".join(t for t, c in terms for _ in range(c))
            doc.add_value(PAYLOAD, json.dumps([article_id, i, s, e, text[s:e], tokens]))
            db.replace_document(2 * (first + i), doc)
            counts["sentences"] += 1
            counts["tokens"] += sum(c for _, c in terms)
        doc = xapian.Document()
        for name in _names(article.file, article.title):
            doc.add_boolean_term(name)
        doc.add_boolean_term(f"A{article_id}")
        doc.add_boolean_term("XA")
        for term in _key_terms(key):
            doc.add_boolean_term(term)
        fields = {
            "title": article.title,
            "outlet": article.outlet or "",
            "byline": article.byline or "",
            "dates": date_words(article.date),
            "file": article.file,
        }
        for field, value in fields.items():
            for w in _field_words(value):
                doc.add_term(_term("XF", w), NAME_FIELD_WEIGHTS[field])
        doc.add_value(
            PAYLOAD,
            json.dumps(
                {
                    "id": article_id,
                    "key": key,
                    "file": article.file,
                    "title": article.title,
                    "outlet": article.outlet,
                    "byline": article.byline,
                    "date": article.date,
                    "url": article.url,
                    "sentences": len(spans),
                    "first": first,
                    "digest": digest,
                }
            ),
        )
        db.replace_document(2 * article_id + 1, doc)
        db.set_metadata(f"t{article_id}", text)
        counts["articles"] += 1
        self.next_article += 1
        self.next_sentence += len(spans)

    def apply(self, plan: Plan) -> None:
        """Write ``plan``'s operations (the same the SQLite store applies)."""
        for claim in plan.claims:
            self.claim(claim.key, claim.article_id)
        names: dict[str, list[str]] = {}  # each vocabulary's terms, by id
        for part in plan.parts():
            chunk = part.chunk
            names.setdefault(chunk.owner, []).extend(chunk.new_terms)
            sentences = _sentence_terms(chunk, names[chunk.owner])
            for write in part.writes:
                if write.replaces is not None:
                    self.delete(write.replaces)
                item, n = write.article, len(write.article.spans)
                self.add(
                    write.key, item.digest, item.article, item.spans,
                    sentences[write.at : write.at + n],
                )  # fmt: skip
        for removal in plan.removals():
            self.delete(removal.article_id)


def _sentence_terms(chunk: Chunk, names: list[str]) -> list[list[tuple[str, int]]]:
    """Each sentence's (term, count) pairs from a chunk of counted sentences."""
    bounds = np.searchsorted(chunk.post_sents, np.arange(len(chunk.lengths) + 1)).tolist()
    terms, tfs = chunk.post_terms.tolist(), chunk.post_tfs.tolist()
    return [
        [(names[t], c) for t, c in zip(terms[a:b], tfs[a:b], strict=True)]
        for a, b in itertools.pairwise(bounds)
    ]


def create_shard(path: str | Path) -> None:
    """A new, empty shard database at ``path`` (a directory that must not hold one)."""
    require_xapian()
    path = Path(path)
    if path.exists() and any(path.iterdir()):
        raise StoreError(f"{path} exists and is not empty")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = xapian.WritableDatabase(str(path), xapian.DB_CREATE)
        db.set_metadata(_META_APP, APP)
        db.commit()
        db.close()
    except xapian.Error as err:
        raise StoreError(f"cannot create a shard at {path}: {err.get_msg()}") from err
