"""Answer quality: question processing, the fused re-ranking, abstention, the dev
set through the real CLI, and a SciFact smoke run of the published-table check."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest

from bot.cli import main
from retrieval import answer as ans
from retrieval import beir, fusion, scoring
from retrieval import question as qa
from retrieval.corpus import Corpus
from retrieval.models import Sentence
from retrieval.text import tokenize
from tests.conftest import DATA

pytestmark = pytest.mark.quality

DEV = DATA / "dev.jsonl"
OFFTOPIC = DATA / "offtopic_dev.jsonl"
SQUAD = DATA / "squad2" / "dev-v2.0-public.json"
COVIDQA = DATA / "covidqa" / "covidqa-public.json"
SCIFACT = DATA / "scifact-sample"


# Questions of our own, not the dev set's: these test the rules, the dev set the outcome.
@pytest.mark.parametrize(
    "question, dropped, kept, kind",
    [
        ("On what date did the harbour bridge open?", {"date"}, {"harbour", "bridg"}, "date"),
        ("Which festival year was declared in 2019?", set(), {"festiv", "year", "2019"}, None),
        ("What is the purpose of the new tunnel?", {"purpos"}, {"tunnel"}, "reason"),
        ("Roughly how many ships dock each year?", {"rough", "mani"}, {"ship", "dock"}, "number"),
        ("According to the mayor, what grows?", {"accord"}, {"mayor", "grow"}, None),
        ("Why did prices rise?", set(), {"price", "rise"}, "reason"),
        ("When did it open?", set(), {"open"}, "date"),
        ("How long did the ferry take to cross?", {"long"}, {"ferri", "cross"}, "number"),
        ("how often do the ships dock", {"often"}, {"ship", "dock"}, "number"),
        ("What proportion of the boats sank?", {"proport"}, {"boat", "sank"}, "number"),
        ("What is the long-term plan?", set(), {"long", "term", "plan"}, None),
        ("How is the long bridge built?", set(), {"long", "bridg"}, None),
        ("What percentage of votes, when counted, went to her?", {"percentag"}, {"vote"}, "number"),
    ],
)
def test_question_frame_words_are_dropped(question, dropped, kept, kind):
    terms = set(qa.query_terms(question))
    assert not dropped & terms
    assert kept <= terms
    assert qa.answer_type(question) == kind


def test_a_question_made_only_of_frame_words_still_searches():
    assert qa.query_terms("What date?") == ["date"]


@pytest.mark.parametrize(
    "text, kind, expected",
    [
        ("It opens on Aug 10.", "date", True),
        ("It opened in 2013.", "date", True),
        ("It opened recently.", "date", False),
        ("More than 100 countries attend.", "number", True),
        ("Three hundred people came.", "number", True),
        ("Many people came.", "number", False),
        ("The aim is to cut queues at the border.", "reason", True),
        ("It closed because of rain.", "reason", True),
        ("It closed.", "reason", False),
        ("Anything.", None, False),
    ],
)
def test_answer_types(text, kind, expected):
    assert qa.has_type(text, kind) is expected


def test_bm25_of_one_sentence_matches_the_engine(seed_corpus):
    # Token lists scored outside the index (titles) get the engine's score for them.
    store = seed_corpus.store
    terms = qa.query_terms("Kazakhstan energy cooperation exhibition")
    from retrieval.rank import rank

    ranked = rank(store, terms, 5)
    texts = [s.text for s in store.sentences(ranked.ids.tolist())]
    outside = np.zeros(len(texts))
    tokens = [tokenize(t) for t in texts]
    lens = np.array([len(d) for d in tokens], np.int64)
    for t in ranked.terms:  # query order, as the engine adds them
        if t in ranked.idf:
            tf = np.array([d.count(t) for d in tokens], np.int64)
            outside += scoring.term_score(ranked.idf[t], tf, lens, ranked.avgdl)
    for computed, score in zip(outside.tolist(), ranked.scores.tolist(), strict=True):
        assert computed == pytest.approx(score)


def test_hits_keep_their_own_bm25_and_come_in_fused_order(seed_corpus):
    question = "energy cooperation between Zhejiang and Kazakhstan"
    terms = qa.query_terms(question)
    pool = ans.build_pool(seed_corpus.store, question, terms, 30, seed_corpus.reranker)
    own = {x.sentence.id: x.bm25 for x in pool.scored}
    answer = seed_corpus.ask(question, k=25, cut=False)
    assert answer.answered and len(answer.hits) == 25
    for hit in answer.hits:
        assert hit.score == own[hit.sentence.id]
        assert hit.fused is not None
    fused = [h.fused for h in answer.hits]
    assert fused == sorted(fused, reverse=True)
    # The BM25 scores are the engine's own.
    bm25 = dict(zip(pool.ranked.ids.tolist(), pool.ranked.scores.tolist(), strict=True))
    assert all(h.score == bm25[h.sentence.id] for h in answer.hits if h.sentence.id in bm25)


def test_the_ranked_list_holds_every_relevant_sentence_and_no_other(seed_corpus):
    # Without the cut, the list is the pool's relevant sentences (a query term, or a
    # cosine at the abstention level) in fused order, each text once, up to k: a
    # neighbour with BM25 0 does not end it, and one sharing nothing is never in it.
    question = "Which capabilities of Northeast Asia did Hao Mingjin praise?"
    terms = qa.query_terms(question)
    pool = ans.build_pool(seed_corpus.store, question, terms, 30, seed_corpus.reranker)
    relevant = [pool.sentences[i].id for i in pool.order.tolist() if pool.relevant[i]]
    irrelevant = {pool.sentences[i].id for i in range(len(pool.sentences)) if not pool.relevant[i]}
    assert irrelevant  # the question has sentences to leave out
    answer = seed_corpus.ask(question, k=25, cut=False)
    ids = [h.sentence.id for h in answer.hits]
    assert ids == relevant[: len(ids)] and len(ids) >= 5
    assert not irrelevant & set(ids)


def test_tiny_corpus_answers_a_word_in_half_its_sentences(tmp_path):
    # BM25Okapi gives idf 0 to a term in half the sentences; the sentence holding the
    # word is still found, and quoted first.
    folder = tmp_path / "tiny"
    folder.mkdir()
    (folder / "lake.txt").write_text(
        "Notes from the shore\n\nThe lake froze early this winter. "
        "Skaters arrived from three villages.\n"
    )
    with Corpus.create(tmp_path / "t.db") as corpus:
        corpus.ingest([folder])
        answer = corpus.ask("lake")
        assert answer.answered, answer.message
        assert "lake" in answer.hits[0].sentence.text


def test_abstains_below_min_evidence(seed_corpus, monkeypatch):
    question = "Which theme did organisers pick for Astana Expo 2017?"
    assert seed_corpus.reranker is not None
    assert seed_corpus.ask(question).answered
    strict = dataclasses.replace(fusion.FUSION["wordllama"], min_evidence=5.0)
    monkeypatch.setitem(fusion.FUSION, "wordllama", strict)
    refused = seed_corpus.ask(question)
    assert refused.status is ans.Status.NOT_FOUND and refused.message and not refused.hits


def test_an_off_topic_question_is_not_found(seed_corpus):
    answer = seed_corpus.ask("How long should I boil an egg for a soft yolk?")
    assert answer.status is ans.Status.NOT_FOUND
    assert "close enough" in answer.message


def test_without_a_reranker_only_lexical_evidence_decides(seed_db, tmp_path):
    db = tmp_path / "c.db"
    shutil.copy(seed_db, db)
    with Corpus.open(db, create=False, reranker="none") as corpus:
        assert corpus.reranker is None
        answer = corpus.ask("Which tourism year was launched in Kazakhstan in 2017?")
        assert answer.answered and "Tourism Year" in answer.hits[0].sentence.text
        assert all(h.fused is not None for h in answer.hits)


@pytest.mark.parametrize(
    "text, expected",
    [("It may rain on the day.", False), ("It opens on 5 May.", True), ("May 2018 saw it.", True)],
)
def test_the_modal_may_is_not_a_date(text, expected):
    assert qa.has_type(text, "date") is expected


# Floors below keep a margin of several questions under the measured figures
# (docs/answer-quality.md), so one changed answer does not fail the suite. They are
# regression checks, not evidence: the fused weights were fitted on SQuAD public, the
# relevance cut and the abstention level on SQuAD and COVID-QA public; dev.jsonl and
# offtopic_dev.jsonl were fitted on by nothing.


def test_dev_set_through_the_cli(seed_db, tmp_path, capsys):
    db = tmp_path / "corpus.db"
    shutil.copy(seed_db, db)
    assert main(["--db", str(db), "eval", str(DEV), "-k", "3", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    answerable = report["answerable"]
    # Measured: hit@1 0.81 (17 of 21), hit@3 0.95 (20), nothing refused; shown hit 0.90.
    assert answerable["n"] == 21
    assert answerable["hit@1"] >= 15 / 21
    assert answerable["hit@3"] >= 18 / 21
    assert answerable["refused"] == 0
    assert report["shown"]["hit"] >= 17 / 21
    assert main(["--db", str(db), "eval", str(DEV)]) == 0
    out = capsys.readouterr().out
    assert "hit@3" in out and "shown to users" in out


def test_offtopic_questions_through_the_cli(seed_db, tmp_path, capsys):
    db = tmp_path / "corpus.db"
    shutil.copy(seed_db, db)
    assert main(["--db", str(db), "eval", str(OFFTOPIC), "-k", "3", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    # Measured: 24 of 25 "not found"; the target is at least 23.
    assert report["unanswerable"]["n"] == 25
    assert report["unanswerable"]["not_found"] >= 22


def test_squad_public_through_the_cli(capsys):
    # The two public SQuAD 2.0 articles, their corpus built by eval itself. Measured:
    # hit@1 0.765 (224 of 293), hit@3 0.898 (263), 2 refused; shown: hit 0.880 (258),
    # 1.95 quotes a question, 0.47 of them answering.
    assert main(["eval", str(SQUAD), "-k", "3", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    answerable, shown = report["answerable"], report["shown"]
    assert answerable["n"] == 293
    assert answerable["hit@1"] >= 217 / 293
    assert answerable["hit@3"] >= 257 / 293
    assert answerable["refused"] <= 0.01 * answerable["n"]
    assert shown["hit"] >= 251 / 293
    assert shown["mean_quotes"] <= 2.1 and shown["answering"] >= 0.44


def test_squad_public_typed_in_chat_with_one_typo(capsys):
    # Lowercase, no punctuation, one typo a question (seed 0). Nothing was fitted to these
    # questions; the reading of misspelt words has no fitted constant. Measured: hit@1 0.710
    # (208), hit@3 0.864 (253), 5 refused; with the reading switched off it was 0.635 /
    # 0.788 (231) with 20 refused, below these floors.
    assert main(["eval", str(SQUAD), "-k", "3", "--json", "--typos"]) == 0
    answerable = json.loads(capsys.readouterr().out)["answerable"]
    assert answerable["hit@1"] >= 200 / 293
    assert answerable["hit@3"] >= 244 / 293
    assert answerable["refused"] <= 10


def test_covidqa_public_through_the_cli(capsys):
    # Long scientific articles, another domain. Measured: hit@1 0.535, hit@3 0.684, 1 of
    # 718 refused; shown: hit 0.667, 2.21 quotes a question. The abstention level and the
    # relevance cut were fitted on it (and on SQuAD): a regression check.
    assert main(["eval", str(COVIDQA), "-k", "3", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    answerable, shown = report["answerable"], report["shown"]
    assert answerable["n"] == 718
    assert answerable["hit@1"] >= 0.50
    assert answerable["hit@3"] >= 0.65
    assert answerable["refused"] <= 0.01 * answerable["n"]
    assert shown["hit"] >= 0.63 and shown["mean_quotes"] <= 2.4


def test_scifact_claims_through_the_cli(capsys):
    # A third domain, never fitted on: claims (statements, not questions) asked of 731
    # abstracts, a quote hitting when it overlaps a judged rationale sentence; 25 of the
    # sample's 30 claims have their rationales in one abstract. Measured: hit@1 0.32
    # (8 claims), hit@3 0.56 (14); the floors leave 3 claims.
    assert main(["eval", str(SCIFACT), "-k", "3", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    answerable = report["answerable"]
    assert answerable["n"] == 25
    assert answerable["hit@1"] >= 5 / 25
    assert answerable["hit@3"] >= 11 / 25
    assert answerable["refused"] == 0
    assert report["answer_spans"]["inside"] == report["answer_spans"]["spans"] == 42


def test_eval_reports_a_bad_gold_file(seed_db, tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": 1}\n')
    db = tmp_path / "corpus.db"
    shutil.copy(seed_db, db)
    assert main(["--db", str(db), "eval", str(bad)]) == 1
    assert "line 1" in capsys.readouterr().err


def test_scifact_smoke_on_a_sample():
    # tests/data/scifact-sample: the first 30 test claims, their relevant abstracts and
    # the first 700 abstracts of shared/eval/scifact (ODC-By / CC BY, Wadden et al. 2020).
    result = beir.run(SCIFACT, "flat")
    assert result.queries == 30
    assert result.documents == 731
    # The figure computed on this sample (measured; it moves only if scoring or the
    # tokenizer changes), and the table reports the computed figures, not the published.
    assert result.ndcg_10 == pytest.approx(0.8349, abs=5e-5)
    row = next(line for line in beir.table([result]).splitlines() if line.startswith("flat"))
    assert f"{result.ndcg_10:.4f}" in row and f"{result.recall_100:.4f}" in row


def test_without_a_reranker_ten_candidates_and_pages_beyond_them(seed_corpus):
    question = "energy cooperation between Zhejiang and Kazakhstan"
    terms = qa.query_terms(question)
    lexical = ans.build_pool(seed_corpus.store, question, terms, 4, None)
    semantic = ans.build_pool(seed_corpus.store, question, terms, 4, seed_corpus.reranker)
    assert len(lexical.ranked.ids) == ans.LEXICAL_CANDIDATES
    assert len(semantic.ranked.ids) == ans.CANDIDATES
    # A page past the tenth still gets its own candidates, each sentence once.
    pages = [
        ans.answer(seed_corpus.store, question, k=5, offset=o, reranker=None, cut=False)
        for o in (0, 5, 10)
    ]
    ids = [h.sentence.id for p in pages for h in p.hits]
    assert len(ids) == 15 == len(set(ids)) and pages[2].has_more


def test_a_sentence_is_read_with_the_one_before_it(tmp_path):
    # Window similarities read a sentence after the one before it ("the event" points
    # back), never with the one after; coverage still counts both neighbours.
    folder = tmp_path / "fair"
    folder.mkdir()
    sentences = [
        "Rain is expected over the weekend.",
        "The harbour fair opens in the old port on Monday.",
        "More than forty towns will send stalls to the event.",
        "Tickets are sold at the gate.",
    ]
    (folder / "fair.txt").write_text("Harbour news\n\n" + " ".join(sentences) + "\n")
    question = "How many towns take part in the harbour fair?"
    with Corpus.create(tmp_path / "f.db") as corpus:
        corpus.ingest([folder])
        reranker = corpus.reranker
        pool = ans.build_pool(corpus.store, question, qa.query_terms(question), 4, reranker)
    got = {x.sentence.text: x.features for x in pool.scored}
    assert set(got) == set(sentences)
    keywords = [w for w in ans.words(question) if w not in ans.STOPWORDS]

    def similarity(text: str) -> float:
        one = [Sentence(1, 1, 0, text, 0, len(text))]
        return reranker.similarities(question, keywords, one, np.array([[0]])).sentence[0]

    for before, this in zip([None, *sentences], sentences, strict=False):
        read = this if before is None else f"{before} {this}"
        assert got[this].window_similarity == pytest.approx(similarity(read), abs=1e-6)
    # The first sentence has none before it: its window is itself, though its coverage
    # counts the question's words in the sentence after it.
    first = got[sentences[0]]
    assert first.window_similarity == pytest.approx(first.similarity, abs=1e-6)
    assert first.coverage > 0
