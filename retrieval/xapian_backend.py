"""The corpus on N Xapian shards served by ``xapian-tcpsrv`` (docs/sharding.md).

Layout. Each article lives whole on one shard, chosen by a stable hash of its key
(:mod:`retrieval.discover`), so ``/source``, neighbours and context are shard-local. A
shard holds:

- one document per sentence, local docid ``2 * sentence id``: its terms with their counts
  (the document length is the sentence's token count, as in SQLite) and, as data, the
  article id, position, offsets and text;
- one document per article, local docid ``2 * article id + 1``: boolean terms for lookups
  (``A`` id, ``P`` key, ``J`` the key of its JSONL file, ``N`` names; ``K`` and ``G``,
  the name and JSONL file name, on articles written before keys), field words (``XF``,
  weighted like the SQLite FTS5 columns) and the article's metadata as data;
- in its user metadata: the article texts (``t<id>``), its counts, and the corpus-wide
  figures the ingester keeps up to date (vocabulary size and idf sum for rank-bm25's
  mean-idf floor, the last ids given out).

Ids are given out in ingest order exactly as the SQLite store gives them, so the same
corpus has the same ids in both. A combined docid ``(local - 1) * n + shard + 1`` grows
with the sentence or article id, so docid order is id order.

Exact BM25Okapi: :mod:`retrieval.xapian_rank`. Writes: :mod:`retrieval.xapian_writer`
applies the ingest plan that SQLite applies (:mod:`retrieval.plan`).

Faults. Each thread has its own connections (Xapian objects are not thread-safe). A
``NetworkError`` (a restarted shard, an idle connection the server dropped, a timeout)
reconnects and retries once; a shard still down gives one line naming it and how many
shards answered, never a partial answer.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from retrieval import scoring, xapian_rank
from retrieval.backend import ArticleQuery, XapianShard
from retrieval.discover import ArticleKey
from retrieval.errors import StoreError
from retrieval.models import Article, Sentence
from retrieval.plan import IngestProgress, IngestReport, planned
from retrieval.rank import Ranked
from retrieval.scoring import Totals
from retrieval.xapian_layout import (
    _META_APP,
    _META_CORPUS,
    _META_COUNTS,
    _META_SHARD,
    APP,
    CONNECT_TIMEOUT_MS,
    NO_VECTORS,
    PAYLOAD,
    REOPEN_AFTER_S,
    TIMEOUT_MS,
    SentenceDoc,
    _article_of,
    _by_terms,
    _fetch,
    _field_words,
    _term,
    require_xapian,
    shard_of,
    xapian,
)

__all__ = ["XapianStore", "_by_terms", "shard_of"]


# -- connections --------------------------------------------------------------------------


class _Connection:
    """One thread's connections: a remote database per shard and their union."""

    def __init__(self, shards: Sequence[XapianShard], timeout_ms: int):
        self.subs = [
            xapian.remote_open(s.host, s.port, timeout_ms, min(timeout_ms, CONNECT_TIMEOUT_MS))
            for s in shards
        ]
        self.db = xapian.Database()
        for sub in self.subs:
            self.db.add_database(sub)
        self.reopened = time.monotonic()
        self.generation = 0  # the store's write count when last reopened
        # Sentences fetched since the last ranking or reopen: an answer asks for the
        # same ones several times (candidates, neighbours, their scores).
        self.recent: dict[int, SentenceDoc] = {}
        self.totals: Totals | None = None  # of the revision open

    def close(self) -> None:
        for sub in self.subs:
            sub.close()
        self.db.close()


class ShardConnections:
    """Each thread's connections to the shards, their faults, and the corpus totals."""

    def __init__(self, shards: Sequence[XapianShard], *, timeout_ms: int = TIMEOUT_MS):
        require_xapian()
        if not shards:
            raise StoreError("no shards given")
        self.shards = tuple(shards)
        self.timeout_ms = timeout_ms
        self.path = "xapian://" + ",".join(map(str, self.shards))
        self._local = threading.local()
        self._all: list[_Connection] = []
        self._lock = threading.Lock()
        self._generation = 0  # writes through this store: readers reopen after each
        self._call(self._check)

    # -- connections and faults ------------------------------------------------------------

    def _conn(self) -> _Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = _Connection(self.shards, self.timeout_ms)
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        elif not getattr(self._local, "pinned", 0) and (
            conn.generation != self._generation or time.monotonic() - conn.reopened > REOPEN_AFTER_S
        ):
            conn.db.reopen()  # see the latest ingest
            conn.reopened, conn.generation = time.monotonic(), self._generation
            conn.recent, conn.totals = {}, None
        return conn

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            with self._lock:
                if conn in self._all:
                    self._all.remove(conn)
            with contextlib.suppress(xapian.Error):
                conn.close()

    def _call(self, work: Callable[[_Connection], Any]) -> Any:
        """Run ``work`` on this thread's connections: reconnect and retry once after a
        network error; then say which shards are down."""
        for attempt in (1, 2):
            try:
                return work(self._conn())
            except (xapian.NetworkError, xapian.DatabaseModifiedError) as err:
                self._drop()
                if attempt == 2:
                    raise self._unavailable(err) from err
            except xapian.DatabaseError as err:
                self._drop()
                raise StoreError(f"shard error: {err.get_msg()}") from err
            except xapian.Error as err:
                raise StoreError(f"search error: {err.get_msg()}") from err
        raise AssertionError("unreachable")

    def _unavailable(self, err: Exception) -> StoreError:
        down = []
        for s in self.shards:
            try:
                xapian.remote_open(s.host, s.port, self.timeout_ms, CONNECT_TIMEOUT_MS).close()
            except xapian.Error:
                down.append(str(s))
        n = len(self.shards)
        if len(down) == n:
            return StoreError(f"search is unavailable: none of the {n} shards answered")
        if down:
            return StoreError(
                f"{n - len(down)} of {n} shards answered ({', '.join(down)} down): "
                "no answer, as it would be incomplete"
            )
        return StoreError(f"a shard failed twice in a row: {err}")

    def _check(self, conn: _Connection) -> None:
        for shard, sub in zip(self.shards, conn.subs, strict=True):
            if sub.get_metadata(_META_APP) != APP.encode():
                raise StoreError(
                    f"{shard} is not a corpusbot shard (create it with `corpusbot shard create`)"
                )
            placed = sub.get_metadata(_META_SHARD)
            if placed:
                where = json.loads(placed)
                wanted = {"index": self.shards.index(shard), "count": len(self.shards)}
                if where != wanted:
                    raise StoreError(
                        f"{shard} holds shard {where['index'] + 1} of {where['count']}, but "
                        f"CORPUSBOT_SHARDS lists it as {wanted['index'] + 1} of {wanted['count']}"
                    )

    def close(self) -> None:
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            with contextlib.suppress(xapian.Error):
                conn.close()
        self._local = threading.local()

    # -- totals ------------------------------------------------------------------------------

    @staticmethod
    def _read_totals(conn: _Connection) -> Totals:
        if conn.totals is None:
            conn.totals = XapianStore._totals_of(conn)
        return conn.totals

    @staticmethod
    def _totals_of(conn: _Connection) -> Totals:
        counts = [json.loads(sub.get_metadata(_META_COUNTS) or b"{}") for sub in conn.subs]
        corpus = [json.loads(sub.get_metadata(_META_CORPUS) or b"{}") for sub in conn.subs]
        return scoring.merged(counts, scoring.latest(corpus))

    def totals(self) -> Totals:
        return self._call(self._read_totals)


class XapianStore(ShardConnections):
    """The corpus on remote Xapian shards: the :class:`~retrieval.backend.Backend` that
    SQLite's :class:`~retrieval.store.Store` also is."""

    @contextlib.contextmanager
    def read(self) -> Iterator[XapianStore]:
        """The reads of one question from one revision of each shard (the SQLite store's
        snapshot): this thread's connections are brought up to date as the block starts
        and not reopened inside it. Only a reconnect after a network error inside the
        block reads a newer revision; and the shards' revisions are each their own, so
        an ingest committing on one shard before another can still be seen half (README
        "Beyond one machine", limits)."""
        local = self._local
        depth = getattr(local, "pinned", 0)
        if depth == 0:
            self._call(lambda conn: None)  # (re)open now, if stale
        local.pinned = depth + 1
        try:
            yield self
        finally:
            local.pinned = depth

    def counts(self) -> tuple[int, int, int]:
        def work(conn: _Connection) -> tuple[int, int, int]:
            totals = self._read_totals(conn)
            articles = sum(
                json.loads(sub.get_metadata(_META_COUNTS) or b"{}").get("articles", 0)
                for sub in conn.subs
            )
            return articles, totals.sentences, totals.terms

        return self._call(work)

    def size_bytes(self) -> int | None:
        """Not known here: the shards are on their servers' disks (``du`` them there)."""
        return None

    # -- sentence vectors: none on shards ---------------------------------------------------

    def vector_count(self, model: str) -> int:
        return 0

    def vectors(self, ids: list[int], model: str) -> dict[int, np.ndarray]:
        """No sentence has a stored vector here: a stored-vector re-ranker uses its
        fall-back's figures for every sentence."""
        return {}

    def unembedded(self, model: str, *, after: int = 0, limit: int = 256) -> list[Sentence]:
        raise StoreError(NO_VECTORS)

    def put_vectors(self, model: str, vectors: dict[int, np.ndarray]) -> None:
        raise StoreError(NO_VECTORS)

    # -- ranking -----------------------------------------------------------------------------

    def rank(self, terms: list[str], need: int) -> Ranked:
        """BM25Okapi top ``need`` sentences: the same ids, scores and order as
        :func:`retrieval.rank.rank` over the same corpus in SQLite."""
        return self._call(lambda conn: xapian_rank.rank(self, conn, terms, need))

    def frequencies(self, terms: list[str]) -> dict[str, int]:
        """How many sentences hold each of ``terms`` the vocabulary has (its df)."""
        return self._call(lambda conn: xapian_rank.frequencies(conn.db, terms))

    def documents(self, ids: Sequence[int]) -> list[SentenceDoc]:
        """Sentence documents by id, in the order given (unknown ids are left out)."""

        def work(conn: _Connection) -> list[SentenceDoc]:
            recent = conn.recent
            missing = [i for i in dict.fromkeys(ids) if i not in recent and i > 0]
            if missing:
                mset = _by_terms(conn.db, [f"Q{i}" for i in missing])
                recent.update((d.sentence.id, d) for d in _fetch(mset, len(self.shards)))
            return [recent[i] for i in ids if i in recent]

        return self._call(work)

    # -- sentences ---------------------------------------------------------------------------

    def sentences(self, ids: list[int]) -> list[Sentence]:
        """Sentences by id, in the order given (unknown ids are left out)."""
        return [d.sentence for d in self.documents([int(i) for i in ids])]

    def neighbours(self, sentence: Sentence, before: int, after: int) -> list[Sentence]:
        """The sentences of the same article from ``before`` positions before to ``after``
        after (an article's sentence ids are consecutive)."""
        first = sentence.id - min(before, sentence.position)
        around = self.sentences(list(range(first, sentence.id + after + 1)))
        return [s for s in around if s.article_id == sentence.article_id]

    # -- articles ----------------------------------------------------------------------------

    def _articles_where(self, terms: list[str], limit: int = 0) -> list[tuple[int, Article]]:
        """Article documents holding any of ``terms`` in id order: (shard, article)."""

        def work(conn: _Connection) -> list[tuple[int, Article]]:
            mset = _by_terms(conn.db, terms, limit)
            n = len(self.shards)
            return [((m.docid - 1) % n, _article_of(m.collapse_key)) for m in mset]

        return self._call(work)

    def article(self, article_id: int) -> Article | None:
        found = self._articles_where([f"A{article_id}"])
        return found[0][1] if found else None

    def article_by_name(self, name: str) -> Article | None:
        """The one article whose file name (with or without extension) or title is
        ``name`` (case ignored); None when no article or several are named so."""
        found = self._articles_where([_term("N", name.casefold())], 2)
        return found[0][1] if len(found) == 1 else None

    def articles(self, ids: list[int] | None = None, *, limit: int = -1) -> list[Article]:
        if ids is None:
            return [a for _, a in self._articles_where(["XA"], limit if limit >= 0 else 2**31)]
        by_id = {a.id: a for _, a in self._articles_where([f"A{i}" for i in ids])}
        return [by_id[i] for i in ids if i in by_id]

    def article_text(self, article_id: int) -> str | None:
        found = self._articles_where([f"A{article_id}"])
        if not found:
            return None
        shard = found[0][0]
        return self._call(lambda conn: conn.subs[shard].get_metadata(f"t{article_id}")).decode()

    def article_sentences(self, article_id: int) -> list[Sentence]:
        found = self._articles_where([f"A{article_id}"])
        if not found:
            return []
        first, a = self._first_sentence(article_id), found[0][1]
        return self.sentences(list(range(first, first + a.sentences)))

    def _first_sentence(self, article_id: int) -> int:
        def work(conn: _Connection) -> int:
            mset = _by_terms(conn.db, [f"A{article_id}"])
            return json.loads(mset[0].collapse_key)["first"]

        return self._call(work)

    def search_articles(self, query: ArticleQuery, limit: int) -> list[tuple[Article, float]]:
        """Articles whose naming fields hold the query's words, best first (the fields
        weighted as :data:`~retrieval.backend.NAME_FIELD_WEIGHTS` says, at ingest)."""
        every = query.every and len(query.words) > 1
        op = xapian.Query.OP_AND if every else xapian.Query.OP_OR
        parts = []
        last = len(query.words) - 1
        for at, word in enumerate(query.words):
            star = query.prefix and at == last
            for w in _field_words(word):
                if star:
                    parts.append(
                        xapian.Query(xapian.Query.OP_WILDCARD, _term("XF", w), 100,
                                     xapian.Query.WILDCARD_LIMIT_MOST_FREQUENT)
                    )  # fmt: skip
                else:
                    parts.append(xapian.Query(_term("XF", w)))
        if not parts:
            return []

        def work(conn: _Connection) -> list[tuple[Article, float]]:
            enquire = xapian.Enquire(conn.db)
            enquire.set_collapse_key(PAYLOAD)
            enquire.set_query(
                xapian.Query(xapian.Query.OP_FILTER, xapian.Query(op, parts), xapian.Query("XA"))
            )
            mset = enquire.get_mset(0, limit)
            return [(_article_of(m.collapse_key), m.weight) for m in mset]

        return self._call(work)

    def file_digests(self, key: ArticleKey) -> dict[ArticleKey, tuple[int, str]]:
        """``{article key: (id, digest)}`` of the articles ingested from the file whose
        key is ``key``: the file itself, or its ``key#id`` JSONL lines."""

        def work(conn: _Connection) -> dict[ArticleKey, tuple[int, str]]:
            mset = _by_terms(conn.db, [_term("P", key), _term("J", key)], conn.db.get_doccount())
            out = {}
            for m in mset:
                d = json.loads(m.collapse_key)
                if d["key"] == key or d["key"].startswith(key + "#"):
                    out[ArticleKey(d["key"])] = (d["id"], d["digest"])
            return out

        return self._call(work)

    def has_unclaimed(self) -> bool:
        """Whether any article was written before articles had keys."""
        return self._call(lambda conn: conn.db.get_termfreq("XA") != conn.db.get_termfreq("XP"))

    def unclaimed_digests(self, name: str) -> dict[str, tuple[int, str]]:
        """``{article name: (id, digest)}`` of the articles written before keys, from the
        file named ``name``."""

        def work(conn: _Connection) -> dict[str, tuple[int, str]]:
            terms = [_term("K", name), _term("G", name)]
            mset = _by_terms(conn.db, terms, conn.db.get_doccount())
            out = {}
            for m in mset:
                d = json.loads(m.collapse_key)
                if "key" not in d:
                    out[d["file"]] = (d["id"], d["digest"])
            return out

        return self._call(work)

    # -- writes ------------------------------------------------------------------------------

    def ingest(
        self,
        paths: Iterable[str | Path],
        *,
        progress: Callable[[IngestProgress], None] | None = None,
        workers: int | None = None,
    ) -> IngestReport:
        """Add or update the articles in ``paths`` (the plan of :mod:`retrieval.plan`,
        as the SQLite store applies it)."""
        from retrieval.xapian_writer import ShardWriter

        try:
            with (
                ShardWriter(self) as writer,
                planned(self, paths, progress=progress, workers=workers) as plan,
            ):
                writer.apply(plan)
            return plan.report
        except xapian.Error as err:
            # Uncommitted shard transactions are discarded with their connections.
            raise StoreError(f"ingest stopped, nothing saved: {err.get_msg()}") from err
        finally:
            self._generation += 1

    def remove(self, article_id: int) -> None:
        from retrieval.xapian_writer import ShardWriter

        try:
            with ShardWriter(self) as writer:
                writer.delete(article_id)
        finally:
            self._generation += 1
