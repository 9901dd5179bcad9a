"""One-parameter changes to the fused score, and the gold-article oracle, measured on the
real pools of every SQuAD-format set (docs/decisions/023-asking-within-one-article.md).

    .venv/bin/python bench/pool_experiments.py ../shared/eval/squad2/dev-v2.0-public.json \\
        ../shared/eval/covidqa/covidqa-public.json ../shared/eval/scifact [--reranker wordllama]

A set is a SQuAD-format file or a BEIR folder with sentence judgements (as ``corpusbot
eval`` reads them). Each set's corpus is built with the normal ingest and each answerable
question's pool comes from the real ``answer.build_pool``. A variant re-orders the pool;
the first three distinct relevant sentences are scored as ``corpusbot eval`` scores the
ranked list (hit@1 / hit@3). The variants:

- ``shipped``: the fused score as it is;
- ``oracle``: only the gold article's sentences (what asking within it can reach);
- ``title λ``: plus λ × the share of the question's term weight (coverage's idf) found in
  the title of the sentence's article;
- ``neighbour λ``: plus λ × the better neighbour's fused score;
- ``mass λ/t``: plus λ × (the article's soft-max mass of fused scores at temperature t,
  minus the best article's);
- ``bm25 k1/b``: the BM25 share recomputed with other k1 and b (the corpus's idf);
- ``rocchio β/m/w`` (WordLlama only): the question's vector moved β × the mean of the top m
  sentences' (pseudo-relevance feedback), plus w × the change in each sentence's cosine;
- ``local α``: the BM25 share mixed with α × a BM25 share whose idf and average length are
  the sentence's own article's (ranking inside a long article by what sets a sentence
  apart there);
- ``definition w``: for "what is/are X?" with X a few content words, plus w when the
  sentence defines X ("X is/are/was/were/refers …", "(X)", ", X,");
- ``article λ`` (WordLlama only): plus λ × (the cosine of the question with the mean of
  the sentence's article's sentence vectors, minus the pool's best article's);
- ``paragraph λ`` / ``paragraph-coverage λ``: plus λ × the BM25 of the sentence's
  paragraph (the corpus's idf; over the pool's best paragraph's), or × the share of the
  question's term weight found in its paragraph. A paragraph is a run of sentences with no
  line break between them, as ``corpusbot source`` shows it.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.cli import squad_corpus
from retrieval import answer as A
from retrieval import evaluate as ev
from retrieval import question as qa
from retrieval.corpus import Corpus
from retrieval.rerank import encoder
from retrieval.stopwords import STOPWORDS
from retrieval.text import clean, tokenize, words

Scorer = Callable[[dict], np.ndarray]


def pools(corpus: Corpus, questions: list[ev.GoldQuestion]) -> list[dict]:
    """Each answerable question's pool as arrays: fused score, BM25 share, articles,
    neighbours, whether each sentence answers, and each sentence's terms."""
    out = []
    for q in questions:
        question = clean(q.question)  # as answer() reads it
        terms = qa.query_terms(question)
        pool = A.build_pool(corpus.store, question, terms, A.DEFAULT_K + 1, corpus.reranker)
        if not pool.sentences:
            out.append(None)
            continue
        arts = corpus.store.articles(sorted({s.article_id for s in pool.sentences}))
        files = {a.id: a.file for a in arts}
        places = {(s.article_id, s.position): i for i, s in enumerate(pool.sentences)}
        titles = {a.id: frozenset(tokenize(a.title or "")) for a in arts}
        out.append(
            {
                "titles": [titles[s.article_id] for s in pool.sentences],
                "weights": A.term_weights(pool.ranked, tuple(dict.fromkeys(terms))),
                "fused": pool.fused,
                "share": pool.features[:, 0],
                "bm25": pool.bm25,
                "ids": np.array([s.id for s in pool.sentences]),
                "art": np.array([s.article_id for s in pool.sentences]),
                "gold": np.array([ev.is_hit(s, files[s.article_id], q) for s in pool.sentences]),
                "relevant": pool.relevant,
                "norm": [" ".join(s.text.split()).casefold() for s in pool.sentences],
                "tokens": [Counter(tokenize(s.text)) for s in pool.sentences],
                "terms": terms,
                "df": pool.ranked.frequencies(),
                "texts": [s.text for s in pool.sentences],
                "question": question,
                "near": [
                    [places.get((s.article_id, s.position + d), -1) for d in (-1, 1)]
                    for s in pool.sentences
                ],
            }
        )
    return out


def article_stats(corpus: Corpus, items: list[dict | None]) -> dict[int, dict]:
    """Each pool article's sentence count, token count, term document frequencies and
    the normalised mean of its sentences' WordLlama vectors (``local`` and ``article``)."""
    encode = encoder("wordllama")
    stats: dict[int, dict] = {}
    for p in items:
        for a in [] if p is None else set(p["art"].tolist()):
            if a in stats:
                continue
            sentences = corpus.store.article_sentences(a)
            counts = [Counter(tokenize(s.text)) for s in sentences]
            e = encode([s.text for s in sentences])
            e = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-9)
            mean = e.mean(axis=0)
            stats[a] = {
                "n": len(sentences),
                "tokens": sum(sum(c.values()) for c in counts),
                "df": Counter(t for c in counts for t in c),
                "vector": mean / (np.linalg.norm(mean) or 1.0),
            }
    return stats


def paragraph_stats(corpus: Corpus, items: list[dict | None]) -> dict[int, dict]:
    """Each pool article's paragraphs: its sentences' paragraph index and each paragraph's
    term counts (``paragraph``)."""
    stats: dict[int, dict] = {}
    for p in items:
        for a in [] if p is None else set(p["art"].tolist()):
            if a in stats:
                continue
            text = corpus.store.article_text(a) or ""
            index, counts, previous = {}, [], None
            for s in corpus.store.article_sentences(a):
                if previous is None or "\n" in text[previous.end : s.start]:
                    counts.append(Counter())
                index[s.id] = len(counts) - 1
                counts[-1].update(tokenize(s.text))
                previous = s
            stats[a] = {"index": index, "counts": counts}
    return stats


def paragraph(corpus: Corpus, stats: dict[int, dict], lam: float, bm25: bool = True) -> Scorer:
    n = corpus.store.totals().sentences
    lengths = [sum(c.values()) for a in stats.values() for c in a["counts"]]
    avgdl = sum(lengths) / max(len(lengths), 1)

    def score(p: dict) -> np.ndarray:
        counts = [
            stats[a]["counts"][stats[a]["index"][i]]
            for i, a in zip(p["ids"].tolist(), p["art"].tolist(), strict=True)
        ]
        if not bm25:
            total = sum(p["weights"].values()) or 1.0
            found = [sum(w for t, w in p["weights"].items() if t in c) for c in counts]
            return p["fused"] + lam * np.array(found) / total
        ranked = {"tokens": counts, "df": p["df"]}
        share = _bm25_share(
            ranked, list(dict.fromkeys(p["terms"])), 1.2, 0.75, lambda i: (n, p["df"], avgdl)
        )
        return p["fused"] + lam * share

    return score


def local(stats: dict[int, dict], alpha: float, k1: float = 1.5, b: float = 0.75) -> Scorer:
    def score(p: dict) -> np.ndarray:
        def collection(i: int) -> tuple[int, Counter, float]:
            art = stats[int(p["art"][i])]
            return art["n"], art["df"], art["tokens"] / max(art["n"], 1)

        share = _bm25_share(p, list(dict.fromkeys(p["terms"])), k1, b, collection)
        return p["fused"] + alpha * (share - p["share"])

    return score


_DEFINED = re.compile(r"^\s*what\s+(?:is|are|was|were)\s+(?:an?\s+|the\s+)?(.+?)[\s?]*$", re.I)
_DEFINING = frozenset(
    ["is", "are", "was", "were", "refers", "represents", "denotes", "means", "describes"]
)


def _subject(question: str) -> list[str] | None:
    """X of "what is X?" when X is at most five words, none a stopword."""
    m = _DEFINED.match(question)
    ws = words(m.group(1)) if m else []
    return ws if 0 < len(ws) <= 5 and not any(w in STOPWORDS for w in ws) else None


def _defines(text: str, subject: list[str]) -> bool:
    ws, n = words(text), len(subject)
    if any(ws[i : i + n] == subject and ws[i + n] in _DEFINING for i in range(len(ws) - n)):
        return True
    x = r"\W+".join(map(re.escape, subject))
    return re.search(r"[(,]\s*" + x + r"\s*[),]", text.casefold()) is not None


def definition(w: float) -> Scorer:
    def score(p: dict) -> np.ndarray:
        subject = _subject(p["question"])
        if subject is None:
            return p["fused"]
        return p["fused"] + w * np.array([_defines(t, subject) for t in p["texts"]], float)

    return score


def article(stats: dict[int, dict], lam: float) -> Scorer:
    encode = encoder("wordllama")

    def score(p: dict) -> np.ndarray:
        q = encode([p["question"]])[0]
        q = q / (np.linalg.norm(q) or 1.0)
        cos = {a: float(stats[a]["vector"] @ q) for a in set(p["art"].tolist())}
        best = max(cos.values())
        return p["fused"] + lam * np.array([cos[a] - best for a in p["art"].tolist()])

    return score


def top3(p: dict, score: np.ndarray) -> list[int]:
    order = np.lexsort((p["ids"], -p["bm25"], -score))
    seen: set[str] = set()
    out = []
    for i in order:
        if p["relevant"][i] and p["norm"][i] not in seen:
            seen.add(p["norm"][i])
            out.append(int(i))
            if len(out) == 3:
                break
    return out


def hits(items: list[dict | None], scorer: Scorer) -> tuple[float, float]:
    first = []
    for p in items:
        if p is None:
            first.append(0)
            continue
        shown = top3(p, scorer(p))
        ranks = [r for r, i in enumerate(shown, 1) if p["gold"][i]]
        first.append(ranks[0] if ranks else 0)
    r = np.array(first)
    return float((r == 1).mean()), float(((r >= 1) & (r <= 3)).mean())


def title(lam: float) -> Scorer:
    def score(p: dict) -> np.ndarray:
        weight = p["weights"]  # coverage's own term weights (answer.term_weights)
        total = sum(weight.values()) or 1.0
        share = [sum(w for t, w in weight.items() if t in words) / total for words in p["titles"]]
        return p["fused"] + lam * np.array(share)

    return score


def oracle(p: dict) -> np.ndarray:
    gold = p["art"][p["gold"]]
    return p["fused"] if not len(gold) else p["fused"] - 1e6 * (p["art"] != gold[0])


def neighbour(lam: float) -> Scorer:
    def score(p: dict) -> np.ndarray:
        f = p["fused"]
        best = np.array(
            [max((f[j] for j in near if j >= 0), default=f.min()) for near in p["near"]]
        )
        return f + lam * best

    return score


def mass(lam: float, temp: float) -> Scorer:
    def score(p: dict) -> np.ndarray:
        f, arts = p["fused"], p["art"]
        m = {}
        for a in np.unique(arts):
            x = f[arts == a] / temp
            m[a] = temp * (math.log(np.exp(x - x.max()).sum()) + x.max())
        best = max(m.values())
        return f + lam * np.array([m[a] - best for a in arts])

    return score


def _bm25_share(
    p: dict,
    terms: list[str],
    k1: float,
    b: float,
    collection: Callable[[int], tuple[int, dict, float]],
) -> np.ndarray:
    """The BM25 of ``terms`` in each of ``p["tokens"]`` (a pool sentence's term counts, or
    its paragraph's) over the best one's, with the sentence count, document frequencies
    and average length that ``collection(i)`` gives for the i-th (the corpus's, or its
    article's)."""
    s = np.zeros(len(p["tokens"]))
    for i, tokens in enumerate(p["tokens"]):
        n, df, avgdl = collection(i)
        length = sum(tokens.values())
        for t in terms:
            if (tf := tokens.get(t, 0)) and df.get(t):
                idf = math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5))
                s[i] += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * length / avgdl))
    return s / s.max() if s.max() > 0 else s


def bm25(corpus: Corpus, k1: float, b: float) -> Scorer:
    totals = corpus.store.totals()
    n, avgdl = totals.sentences, totals.tokens / max(totals.sentences, 1)

    def score(p: dict) -> np.ndarray:
        share = _bm25_share(p, p["terms"], k1, b, lambda i: (n, p["df"], avgdl))
        return p["fused"] - p["share"] + share

    return score


def rocchio(beta: float, m: int, w: float) -> Scorer:
    encode = encoder("wordllama")

    def score(p: dict) -> np.ndarray:
        if "vectors" not in p:
            p["vectors"], p["qvec"] = encode(p["texts"]), encode([p["question"]])[0]
        e, q = p["vectors"], p["qvec"]
        moved = q + beta * e[np.argsort(-p["fused"])[:m]].mean(0)
        moved /= np.linalg.norm(moved) or 1.0
        return p["fused"] + w * (e @ moved - e @ q)

    return score


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("squad", nargs="+", type=Path)
    parser.add_argument("--reranker", default="wordllama")
    args = parser.parse_args()
    for path in args.squad:
        squad = ev.load_squad(path) if path.is_file() else ev.load_rationale_set(path)
        with squad_corpus(squad, reranker=args.reranker) as corpus:  # as `corpusbot eval` builds it
            items = pools(corpus, [q for q in squad.questions if q.answerable])
            variants: list[tuple[str, Scorer]] = [
                ("shipped", lambda p: p["fused"]),
                ("oracle (gold article only)", oracle),
            ]
            variants += [(f"title {lam}", title(lam)) for lam in (0.25, 0.5, 1.0, 2.0, 3.0)]
            variants += [(f"neighbour {lam}", neighbour(lam)) for lam in (0.05, 0.1, 0.2, 0.3, 0.5)]
            grid = [(lam, t) for t in (0.5, 1.0, 2.0) for lam in (0.1, 0.25, 0.5, 1.0)]
            variants += [(f"mass {lam}/{t}", mass(lam, t)) for lam, t in grid]
            grid = [(k1, b) for k1 in (0.9, 1.2, 1.5, 2.0) for b in (0.0, 0.25, 0.5, 0.75, 1.0)]
            variants += [(f"bm25 {k1}/{b}", bm25(corpus, k1, b)) for k1, b in grid]
            if args.reranker == "wordllama":
                grid = [
                    (b, m, w) for b in (0.25, 0.5, 1.0) for m in (1, 3, 5) for w in (0.5, 1, 2, 4)
                ]
                variants += [(f"rocchio {b}/{m}/{w}", rocchio(b, m, w)) for b, m, w in grid]
            stats = article_stats(corpus, items)
            variants += [(f"local {a}", local(stats, a)) for a in (0.25, 0.5, 0.75, 1.0)]
            variants += [(f"definition {w}", definition(w)) for w in (0.5, 1.0, 1.5, 2.0, 3.0)]
            if args.reranker == "wordllama":
                variants += [(f"article {lam}", article(stats, lam)) for lam in (1, 2, 4, 8)]
            paras = paragraph_stats(corpus, items)
            lams = (0.1, 0.25, 0.5, 1.0, 2.0)
            variants += [(f"paragraph {lam}", paragraph(corpus, paras, lam)) for lam in lams]
            variants += [
                (f"paragraph-coverage {lam}", paragraph(corpus, paras, lam, bm25=False))
                for lam in lams
            ]
            print(f"{path.name} ({args.reranker}, {len(items)} answerable): hit@1 / hit@3")
            for name, scorer in variants:
                h1, h3 = hits(items, scorer)
                print(f"  {name:28s} {h1:.3f} / {h3:.3f}", flush=True)


if __name__ == "__main__":
    main()
