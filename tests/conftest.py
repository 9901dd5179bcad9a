"""Shared fixtures: real SQLite files built from the real seed articles."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hypothesis import settings

from retrieval.corpus import Corpus, build

# CI (CI=true) replays the same examples every run, so a red build is reproducible;
# local runs keep exploring new ones.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

# Tests choose their re-ranker themselves; a developer's own choice must not change them.
os.environ.pop("CORPUSBOT_RERANKER", None)

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"
# Copies of the development question sets from shared/eval (and a 30-claim SciFact
# sample), so `make test` needs nothing outside the repository.
DATA = ROOT / "tests" / "data"


@pytest.fixture(scope="session")
def seed_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store built once from seeds/; copy it (``corpus_path``) before writing to it."""
    path = tmp_path_factory.mktemp("seed") / "corpus.db"
    build(path, [SEEDS])
    return path


@pytest.fixture(scope="session")
def seed_corpus(seed_db: Path):
    """A read-only use of the seed store, shared by the whole session."""
    corpus = Corpus.open(seed_db, create=False)
    yield corpus
    corpus.close()


@pytest.fixture
def corpus_path(seed_db: Path, tmp_path: Path) -> Path:
    """A private, writable copy of the seed store."""
    path = tmp_path / "corpus.db"
    shutil.copy(seed_db, path)
    return path
