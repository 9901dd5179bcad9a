"""docs/datasette-metadata.yml: every canned query runs on a real corpus with a real
question log (SQLite itself, as Datasette would run it) and says what it should."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import yaml

from retrieval.corpus import Corpus
from retrieval.querylog import QueryLog
from retrieval.web import Web
from tests.conftest import ROOT

pytestmark = pytest.mark.unit

METADATA = ROOT / "docs" / "datasette-metadata.yml"


def queries() -> dict[str, str]:
    metadata = yaml.safe_load(METADATA.read_text(encoding="utf-8"))
    return {name: q["sql"] for name, q in metadata["databases"]["corpus"]["queries"].items()}


def test_every_canned_query_runs_and_answers(corpus_path: Path) -> None:
    with Corpus.open(corpus_path) as corpus, QueryLog(corpus_path) as qlog:
        for question in ("Astana Expo", "astana exppo", "zebra quark", "Zebra quark", "hunan"):
            qid = qlog.record(corpus.ask(question), k=3, latency_ms=1, backend="sqlite",
                              source="discord", user_id=1)  # fmt: skip
        qlog.vote(qid, 1, -1, "wrong province")
        # Not found within one article: not a gap of the corpus (as `corpusbot report`).
        scoped = corpus.ask("zebra quark", article_id=corpus.articles()[0].id)
        assert scoped.within is not None and not scoped.answered
        qlog.record(scoped, k=3, latency_ms=1, backend="sqlite", source="cli")
        web = Web(corpus)
        web.add("http://127.0.0.1:9/never-listening")  # a fetch error, recorded
        web.close()
    found = {}
    with sqlite3.connect(corpus_path) as conn:
        conn.row_factory = sqlite3.Row
        for name, sql in queries().items():
            found[name] = [dict(row) for row in conn.execute(sql)]
    assert set(found) == {
        "questions_per_day", "gaps", "downvotes", "articles_quoted", "never_quoted",
        "misspellings", "fetch_errors",
    }  # fmt: skip
    (day,) = found["questions_per_day"]
    assert (day["questions"], day["answered"], day["not_found"]) == (6, 3, 3)
    assert [(g["question"].casefold(), g["times"]) for g in found["gaps"]] == [("zebra quark", 2)]
    (read,) = found["misspellings"]
    assert (read["typed"], read["read_as"], read["times"]) == ("exppo", "expo", 1)
    (down,) = found["downvotes"]
    assert down["question"] == "hunan" and down["reason"] == "wrong province"
    assert down["first_quote"] and down["article"]
    quoted = {row["file"] for row in found["articles_quoted"]}
    never = {row["file"] for row in found["never_quoted"]}
    assert quoted and not quoted & never and len(quoted | never) == 5
    (error,) = found["fetch_errors"]
    assert error["url"] == "http://127.0.0.1:9/never-listening"
