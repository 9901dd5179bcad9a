"""Gold-file metrics on tiny hand-made answers, with hand-computed values."""

from __future__ import annotations

import json

import pytest

from retrieval import evaluate as ev
from retrieval.models import Answer, Article, Hit, Sentence, Status

GOLD = [
    {
        "id": "q1",
        "question": "a?",
        "answerable": True,
        "article": "a.txt",
        "gold": ["The cat sat on the mat."],
        "kind": "keyword",
    },
    {
        "id": "q2",
        "question": "b?",
        "answerable": True,
        "article": "b.txt",
        "gold": ["dogs  bark\nloudly", "Never matches."],
        "kind": "paraphrase",
    },
    {
        "id": "q3",
        "question": "c?",
        "answerable": True,
        "article": "a.txt",
        "gold": ["Birds fly south."],
        "kind": "paraphrase",
    },
    {
        "id": "q4",
        "question": "d?",
        "answerable": True,
        "article": "a.txt",
        "gold": ["Fish swim."],
        "kind": "keyword",
    },
    {
        "id": "u1",
        "question": "e?",
        "answerable": False,
        "article": None,
        "gold": [],
        "kind": "factoid",
    },
    {
        "id": "u2",
        "question": "f?",
        "answerable": False,
        "article": None,
        "gold": [],
        "kind": "number",
    },
]


def hits(*pairs: tuple[str, str]) -> tuple[Hit, ...]:
    out = []
    for i, (file, text) in enumerate(pairs, start=1):
        article = Article(id=hash(file) % 1000, file=file, title=file)
        out.append(Hit(i, Sentence(i, article.id, i, text, 0, len(text)), 1.0 / i, article))
    return tuple(out)


ANSWERS = {
    # rank 1: exact gold sentence
    "a?": Answer("a?", Status.ANSWERED, hits(("a.txt", "The cat sat on the mat."))),
    # rank 3: rank 1 is right text in the wrong article; rank 2 unrelated; rank 3 is
    # contained in the gold string after whitespace normalisation
    "b?": Answer(
        "b?",
        Status.ANSWERED,
        hits(("a.txt", "dogs bark loudly"), ("b.txt", "x"), ("b.txt", "dogs bark")),
    ),
    # no hit in five
    "c?": Answer("c?", Status.ANSWERED, hits(*[("a.txt", f"s{i}") for i in range(5)])),
    # refused although answerable
    "d?": Answer("d?", Status.NOT_FOUND),
    "e?": Answer("e?", Status.NOT_FOUND),  # correctly not found
    "f?": Answer("f?", Status.ANSWERED, hits(("a.txt", "Fish swim."))),  # wrongly answered
}


@pytest.fixture
def report() -> ev.Report:
    questions = ev.parse_gold(json.dumps(g) for g in GOLD)
    return ev.evaluate(questions, lambda q: ANSWERS[q])


def test_overall_metrics_by_hand(report):
    o = report.overall
    assert o.n == 4
    assert o.hits == {1: pytest.approx(1 / 4), 3: pytest.approx(2 / 4), 5: pytest.approx(2 / 4)}
    assert o.mrr == pytest.approx((1 + 1 / 3 + 0 + 0) / 4)
    assert o.refused == 1


def test_per_kind_metrics_by_hand(report):
    kw, para = report.by_kind["keyword"], report.by_kind["paraphrase"]
    assert (kw.n, kw.hits[1], kw.hits[3], kw.mrr, kw.refused) == (2, 0.5, 0.5, 0.5, 1)
    assert (para.n, para.hits[1], para.hits[3], para.refused) == (2, 0.0, 0.5, 0)
    assert para.mrr == pytest.approx((1 / 3) / 2)


def test_unanswerable_counts(report):
    assert (report.unanswerable, report.abstained, report.false_answers) == (2, 1, 1)


def test_ranks_and_json(report):
    ranks = {o.id: o.rank for o in report.outcomes}
    assert ranks == {"q1": 1, "q2": 3, "q3": None, "q4": None, "u1": None, "u2": None}
    d = report.to_dict()
    assert d["answerable"]["hit@3"] == 0.5
    assert d["unanswerable"] == {"n": 2, "not_found": 1}
    json.dumps(d)
    table = ev.format_table(report)
    assert "answerable" in table and "1/2" in table
    assert any("u2" in line for line in ev.misses(report))


def test_is_hit_needs_the_gold_article_and_a_gold_string():
    q = ev.GoldQuestion("x", "?", True, "dir/a.txt", ("Alpha beta gamma.",))
    assert ev.is_hit("Alpha  beta\ngamma.", "dir/a.txt", q)
    assert ev.is_hit("beta gamma.", "dir/a.txt", q)  # contained in the gold string
    assert ev.is_hit("Zeta. Alpha beta gamma. Eta.", "dir/a.txt", q)  # contains it
    assert not ev.is_hit("Alpha beta gamma.", "dir/b.txt", q)
    assert not ev.is_hit("alpha beta gamma.", "dir/a.txt", q)  # case matters
    bare = ev.GoldQuestion("y", "?", True, "a.txt", ("Alpha.",))
    assert ev.is_hit("Alpha.", "sub/a.txt", bare)  # gold names only the file


@pytest.mark.parametrize(
    "line",
    [
        "{not json",
        json.dumps({"id": "x", "answerable": True}),
        json.dumps({"id": "x", "question": "q", "answerable": True, "article": None, "gold": []}),
    ],
)
def test_bad_gold_lines_are_reported_with_their_number(line):
    with pytest.raises(ValueError, match="line 2"):
        ev.parse_gold(["", line])
