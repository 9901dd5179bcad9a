"""The engine against its oracle: rank-bm25's BM25Okapi on the same tokens."""

import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rank_bm25 import BM25Okapi

from retrieval import rank as ranking
from retrieval import scoring, term_cache
from retrieval.postings import Chunk, PostingsBuilder
from retrieval.rank import DEFAULT_PRUNING, Pruning, TermCache, rank, rank_postings
from retrieval.store import ID_DTYPE, LEN_DTYPE, TF_DTYPE, Postings, Store

pytestmark = pytest.mark.oracle

VOCAB = [f"w{i}" for i in range(12)]

docs_strategy = st.lists(
    st.lists(st.sampled_from(VOCAB), min_size=0, max_size=12), min_size=1, max_size=30
).filter(lambda docs: any(docs))
query_strategy = st.lists(st.sampled_from([*VOCAB, "unknown"]), min_size=1, max_size=6)


def chunk_of(docs: list[list[str]]) -> Chunk:
    """``docs`` counted into a :class:`Chunk` as an ingest worker counts sentences, with
    the tokens taken as terms as they stand (the tokenizer is tested on its own)."""
    terms: dict[str, int] = {}
    post_terms, post_sents, post_tfs = [], [], []
    for i, doc in enumerate(docs):
        for term, tf in Counter(doc).items():
            post_terms.append(terms.setdefault(term, len(terms)))
            post_sents.append(i)
            post_tfs.append(tf)
    return Chunk(
        owner="test",
        first_new=0,
        new_terms=list(terms),
        post_terms=np.array(post_terms, np.int32),
        post_sents=np.array(post_sents, np.int32),
        post_tfs=np.array(post_tfs, TF_DTYPE),
        lengths=np.array([len(d) for d in docs], LEN_DTYPE),
    )


def build_store(path: Path, docs: list[list[str]]) -> Store:
    """A store of ``docs`` (sentence ids from 1), through the ingest's postings builder."""
    store = Store.create(path)
    builder = PostingsBuilder()
    builder.add_chunk(1, chunk_of(docs))
    with store.write():
        builder.merge_into(store, len(docs))
    return store


def check_against_oracle(
    docs: list[list[str]], query: list[str], k: int, pruning: Pruning = DEFAULT_PRUNING
) -> None:
    oracle = BM25Okapi(docs).get_scores(query)
    with tempfile.TemporaryDirectory() as tmp:
        store = build_store(Path(tmp) / "t.db", docs)
        try:
            full = rank_postings(store, query, need=len(docs), pruning=pruning)
            top = rank_postings(store, query, need=k, pruning=pruning)
            # Kept postings and contributions (every list kept here): read, then reused.
            kept = TermCache(min_postings=0)
            for _ in range(2):
                again = rank_postings(store, query, need=k, pruning=pruning, cache=kept)
                assert again.ids.tolist() == top.ids.tolist()
                assert again.scores.tolist() == top.scores.tolist()
        finally:
            store.close()
    matched = [i for i, d in enumerate(docs) if set(d) & set(query)]
    # Any sentence can be scored afterwards from the postings the ranking read, in any
    # order and more than once.
    assert np.allclose(top.score(list(range(1, len(docs) + 1))), oracle, rtol=1e-9, atol=1e-12)
    asked = [len(docs), *range(1, len(docs) + 1), 1]
    expected_scores = [oracle[i - 1] for i in asked]
    assert np.allclose(top.score(asked), expected_scores, rtol=1e-9, atol=1e-12)
    # Same documents scored, same scores.
    assert sorted(int(i) - 1 for i in full.ids) == matched
    for sid, score in zip(full.ids, full.scores, strict=True):
        assert score == pytest.approx(oracle[sid - 1], rel=1e-9, abs=1e-12)
    # Same top-k: the oracle's best k among matched documents (ties by id).
    expected = sorted(matched, key=lambda i: (-oracle[i], i))[:k]
    got = [int(i) - 1 for i in top.ids]
    assert len(got) == len(expected)
    assert np.allclose([oracle[i] for i in got], [oracle[i] for i in expected], rtol=1e-9)
    # Where no near-tie blurs the order, the very same documents in the same order (a
    # near-tie with the first document left out of the top counts too).
    exp_scores = [oracle[i] for i in sorted(matched, key=lambda i: (-oracle[i], i))]
    for pos, (g, e) in enumerate(zip(got, expected, strict=True)):
        neighbours = exp_scores[max(0, pos - 1) : pos + 2]
        if sum(abs(s - exp_scores[pos]) < 1e-9 for s in neighbours) == 1:
            assert g == e


def record(calls: list, real):
    """``real``, with each result appended to ``calls``."""
    return lambda *a: calls.append(real(*a)) or calls[-1]


@settings(max_examples=150, deadline=None)
@given(docs=docs_strategy, query=query_strategy)
def test_scoring_formulas_are_rank_bm25s(docs, query):
    """retrieval/scoring.py against BM25Okapi's own idf table and scores: the idf of
    every term (the floored ones through the mean idf, summed in another order) and the
    term scores added in query order."""
    oracle = BM25Okapi(docs)
    dfs = Counter(t for d in docs for t in set(d))
    totals = scoring.totals_of(
        np.array(list(dfs.values()), np.float64),
        sentences=len(docs),
        tokens=sum(map(len, docs)),
        max_sentence_id=len(docs),
    )
    assert totals.mean_idf == pytest.approx(oracle.average_idf, rel=1e-12, abs=1e-12)
    for term, df in dfs.items():
        assert scoring.idf(df, totals) == pytest.approx(oracle.idf[term], rel=1e-12, abs=1e-12)
        if scoring.okapi_idf(df, len(docs)) >= 0:  # not floored: the same floats
            assert scoring.idf(df, totals) == oracle.idf[term]
    lens = np.array([len(d) for d in docs], np.int64)
    expected = oracle.get_scores(query)
    got = np.zeros(len(docs))
    for t in query:
        if t in dfs:
            tf = np.array([d.count(t) for d in docs], np.int64)
            got += scoring.term_score(oracle.idf[t], tf, lens, oracle.avgdl)
    assert got.tolist() == expected.tolist()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(docs=docs_strategy, query=query_strategy, k=st.integers(1, 10))
def test_same_scores_and_top_k_as_rank_bm25(docs, query, k):
    check_against_oracle(docs, query, k)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(docs=docs_strategy, query=query_strategy, data=st.data())
def test_lookup_is_score_and_contains_in_one_pass(docs, query, data):
    # The re-ranker's one pass over a pool: the very floats of score(), and which ids
    # hold each term, for any ids (repeated, unsorted, past either end of the corpus).
    asked = data.draw(st.lists(st.integers(0, len(docs) + 2), max_size=40))
    with tempfile.TemporaryDirectory() as tmp:
        store = build_store(Path(tmp) / "t.db", docs)
        try:
            top = rank(store, query, need=3)
        finally:
            store.close()
    scores, holds = top.lookup(asked)
    assert scores.tolist() == top.score(asked).tolist()
    assert holds.keys() == top.dfs.keys()
    for term, held in holds.items():
        expected = [1 <= i <= len(docs) and term in docs[i - 1] for i in asked]
        assert held.tolist() == expected
    assert {t: h.tolist() for t, h in top.contains(asked).items()} == {
        t: h.tolist() for t, h in holds.items()
    }


def test_common_term_gets_epsilon_floor():
    # "a" is in 4 of 5 documents: negative idf, floored to epsilon * mean idf.
    docs = [["a", "b"], ["a", "c"], ["a", "d"], ["a", "e", "e"], ["f"]]
    check_against_oracle(docs, ["a", "e"], 3)


def test_repeated_query_terms_count_twice():
    docs = [["x", "y"], ["y", "z"], ["x", "x", "z"], ["q"]]
    check_against_oracle(docs, ["x", "x", "y"], 4)


def test_ties_break_by_sentence_id(tmp_path):
    store = build_store(tmp_path / "t.db", [["a", "b"], ["c"], ["a", "b"], ["a", "b"]])
    ranked = rank(store, ["a"], need=2)
    assert ranked.ids.tolist() == [1, 3]
    assert rank(store, ["a"], need=10).ids.tolist() == [1, 3, 4]
    store.close()


def test_unknown_terms_score_nothing(tmp_path):
    store = build_store(tmp_path / "t.db", [["a"], ["b"]])
    ranked = rank(store, ["zzz"], need=3)
    assert len(ranked.ids) == 0 and ranked.idf == {}
    store.close()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(docs=docs_strategy, query=query_strategy, k=st.integers(1, 10))
def test_maxscore_pruning_gives_the_same_top_k(docs, query, k):
    # Pruning normally starts at Pruning.min_postings; force it on these small corpora.
    check_against_oracle(docs, query, k, Pruning(min_postings=0, budget=10.0))


def test_maxscore_proves_the_top_from_the_rare_term(tmp_path, monkeypatch):
    # "r" is rare, "c" common (but in under half the sentences, so its idf is positive):
    # the best sentences must hold "r", and no sentence with "c" alone can reach them.
    docs = [["r", "c"], ["r", "x"], ["r"]] + [["c", f"w{i}"] for i in range(37)]
    docs += [[f"v{i}"] for i in range(60)]
    calls = []
    monkeypatch.setattr(ranking, "_rank_pruned", record(calls, ranking._rank_pruned))
    check_against_oracle(docs, ["r", "c"], 2, Pruning(min_postings=0, budget=1.0))
    assert calls[-1] is not None  # the top-2 query was answered by the pruned path


@pytest.mark.parametrize(
    "pruning",
    [
        Pruning(min_postings=0, budget=0.5),
        Pruning(min_postings=0, budget=0.5, search_share=1.0),
        # Every term's contributions from a binary search, or (both lists long) from
        # the scattered list: the two ways _score_reaching looks the other terms up.
        Pruning(min_postings=0, budget=0.5, search_share=1.0, search_cost=0.0),
        Pruning(min_postings=0, budget=0.5, search_share=1.0, search_cost=float("inf")),
        # Round 2's sentences found by comparing the whole score array, or not.
        Pruning(min_postings=0, budget=0.5, search_share=1.0, scan_share=0.0),
        Pruning(min_postings=0, budget=0.5, search_share=1.0, scan_share=float("inf")),
    ],
)
def test_maxscore_round_two_gives_the_same_top_k(pruning, monkeypatch):
    # Zipf-like word frequencies (hypothesis' small corpora almost never need it) and a
    # small budget send pruning to round 2 (_score_reaching with a threshold known).
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(60)]
    weights = 1 / (np.arange(60) + 2.0)
    docs = [
        [str(w) for w in rng.choice(words, size=rng.integers(3, 12), p=weights / weights.sum())]
        for _ in range(400)
    ]
    calls = []
    real = ranking._score_reaching
    monkeypatch.setattr(ranking, "_score_reaching", lambda *a: calls.append(a[4]) or real(*a))
    for _ in range(60):
        common = rng.choice(words[:6], size=2)
        rare = rng.choice(words[6:], size=rng.integers(1, 4))
        query = [str(w) for w in (*common, *rare)]
        check_against_oracle(docs, query, int(rng.choice([1, 3, 10])), pruning)
    assert sum(kth > -np.inf for kth in calls) >= 5  # round 2 ran


def test_maxscore_round_two_keeps_the_sentences_that_could_still_reach_the_top(monkeypatch):
    # "r" gives the threshold (its short sentence), "m" is essential but too long for
    # round 1 at this budget, "c" only adds its bound: round 2 keeps the few "m"
    # sentences that could still reach the threshold.
    docs = [["r"], ["r", "a", "b", "d", "e"], ["r", "m", "a", "b", "d"]]
    docs += [["m", f"w{i}"] for i in range(4)] + [["c", f"y{i}"] for i in range(10)]
    docs += [[f"v{i}"] for i in range(60)]
    reaching, pruned = [], []
    monkeypatch.setattr(ranking, "_summed", record(reaching, ranking._summed))
    monkeypatch.setattr(ranking, "_rank_pruned", record(pruned, ranking._rank_pruned))
    check_against_oracle(docs, ["r", "m", "c"], 1, Pruning(min_postings=0, budget=1.0))
    assert pruned[-1] is not None
    candidates, _ = reaching[-1]  # round 2, of the 7 sentences holding "r" or "m"
    assert 0 < len(candidates) < 7


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(docs=docs_strategy, query=query_strategy, k=st.integers(1, 10))
def test_dense_scan_gives_the_same_top_k(docs, query, k):
    # The lower-bound scan normally starts when postings cover 1/8 of all ids; force it.
    check_against_oracle(docs, query, k, Pruning(scan_share=0.0))


FIRST = "Harbour news\n\nThe harbour bridge opened. The harbour ferry stopped. A bridge fell.\n"
SECOND = "River news\n\nThe river bridge opened on the harbour side. Bridge tolls rose.\n"


def test_kept_postings_are_read_again_after_any_write(tmp_path):
    """The cache is keyed by the store's totals, which every write changes: after an
    ingest or a removal, by this connection or another, a query reads the postings again
    and ranks as a fresh cache does."""
    from retrieval.corpus import Corpus
    from retrieval.text import tokenize

    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.txt").write_text(FIRST, encoding="utf-8")
    query = tokenize("harbour bridge")
    kept = TermCache(min_postings=0)

    def check(corpus: Corpus) -> list[int]:
        fresh = rank_postings(corpus.store, query, need=10, cache=TermCache(min_postings=0))
        got = rank_postings(corpus.store, query, need=10, cache=kept)
        assert got.ids.tolist() == fresh.ids.tolist()
        assert got.scores.tolist() == fresh.scores.tolist()
        return got.ids.tolist()

    with Corpus.create(tmp_path / "c.db", reranker="none") as corpus:
        corpus.ingest([folder])
        before = check(corpus)
        assert kept.postings(corpus.store, corpus.store.totals(), query)  # now kept
        (folder / "b.txt").write_text(SECOND, encoding="utf-8")
        corpus.ingest([folder])  # this connection writes
        grown = check(corpus)
        assert len(grown) > len(before)
        with Corpus.open(tmp_path / "c.db", reranker="none") as other:
            (folder / "b.txt").unlink()
            (folder / "c.txt").write_text(SECOND.replace("River", "Canal"), encoding="utf-8")
            other.ingest([folder])  # another connection replaces an article
        replaced = check(corpus)
        assert set(replaced) - set(grown)  # the new article's sentences have new ids
        corpus.remove(1)  # a.txt, the first article
        assert len(check(corpus)) < len(replaced)


def test_kept_contributions_cannot_be_changed_by_a_caller(tmp_path):
    store = build_store(tmp_path / "t.db", [["a", "b"], ["a"], ["c"]])
    kept = TermCache(min_postings=0)
    rank_postings(store, ["a", "c"], need=2, cache=kept)
    post = kept.postings(store, store.totals(), ["a"])["a"]
    values = kept.contributions("a", post, 1.0, 1.0)
    assert values is kept.contributions("a", post, 1.0, 1.0)  # computed once
    with pytest.raises(ValueError):
        values[0] = 5.0
    store.close()


def test_the_cache_keeps_long_lists_only_and_within_its_bytes(tmp_path):
    docs = [["a", "b"]] * 50 + [["c"]] * 5
    store = build_store(tmp_path / "t.db", docs)
    small = TermCache(max_bytes=50 * 8 + 100, min_postings=10)
    small.postings(store, store.totals(), ["a", "c"])
    assert list(small._entries) == ["a"]  # "c" has 5 postings: cheap to read, not kept
    small.postings(store, store.totals(), ["b"])  # a second 50-posting list
    assert list(small._entries) == ["b"]  # "a", used least recently, made room
    store.close()


@pytest.mark.parametrize(("count", "longest"), [(300, 30), (20_000, 30), (20_000, 5000)])
def test_term_scores_are_the_expression_at_each_posting(count, longest):
    # A table over (tf, length) pairs for long ordinary lists; each posting on its own
    # for a short list, or when a very long sentence or a much repeated word would make
    # the table outgrow the list.
    rng = np.random.default_rng(1)
    lens = rng.integers(1, longest, count).astype(LEN_DTYPE)
    tfs = np.minimum(rng.integers(1, 4, count), lens).astype(TF_DTYPE)
    tfs[0], lens[0] = min(longest - 1, 200), longest - 1
    post = Postings(count, np.arange(count, dtype=ID_DTYPE), tfs, lens)
    expected = scoring.term_score(1.7, tfs.astype(np.int64), lens.astype(np.int64), 12.5)
    assert term_cache.term_scores(post, 1.7, 12.5).tolist() == expected.tolist()
