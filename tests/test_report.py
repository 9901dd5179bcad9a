"""``corpusbot report`` (retrieval/report.py): the pure functions on made-up logs, the
CLI on a real log of real answers, and the gold export → ``corpusbot eval`` round trip."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from retrieval import report as reporting
from retrieval.corpus import Corpus
from retrieval.models import Article
from retrieval.querylog import Asked, QueryLog, Quoted, Vote
from tests.conftest import DATA
from tests.test_cli import run

pytestmark = pytest.mark.unit

NOW = datetime(2024, 6, 10, 12, 0, tzinfo=UTC)


def asked(
    qid: int,
    question: str,
    status: str = "answered",
    *,
    day: int = 10,
    offset: int = 0,
    quotes: tuple[tuple[int, float], ...] = ((1, 10.0),),
) -> Asked:
    quoted = tuple(
        Quoted(sentence_id=aid * 100 + i, score=score, article_id=aid, file=f"{aid}.txt",
               title=f"Article {aid}", text=f"Sentence {i} of article {aid}.")
        for i, (aid, score) in enumerate(quotes if status == "answered" else ())
    )  # fmt: skip
    return Asked(
        id=qid,
        asked_at=datetime(2024, 6, day, 9, 0, tzinfo=UTC).isoformat(timespec="seconds"),
        question=question,
        k=3,
        offset=offset,
        status=status,
        shown=tuple((q.sentence_id, q.score) for q in quoted),
        guild_id="1",
        channel_id="2",
        user_hash="h",
        latency_ms=5.0,
        backend="sqlite",
        source="discord",
        quoted=quoted,
    )


def vote(qid: int, value: int, user: str = "u", reason: str | None = None) -> Vote:
    return Vote(qid, user, value, reason, "2024-06-10T10:00:00+00:00")


ARTICLES = [Article(i, f"{i}.txt", f"Article {i}", date=f"2024-01-0{i}") for i in (1, 2, 3, 4)]


# ---------------------------------------------------------------------------- pure functions


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7d", "2024-06-03T12:00:00+00:00"),
        ("24h", "2024-06-09T12:00:00+00:00"),
        ("2w", "2024-05-27T12:00:00+00:00"),
        ("2024-06-01", "2024-06-01T00:00:00+00:00"),
        ("all", None),
    ],
)
def test_parse_since(text: str, expected: str | None) -> None:
    assert reporting.parse_since(text, NOW) == expected


def test_parse_since_refuses_nonsense_in_one_line() -> None:
    with pytest.raises(ValueError, match="--since takes 7d"):
        reporting.parse_since("last tuesday", NOW)


def test_per_day_counts_statuses_and_keeps_empty_days() -> None:
    log = [asked(1, "a", day=7), asked(2, "b", "not_found", day=7), asked(3, "c", day=9)]
    days = reporting.per_day(log, "2024-06-06T00:00:00+00:00", "2024-06-10T00:00:00+00:00")
    assert [(d.day, d.questions, d.answered, d.not_found) for d in days] == [
        ("2024-06-06", 0, 0, 0),
        ("2024-06-07", 2, 1, 1),
        ("2024-06-08", 0, 0, 0),
        ("2024-06-09", 1, 1, 0),
        ("2024-06-10", 0, 0, 0),
    ]


def test_most_asked_counts_the_same_question_typed_differently() -> None:
    log = [
        asked(1, "Which tourism year?"),
        asked(2, "which tourism year"),
        asked(3, "WHICH  tourism year!!"),
        asked(4, "astana expo"),
        asked(5, "   ", "invalid"),
    ]
    top = reporting.most_asked(log)
    assert [(m.question, m.count) for m in top] == [
        ("WHICH  tourism year!!", 3),
        ("astana expo", 1),
    ]


def test_gaps_group_similar_wordings_and_weak_answers() -> None:
    log = [
        asked(1, "What is the tallest building in Dubai?", "not_found"),
        asked(2, "tallest building dubai", "not_found"),
        asked(3, "tallest building in dubai??", "not_found"),
        asked(4, "how do bees make honey", "not_found"),
        # Ten answered questions: the weakest tenth (score 1.0) is low confidence.
        *(asked(10 + i, f"kazakhstan tourism {i}", quotes=((1, 10.0 + i),)) for i in range(9)),
        asked(30, "honey production in bees", quotes=((2, 1.0),)),
    ]
    low = reporting.low_score([a for a in log if a.status == "answered"])
    assert low == 1.0
    gaps = reporting.gaps(log, low)
    assert [(g.count, g.not_found, g.low_confidence) for g in gaps] == [(3, 3, 0), (2, 1, 1)]
    assert set(gaps[0].questions) == {
        "What is the tallest building in Dubai?",
        "tallest building dubai",
        "tallest building in dubai??",
    }
    assert set(gaps[1].questions) == {"how do bees make honey", "honey production in bees"}


def test_a_question_asked_within_one_article_is_no_gap_of_the_corpus() -> None:
    from dataclasses import replace

    log = [
        asked(1, "tallest building dubai", "not_found"),
        replace(asked(2, "how do bees make honey", "not_found"), within_article=7),
    ]
    gaps = reporting.gaps(log, None)
    assert [g.questions for g in gaps] == [("tallest building dubai",)]


def test_too_few_answers_make_no_low_confidence_cut() -> None:
    assert reporting.low_score([asked(i, f"q{i}") for i in range(9)]) is None


def test_downvotes_need_more_down_than_up_and_keep_reasons() -> None:
    log = [asked(1, "kept"), asked(2, "disliked"), asked(3, "tied")]
    votes = [
        vote(1, +1),
        vote(2, -1, "a", "wrong year"),
        vote(2, -1, "b"),
        vote(2, +1, "c"),
        vote(3, -1, "a"),
        vote(3, +1, "b"),
    ]
    (down,) = reporting.downvoted(log, votes)
    assert (down.question, down.down, down.up, down.reasons) == ("disliked", 2, 1, ("wrong year",))
    assert down.quoted == "Sentence 0 of article 1." and down.article == "Article 1"


def test_articles_quoted_most_and_never() -> None:
    log = [
        asked(1, "a", quotes=((1, 9.0), (1, 8.0), (2, 7.0))),  # article 1 counts once here
        asked(2, "b", quotes=((1, 9.0),)),
        asked(3, "c", offset=3, quotes=((3, 9.0),)),  # a More page: not a question
    ]
    firsts = [a for a in log if a.offset == 0]
    assert [(q.article_id, q.count) for q in reporting.quoted_most(firsts)] == [(1, 2), (2, 1)]
    assert [q.article_id for q in reporting.never_quoted(firsts, ARTICLES)] == [4, 3]
    report = reporting.build(log, [], ARTICLES, since=None, until="2024-06-10T12:00:00+00:00")
    assert (report.questions, report.more_pages, report.never_quoted_count) == (2, 1, 2)


def test_sparkline_and_bar() -> None:
    assert reporting.sparkline([0, 1, 2, 4]) == "▁▃▅█"
    assert reporting.sparkline([0, 0]) == "▁▁"
    assert reporting.bar(5, 10, width=10) == "█████"
    assert reporting.bar(0, 0) == ""


def test_fetch_errors_are_counted_by_address() -> None:
    errors = [
        {"at": "2024-06-10T01:00:00+00:00", "url": "http://a/", "error": "http://a/: HTTP 500"},
        {"at": "2024-06-10T02:00:00+00:00", "url": "http://b/", "error": "http://b/: HTTP 404"},
        {"at": "2024-06-10T03:00:00+00:00", "url": "http://a/", "error": "http://a/: timeout"},
    ]
    report = reporting.build([], [], ARTICLES, since=None, fetch_errors=errors)
    assert report.fetch_errors == [
        {"url": "http://a/", "count": 2, "last_at": "2024-06-10T03:00:00+00:00",
         "error": "http://a/: timeout"},
        {"url": "http://b/", "count": 1, "last_at": "2024-06-10T02:00:00+00:00",
         "error": "http://b/: HTTP 404"},
    ]  # fmt: skip
    assert "Web fetch errors: 3" in reporting.short_text(report)


def test_short_text_fits_a_discord_message() -> None:
    log = [asked(i, f"question number {i} " + "x" * 200, "not_found") for i in range(50)]
    report = reporting.build(log, [], ARTICLES, since="2024-06-03T00:00:00+00:00")
    text = reporting.short_text(report)
    assert len(text) <= 2000 and text.startswith("50 questions since 2024-06-03: 0% answered")
    assert "Gaps:" in text and "Never quoted: 4 of 4 articles" in text


def test_gold_lines_confirmed_and_to_label() -> None:
    log = [
        asked(1, "confirmed", quotes=((1, 9.0), (2, 8.0), (1, 7.0))),
        asked(2, "disliked"),
        asked(3, "missing", "not_found"),
        asked(4, "unvoted"),
        asked(5, "confirmed", quotes=((1, 9.0),)),  # the same question again: one line
    ]
    votes = [vote(1, +1, "a"), vote(1, +1, "b"), vote(1, -1, "c"), vote(2, -1), vote(5, +1)]
    confirmed, todo = reporting.gold_lines(log, votes)
    (line,) = confirmed
    assert line["answerable"] is True and line["article"] == "1.txt"
    assert line["gold"] == ["Sentence 0 of article 1.", "Sentence 2 of article 1."]
    assert [(t["question"], t["kind"]) for t in todo] == [
        ("disliked", "downvoted"),
        ("missing", "not_found"),
    ]
    assert todo[0]["shown"][0]["text"] == "Sentence 0 of article 1."


# ---------------------------------------------------------------------------- the CLI


QUESTIONS = [
    "Which tourism year was launched in Kazakhstan in 2017?",
    "which tourism year was launched in kazakhstan in 2017",
    "When is the Jiangxi promotional week at Expo Astana",
    "what did hunan sign at the promotion week",
    "zebra quantum chromodynamics",
    "tallest building in dubai",
    "What is the tallest building in Dubai?",
]


@pytest.fixture
def logged_db(corpus_path: Path) -> Path:
    """A copy of the seed corpus with real answers logged and voted on."""
    with Corpus.open(corpus_path) as corpus, QueryLog(corpus_path) as qlog:
        ids = [
            qlog.record(corpus.ask(q), k=3, latency_ms=3, backend="sqlite", source="discord",
                        user_id=1)
            for q in QUESTIONS
        ]  # fmt: skip
        more = corpus.ask(QUESTIONS[0], offset=3)
        qlog.record(more, k=3, latency_ms=3, backend="sqlite", source="discord")
        qlog.vote(ids[0], 1, +1)
        qlog.vote(ids[2], 1, +1)
        qlog.vote(ids[2], 2, +1)
        qlog.vote(ids[3], 1, -1, "not what I asked")
    return corpus_path


def test_report_json_schema(logged_db: Path) -> None:
    done = run("report", "--json", db=logged_db)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert set(out) >= {
        "since", "until", "questions", "more_pages", "answered", "not_found", "invalid",
        "shares", "per_day", "most_asked", "gaps", "low_score", "downvotes", "votes_up",
        "votes_down", "quoted_most", "never_quoted", "never_quoted_count", "articles",
        "fetch_errors",
    }  # fmt: skip
    assert (out["questions"], out["more_pages"], out["articles"]) == (7, 1, 5)
    assert (out["answered"], out["not_found"]) == (4, 3)
    assert out["shares"] == {
        "answered": round(4 / 7, 4),
        "not_found": round(3 / 7, 4),
        "invalid": 0,
    }
    assert out["per_day"][-1]["questions"] == 7 and len(out["per_day"]) == 8  # 7d: 8 dates
    assert out["most_asked"][0] == {
        "question": QUESTIONS[1], "count": 2, "status": "answered",
        "top_score": out["most_asked"][0]["top_score"],
    }  # fmt: skip
    assert {frozenset(g["questions"]) for g in out["gaps"]} == {
        frozenset({"tallest building in dubai", "What is the tallest building in Dubai?"}),
        frozenset({"zebra quantum chromodynamics"}),
    }
    (down,) = out["downvotes"]
    assert down["question"] == QUESTIONS[3] and down["reasons"] == ["not what I asked"]
    assert (out["votes_up"], out["votes_down"]) == (3, 1)
    quoted = {q["file"] for q in out["quoted_most"]} | {q["file"] for q in out["never_quoted"]}
    assert len(quoted) == 5 and out["never_quoted_count"] == len(out["never_quoted"])


def test_report_table_and_since(logged_db: Path) -> None:
    done = run("report", db=logged_db)
    assert done.returncode == 0, done.stderr
    for heading in (
        "7 questions since",
        "Most asked",
        "Gaps",
        "👎 answers",
        "Articles quoted most",
    ):
        assert heading in done.stdout
    assert "not what I asked" in done.stdout
    future = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    done = run("report", "--json", "--since", future, db=logged_db)
    assert json.loads(done.stdout)["questions"] == 0
    done = run("report", "--since", "yesterday-ish", db=logged_db)
    assert done.returncode == 1 and done.stderr.startswith("corpusbot: error: --since takes")


def test_report_on_a_corpus_with_no_log_yet(corpus_path: Path) -> None:
    done = run("report", "--json", db=corpus_path)
    assert done.returncode == 0 and json.loads(done.stdout)["questions"] == 0
    with sqlite3.connect(corpus_path) as conn:  # reading made no tables
        assert "questions" not in {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}


# ---------------------------------------------------------------------------- votes → gold → eval


def test_gold_export_round_trip_through_eval(corpus_path: Path, tmp_path: Path) -> None:
    """Real answers to the dev questions, voted on; the confirmed ones exported, then
    scored by ``corpusbot eval`` (a subprocess, as a person would run it): every answer
    people confirmed comes back in the top 3. Removing the article one of them quotes
    makes eval see the loss, so the file really tests the corpus."""
    dev = [json.loads(line) for line in (DATA / "dev.jsonl").read_text().splitlines()[:8]]
    with Corpus.open(corpus_path) as corpus, QueryLog(corpus_path) as qlog:
        for i, item in enumerate(dev):
            qid = qlog.record(corpus.ask(item["question"]), k=3, latency_ms=1, backend="sqlite",
                              source="discord", user_id=i)  # fmt: skip
            assert qid is not None
            qlog.vote(qid, 100, +1)  # confirmed...
            if i == 7:
                qlog.vote(qid, 101, -1, "wrong article")
                qlog.vote(qid, 102, -1)  # ...unless more people said 👎
        missing = qlog.record(corpus.ask("zebra quantum chromodynamics"), k=3, latency_ms=1,
                              backend="sqlite", source="discord")  # fmt: skip
        assert missing is not None
    gold = tmp_path / "confirmed.jsonl"
    done = run("report", "--gold", str(gold), db=corpus_path)
    assert done.returncode == 0, done.stderr
    assert "7 confirmed answers" in done.stdout
    todo = [json.loads(x) for x in (tmp_path / "confirmed.todo.jsonl").read_text().splitlines()]
    assert [(t["kind"], t["question"]) for t in todo] == [
        ("downvoted", dev[7]["question"]),
        ("not_found", "zebra quantum chromodynamics"),
    ]
    lines = [json.loads(x) for x in gold.read_text().splitlines()]
    assert len(lines) == 7 and all(line["answerable"] is True for line in lines)

    scored = run("eval", "--json", "-k", "3", str(gold), db=corpus_path)
    assert scored.returncode == 0, scored.stderr
    result = json.loads(scored.stdout)["answerable"]
    assert result["n"] == 7 and result["hit@3"] == 1.0

    quoted_file = lines[0]["article"]
    assert run("remove", quoted_file, db=corpus_path).returncode == 0
    after = json.loads(run("eval", "--json", "-k", "3", str(gold), db=corpus_path).stdout)
    assert after["answerable"]["hit@3"] < 1.0
