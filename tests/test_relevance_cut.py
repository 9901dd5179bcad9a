"""The relevance cut: ``k`` is a maximum; a quote is shown only while its fused score is
near the first one's, and never when it shares no query term with the question and has
no semantic support. On a hand-made corpus through the real ingest and store."""

from __future__ import annotations

import pytest

from retrieval import fusion
from retrieval.corpus import Corpus
from retrieval.models import Status

pytestmark = pytest.mark.unit

LAKE = """Winter on the lake

Lake Baikal froze early this winter, in the first week of December.
Skaters crossed the frozen Lake Baikal in January.
The price of copper rose on Tuesday.
Farmers sold apples at the market.
Fishermen said the ice on Lake Baikal was thicker than last year.
A new bridge opened in the capital.
"""
QUESTION = "When did Lake Baikal freeze?"
UNRELATED = ("copper", "apples", "bridge")


@pytest.fixture(scope="module", params=["wordllama", "none"])
def lake(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp("lake")
    (folder / "lake.txt").write_text(LAKE, encoding="utf-8")
    with Corpus.create(folder / "lake.db", reranker=request.param) as corpus:
        corpus.ingest([folder / "lake.txt"])
        yield corpus


def texts(answer):
    return [h.sentence.text for h in answer.hits]


def test_a_sentence_sharing_nothing_is_never_quoted(lake):
    # k asks for five; only the three sentences about the lake may be shown, even in
    # the plain ranked list, although the pool holds their unrelated neighbours.
    for cut in (True, False):
        answer = lake.ask(QUESTION, k=5, cut=cut)
        assert answer.answered
        assert all("Baikal" in t for t in texts(answer)), texts(answer)
        assert not any(w in t for t in texts(answer) for w in UNRELATED)


def test_the_cut_drops_a_quote_far_below_the_first(lake):
    ranked = lake.ask(QUESTION, k=5, cut=False)
    shown = lake.ask(QUESTION, k=5)
    fishermen = next(h for h in ranked.hits if h.sentence.text.startswith("Fishermen"))
    gap = ranked.hits[0].fused - fishermen.fused
    max_gap = fusion.fusion_for(lake.reranker).max_gap
    if gap > max_gap:
        assert fishermen.sentence.text not in texts(shown)
    else:
        assert fishermen.sentence.text in texts(shown)
    assert texts(shown) == texts(ranked)[: len(shown.hits)]
    assert all(ranked.hits[0].fused - h.fused <= max_gap for h in shown.hits)


def test_wordllama_cut_keeps_two_quotes_of_three(tmp_path):
    folder = tmp_path / "c"
    folder.mkdir()
    (folder / "lake.txt").write_text(LAKE, encoding="utf-8")
    with Corpus.create(tmp_path / "w.db", reranker="wordllama") as corpus:
        corpus.ingest([folder])
        ranked = corpus.ask(QUESTION, k=3, cut=False)
        shown = corpus.ask(QUESTION, k=3)
    assert len(ranked.hits) == 3 and len(shown.hits) == 2
    assert not shown.has_more


def test_more_pages_through_the_cut_list_only(lake):
    shown = lake.ask(QUESTION, k=25)
    n = len(shown.hits)
    pages = [lake.ask(QUESTION, k=1, offset=o) for o in range(n)]
    assert [p.hits[0].sentence.text for p in pages] == texts(shown)
    assert [p.has_more for p in pages] == [True] * (n - 1) + [False]
    beyond = lake.ask(QUESTION, k=1, offset=n)
    assert beyond.status is Status.NOT_FOUND and beyond.message == "No more results."


def test_a_misspelt_lowercase_question_still_gets_the_quote(lake):
    answer = lake.ask("when did lake baikal freze", k=3)
    assert answer.answered and answer.hits[0].sentence.text.startswith("Lake Baikal froze")


def test_an_unknown_reranker_name_is_an_error():
    class Odd:
        name = "odd"

    with pytest.raises(ValueError, match="odd"):
        fusion.fusion_for(Odd())
