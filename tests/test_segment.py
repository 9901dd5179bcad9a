import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retrieval import segment, tables
from retrieval.segment import sentences

pytestmark = pytest.mark.unit


def split(text: str) -> list[str]:
    return [text[s:e] for s, e in sentences(text, [(0, len(text))])]


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "Zhejiang Windey Co Ltd and Zhejiang Energy Group confirmed deals. They left.",
            ["Zhejiang Windey Co Ltd and Zhejiang Energy Group confirmed deals.", "They left."],
        ),
        (
            "It runs from June 10 to Sept 10. More than 100 countries will attend.",
            ["It runs from June 10 to Sept 10.", "More than 100 countries will attend."],
        ),
        (
            "The expo ends on Sept. 10 in Astana. It is big.",
            ["The expo ends on Sept. 10 in Astana.", "It is big."],
        ),
        (
            "Trade amounted to $125.23 million. The total reached $44.98 million.",
            ["Trade amounted to $125.23 million.", "The total reached $44.98 million."],
        ),
        (
            "The U.S. delegation arrived. It met the hosts.",
            ["The U.S. delegation arrived.", "It met the hosts."],
        ),
        (
            '"In order to tell the story. We decided it," said Ding Yue. He left.',
            ['"In order to tell the story. We decided it," said Ding Yue.', "He left."],
        ),
        (
            'He said: "It is good. It is great." Then he left.',
            ['He said: "It is good. It is great."', "Then he left."],
        ),
    ],
)
def test_hard_cases(text, expected):
    assert split(text) == expected


# What sentencex alone misreads (docs/decisions/025-sentencex-misreadings.md); each case
# is checked to be misread by sentencex itself, so the test fails without the fix.
MISREAD = [
    (  # punctuation set off by a space: cut mid-sentence, the real end missed
        "Phage were found (Meynell and Lawn, 1968; Khatoon et al., 1972) , and the list grew"
        " to 60 members (Fauquet et al., 2005) , including temperate species. Work by many"
        " groups followed (Marvin, 1998) . It was long.",
        [
            "Phage were found (Meynell and Lawn, 1968; Khatoon et al., 1972) , and the list"
            " grew to 60 members (Fauquet et al., 2005) , including temperate species.",
            "Work by many groups followed (Marvin, 1998) .",
            "It was long.",
        ],
    ),
    (  # a bracketed list marker first: nothing cut up to the paragraph's end
        "(iii) Cells were treated with apocynin (HA). These groups were compared. The"
        " infection was high.",
        [
            "(iii) Cells were treated with apocynin (HA).",
            "These groups were compared.",
            "The infection was high.",
        ],
    ),
    (  # a list item ("B)") is not cut; read on its own, it is
        "The domains were predicted by SOSUI. B) The illustration of the protein. The acid"
        " is attached to cysteine. C) The identity is summarized. The authors revealed that.",
        [
            "The domains were predicted by SOSUI.",
            "B) The illustration of the protein.",
            "The acid is attached to cysteine.",
            "C) The identity is summarized.",
            "The authors revealed that.",
        ],
    ),
    (  # a bullet first
        "• The first point is here. The second sentence of it follows.",
        ["• The first point is here.", "The second sentence of it follows."],
    ),
]


@pytest.mark.parametrize("text, expected", MISREAD)
def test_what_sentencex_misreads_is_cut_where_sentences_end(text, expected):
    alone = [piece.strip() for piece in segment._sentencex("en", text)]
    assert alone != expected  # sentencex on its own misreads it
    assert split(text) == expected


def test_a_quotation_in_a_list_item_read_again_is_not_cut():
    text = 'Intro. B) He said "I came. I saw." and left (a) too. C) It ended .'
    assert split(text) == [
        "Intro.",
        'B) He said "I came. I saw." and left (a) too.',
        "C) It ended .",
    ]


# sentencex 1.0.32 panics (a Rust panic: a BaseException) on a capital letter, a space
# that is not ASCII and a full stop; an article holding one stopped the whole ingest.
PANICS = [
    "They chose Plan A\u00a0. It worked.",
    "Vitamin D\u2028. Levels were low. Then more came.",
    "Grade B \u3000. The next one.",
]


@pytest.mark.parametrize("text", PANICS)
def test_what_makes_sentencex_panic_is_segmented(text):
    with pytest.raises(BaseException, match="char boundary"):
        segment._sentencex("en", text)
    got = split(text)
    assert got and all(piece == piece.strip() for piece in got)
    assert "".join("".join(piece.split()) for piece in got) == "".join(text.split())


def test_a_panic_inside_sentencex_leaves_the_paragraph_one_sentence(monkeypatch):
    class PanicException(BaseException):  # pyo3's, as sentencex raises it
        pass

    def panics(lang, block):
        raise PanicException("byte index 3 is not a char boundary")

    monkeypatch.setattr(segment, "_sentencex", panics)
    assert split("One sentence here. Another one there.") == [
        "One sentence here. Another one there."
    ]


def test_an_interrupt_inside_sentencex_is_not_swallowed(monkeypatch):
    def interrupted(lang, block):
        raise KeyboardInterrupt

    monkeypatch.setattr(segment, "_sentencex", interrupted)
    with pytest.raises(KeyboardInterrupt):
        split("One sentence here. Another one there.")


def test_spans_are_segmented_separately_so_headlines_never_merge():
    text = "Zhejiang seeks cooperation at Astana Expo\n\nZhejiang held a day. It went well."
    head = (0, text.index("\n"))
    body = (text.index("Zhejiang held"), len(text))
    got = [text[s:e] for s, e in sentences(text, [head, body])]
    assert got == [
        "Zhejiang seeks cooperation at Astana Expo",
        "Zhejiang held a day.",
        "It went well.",
    ]


def test_offsets_are_exact_and_pieces_without_words_dropped():
    text = "  First one.   ...   Second one!  "
    spans = list(sentences(text, [(0, len(text))]))
    assert [text[s:e] for s, e in spans] == ["First one.", "Second one!"]


def test_a_lone_surrogate_is_segmented_as_a_replacement_character():
    # sentencex cannot encode a lone surrogate: the block is segmented with "?" in its
    # place, one for one, so the offsets are the same.
    text = "Café \ud800 opened. It was busy.\n\nThe mayor came."
    spans = [(0, text.index("\n")), (text.index("The"), len(text))]
    replaced = text.replace("\ud800", "?")
    assert list(sentences(text, spans)) == list(sentences(replaced, spans))
    assert [text[s:e] for s, e in sentences(text, spans)] == [
        "Café \ud800 opened.", "It was busy.", "The mayor came.",
    ]  # fmt: skip


def reference(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The sentences as first found: each stripped piece searched for in its block, less
    the table-like runs."""
    out = []
    for span_start, span_end in spans:
        block = text[span_start:span_end].encode("utf-8", "replace").decode("utf-8")
        cursor = 0
        found_here = []
        for piece in segment._pieces(block):
            stripped = piece.strip()
            found = block.find(stripped, cursor) if stripped else -1
            if found < 0:
                continue
            cursor = found + len(stripped)
            if segment._has_word(stripped):
                found_here.append((span_start + found, span_start + cursor))
        if tables.may_hold_table(block):  # the rows and runs tests/test_tables.py covers
            runs = tables.table_runs(text, span_start, span_end)
            found_here = segment.without_tables(text, found_here, runs)
        out += found_here
    return out


# Words, abbreviations, numbers and every kind of space and line break sentencex meets.
prose = st.lists(
    st.sampled_from(
        [
            *["ab", "A", ".", "!", "?", ";", '"', "(", ")", "…", "Dr.", "U.S.", "1.5", "\ud800"],
            *[" .", " ,", "(iii)", "(a)", "B)", "•", "et al.,", "1972)"],
            *[" ", "  ", "\n", "\n\n", "\t", "\u00a0", "\u2028", "\r\n"],
        ]
    ),
    max_size=40,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(prose | st.text(max_size=80), st.lists(st.tuples(st.integers(0, 120), st.integers(0, 120))))
def test_offsets_are_where_a_search_finds_each_piece(text, cuts):
    spans = sorted({(min(a, b, len(text)), min(max(a, b), len(text))) for a, b in cuts})
    assert sentences(text, spans) == reference(text, spans)


@settings(max_examples=300, deadline=None)
@given(prose)
def test_read_again_the_pieces_still_cut_the_block_itself(text):
    # The copy sentencex reads has the block's length and what is read again is cut
    # into consecutive pieces, so the pieces are the block's own text, end to end.
    block = text.encode("utf-8", "replace").decode("utf-8")
    if "".join(segment._sentencex("en", block)) == block:
        assert "".join(segment._pieces(block)) == block


def test_pieces_that_are_not_the_block_are_searched_for(monkeypatch):
    # Were sentencex to change the text between sentences (here: each piece's spaces
    # at the end), each piece is searched for in the block, as before.
    text = "One  fine day.   Two   more!  And three."
    spans = [(0, len(text))]
    real = segment._sentencex
    changed = lambda lang, block: [piece.rstrip() + " " for piece in real(lang, block)]  # noqa: E731
    assert "".join(changed("en", text)) != text
    monkeypatch.setattr(segment, "_sentencex", changed)
    got = sentences(text, spans)
    assert [text[s:e] for s, e in got] == ["One  fine day.", "Two   more!", "And three."]
    assert got == reference(text, spans)
