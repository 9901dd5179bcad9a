"""One settings object for every front end: built from flags, the environment and
``.env`` (which the front end loads first), then passed down.

- ``CORPUSBOT_BACKEND``: ``sqlite`` (default) or ``xapian``; ``--backend`` wins.
- ``CORPUSBOT_SHARDS``: ``host:port,host:port,…`` of the Xapian shard servers (xapian
  only; ``--shards`` wins). The order matters: an article's shard is chosen by a hash of
  its key modulo the count.
- ``CORPUSBOT_DB``: the SQLite file; ``--db`` wins (sqlite only).
- ``--reranker`` (``$CORPUSBOT_RERANKER`` is read by :func:`retrieval.rerank.resolve`,
  which names it in its messages).

Nothing here writes ``os.environ``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from retrieval.backend import XapianShard
from retrieval.errors import StoreError

BACKENDS = ("sqlite", "xapian")

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def _default_db() -> Path:
    """In a checkout, ``data/corpus.db`` in the project folder, wherever corpusbot runs (a
    command started from another folder must not make a second, seed-built
    ./data/corpus.db there); in an installed package, which has no project folder and
    must not write into site-packages, ``corpusbot/corpus.db`` in the user's data folder
    (``$XDG_DATA_HOME``, else ``~/.local/share``)."""
    if (PROJECT_ROOT / "pyproject.toml").is_file():
        return PROJECT_ROOT / "data" / "corpus.db"
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "corpusbot" / "corpus.db"


DEFAULT_DB = _default_db()


def default_db_path(environ: Mapping[str, str] | None = None) -> Path:
    """``$CORPUSBOT_DB`` (relative to the working directory) or :data:`DEFAULT_DB`."""
    environ = os.environ if environ is None else environ
    return Path(environ.get("CORPUSBOT_DB") or DEFAULT_DB)


def is_default_db(path: Path) -> bool:
    """Whether ``path`` is :data:`DEFAULT_DB`, the one database built from the seeds."""
    return path.resolve() == DEFAULT_DB.resolve()


def seeds_dir() -> Path:
    """``$CORPUSBOT_SEEDS``, else the seed articles: ``retrieval/seeds`` in an installed
    wheel (pyproject.toml maps them there), ``seeds/`` in a checkout."""
    if found := os.environ.get("CORPUSBOT_SEEDS"):
        return Path(found)
    shipped = Path(__file__).resolve().parent / "seeds"
    return shipped if shipped.is_dir() else PROJECT_ROOT / "seeds"


@dataclass(frozen=True)
class Settings:
    """Where the corpus lives and how answers are ranked, as the user chose them."""

    backend: str = "sqlite"
    xapian_shards: tuple[XapianShard, ...] = ()
    db_path: Path = DEFAULT_DB  # the SQLite file (sqlite only)
    reranker: str | None = None  # a --reranker flag; None: $CORPUSBOT_RERANKER or the default

    @classmethod
    def load(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        backend: str | None = None,
        shards: str | None = None,
        db: str | Path | None = None,
        reranker: str | None = None,
    ) -> Settings:
        """The settings of ``environ`` (default: ``os.environ``), each flag given
        winning over its variable. A malformed backend or shard list raises a one-line
        :class:`StoreError`."""
        environ = os.environ if environ is None else environ
        kind = (backend or environ.get("CORPUSBOT_BACKEND") or "sqlite").strip().lower()
        if kind not in BACKENDS:
            raise StoreError(
                f"CORPUSBOT_BACKEND must be one of {', '.join(BACKENDS)}, not {kind!r}"
            )
        path = Path(db) if db else default_db_path(environ)
        if kind == "sqlite":
            return cls(db_path=path, reranker=reranker)
        found = parse_shards(shards or environ.get("CORPUSBOT_SHARDS") or "")
        if not found:
            raise StoreError("CORPUSBOT_BACKEND=xapian needs CORPUSBOT_SHARDS=host:port,…")
        return cls(kind, found, path, reranker)


def parse_shards(value: str) -> tuple[XapianShard, ...]:
    """``host:port,host:port`` → Xapian shards; a malformed entry raises a one-line
    StoreError."""
    shards = []
    for item in (s.strip() for s in value.split(",")):
        if not item:
            continue
        host, _, port = item.rpartition(":")
        if not host or not port.isdecimal() or not 0 < int(port) < 65536:
            raise StoreError(f"CORPUSBOT_SHARDS: {item!r} is not host:port")
        shards.append(XapianShard(host.strip("[]"), int(port)))
    if len(set(shards)) != len(shards):
        raise StoreError("CORPUSBOT_SHARDS names the same shard twice")
    return tuple(shards)
