"""Files and folders → the files to ingest, each with its articles' identity.

An article has one identity, its **key** (:data:`ArticleKey`): the resolved absolute path
of its file (symbolic links and ``..`` resolved), plus ``#id`` for a JSONL line. So
``c1/index.txt`` and ``c2/index.txt`` are two articles on every backend, and
``dir/sub/x.txt`` named directly or through ``dir/`` is one. Its **name**
(``Article.file``) is what people see and type: the path relative to the folder given
(the file name for a file given directly), plus the same ``#id``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NewType

from retrieval import formats
from retrieval.articles import METADATA_FILE, metadata_problem
from retrieval.articles import load_metadata as read_metadata
from retrieval.errors import IngestError

ArticleKey = NewType("ArticleKey", str)

SUFFIXES = formats.SUFFIXES


@dataclass(frozen=True)
class SourceFile:
    path: Path
    name: str  # the name of its (first) article, for people
    meta: dict  # its metadata.json overrides
    key: ArticleKey  # the key of its (first) article: its resolved path

    def key_of(self, name: str) -> ArticleKey:
        """The key of the article named ``name`` (``name`` or ``name#id``) in this file."""
        return ArticleKey(self.key + name[len(self.name) :])

    def name_of(self, key: str) -> str:
        """The inverse of :meth:`key_of`."""
        return self.name + key[len(self.key) :]


def key_of_file(file: Path) -> ArticleKey:
    return ArticleKey(file.resolve().as_posix())


def discover(paths: Iterable[str | Path]) -> Iterator[SourceFile | tuple[str, str]]:
    """Files to ingest under ``paths`` (folders recursively), or (path, reason) problems
    (a missing path, an unsupported file named directly, a bad ``metadata.json``)."""
    folders: dict[Path, dict[str, dict]] = {}

    def source(file: Path, name: str) -> SourceFile | tuple[str, str]:
        try:
            if file.parent not in folders:  # metadata.json is read once per folder
                folders[file.parent] = read_metadata(file.parent)
        except IngestError as err:
            return str(file), str(err)
        meta = folders[file.parent].get(file.name, {})
        if problem := metadata_problem(meta):
            return str(file), problem
        return SourceFile(file, name, meta, key_of_file(file))

    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for file in sorted(p for p in path.rglob("*") if p.is_file()):
                if file.name != METADATA_FILE and file.suffix.lower() in SUFFIXES:
                    yield source(file, file.relative_to(path).as_posix())
        elif path.is_file():
            if path.suffix.lower() not in SUFFIXES:
                yield str(path), f"unsupported file type (use {', '.join(SUFFIXES)})"
                continue
            yield source(path, path.name)
        else:
            yield str(path), "no such file or folder"
