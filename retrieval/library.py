"""Files the corpus was given through the bot (uploads) or fetched from the web, kept in
folders beside the database (``corpus.db.uploads/``, ``corpus.db.web/``).

An article's identity in the store is the path of its file, so a file kept under a
stable name is what makes a second upload of ``report.md`` (or a second fetch of a URL)
replace the first article instead of adding a copy, and what lets ``corpusbot ingest``
repeat the ingest by hand. They go through the one ingest path
(:meth:`retrieval.corpus.Corpus.ingest`) like any other file.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING

from retrieval.errors import CorpusError
from retrieval.formats import SUFFIXES

if TYPE_CHECKING:
    from retrieval.corpus import Corpus
    from retrieval.ingest import IngestReport

UPLOAD_SUFFIXES = (".txt", ".md", ".html", ".jsonl")
assert set(UPLOAD_SUFFIXES) <= set(SUFFIXES)


def folder(db_path: str | Path, kind: str) -> Path:
    """``corpus.db`` → ``corpus.db.uploads`` (``kind`` "uploads") or ``corpus.db.web``."""
    path = Path(db_path)
    return path.with_name(f"{path.name}.{kind}")


def safe_name(name: str, *, limit: int = 100) -> str:
    """A file name that stays inside its folder: the last path part, letters, digits,
    ``.-_`` only (others become ``-``), at most ``limit`` characters, suffix kept."""
    name = unicodedata.normalize("NFKC", name).replace("\\", "/").rsplit("/", 1)[-1]
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    stem = re.sub(r"[^\w.-]+", "-", stem, flags=re.ASCII).strip(".-_") or "file"
    suffix = re.sub(r"[^\w]+", "", suffix, flags=re.ASCII).lower()
    keep = limit - len(suffix) - 1
    return f"{stem[:keep]}.{suffix}" if suffix else stem[:limit]


def add_upload(corpus: Corpus, name: str, data: bytes, *, max_bytes: int) -> IngestReport:
    """Keep ``data`` as ``name`` in the uploads folder and ingest it: a new article, or
    the replacement of an earlier upload of the same name. A file the ingest refuses
    (not UTF-8, no article text, a bad JSONL line...) leaves the folder as it was."""
    safe = safe_name(name)
    suffix = Path(safe).suffix
    if suffix not in UPLOAD_SUFFIXES:
        raise CorpusError(
            f"{safe}: only {', '.join(UPLOAD_SUFFIXES)} files can be added, not {suffix or 'this'}"
        )
    if len(data) > max_bytes:
        raise CorpusError(f"{safe} is {len(data):,} bytes; the limit is {max_bytes:,}")
    target = folder(corpus.path, "uploads") / safe
    target.parent.mkdir(parents=True, exist_ok=True)
    before = target.read_bytes() if target.exists() else None
    target.write_bytes(data)
    try:
        report = corpus.ingest([target])
    except BaseException:
        _restore(target, before)
        raise
    if report.failed and not (report.added or report.replaced or report.unchanged):
        _restore(target, before)
    return report


def _restore(target: Path, before: bytes | None) -> None:
    if before is None:
        target.unlink(missing_ok=True)
    else:
        target.write_bytes(before)
