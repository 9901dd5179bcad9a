"""corpusbot benchmark: ingest and answer at scale, checked against rank-bm25.

    make bench                                              # 1,000,000 sentences
    make bench BENCH_ARGS="--size 100000"
    make bench BENCH_ARGS="--size 100000 --vocabulary no-stopwords"

1. Generates a deterministic (seeded) news-like corpus of about ``--size`` sentences:
   a Zipf-Mandelbrot vocabulary whose head is English stopwords (``--vocabulary
   english``) or pseudo-words the stopword list does not hold (``no-stopwords``, as a
   language the list does not cover), log-normal sentence and article lengths, a few
   numbers and names, written as JSONL articles.
2. Ingests it through the real path (``Corpus.ingest``, as ``corpusbot ingest`` does).
3. Side by side, Tantivy (the Rust engine, ``tantivy`` on PyPI) indexes the same
   sentences with as many threads as the ingest (stemmed, no stopword list).
4. In ``--rounds`` rounds (default 3), each side in a fresh process in turn: ours opens
   the store and answers the first question (timed), then 500 fixed questions of 2-10
   words at top-3 and top-10, single-threaded: the whole answer as ``corpusbot ask
   --json`` gives it (``Corpus.ask`` and the JSON), and ``rank()`` alone; Tantivy answers
   the same questions: an OR query of the question's words less the stopwords, top 3,
   with their stored text. Latency percentiles and means pool every round's questions;
   alternating keeps a machine's drift in speed from favouring either side.
5. Runs the same questions' tokens through rank-bm25's ``BM25Okapi`` over the same
   sentence tokens (on a sample of the questions above 100k sentences, where it is slow)
   and reports the speed-up and whether the top-10 lists are identical.
5. With ``--shards N`` (default 2; 0: none): the same corpus on N local xapian-tcpsrv
   shards (docs/sharding.md): ingest, serving in a fresh process, and every
   top-10 compared with the SQLite store's.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from retrieval.text import STOPWORDS, tokenize  # noqa: E402

QUESTIONS = 500
ARTICLES_PER_FILE = 1000
OUTLETS = [
    "The Daily Ledger",
    "Northern Herald",
    "Capital Times",
    "Harbour Post",
    "Valley News",
    "Morning Courier",
    "Evening Standard-Gazette",
    "The Observer Review",
    "Metro Wire",
    "Coastal Chronicle",
    "Highland Tribune",
    "River City Journal",
]
ONSETS = ["b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v",
          "w", "z", "br", "cr", "dr", "gr", "pl", "st", "tr", "sh", "ch", "th"]  # fmt: skip
VOWELS = ["a", "e", "i", "o", "u", "ai", "ea", "io", "ou"]
CODAS = ["", "", "n", "r", "s", "l", "m", "t", "nd", "rk", "st"]


# -- the synthetic corpus ---------------------------------------------------------------


def vocabulary(rng: np.random.Generator, size: int, stopwords_first: bool = True) -> list[str]:
    """Words by frequency rank: English stopwords make up the head, with a content word
    every third rank among them (as "said", "year", "government" are in news, which
    gives the query terms long postings), then unique pseudo-words. Without
    ``stopwords_first``, pseudo-words all the way: the most frequent words are terms."""
    seen = set(STOPWORDS)

    def pseudo_word() -> str:
        while True:
            n = int(rng.integers(1, 5))
            parts = rng.integers(0, [len(ONSETS), len(VOWELS), len(CODAS)], size=(n, 3))
            word = "".join(ONSETS[a] + VOWELS[b] + CODAS[c] for a, b, c in parts)
            if word not in seen:
                seen.add(word)
                return word

    stopwords = sorted(w for w in STOPWORDS if w.isalpha()) if stopwords_first else []
    rng.shuffle(stopwords)
    words = []
    for i, stopword in enumerate(stopwords):
        words.append(stopword)
        if i % 3 == 2:
            words.append(pseudo_word())
    while len(words) < size:
        words.append(pseudo_word())
    return words


def generate(size: int, seed: int, out: Path, stopwords_first: bool = True) -> tuple[int, int]:
    """Write about ``size`` sentences as JSONL articles under ``out``;
    returns (articles, sentences written)."""
    rng = np.random.default_rng(seed)
    # Heaps' law: a bigger corpus has a bigger vocabulary.
    n_words = max(20_000, int(40 * size**0.6))
    vocab = np.array(vocabulary(rng, n_words, stopwords_first), dtype=object)
    ranks = np.arange(1, len(vocab) + 1)
    weights = 1.0 / (ranks + 2.7) ** 1.05  # Zipf-Mandelbrot
    cdf = np.cumsum(weights / weights.sum())
    lengths = np.clip(rng.lognormal(3.0, 0.45, size), 4, 80).astype(int)  # median 20 words
    words = np.searchsorted(cdf, rng.random(int(lengths.sum())))
    words = np.minimum(words, len(vocab) - 1)
    # A few capitalised names and numbers, as in news.
    extra = rng.random(len(words))
    sentences, at = [], 0
    for n in lengths.tolist():
        toks = [str(w) for w in vocab[words[at : at + n]]]
        for j in np.flatnonzero(extra[at : at + n] < 0.05).tolist():
            toks[j] = toks[j].capitalize()
        for j in np.flatnonzero(extra[at : at + n] > 0.985).tolist():
            toks[j] = str(1950 + (at + j) % 75) if (at + j) % 3 else f"{(at + j) % 997},000"
        if n > 8 and extra[at] < 0.5:
            toks[n // 2] += ","
        at += n
        sentences.append(" ".join(toks).capitalize() + ".")
    out.mkdir(parents=True, exist_ok=True)
    articles, i, handle = 0, 0, None
    while i < len(sentences):
        if articles % ARTICLES_PER_FILE == 0:
            if handle:
                handle.close()
            handle = (out / f"feed-{articles // ARTICLES_PER_FILE:05d}.jsonl").open("w")
        n = int(np.clip(rng.lognormal(3.1, 0.5), 3, 150))  # median 22 sentences
        body, paragraph = [], []
        for s in sentences[i : i + n]:
            paragraph.append(s)
            if len(paragraph) >= int(rng.integers(1, 4)):
                body.append(" ".join(paragraph))
                paragraph = []
        if paragraph:
            body.append(" ".join(paragraph))
        title_words = vocab[rng.integers(len(STOPWORDS), min(len(vocab), 5000), 6)]
        record = {
            "id": f"a{articles}",
            "title": " ".join(str(w).capitalize() for w in title_words),
            "outlet": OUTLETS[articles % len(OUTLETS)],
            "date": f"20{10 + articles % 15}-{1 + articles % 12:02d}-{1 + articles % 28:02d}",
            "url": f"https://news.example/{articles}",
            "text": "\n\n".join(body),
        }
        handle.write(json.dumps(record) + "\n")
        articles += 1
        i += n
    if handle:
        handle.close()
    return articles, len(sentences)


def _read_only(db: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)


def _sentence_from(db: Path, sentence_id: int) -> str:
    """The text of the first sentence with an id of at least ``sentence_id``."""
    with contextlib.closing(_read_only(db)) as conn:
        (text,) = conn.execute(
            "SELECT text FROM sentences WHERE id >= ? ORDER BY id LIMIT 1", (sentence_id,)
        ).fetchone()
    return text


def _sentence_texts(db: Path) -> list[tuple[int, str]]:
    """Every sentence's (id, text), by id: the corpus as other engines (Tantivy,
    rank-bm25) get it."""
    with contextlib.closing(_read_only(db)) as conn:
        return conn.execute("SELECT id, text FROM sentences ORDER BY id").fetchall()


def make_questions(db: Path, seed: int, count: int) -> list[str]:
    """Questions of 2-10 consecutive words taken from random sentences (people ask about
    what is in the corpus), fixed by the seed."""
    from retrieval.store import Store

    rng = np.random.default_rng(seed + 1)
    store = Store.open(db)
    top = store.totals().max_sentence_id
    store.close()
    questions: list[str] = []
    while len(questions) < count:
        text = _sentence_from(db, int(rng.integers(1, top + 1)))
        words = text.rstrip(".").replace(",", "").split()
        n = int(rng.integers(2, 11))
        if len(words) < n:
            continue
        start = int(rng.integers(0, len(words) - n + 1))
        question = " ".join(words[start : start + n])
        if tokenize(question):  # not only stopwords
            questions.append(question + "?")
    store.close()
    return questions


# -- serving, in a fresh process ---------------------------------------------------------


def serve(db: Path, questions_file: Path) -> dict:
    """Open the store, answer the first question, then every question at k=3 and k=10:
    the whole answer as ``corpusbot ask --json`` prints it, and ``rank()`` alone."""
    import psutil

    from bot.cli import answer_json
    from retrieval.corpus import Corpus
    from retrieval.rank import rank

    questions = json.loads(questions_file.read_text())
    started = time.perf_counter()
    corpus = Corpus.open(db, create=False)
    first = corpus.ask(questions[0])
    open_first = time.perf_counter() - started
    assert first.answered, first.message
    out: dict = {"open_first_ms": open_first * 1000}
    # rank() alone on a store of its own: its term cache (retrieval/rank.py) then warms
    # over the questions as the answers' does, not from the answer to the same question.
    ranker = Corpus.open(db, create=False, reranker="none")
    for k in (3, 10):
        ask, ranked, cpu_ask, cpu_rank = [], [], [], []
        for q in questions:
            t0, c0 = time.perf_counter(), time.process_time()
            json.dumps(answer_json(corpus.ask(q, k=k)), ensure_ascii=False)
            t1, c1 = time.perf_counter(), time.process_time()
            ask.append(t1 - t0)
            cpu_ask.append(c1 - c0)
        for q in questions:
            t1, c1 = time.perf_counter(), time.process_time()
            rank(ranker.store, tokenize(q), k)
            t2, c2 = time.perf_counter(), time.process_time()
            ranked.append(t2 - t1)
            cpu_rank.append(c2 - c1)
        out[f"ask_{k}"] = ask
        out[f"rank_{k}"] = ranked
        # CPU time a question: on a shared machine, less noisy than the wall clock.
        out[f"cpu_ask_{k}"] = float(np.mean(cpu_ask))
        out[f"cpu_rank_{k}"] = float(np.mean(cpu_rank))
        out[f"cpu_ask_{k}_all"] = cpu_ask
        out[f"cpu_rank_{k}_all"] = cpu_rank
    out["rss_mb"] = psutil.Process().memory_info().rss / 2**20  # both stores' caches
    ranker.close()
    corpus.close()
    return out


# -- Tantivy, side by side --------------------------------------------------------------


def tantivy_side(db: Path, questions_file: Path, threads: int, work: Path) -> dict:
    """Index the store's sentences with Tantivy (``threads`` writer threads, the text
    stored, English stemming, no stopword list) in ``work``/tantivy, then answer every
    question once (:func:`tantivy_answers`)."""
    import tantivy

    rows = _sentence_texts(db)
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("text", stored=True, tokenizer_name="en_stem")
    builder.add_unsigned_field("id", stored=True, indexed=False)
    schema = builder.build()
    path = work / "tantivy"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir()
    t0 = time.perf_counter()
    index = tantivy.Index(schema, path=str(path))
    writer = index.writer(heap_size=256_000_000, num_threads=threads)
    for sid, text in rows:
        writer.add_document(tantivy.Document(id=sid, text=text))
    writer.commit()
    writer.wait_merging_threads()
    index_s = time.perf_counter() - t0
    del rows, index, writer
    return {"index_s": index_s, **tantivy_answers(work, questions_file)}


def tantivy_answers(work: Path, questions_file: Path) -> dict:
    """Answer every question with the Tantivy index in ``work``/tantivy: an OR query of
    its words less the stopwords, top 3, with their stored text."""
    import re

    import tantivy

    index = tantivy.Index.open(str(work / "tantivy"))
    index.reload()
    searcher = index.searcher()
    words = re.compile(r"\w+")
    took, cpu = [], []
    for q in json.loads(questions_file.read_text()):
        t0, c0 = time.perf_counter(), time.process_time()
        kept = [w for w in words.findall(q.lower()) if w not in STOPWORDS]
        hits = searcher.search(index.parse_query(" ".join(kept), ["text"]), 3).hits
        [(score, searcher.doc(address)["text"][0]) for score, address in hits]
        took.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return {"ask_3": took, "cpu_ask_3": float(np.mean(cpu)), "cpu_ask_3_all": cpu}


def pooled(rounds: list[dict]) -> dict:
    """Several rounds of :func:`serve` or :func:`tantivy_answers` as one: each question's
    times from every round, means over them all (open + first answer: the first
    round's; memory: the largest)."""
    out = dict(rounds[0])
    for key, value in rounds[0].items():
        if isinstance(value, list):
            out[key] = [t for r in rounds for t in r[key]]
            if key.startswith("cpu_") and key.endswith("_all"):
                out[key.removesuffix("_all")] = float(np.mean(out[key]))
    if "rss_mb" in out:
        out["rss_mb"] = max(r["rss_mb"] for r in rounds)
    return out


# -- the oracle --------------------------------------------------------------------------


def oracle(db: Path, questions: list[str], sample: int) -> dict:
    """rank-bm25's BM25Okapi on the same tokens; our top-10 against its top-10."""
    from rank_bm25 import BM25Okapi

    from retrieval.store import Store

    ids, docs = [], []
    for sid, text in _sentence_texts(db):
        ids.append(sid)
        docs.append(tokenize(text))
    ids_arr = np.array(ids)
    t0 = time.perf_counter()
    bm25 = BM25Okapi(docs)
    build = time.perf_counter() - t0
    del docs
    picked = questions[:sample]
    store = Store.open(db)
    from retrieval.rank import rank

    theirs, ours, agree, max_diff = [], [], 0, 0.0
    for q in picked:
        terms = tokenize(q)
        t0 = time.perf_counter()
        scores = bm25.get_scores(terms)
        top = np.lexsort((ids_arr, -scores))[:10]
        t1 = time.perf_counter()
        got = rank(store, terms, 10)
        t2 = time.perf_counter()
        theirs.append(t1 - t0)
        ours.append(t2 - t1)
        # rank-bm25 also "ranks" sentences with none of the terms (score 0); ours does not.
        expected = [int(ids_arr[i]) for i in top if scores[i] > 0][: len(got.ids)]
        agree += got.ids.tolist() == expected
        if len(got.ids):
            index = np.searchsorted(ids_arr, got.ids)
            max_diff = max(max_diff, float(np.max(np.abs(scores[index] - got.scores))))
    store.close()
    return {
        "build_s": build,
        "questions": len(picked),
        "theirs": theirs,
        "ours": ours,
        "agree": agree,
        "max_score_diff": max_diff,
    }


# -- the table ---------------------------------------------------------------------------


def ms(values: list[float], p: float) -> str:
    return f"{np.percentile(np.array(values) * 1000, p):.2f}"


def run(args: argparse.Namespace) -> None:
    from retrieval.corpus import Corpus

    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="corpusbot-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    corpus_dir, db = work / "corpus", work / "bench.db"
    for old in (corpus_dir, db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        if old.is_dir():
            shutil.rmtree(old)
        elif old.exists():
            old.unlink()
    say = print if not args.json else (lambda *a, **k: None)
    say(f"generating {args.size:,} sentences (seed {args.seed}) in {work} ...", flush=True)
    t0 = time.perf_counter()
    n_articles, _ = generate(args.size, args.seed, corpus_dir, args.vocabulary == "english")
    gen_s = time.perf_counter() - t0
    input_mb = sum(p.stat().st_size for p in corpus_dir.iterdir()) / 2**20

    say("ingesting ...", flush=True)
    t0 = time.perf_counter()
    corpus = Corpus.create(db)
    report = corpus.ingest([corpus_dir], workers=args.workers)
    corpus.close()  # checkpoints the WAL into the database file
    ingest_s = time.perf_counter() - t0
    assert not report.failed, report.failed[:3]
    db_mb = db.stat().st_size / 2**20

    questions = make_questions(db, args.seed, QUESTIONS)
    qfile = work / "questions.json"
    qfile.write_text(json.dumps(questions))
    threads = args.workers or min(os.cpu_count() or 1, 2)
    # Ours and Tantivy's answers in turn, round after round, each in a fresh process: on a
    # shared machine whose speed drifts, both sides then see the same drift. Tantivy
    # builds its index in its first round.
    served_rounds: list[dict] = []
    tantivy_rounds: list[dict] = []
    for r in range(args.rounds):
        say(f"round {r + 1} of {args.rounds}: 500 questions, ours ...", flush=True)
        served_rounds.append(_run_self("--serve", db, qfile))
        if r == 0:
            say(f"Tantivy: indexing with {threads} threads, the same questions ...", flush=True)
            tantivy_rounds.append(_run_self("--tantivy", db, qfile, threads, work))
        else:
            say("Tantivy: the same questions ...", flush=True)
            tantivy_rounds.append(_run_self("--tantivy-answers", work, qfile))
    served, tan = pooled(served_rounds), pooled(tantivy_rounds)
    tan["index_s"] = tantivy_rounds[0]["index_s"]

    sample = args.oracle_sample or (QUESTIONS if report.sentences <= 100_000 else 50)
    say(f"rank-bm25 on {sample} questions ...", flush=True)
    check = oracle(db, questions, sample)

    # Ours as served (a clean process) on the same questions: in the oracle loop every
    # rank() runs right after rank-bm25 has flushed the CPU caches.
    ours = served["rank_10"][: check["questions"]]
    speedup = np.median(check["theirs"]) / np.median(ours)
    rows = [
        ("sentences", f"{report.sentences:,} in {n_articles:,} articles ({input_mb:.0f} MB JSONL)"),
        ("ingest", f"{report.sentences / ingest_s:,.0f} sentences/s ({ingest_s:.1f} s)"),
        ("database size", f"{db_mb:,.0f} MB"),
        ("open + first answer", f"{served['open_first_ms']:.0f} ms"),
        ("serving memory (RSS)", f"{served['rss_mb']:.0f} MB"),
    ]
    for k in (3, 10):
        for kind, label in (("ask", "answer"), ("rank", "BM25 rank")):
            v = served[f"{kind}_{k}"]
            rows.append(
                (f"{label} top-{k} p50/p95/p99", f"{ms(v, 50)} / {ms(v, 95)} / {ms(v, 99)} ms")
            )
    ours_ask, theirs_ask = np.mean(served["ask_3"]), np.mean(tan["ask_3"])
    v = tan["ask_3"]
    rows += [
        (
            "Tantivy index (same sentences)",
            f"{report.sentences / tan['index_s']:,.0f}"
            f" sentences/s ({tan['index_s']:.1f} s, {threads} threads; ingest/Tantivy"
            f" {ingest_s / tan['index_s']:.1f}x)",
        ),
        ("Tantivy top-3 p50/p95/p99", f"{ms(v, 50)} / {ms(v, 95)} / {ms(v, 99)} ms"),
        (
            "mean a question: answer / rank / Tantivy",
            f"{ours_ask * 1000:.2f} /"
            f" {np.mean(served['rank_3']) * 1000:.2f} / {theirs_ask * 1000:.2f} ms"
            f" (answer/Tantivy {ours_ask / theirs_ask:.1f}x)",
        ),
        (
            "CPU a question: answer / rank / Tantivy",
            f"{served['cpu_ask_3'] * 1000:.2f} / {served['cpu_rank_3'] * 1000:.2f} /"
            f" {tan['cpu_ask_3'] * 1000:.2f} ms"
            f" (answer/Tantivy {served['cpu_ask_3'] / tan['cpu_ask_3']:.1f}x)",
        ),
    ]
    rows.append(
        (
            "CPU answer/Tantivy by round",
            ", ".join(
                f"{a['cpu_ask_3'] / b['cpu_ask_3']:.1f}x"
                for a, b in zip(served_rounds, tantivy_rounds, strict=True)
            )
            + f" ({args.rounds} rounds in turn, pooled above)",
        )
    )
    for label, cpu in (
        ("answer", served["cpu_ask_3_all"]),
        ("BM25 rank", served["cpu_rank_3_all"]),
        ("Tantivy", tan["cpu_ask_3_all"]),
    ):
        rows.append((f"CPU {label} top-3 p50/p99", f"{ms(cpu, 50)} / {ms(cpu, 99)} ms"))
    rows += [
        ("rank-bm25 p50 (same tokens)", f"{ms(check['theirs'], 50)} ms"
         f" on {check['questions']} questions (index build {check['build_s']:.0f} s)"),
        ("speed-up at p50", f"{speedup:,.0f}x (BM25 rank top-10 p50 {ms(ours, 50)} ms"
         " on those questions)"),
        ("top-10 identical to rank-bm25", f"{check['agree']}/{check['questions']}"
         f" (max score difference {check['max_score_diff']:.1e})"),
    ]  # fmt: skip
    xapian = xapian_rows(args, work, corpus_dir, db, qfile, questions, say) if args.shards else {}
    rows += xapian.get("rows", [])
    if args.json:
        print(json.dumps({"rows": rows, "served": served, "oracle": check, "xapian": xapian}))
    else:
        width = max(len(r[0]) for r in rows)
        print(f"\n| {'measure':<{width}} | value |\n|{'-' * (width + 2)}|-------|")
        for name, value in rows:
            print(f"| {name:<{width}} | {value} |")
        print(f"\n(generation {gen_s:.0f} s, not counted; files in {work})")
    if not args.keep and not args.workdir:
        shutil.rmtree(work, ignore_errors=True)


def xapian_rows(
    args: argparse.Namespace,
    work: Path,
    corpus_dir: Path,
    db: Path,
    qfile: Path,
    questions: list[str],
    say,
) -> dict:
    """The same corpus on ``--shards`` local xapian-tcpsrv shards (docs/sharding.md):
    ingest, serving in a fresh process, and top-10 against the SQLite store."""
    from retrieval.backend import Shard
    from retrieval.corpus import Corpus
    from retrieval.errors import StoreError
    from retrieval.rank import rank
    from retrieval.shard_server import start
    from retrieval.xapian_backend import XapianStore
    from retrieval.xapian_writer import create_shard

    try:
        shards_dir = work / "shards"
        shutil.rmtree(shards_dir, ignore_errors=True)
        servers, shards = [], []
        for i in range(args.shards):
            create_shard(shards_dir / f"shard{i}")
            port = _free_port()
            servers.append(start(shards_dir / f"shard{i}", port=port, output=subprocess.DEVNULL))
            shards.append(Shard("127.0.0.1", port))
    except StoreError as err:
        say(f"no Xapian rows: {err}")
        return {}
    label = f"Xapian, {args.shards} shards:"
    try:
        time.sleep(0.5)  # the servers start listening
        say(f"ingesting into {args.shards} Xapian shards ...", flush=True)
        t0 = time.perf_counter()
        corpus = Corpus(XapianStore(shards))
        report = corpus.ingest([corpus_dir])
        ingest_s = time.perf_counter() - t0
        corpus.close()
        disk_mb = sum(p.stat().st_size for p in shards_dir.rglob("*") if p.is_file()) / 2**20
        say("serving 500 questions from the shards in a fresh process ...", flush=True)
        env = os.environ | {
            "CORPUSBOT_BACKEND": "xapian",
            "CORPUSBOT_SHARDS": ",".join(map(str, shards)),
        }
        proc = subprocess.run(
            [sys.executable, __file__, "--serve", str(db), str(qfile)],
            check=True, capture_output=True, text=True, env=env,
        )  # fmt: skip
        served = json.loads(proc.stdout)
        sqlite, shard_corpus = Corpus.open(db, create=False), Corpus(XapianStore(shards))
        same, max_diff = 0, 0.0
        for q in questions:
            a, b = rank(sqlite.store, tokenize(q), 10), rank(shard_corpus.store, tokenize(q), 10)
            same += a.ids.tolist() == b.ids.tolist()
            if len(a.ids) and len(a.ids) == len(b.ids):
                max_diff = max(max_diff, float(np.max(np.abs(a.scores - b.scores))))
        sqlite.close()
        shard_corpus.close()
    finally:
        for server in servers:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGTERM)
            server.wait()
    rows = [
        (f"{label} ingest", f"{report.sentences / ingest_s:,.0f} sentences/s ({ingest_s:.1f} s)"),
        (f"{label} size on disk", f"{disk_mb:,.0f} MB"),
        (f"{label} open + first answer", f"{served['open_first_ms']:.0f} ms"),
        (f"{label} serving memory (RSS)", f"{served['rss_mb']:.0f} MB (client)"),
    ]
    for k in (3, 10):
        for kind, name in (("ask", "answer"), ("rank", "BM25 rank")):
            v = served[f"{kind}_{k}"]
            rows.append(
                (f"{label} {name} top-{k} p50/p95/p99",
                 f"{ms(v, 50)} / {ms(v, 95)} / {ms(v, 99)} ms")
            )  # fmt: skip
    rows.append(
        (f"{label} top-10 identical to SQLite", f"{same}/{len(questions)}"
         f" (max score difference {max_diff:.1e})")
    )  # fmt: skip
    return {"rows": rows, "served": served}


def _run_self(flag: str, *args: object) -> dict:
    """This script with an internal ``flag`` in a fresh process; its JSON output."""
    proc = subprocess.run(
        [sys.executable, __file__, flag, *map(str, args)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return json.loads(proc.stdout)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=1_000_000, help="sentences (default 1M)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--vocabulary",
        choices=["english", "no-stopwords"],
        default="english",
        help="most frequent words: English stopwords, or words no stopword list holds",
    )
    parser.add_argument("--workdir", help="keep the corpus and database here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--workers", type=int, default=None, help="ingest worker processes")
    parser.add_argument("--oracle-sample", type=int, default=0, help="questions for rank-bm25")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument(
        "--shards", type=int, default=2, help="local Xapian shards for its rows (0: none)"
    )
    parser.add_argument("--serve", nargs=2, metavar=("DB", "QUESTIONS"), help=argparse.SUPPRESS)
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="rounds of our and Tantivy's answers, in turn (default 3)",
    )
    parser.add_argument("--tantivy", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--tantivy-answers", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        print(json.dumps(serve(Path(args.serve[0]), Path(args.serve[1]))))
        return
    if args.tantivy:
        db, questions, threads, work = args.tantivy
        print(json.dumps(tantivy_side(Path(db), Path(questions), int(threads), Path(work))))
        return
    if args.tantivy_answers:
        work, questions = args.tantivy_answers
        print(json.dumps(tantivy_answers(Path(work), Path(questions))))
        return
    run(args)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
