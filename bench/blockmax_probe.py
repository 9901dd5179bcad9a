"""Would stored block maxima make ``rank()`` faster? A probe on a kept bench store.

    python bench/bench.py --size 1000000 --workers 2 --shards 0 \\
        --vocabulary no-stopwords --workdir /tmp/b1m-ns
    python bench/blockmax_probe.py /tmp/b1m-ns --layout postings --block 16 --shift 6

Block-max (Lucene's impacts, Tantivy's block-max WAND) keeps, per term and per block of
its postings, the best (term count, sentence length) seen there: BM25 grows with the
count and falls with the length, so ``bm25(max tf, min length)`` bounds every posting of
the block for any N, avgdl and idf. Here the block data are computed before the timing
starts, as if they were stored at ingest, in one of two layouts:

- ``postings``: blocks of ``--block`` consecutive postings of each term (Lucene's layout);
- ``windows``: one entry per window of ``2**shift`` sentence ids that the term occurs in.

A question then sums its terms' bounds over windows of ``2**shift`` sentence ids (terms
with at most ``--short`` postings by their exact contributions), scores the ``--first``
best windows exactly to learn a threshold, and scores exactly every window whose bound
reaches it: the same top-k, the same scores (checked against ``rank()`` question by
question). Above ``--give-up`` of the windows kept it hands over to ``rank()``.

Printed: CPU time a question (``time.process_time``) of ``rank()`` and of the probe, the
share of the postings in the kept windows, and where the probe's time went.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from retrieval.rank import _scratch, rank, union
from retrieval.scoring import idf as idf_of
from retrieval.scoring import term_score as bm25
from retrieval.store import Postings, Store
from retrieval.term_cache import term_scores
from retrieval.text import tokenize


def starts_of(keys: np.ndarray) -> np.ndarray:
    """Where each run of equal values starts in a sorted array."""
    return np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))


def spans(first: np.ndarray, count: np.ndarray) -> np.ndarray:
    """``first[i], first[i] + 1, ... (count[i] values)`` for every i, concatenated."""
    skip = np.cumsum(count) - count
    return np.repeat(first - skip, count) + np.arange(int(count.sum()))


def block_data(post: Postings, layout: str, block: int, shift: int) -> tuple:
    """What the store would keep for one term: (first ids, last ids, max tf, min len)."""
    if layout == "postings":
        at = np.arange(0, len(post.ids), block)
        ends = np.minimum(at + block - 1, len(post.ids) - 1)
        first, last = post.ids[at], post.ids[ends]
    else:
        at = starts_of(post.ids >> shift)
        first = last = post.ids[at]
    tfs, lens = np.maximum.reduceat(post.tfs, at), np.minimum.reduceat(post.lens, at)
    return first.astype(np.int64), last.astype(np.int64), tfs, lens


def window_bounds(post, data, idf, times, avgdl, shift, short, out) -> None:
    """Add the term's best possible contribution in each window to ``out``."""
    if data is None or len(post.ids) <= short:
        values, windows = term_scores(post, idf, avgdl) * times, post.ids >> shift
    else:
        first, last, tfs, lens = data
        values = bm25(idf, tfs.astype(np.int64), lens.astype(np.int64), avgdl) * times
        first, count = first >> shift, (last >> shift) - (first >> shift) + 1
        windows = first
        if count.max() > 1:  # a block spread over several windows bounds each of them
            values, windows = np.repeat(values, count), spans(first, count)
    at = starts_of(windows)
    out[windows[at]] += np.maximum.reduceat(values, at)


def score_windows(postings, idf, terms, avgdl, windows, shift):
    """Exact scores (rank-bm25's sums, in query order) of every sentence in ``windows``."""
    low, high = windows << shift, (windows + 1) << shift
    parts = {}
    for t, post in postings.items():
        a, b = np.searchsorted(post.ids, low), np.searchsorted(post.ids, high)
        at = spans(a, b - a)
        part = Postings(len(at), post.ids[at], post.tfs[at], post.lens[at])
        parts[t] = (part.ids, term_scores(part, idf[t], avgdl))
    dense = _scratch(int(high[-1]) + 1)
    try:
        for t in terms:
            if t in parts:
                dense[parts[t][0]] += parts[t][1]
        ids = union(p[0] for p in parts.values())
        scores = dense[ids]
    finally:
        for ids_of_term, _ in parts.values():
            dense[ids_of_term] = 0.0
    return ids, scores


def probe(store, terms, need, blocks, args, took):
    """The probe's top ``need`` (ids, scores) and the windows it kept, or None where it
    hands over to ``rank()``."""
    c = time.process_time()
    with store.read():
        totals = store.totals()
        postings = store.postings(list(dict.fromkeys(terms)))
    took["read postings"] += time.process_time() - c
    idf = {t: idf_of(p.df, totals) for t, p in postings.items()}
    if len(postings) < 2 or sum(p.df for p in postings.values()) < 50_000:
        return None  # rank() scores these whole, in a millisecond or two
    if any(w <= 0 for w in idf.values()):
        return None
    c = time.process_time()
    avgdl, times = totals.tokens / totals.sentences, Counter(terms)
    bound = np.zeros((totals.max_sentence_id >> args.shift) + 1)
    for t, post in postings.items():
        window_bounds(post, blocks.get(t), idf[t], times[t], avgdl, args.shift, args.short, bound)
    took["window bounds"] += time.process_time() - c
    c = time.process_time()
    some = np.count_nonzero(bound)
    first = min(args.first, some)
    best = np.sort(np.argpartition(bound, len(bound) - first)[len(bound) - first :])
    ids, scores = score_windows(postings, idf, terms, avgdl, best, args.shift)
    if len(ids) < need:
        return None
    kth = np.partition(scores, len(scores) - need)[len(scores) - need]
    # A margin far above the rounding of the sums keeps every window that could tie.
    kept = np.flatnonzero(bound >= kth * (1 - 1e-9))
    took["threshold"] += time.process_time() - c
    if len(kept) > args.give_up * some:
        return None
    c = time.process_time()
    ids, scores = score_windows(postings, idf, terms, avgdl, kept, args.shift)
    order = np.lexsort((ids, -scores))[:need]
    took["kept windows"] += time.process_time() - c
    return ids[order], scores[order], kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("workdir", help="a bench --workdir (bench.db, questions.json)")
    parser.add_argument("--layout", choices=["postings", "windows"], default="postings")
    parser.add_argument("--block", type=int, default=16, help="postings a block")
    parser.add_argument("--shift", type=int, default=6, help="windows of 2**shift ids")
    parser.add_argument("--short", type=int, default=20_000, help="exact below (postings)")
    parser.add_argument("--first", type=int, default=64, help="windows for the threshold")
    parser.add_argument("--give-up", type=float, default=0.5, help="share of windows kept")
    parser.add_argument("--need", type=int, default=3)
    parser.add_argument("--questions", type=int, default=500)
    args = parser.parse_args()
    work = Path(args.workdir)
    store = Store.open(work / "bench.db")
    questions = json.loads((work / "questions.json").read_text())[: args.questions]
    blocks = {}  # "stored at ingest": computed before any timing
    for q in questions:
        for t, post in store.postings(list(set(tokenize(q)))).items():
            if t not in blocks and len(post.ids) > args.short:
                blocks[t] = block_data(post, args.layout, args.block, args.shift)
    ours, theirs, shares, took, handed = [], [], [], Counter(), 0
    for q in questions:
        terms = tokenize(q)
        c0 = time.process_time()
        want = rank(store, terms, args.need)
        c1 = time.process_time()
        got = probe(store, terms, args.need, blocks, args, took)
        if got is None:
            handed += 1
            got = (*(lambda r: (r.ids, r.scores))(rank(store, terms, args.need)), None)
        c2 = time.process_time()
        assert got[0].tolist() == want.ids.tolist() and got[1].tolist() == want.scores.tolist()
        theirs.append(c1 - c0)
        ours.append(c2 - c1)
        if got[2] is not None:  # the share of the question's postings in kept windows
            posts = store.postings(list(set(terms))).values()
            kept = sum(np.isin(p.ids >> args.shift, got[2]).sum() for p in posts)
            shares.append(kept / sum(p.df for p in posts))
    for name, cpu in (("rank()", theirs), ("block-max probe", ours)):
        v = np.array(cpu) * 1000
        print(f"{name:16} CPU mean {v.mean():.2f}  p50 {np.median(v):.2f}  p99 "
              f"{np.percentile(v, 99):.2f} ms")  # fmt: skip
    s = np.array(shares or [0.0])
    print(f"identical top-{args.need} and scores: {len(questions)}/{len(questions)}; "
          f"{handed} handed to rank(); postings in kept windows p50 {np.median(s):.0%}, "
          f"p90 {np.percentile(s, 90):.0%}")  # fmt: skip
    per_question = {k: round(v * 1000 / len(questions), 2) for k, v in took.items()}
    print("probe CPU a question, ms:", per_question)


if __name__ == "__main__":
    main()
