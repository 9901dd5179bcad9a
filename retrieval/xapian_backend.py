"""The corpus on N Xapian shards served by ``xapian-tcpsrv`` (README "Beyond one machine").

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

Exact BM25Okapi. Xapian's BM25Weight differs from rank-bm25 in its idf (and counts the
article documents in N and the average length). Each query term is scaled with
``OP_SCALE_WEIGHT`` by (count in the query × Okapi idf ÷ Xapian idf), and k1, b are
adjusted for the average length Xapian sees, which makes Xapian's weights BM25Okapi's to
~1e-15. The candidates are then scored again from their text with rank-bm25's
expression (:func:`retrieval.rank.bm25`), so scores and tie order are the SQLite
engine's, bit for bit.

Faults. Each thread has its own connections (Xapian objects are not thread-safe). A
``NetworkError`` (a restarted shard, an idle connection the server dropped, a timeout)
reconnects and retries once; a shard still down gives one line naming it and how many
shards answered, never a partial answer.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from retrieval import scoring
from retrieval import text as textmod
from retrieval.backend import ArticleQuery, Shard
from retrieval.discover import ArticleKey
from retrieval.errors import StoreError
from retrieval.models import Article, Sentence
from retrieval.plan import IngestProgress, IngestReport, planned
from retrieval.rank import Ranked
from retrieval.scoring import K1, B, Totals
from retrieval.store import ID_DTYPE

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


def xapian_idf(doccount: int, termfreq: int) -> float:
    """Xapian 1.4 BM25Weight's idf (no relevance set)."""
    tw = (doccount - termfreq + 0.5) / (termfreq + 0.5)
    if tw < 2:
        tw = max(tw, 1e-6) / 2 + 1
    return math.log(tw)


# -- connections --------------------------------------------------------------------------


class _Connection:
    """One thread's connections: a remote database per shard and their union."""

    def __init__(self, shards: Sequence[Shard], timeout_ms: int):
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


class XapianStore:
    """The corpus on remote Xapian shards; the same reads and writes as the SQLite Store."""

    def __init__(self, shards: Sequence[Shard], *, timeout_ms: int = TIMEOUT_MS):
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

    @contextlib.contextmanager
    def read(self) -> Iterator[XapianStore]:
        """The reads of one question (the SQLite store's ``read()``), here without one
        snapshot across them: each shard connection reads its own snapshot until it is
        reopened, which ``_conn`` does after a write here or at most once a second, so a
        question's reads can straddle another process's ingest (README "Beyond one
        machine", limits)."""
        yield self

    # -- connections and faults ------------------------------------------------------------

    def _conn(self) -> _Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = _Connection(self.shards, self.timeout_ms)
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        elif (
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

    def counts(self) -> tuple[int, int, int]:
        def work(conn: _Connection) -> tuple[int, int, int]:
            totals = self._read_totals(conn)
            articles = sum(
                json.loads(sub.get_metadata(_META_COUNTS) or b"{}").get("articles", 0)
                for sub in conn.subs
            )
            return articles, totals.sentences, totals.terms

        return self._call(work)

    def size_bytes(self) -> int:
        return 0  # on the shard servers' disks; `du` them there

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
        return self._call(lambda conn: self._rank(conn, terms, need))

    def _rank(self, conn: _Connection, terms: list[str], need: int) -> Ranked:
        totals = self._read_totals(conn)
        db = conn.db
        distinct = list(dict.fromkeys(terms))
        dfs = {t: db.get_termfreq(index_term(t)) for t in distinct}
        dfs = {t: df for t, df in dfs.items() if df}
        idf = {t: scoring.idf(df, totals) for t, df in dfs.items()}
        if not idf or totals.sentences == 0:
            return Ranked(
                np.empty(0, ID_DTYPE), np.empty(0), idf, tuple(terms), sentences=totals.sentences,
                dfs=dfs,
            )  # fmt: skip
        avgdl = totals.tokens / totals.sentences
        enquire = xapian.Enquire(db)
        enquire.set_docid_order(xapian.Enquire.ASCENDING)
        enquire.set_collapse_key(PAYLOAD)
        times = Counter(terms)
        if all(w > 0 for w in idf.values()):
            # Xapian normalises lengths by the average it sees (article documents
            # included): k1' and b' give the same K = k1 (1 - b + b dl / avgdl), and
            # the scale factors undo (k1' + 1) and Xapian's idf.
            ratio = db.get_avlength() / avgdl
            k1 = K1 * (1 - B) + K1 * B * ratio
            b = K1 * B * ratio / k1
            enquire.set_weighting_scheme(xapian.BM25Weight(k1, 0, 0, b, 0))
            doccount = db.get_doccount()
            parts = [
                xapian.Query(
                    xapian.Query.OP_SCALE_WEIGHT,
                    xapian.Query(index_term(t)),
                    times[t] * idf[t] * (K1 + 1) / (xapian_idf(doccount, df) * (k1 + 1)),
                )
                for t, df in dfs.items()
            ]
            enquire.set_query(xapian.Query(xapian.Query.OP_OR, parts))
            mset = _top(enquire, need)
        else:
            # A term with idf <= 0 (tiny corpora) cannot be scaled: score every match.
            enquire.set_weighting_scheme(xapian.BoolWeight())
            enquire.set_query(
                xapian.Query(xapian.Query.OP_OR, [xapian.Query(index_term(t)) for t in dfs])
            )
            mset = enquire.get_mset(0, db.get_doccount())
        docs = _fetch(mset, len(self.shards))
        conn.recent = {d.sentence.id: d for d in docs}
        ids = np.array([d.sentence.id for d in docs], np.int64)
        scores = _score_docs(docs, terms, idf, avgdl)
        order = np.lexsort((ids, -scores))[:need]
        scorer = DocScorer(self, idf, tuple(terms), avgdl, dfs)
        return Ranked(
            ids[order].astype(ID_DTYPE), scores[order], idf, tuple(terms), avgdl,
            totals.sentences, dfs, scorer,
        )  # fmt: skip

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

    # -- feedback ----------------------------------------------------------------------------

    def add_feedback(self, row: dict) -> None:
        shard = self.shards[0]
        key = f"feedback:{time.time_ns()}:{threading.get_ident()}"
        try:
            db = xapian.remote_open_writable(shard.host, shard.port, self.timeout_ms)
            try:
                db.set_metadata(key, json.dumps(row))
                db.commit()
            finally:
                db.close()
        except xapian.Error as err:
            raise StoreError(f"feedback not saved: {shard}: {err.get_msg()}") from err

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


@dataclass(frozen=True)
class DocScorer:
    """Scores other sentences for a ranking from their documents' term counts (shards
    hold no postings to search)."""

    store: XapianStore
    idf: dict[str, float]
    terms: tuple[str, ...]
    avgdl: float
    dfs: dict[str, int]

    def contains(self, ids: Sequence[int]) -> dict[str, np.ndarray]:
        """Which of ``ids`` hold each term, from the documents' term counts."""
        docs = {d.sentence.id: d for d in self.store.documents([int(i) for i in ids])}
        return {
            t: np.array([i in docs and docs[i].counts.get(t, 0) > 0 for i in ids], bool)
            for t in self.dfs
        }

    def lookup(self, ids: Sequence[int]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        return self.score(ids), self.contains(ids)

    def score(self, ids: Sequence[int]) -> np.ndarray:
        if not len(ids):
            return np.zeros(len(ids))
        ids = [int(i) for i in ids]
        docs = {d.sentence.id: d for d in self.store.documents(ids)}
        known = [docs[i] for i in ids if i in docs]
        scores = dict(
            zip([d.sentence.id for d in known], _score_docs(known, self.terms, self.idf,
                                                             self.avgdl), strict=True)
        )  # fmt: skip
        return np.array([scores.get(i, 0.0) for i in ids])


def _score_docs(
    docs: Sequence[SentenceDoc], terms: Sequence[str], idf: dict[str, float], avgdl: float
) -> np.ndarray:
    """rank-bm25's scores of ``docs``: each term's contribution, added in query order."""
    lens = np.array([d.length for d in docs], np.int64)
    per_term = {}
    for t in idf:
        tf = np.array([d.counts.get(t, 0) for d in docs], np.int64)
        per_term[t] = np.where(tf > 0, scoring.term_score(idf[t], tf, lens, avgdl), 0.0)
    scores = np.zeros(len(docs))
    for t in terms:
        if t in per_term:
            scores += per_term[t]
    return scores


def _top(enquire: Any, need: int) -> Any:
    """An MSet holding every sentence whose Xapian weight could put it in the exact top
    ``need`` (within 1e-9 of the ``need``-th weight): the exact scores decide after."""
    size = need + 16
    while True:
        mset = enquire.get_mset(0, size)
        if len(mset) < size or len(mset) < need:
            return mset
        kth = mset[need - 1].weight
        if mset[len(mset) - 1].weight < kth - 1e-9 * max(1.0, abs(kth)):
            return mset
        size *= 2


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
