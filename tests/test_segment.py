import pytest

from retrieval.segment import sentences


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
