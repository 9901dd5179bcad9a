"""Tables inside paragraphs: the table-like run is left out of the searchable sentences,
the real sentences around it are kept, whatever the format, through the real ingest."""

from __future__ import annotations

import itertools
import json
import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retrieval.corpus import Corpus
from retrieval.segment import sentences
from retrieval.tables import is_table_row, table_runs

pytestmark = pytest.mark.unit

BEFORE = (
    "Nearly all uses of the phage depend on its ability to display proteins on its surface. "
    "The display mode sets the largest protein it tolerates."
)
# A table flattened into the paragraph by a PDF extractor: cells of figures and labels,
# run on into the next sentence; ">25" and ">50" are cells (no breadcrumb, no heading).
TABLE = (
    "pVI Hybrid (type 6+6 system) Yes <1 2 >25 kDa Hufton et al. (1999) pVII Fully "
    "recombinant (type 7 system) No ∼5 >25 kDa Gao et al. (2005) Hybrid Yes <1 2 "
    "pVIII Fully recombinant No 2700 3 ∼5-8 residues Type 8+8 system ∼1-300 2 >50 kDa"
)
AFTER = (
    "By far the most used coat proteins for display are pVIII and pIII. "
    "Display on pIII allows folded proteins at one to five copies per particle."
)
PARAGRAPH = f"{BEFORE} {TABLE} {AFTER}"
KEPT = [
    "Nearly all uses of the phage depend on its ability to display proteins on its surface.",
    "The display mode sets the largest protein it tolerates.",
    "By far the most used coat proteins for display are pVIII and pIII.",
    "Display on pIII allows folded proteins at one to five copies per particle.",
]


def split(text: str) -> list[str]:
    return [text[s:e] for s, e in sentences(text, [(0, len(text))])]


def test_a_flattened_table_is_one_run_and_the_prose_around_it_is_not():
    (run,) = table_runs(PARAGRAPH)
    assert PARAGRAPH.index(TABLE) <= run[0] and run[1] <= PARAGRAPH.index(AFTER)
    assert "<1 2 >25" in PARAGRAPH[run[0] : run[1]]
    assert "∼1-300 2 >50" in PARAGRAPH[run[0] : run[1]]


def test_the_sentences_around_a_table_are_kept_and_the_cells_are_not():
    got = split(PARAGRAPH)
    for sentence in KEPT:
        assert sentence in got
    assert not any("2700" in s or "∼1-300" in s for s in got)


@pytest.mark.parametrize(
    "prose",
    [
        # figures in prose: listed with commas, set among words, a share after a count
        "The genotypes were distributed as follows: 11, 11, 11, 12, 10 and 2 samples of "
        "types 1a, 1b, 2, 3, 4 and 5, respectively.",
        "A low frequency was exhibited by HMPV with 16 (3.8%) positive samples, OC43 with "
        "13 (3.1%), PIV 1 with 12 (2.8%), PIV 4 with 9 (2.1%) and NL63 with 6 (1.4%).",
        "Frontline workers had a higher risk of depression (OR, 1.52; 95% CI, 1.11-2.09; "
        "P = .01), anxiety (OR, 1.57; 95% CI, 1.22-2.02; P < .001) and insomnia.",
        "The basic reproductive number was estimated to be 2.2 (95% CI, 1.4 to 3.9) [3] , "
        "or as high as between 3.6 and 4.0 [4] .",
        "As of 21 February, nine countries had reported cases: Belgium (1), Finland (1), "
        "France (12), Germany (16), Italy (3), Russia (2) and Spain (2).",
        "The expo runs from June 10 2017 to September 10 2017 in Astana.",
        "Trade amounted to $125.23 million in 2016, up 23.4 percent from 2015.",
    ],
)
def test_prose_quoting_figures_is_kept_whole(prose):
    assert table_runs(prose) == []
    assert not is_table_row(prose)
    assert split(prose) == [prose]


@pytest.mark.parametrize(
    "row",
    [
        "Hyperarousal, median (IQR) 6.0(2.0, 10.0) 6.0(2.0, 9.0) .29",
        "16  0  45  1  16  14380  Unknown  17  1  62  2  17  17205",
    ],
)
def test_a_sentence_that_is_a_row_of_figures_is_left_out(row):
    text = f"The survey scored each item. {row}"
    assert split(text) == ["The survey scored each item."]


def test_pipe_and_tab_rows_are_left_out_and_the_lines_around_them_kept():
    text = (
        "Cases rose in every region last week.\n"
        "| Region | Cases | Deaths |\n"
        "|---|---|---|\n"
        "| North | 120 | 3 |\n"
        "South\t98\t1\n"
        "Officials expect the figures to fall in March."
    )
    lines = [(0, 37), *[(m, text.index("\n", m)) for m in _line_starts(text)[1:-1]]]
    lines.append((text.rindex("\n") + 1, len(text)))
    got = [text[s:e] for s, e in sentences(text, lines)]
    assert got == [
        "Cases rose in every region last week.",
        "Officials expect the figures to fall in March.",
    ]


def _line_starts(text: str) -> list[int]:
    return [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]


def _stored(db, name: str) -> tuple[str, list[tuple[int, int, str]]]:
    with sqlite3.connect(db) as conn:
        (article_id, text) = conn.execute(
            "SELECT id, text FROM articles WHERE file LIKE ?", (f"%{name}",)
        ).fetchone()
        rows = conn.execute(
            'SELECT start, "end", text FROM sentences WHERE article_id = ? ORDER BY position',
            (article_id,),
        ).fetchall()
    return text, rows


@pytest.mark.parametrize("suffix", [".txt", ".jsonl"])
def test_a_table_inside_a_paragraph_through_the_real_ingest(tmp_path, suffix):
    folder = tmp_path / "articles"
    folder.mkdir()
    body = f"Phage display in brief\n\n{PARAGRAPH}\n\nThe review ends with open questions.\n"
    if suffix == ".txt":
        (folder / "phage.txt").write_text(body, encoding="utf-8")
        name = "phage.txt"
    else:
        line = {"id": "p1", "title": "Phage display in brief", "text": body}
        (folder / "feed.jsonl").write_text(json.dumps(line, ensure_ascii=False) + "\n")
        name = "feed.jsonl#p1"
    db = tmp_path / "corpus.db"
    with Corpus.create(db, reranker="none") as corpus:
        report = corpus.ingest([folder])
        assert report.failed == []
        answer = corpus.ask("which coat proteins are used most for display", k=1)
        assert answer.hits[0].sentence.text == KEPT[2]
    text, rows = _stored(db, name)
    assert all(text[s:e] == t for s, e, t in rows)  # exact substrings of the article
    stored = [t for _, _, t in rows]
    for sentence in [*KEPT, "The review ends with open questions."]:
        assert sentence in stored
    assert not any("2700" in t or "kDa" in t for t in stored)


FIGURES = ["2700", "3", "∼5-8", ">25", "<1", "0.5", "(1994)", "16,", "(3.8%)", "[12]", "1a"]
WORDS = ["kDa", "the", "of", "and", "Yes", "Smith", "display", "protein.", "|", "\t", "\n", ". "]
# Figures three times as likely as words: most soups hold a run, and prose between runs.
cells = st.lists(st.sampled_from(FIGURES * 3 + WORDS), max_size=60).map(" ".join)


@settings(max_examples=300, deadline=None)
@given(cells)
def test_kept_pieces_are_exact_ordered_and_outside_every_run(text):
    spans = [(0, len(text))]
    got = sentences(text, spans)
    runs = table_runs(text)
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(got))  # in order, disjoint
    for s, e in got:
        piece = text[s:e]
        assert piece and piece == piece.strip()
        assert not any(run_start < e and s < run_end for run_start, run_end in runs)
