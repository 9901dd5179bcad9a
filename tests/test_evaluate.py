"""Gold-file metrics on tiny hand-made answers, with hand-computed values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli import main
from retrieval import evaluate as ev
from retrieval.models import Answer, Article, Hit, Sentence, Status

pytestmark = pytest.mark.unit

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
    return ev.evaluate(questions, lambda q: ANSWERS[q.question])


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


def sentence(text: str, start: int = 0) -> Sentence:
    return Sentence(1, 1, 0, text, start, start + len(text))


def test_is_hit_needs_the_gold_article_and_a_gold_string():
    q = ev.GoldQuestion("x", "?", True, "dir/a.txt", ("Alpha beta gamma.",))
    assert ev.is_hit(sentence("Alpha  beta\ngamma."), "dir/a.txt", q)
    assert ev.is_hit(sentence("beta gamma."), "dir/a.txt", q)  # contained in the gold string
    assert ev.is_hit(sentence("Zeta. Alpha beta gamma. Eta."), "dir/a.txt", q)  # contains it
    assert not ev.is_hit(sentence("Alpha beta gamma."), "dir/b.txt", q)
    assert not ev.is_hit(sentence("alpha beta gamma."), "dir/a.txt", q)  # case matters
    bare = ev.GoldQuestion("y", "?", True, "a.txt", ("Alpha.",))
    assert ev.is_hit(sentence("Alpha."), "sub/a.txt", bare)  # gold names only the file
    assert not ev.is_hit(sentence("Alpha."), "sub/xa.txt", bare)  # whole names only


def test_a_span_question_hits_a_sentence_that_overlaps_an_answer():
    q = ev.GoldQuestion("s", "?", True, "c.jsonl#a1", ("France",), spans=((20, 26),))
    assert ev.is_hit(sentence("It lies in France.", 10), "/x/c.jsonl#a1", q)
    assert ev.is_hit(sentence("France, then.", 20), "c.jsonl#a1", q)
    assert not ev.is_hit(sentence("Before it.", 0), "c.jsonl#a1", q)  # ends at 10
    assert not ev.is_hit(sentence("After it.", 26), "c.jsonl#a1", q)  # starts at its end
    assert not ev.is_hit(sentence("It lies in France.", 10), "c.jsonl#a2", q)


# A SQuAD 2.0 file made by hand: two articles, one answerable and one impossible
# question in the first, one answerable question with two answers in the second.
SQUAD = {
    "version": "v2.0",
    "data": [
        {
            "title": "Glass_blowing",
            "paragraphs": [
                {
                    "context": "Glass blowing began in Syria. It spread along trade routes.",
                    "qas": [
                        {
                            "id": "g1",
                            "question": "Where did glass blowing begin?",
                            "answers": [{"text": "Syria", "answer_start": 23}],
                            "is_impossible": False,
                        },
                        {
                            "id": "g2",
                            "question": "Who sold the first blown glass?",
                            "answers": [],
                            "plausible_answers": [{"text": "Syria", "answer_start": 23}],
                            "is_impossible": True,
                        },
                    ],
                },
                {
                    "context": "Venice later ruled the trade. Murano's furnaces were famous.",
                    "qas": [
                        {
                            "id": "g3",
                            "question": "Which island had famous furnaces?",
                            "answers": [
                                {"text": "Murano", "answer_start": 30},
                                {"text": "Murano's", "answer_start": 30},
                            ],
                            "is_impossible": False,
                        }
                    ],
                },
            ],
        },
        {
            "title": "Tea",
            "paragraphs": [
                {
                    "context": "Tea reached Europe in the sixteenth century.",
                    "qas": [
                        {
                            "id": "t1",
                            "question": "When did tea reach Europe?",
                            "answers": [{"text": "the sixteenth century", "answer_start": 22}],
                            "is_impossible": False,
                        }
                    ],
                }
            ],
        },
    ],
}


def test_parse_squad_makes_one_document_an_article_with_answer_spans():
    squad = ev.parse_squad(SQUAD)
    glass, tea = squad.articles
    assert (glass.title, tea.title) == ("Glass blowing", "Tea")
    assert glass.text == (
        "Glass blowing began in Syria. It spread along trade routes.\n\n"
        "Venice later ruled the trade. Murano's furnaces were famous."
    )
    q = {x.id: x for x in squad.questions}
    assert [glass.text[a:b] for a, b in q["g1"].spans] == ["Syria"]
    # answers in the second paragraph are shifted by the first one and the break
    assert [glass.text[a:b] for a, b in q["g3"].spans] == ["Murano", "Murano's"]
    assert not q["g2"].answerable and q["g2"].spans == () and q["g2"].article is None
    assert q["g1"].article == "squad.jsonl#a1" and q["t1"].article == "squad.jsonl#a2"
    assert [tea.text[a:b] for a, b in q["t1"].spans] == ["the sixteenth century"]
    assert (q["g1"].kind, q["g3"].kind, q["t1"].kind) == ("where", "which", "when")


@pytest.mark.parametrize(
    "obj", [{}, {"data": []}, {"data": [{"paragraphs": [{"qas": []}]}]}, {"data": 5}]
)
def test_parse_squad_rejects_what_is_not_squad(obj):
    with pytest.raises(ValueError, match="SQuAD"):
        ev.parse_squad(obj)


def test_eval_reads_a_squad_file_and_builds_its_corpus(tmp_path, capsys):
    path = tmp_path / "tiny-squad.json"
    path.write_text(json.dumps(SQUAD))
    db = tmp_path / "kept.db"
    assert main(["--db", str(db), "eval", str(path), "--json", "-k", "3"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["answerable"]["n"] == 3 and report["unanswerable"]["n"] == 1
    ranks = {q["id"]: q["rank"] for q in report["questions"]}
    assert ranks["g1"] == 1 and ranks["t1"] == 1
    assert db.exists()  # built there, kept for the next run
    assert main(["--db", str(db), "eval", str(path), "--json", "-k", "3"]) == 0
    assert json.loads(capsys.readouterr().out)["answerable"] == report["answerable"]


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


# -- answer spans inside searchable sentences ------------------------------------------------

COVER_TEXT = "Alpha beta. Gamma delta.\n\n1 2 3 4 5 6\n\nEpsilon zeta."
COVER_SENTENCES = [(0, 11), (12, 24), (39, 52)]  # the row "1 2 3 4 5 6" is not searchable


def cover_question(qid: str, article: str, *spans: tuple[int, int]) -> ev.GoldQuestion:
    return ev.GoldQuestion(qid, "q?", True, article, ("x",), spans=spans)


def test_span_coverage_on_hand_computed_spans():
    assert COVER_TEXT[26:37] == "1 2 3 4 5 6" and COVER_TEXT[39:52] == "Epsilon zeta."
    assert COVER_TEXT[18:29] == "delta.\n\n1 2" and COVER_TEXT[6:17] == "beta. Gamma"
    questions = [
        cover_question("in", "feed.jsonl#a", (6, 10)),  # "beta": inside one sentence
        cover_question("across", "feed.jsonl#a", (6, 17)),  # "beta. Gamma": the gap is a space
        cover_question("partly", "feed.jsonl#a", (18, 29)),  # "delta.\n\n1 2": into the row
        cover_question("row", "feed.jsonl#a", (28, 33)),  # "2 3 4": only the row
        cover_question("lost", "feed.jsonl#gone", (0, 5)),  # its article is not stored
        ev.GoldQuestion("unanswerable", "q?", False),
    ]
    stored = [("/corpus/feed.jsonl#a", COVER_TEXT, COVER_SENTENCES)]
    got = ev.span_coverage(questions, stored)
    assert got == ev.SpanCoverage(spans=5, inside=2, overlapping=3)
    assert got.to_dict() == {
        "spans": 5,
        "inside": 2,
        "overlapping": 3,
        "inside_share": 0.4,
        "overlapping_share": 0.6,
    }
    assert got.line() == (
        "answer spans inside searchable sentences: 2/5 (40.0%); overlapping one: 3/5 (60.0%)"
    )


def test_span_coverage_is_none_without_spans():
    gold = [ev.gold_question(g, i) for i, g in enumerate(GOLD, start=1)]
    assert ev.span_coverage(gold, [("a.txt", "The cat sat on the mat.", [(0, 23)])]) is None


def test_eval_prints_the_answer_spans_inside_searchable_sentences(tmp_path, capsys):
    path = tmp_path / "tiny-squad.json"
    path.write_text(json.dumps(SQUAD))
    assert main(["eval", str(path), "-k", "3", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["answer_spans"] == {
        "spans": 4,
        "inside": 4,
        "overlapping": 4,
        "inside_share": 1.0,
        "overlapping_share": 1.0,
    }
    assert main(["eval", str(path), "-k", "3"]) == 0
    assert "answer spans inside searchable sentences: 4/4 (100.0%)" in capsys.readouterr().out


def _rationale_folder(root: Path) -> Path:
    """A hand-made BEIR folder with sentence judgements (SciFact's layout)."""
    (root / "qrels").mkdir(parents=True)
    sentences = [
        ("11", 0, "Kelp forests", "Kelp grows fast in cold water."),
        ("11", 1, "Kelp forests", "Sea otters eat the urchins that graze on kelp."),
        ("22", 0, "Coral", "Coral bleaches when the sea warms."),
        ("22", 1, "Coral", "Bleached reefs recover slowly."),
    ]
    (root / "corpus_sentences.jsonl").write_text(
        "".join(
            json.dumps({"_id": f"{d}-{i}", "doc_id": d, "sent_idx": i, "title": t, "text": x})
            + "\n"
            for d, i, t, x in sentences
        )
    )
    claims = {"1": "Otters protect kelp by eating urchins.", "2": "Warm seas bleach coral.",
              "3": "Kelp and coral share a claim.", "4": "A claim nobody judged."}  # fmt: skip
    (root / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": k, "text": v}) + "\n" for k, v in claims.items())
    )
    (root / "qrels" / "test_sentences.tsv").write_text(
        "query-id\tsentence-id\tscore\n1\t11-1\t1\n2\t22-0\t1\n2\t22-1\t1\n3\t11-0\t1\n3\t22-0\t1\n"
    )
    return root


def test_a_rationale_set_makes_abstracts_articles_and_judged_sentences_spans(tmp_path):
    folder = _rationale_folder(tmp_path / "beir")
    assert ev.is_rationale_set(folder) and not ev.is_rationale_set(tmp_path)
    found = ev.load_rationale_set(folder)
    kelp, coral = found.articles
    assert (kelp.title, coral.title) == ("Kelp forests", "Coral")
    assert coral.text == "Coral bleaches when the sea warms. Bleached reefs recover slowly."
    q = {x.id: x for x in found.questions}
    # claim 3 is judged on two abstracts and claim 4 on none: both left out
    assert sorted(q) == ["1", "2"]
    assert [kelp.text[a:b] for a, b in q["1"].spans] == [
        "Sea otters eat the urchins that graze on kelp."
    ]
    assert [coral.text[a:b] for a, b in q["2"].spans] == [
        "Coral bleaches when the sea warms.",
        "Bleached reefs recover slowly.",
    ]
    assert q["1"].article == "squad.jsonl#11" and q["1"].answerable


def test_a_rationale_set_judged_on_a_missing_sentence_is_refused(tmp_path):
    folder = _rationale_folder(tmp_path / "beir")
    with (folder / "qrels" / "test_sentences.tsv").open("a") as f:
        f.write("2\t22-7\t1\n")
    with pytest.raises(ValueError, match="claim 2"):
        ev.load_rationale_set(folder)


def test_eval_reads_a_rationale_folder(tmp_path, capsys):
    folder = _rationale_folder(tmp_path / "beir")
    assert main(["eval", str(folder), "--json", "-k", "3", "--reranker", "none"]) == 0
    report = json.loads(capsys.readouterr().out)
    ranks = {q["id"]: q["rank"] for q in report["questions"]}
    assert ranks == {"1": 1, "2": 1}
    assert report["answer_spans"]["inside"] == 3


def test_eval_of_a_folder_that_is_no_rationale_set_says_so(tmp_path, capsys):
    assert main(["eval", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "not a BEIR folder with sentence judgements" in err and "Traceback" not in err
