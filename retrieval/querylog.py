"""The question log: every question asked, what was shown for it, and users' votes on it.

Two tables in the corpus's own SQLite file, made with sqlite-utils on first use:

- ``questions``: one row a question (or ``More`` page) asked: when, where (guild and
  channel ids), who (a salted hash, never the raw id), the question as typed and the
  misspelt words in it that were searched as others (``read_as``), ``k`` and
  ``offset``, the status, the sentences shown with their BM25 scores (and, so an answer
  can still be read after its article is re-ingested, their article and text), the
  latency, the backend and the front end (``discord`` or ``cli``).
- ``votes``: one 👍 (+1) / 👎 (-1) a person a question (primary key ``(question_id,
  user_hash)``), with an optional reason; a second vote replaces the first.

The older ``feedback`` table (one row a click, raw user ids) is left as it is: nothing
writes to it once votes go through this log, and its rows stay readable.

The salt is a random secret in a file beside the database (``corpus.db.salt``, mode
0600), made on first use; without it a hash cannot be turned back into a user id by
hashing every id. Deleting it unlinks all earlier hashes from later ones.

Logging must never break answering: :meth:`QueryLog.record` logs a failure (a read-only
or locked database, a missing salt folder) as one warning line and returns None.

Settings: ``CORPUSBOT_QUERY_LOG=on|off`` (default on) and ``CORPUSBOT_QUERY_LOG_DAYS``
(default 90), read by :func:`settings`.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import os
import secrets
import sqlite3
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import sqlite_utils

from retrieval.errors import StoreError
from retrieval.models import Answer
from retrieval.side_tables import SideTables
from retrieval.store import Store

if TYPE_CHECKING:
    from retrieval.corpus import Corpus

log = logging.getLogger("corpusbot.querylog")

ENABLED_ENV = "CORPUSBOT_QUERY_LOG"
DAYS_ENV = "CORPUSBOT_QUERY_LOG_DAYS"
DEFAULT_DAYS = 90
SOURCES = ("discord", "cli")
# A question waits at most this long for another writer (an ingest holds the file's one
# write lock for its whole transaction); then the row is given up, not the answer.
BUSY_TIMEOUT = 1.0
QUESTION_CHARS = 1000  # the stored question is cut here (the bot accepts 300)


@dataclass(frozen=True)
class Quoted:
    """One sentence shown for a question, as it was then (its article may change later)."""

    sentence_id: int
    score: float  # its BM25 score
    article_id: int
    file: str  # the article's file name: the ``article`` of a gold question
    title: str
    text: str  # the sentence exactly as quoted


@dataclass(frozen=True)
class Asked:
    """One logged question."""

    id: int
    asked_at: str  # ISO-8601 UTC, seconds
    question: str  # as typed
    k: int
    offset: int
    status: str  # "answered" | "not_found" | "invalid"
    shown: tuple[tuple[int, float], ...]  # (sentence_id, BM25 score) in shown order
    guild_id: str | None
    channel_id: str | None
    user_hash: str | None  # salted hash, never the raw id
    latency_ms: float
    backend: str  # "sqlite" | "xapian"
    source: str  # "discord" | "cli"
    quoted: tuple[Quoted, ...] = ()  # the shown sentences with their article and text
    within_article: int | None = None  # the one article searched (``ask --article``)
    read_as: tuple[tuple[str, str], ...] = ()  # misspelt words searched as (typed, read)


@dataclass(frozen=True)
class Vote:
    question_id: int
    user_hash: str
    vote: int  # +1 or -1
    reason: str | None
    voted_at: str


@dataclass(frozen=True)
class Settings:
    enabled: bool = True
    days: int = DEFAULT_DAYS


def settings(environ: Mapping[str, str] | None = None) -> Settings:
    """``CORPUSBOT_QUERY_LOG`` (on/off, true/false, 1/0, yes/no) and
    ``CORPUSBOT_QUERY_LOG_DAYS`` (a whole number of days, at least 1); ``ValueError``
    with a one-line message for anything else."""
    environ = os.environ if environ is None else environ
    raw = (environ.get(ENABLED_ENV) or "").strip().casefold() or "on"
    if raw in ("on", "true", "1", "yes"):
        enabled = True
    elif raw in ("off", "false", "0", "no"):
        enabled = False
    else:
        raise ValueError(f"{ENABLED_ENV} must be on or off, not {raw!r}")
    raw_days = (environ.get(DAYS_ENV) or "").strip() or str(DEFAULT_DAYS)
    if not raw_days.isdigit() or int(raw_days) < 1:
        raise ValueError(f"{DAYS_ENV} must be a whole number of days (1 or more), not {raw_days!r}")
    return Settings(enabled, int(raw_days))


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def salt_path_for(db_path: str | Path) -> Path:
    """``corpus.db`` → ``corpus.db.salt``, beside it."""
    path = Path(db_path)
    return path.with_name(path.name + ".salt")


def load_salt(path: Path) -> bytes:
    """The salt in ``path``, made (32 random bytes, hex, mode 0600) if it does not exist.
    It is written to a private temporary file and linked into place, so a process
    starting at the same moment reads either no salt or the whole one, and both agree."""
    for _ in range(2):
        with contextlib.suppress(FileNotFoundError):
            text = path.read_text(encoding="ascii").strip()
            if len(text) != 64:
                raise OSError(f"{path} is not a salt file (64 hex digits expected)")
            return bytes.fromhex(text)
        tmp = path.with_name(f"{path.name}.{secrets.token_hex(8)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as f:
                f.write(secrets.token_hex(32) + "\n")
            with contextlib.suppress(FileExistsError):  # another process made it first
                os.link(tmp, path)
        finally:
            tmp.unlink()
    raise OSError(f"cannot read or make the salt file {path}")


class QueryLog:
    """The question log of one SQLite database file; thread-safe.

    It has its own connection to the file (opened on first use, never creating a missing
    file), so logging never waits on the corpus's reader or writer locks in this process.
    ``enabled=False`` records nothing and stores nothing (no tables, no salt).
    """

    def __init__(
        self,
        db_path: str | Path,
        *,
        enabled: bool = True,
        salt_path: Path | None = None,
        busy_timeout: float = BUSY_TIMEOUT,
    ):
        self.path = Path(db_path)
        self.enabled = enabled
        self.salt_path = salt_path or salt_path_for(self.path)
        self.busy_timeout = busy_timeout
        self._tables = SideTables(
            self.path, _create_tables, timeout=busy_timeout, on_open=_relax_sync
        )
        self._salt: bytes | None = None
        self._salt_lock = threading.Lock()

    @classmethod
    def from_env(cls, db_path: str | Path, environ: Mapping[str, str] | None = None) -> QueryLog:
        """The log as ``CORPUSBOT_QUERY_LOG`` sets it (on by default)."""
        return cls(db_path, enabled=settings(environ).enabled)

    # -- connection and schema -----------------------------------------------------------

    def _db(
        self, *, write: bool = False
    ) -> contextlib.AbstractContextManager[sqlite_utils.Database]:
        """This log's connection; ``write`` makes the tables if they are missing and wraps
        the block in one IMMEDIATE transaction (rolled back on any error)."""
        return self._tables.db(write=write, transaction=write)

    def _hash(self, user_id: str | int | None) -> str | None:
        if user_id is None:
            return None
        with self._salt_lock:
            if self._salt is None:
                self._salt = load_salt(self.salt_path)
        digest = hmac.new(self._salt, str(user_id).encode(), hashlib.sha256)
        return digest.hexdigest()[:32]

    def user_hash(self, user_id: str | int) -> str:
        """The stored form of a user id (to find one's own rows, e.g. a deletion request)."""
        hashed = self._hash(user_id)
        assert hashed is not None
        return hashed

    def safe_user_hash(self, user_id: str | int) -> str | None:
        """The user's hash for a log line, or None when the log is off or has no salt
        (never raises, never makes a salt for a disabled log)."""
        if not self.enabled:
            return None
        try:
            return self.user_hash(user_id)
        except (OSError, ValueError):
            return None

    # -- writing -------------------------------------------------------------------------

    def record(
        self,
        answer: Answer,
        *,
        k: int,
        latency_ms: float,
        backend: str,
        source: str,
        guild_id: str | int | None = None,
        channel_id: str | int | None = None,
        user_id: str | int | None = None,
        question: str | None = None,
    ) -> int | None:
        """Log one answered (or not) question; its row id, or None when the log is off or
        the row could not be written (logged as one warning: answering goes on).
        ``question`` is the text as typed when the front end cleaned it before asking
        (default: ``answer.question``)."""
        if not self.enabled:
            return None
        shown = [
            {
                "sentence_id": hit.sentence.id,
                "score": round(float(hit.score), 6),
                "article_id": hit.article.id,
                "file": hit.article.file,
                "title": hit.article.title,
                "text": hit.sentence.text,
            }
            for hit in answer.hits
        ]
        try:
            row = {
                "asked_at": now_iso(),
                "question": (answer.question if question is None else question)[:QUESTION_CHARS],
                "k": int(k),
                "offset": int(answer.offset),
                "status": str(answer.status),
                "shown": json.dumps(shown, ensure_ascii=False),
                "guild_id": None if guild_id is None else str(guild_id),
                "channel_id": None if channel_id is None else str(channel_id),
                "user_hash": self._hash(user_id),
                "latency_ms": round(float(latency_ms), 3),
                "backend": backend,
                "source": source,
                "within_article": None if answer.within is None else answer.within.id,
                "read_as": json.dumps([list(pair) for pair in answer.read_as], ensure_ascii=False)
                if answer.read_as
                else None,
            }
            with self._db(write=True) as db:
                return db["questions"].insert(row).last_pk
        except (sqlite3.Error, OSError, ValueError) as err:
            log.warning("question not logged (%s): %s", self.path.name, err)
            return None

    def vote(
        self, question_id: int, user_id: str | int, vote: int, reason: str | None = None
    ) -> str:
        """One person's 👍 (+1) / 👎 (-1) on a logged question: ``"recorded"`` (first vote),
        ``"changed"`` (the other way: a reason given with the old vote goes with it) or
        ``"unchanged"`` (the same again; a reason given now is stored). ``"unknown"`` when
        the question is not in the log (purged, or the log is off). A vote that cannot be
        stored raises :class:`StoreError` (the person should know it was not counted)."""
        if vote not in (1, -1):
            raise ValueError("vote must be +1 or -1")
        if not self.enabled or not _is_rowid(question_id):
            return "unknown"
        reason = (reason or "").strip()[:QUESTION_CHARS] or None
        try:
            user_hash = self.user_hash(user_id)
            with self._db(write=True) as db:
                conn = db.conn
                if conn.execute("SELECT 1 FROM questions WHERE id = ?", (question_id,)).fetchone():
                    before = conn.execute(
                        "SELECT vote, reason FROM votes WHERE question_id = ? AND user_hash = ?",
                        (question_id, user_hash),
                    ).fetchone()
                else:
                    return "unknown"
                if before is None:
                    status = "recorded"
                elif before[0] != vote:
                    status = "changed"
                else:
                    status = "unchanged"
                    reason = reason or before[1]
                db["votes"].upsert(
                    {
                        "question_id": question_id,
                        "user_hash": user_hash,
                        "vote": vote,
                        "reason": reason,
                        "voted_at": now_iso(),
                    },
                    pk=("question_id", "user_hash"),
                )
                return status
        except (sqlite3.Error, OSError) as err:
            raise StoreError(f"your vote could not be saved ({err})") from err

    def purge(self, days: int) -> int:
        """Delete the questions asked more than ``days`` days ago, with their votes; the
        number of questions deleted (0 when the file is busy or read-only: logged). It
        runs with recording off too: rows logged before still age out."""
        if days < 0:
            raise ValueError("days must be 0 or more")
        cutoff = (datetime.now(UTC) - timedelta(days=days)).isoformat(timespec="seconds")
        try:
            if not self._read("SELECT 1 FROM questions LIMIT 1", []):
                return 0
            with self._db(write=True) as db:
                db.conn.execute(
                    "DELETE FROM votes WHERE question_id IN "
                    "(SELECT id FROM questions WHERE asked_at < ?)",
                    (cutoff,),
                )
                return db.conn.execute(
                    "DELETE FROM questions WHERE asked_at < ?", (cutoff,)
                ).rowcount
        except (sqlite3.Error, OSError, StoreError) as err:
            log.warning("query log not purged (%s): %s", self.path.name, err)
            return 0

    # -- reading -------------------------------------------------------------------------

    def get(self, question_id: int) -> Asked | None:
        """One logged question, or None for an unknown id. Reading works whether or not
        recording is enabled (the rows already logged stay readable)."""
        if not _is_rowid(question_id):
            return None
        found = self.questions(ids=[question_id])
        return found[0] if found else None

    def questions(self, *, since: str | None = None, ids: list[int] | None = None) -> list[Asked]:
        """Logged questions, oldest first: all, those asked at or after ``since`` (ISO
        time), or those with the given ids."""
        where, params = [], []
        if since is not None:
            where.append("asked_at >= ?")
            params.append(since)
        if ids is not None:
            where.append(f"id IN ({','.join('?' * len(ids))})")
            params += [int(i) for i in ids]
        sql = "SELECT * FROM questions"
        if where:
            sql += " WHERE " + " AND ".join(where)
        return [_asked(row) for row in self._read(sql + " ORDER BY id", params)]

    def votes(self, *, since: str | None = None) -> list[Vote]:
        """Votes on the questions asked at or after ``since`` (all when None)."""
        sql = "SELECT v.* FROM votes v JOIN questions q ON q.id = v.question_id"
        params: list[str] = []
        if since is not None:
            sql += " WHERE q.asked_at >= ?"
            params.append(since)
        return [Vote(**row) for row in self._read(sql + " ORDER BY v.question_id", params)]

    def _read(self, sql: str, params: list) -> list[dict]:
        """Rows of a read; none before the first question is logged (no tables yet). A
        missing or unreadable file raises :class:`StoreError`."""
        if not self.path.is_file():
            raise StoreError(f"no database at {self.path}")
        try:
            with self._db() as db:
                if not (self._tables.ready or db["votes"].exists()):
                    return []
                return list(db.query(sql, params))
        except sqlite3.Error as err:
            raise StoreError(f"cannot read the question log in {self.path.name}: {err}") from err

    def close(self) -> None:
        self._tables.close()

    def __enter__(self) -> QueryLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _relax_sync(conn: sqlite3.Connection) -> None:
    # In WAL mode a log row need not survive a power cut (the file stays consistent
    # either way): commits without an fsync each, 4 ms → 0.4 ms a question at the median
    # (bench/querylog.py).
    mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    if str(mode).lower() == "wal":
        conn.execute("PRAGMA synchronous=NORMAL")


# Columns of ``questions`` added after its first version, which an older log gains.
_ADDED_COLUMNS: dict[str, type] = {"within_article": int, "read_as": str}


def _create_tables(db: sqlite_utils.Database) -> None:
    """The log's two tables, in one transaction: both or neither; a log written by an
    earlier version gains the columns added since (its rows keep their values)."""
    for column, kind in _ADDED_COLUMNS.items():
        if db["questions"].exists() and column not in db["questions"].columns_dict:
            db["questions"].add_column(column, kind)
    if not (db["questions"].exists() and db["votes"].exists()):
        with db.conn:  # one transaction: both tables or neither
            db["questions"].create(
                {
                    "id": int,
                    "asked_at": str,
                    "question": str,
                    "k": int,
                    "offset": int,
                    "status": str,
                    "shown": str,  # JSON: [{sentence_id, score, article_id, file, title, text}]
                    "guild_id": str,
                    "channel_id": str,
                    "user_hash": str,
                    "latency_ms": float,
                    "backend": str,
                    "source": str,
                    "within_article": int,  # the article id of `ask --article`, else null
                    "read_as": str,  # JSON: [[typed, read], ...] for misspelt words, else null
                },
                pk="id",
                not_null={"asked_at", "question", "status", "shown"},
                if_not_exists=True,
            )
            db["questions"].create_index(["asked_at"], if_not_exists=True)
            db["votes"].create(
                {
                    "question_id": int,
                    "user_hash": str,
                    "vote": int,
                    "reason": str,
                    "voted_at": str,
                },
                pk=("question_id", "user_hash"),
                foreign_keys=[("question_id", "questions", "id")],
                not_null={"vote", "voted_at"},
                if_not_exists=True,
            )


def _asked(row: dict) -> Asked:
    shown = json.loads(row["shown"] or "[]")
    quoted = tuple(Quoted(**item) for item in shown)
    return Asked(
        id=row["id"],
        asked_at=row["asked_at"],
        question=row["question"],
        k=row["k"],
        offset=row["offset"],
        status=row["status"],
        shown=tuple((q.sentence_id, q.score) for q in quoted),
        guild_id=row["guild_id"],
        channel_id=row["channel_id"],
        user_hash=row["user_hash"],
        latency_ms=row["latency_ms"],
        backend=row["backend"],
        source=row["source"],
        quoted=quoted,
        within_article=row.get("within_article"),  # a log from before has no such column
        read_as=tuple(tuple(pair) for pair in json.loads(row.get("read_as") or "[]")),
    )


def _is_rowid(value: object) -> bool:
    """Whether ``value`` can name a row (a crafted button id may hold any number)."""
    return isinstance(value, int) and -(2**63) <= value < 2**63


def backend_name(corpus: Corpus) -> str:
    """``sqlite`` or ``xapian``: where the corpus that answered lives."""
    return "sqlite" if isinstance(corpus.store, Store) else "xapian"


def for_corpus(
    corpus: Corpus, *, enabled: bool | None = None, environ: Mapping[str, str] | None = None
) -> QueryLog:
    """The question log of ``corpus``'s SQLite file; ``enabled`` None reads
    ``CORPUSBOT_QUERY_LOG``. Xapian shards have no SQLite file: their log is off."""
    if enabled is None:
        enabled = settings(environ).enabled
    if backend_name(corpus) != "sqlite":
        if enabled:
            log.info("question log off: the Xapian backend has no SQLite file to keep it in")
        return QueryLog(str(corpus.path), enabled=False)
    return QueryLog(corpus.path, enabled=enabled)
