"""A chat question reduced to its words before searching (bot/question.py)."""

from __future__ import annotations

import pytest

from bot.question import plain_question
from retrieval.corpus import Corpus

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("typed", "searched"),
    [
        (
            "@everyone **bold** what did Jiangxi say about trade",
            "bold what did Jiangxi say about trade",
        ),
        ("<@123456789012345678> <@!42> <@&987> what about <#55>?", "what about?"),
        ("Astana <:expo:123456789012345678> <a:spin:1> Expo", "Astana Expo"),
        ("</ask:123> at <t:1496793600:R> @here", "at"),
        ("||spoiler|| __under__ ~~strike~~ `code` *it*", "spoiler under strike code it"),
        ("> quoted\n# heading\n-# small\n- item", "quoted heading small item"),
        (
            "[the Expo](https://expo.example/a_b) in <https://x.example/c_d>",
            "the Expo in https://x.example/c_d",
        ),
        ("snake_case stays two words", "snake case stays two words"),
        ("Xi's 1,000 visitors in 2017?", "Xi's 1,000 visitors in 2017?"),
        ("   ", ""),
        ("<@1> @everyone <:x:2>", ""),
    ],
)
def test_plain_question(typed: str, searched: str) -> None:
    assert plain_question(typed) == searched


def test_the_issue_question_is_found_once_cleaned(seed_corpus: Corpus) -> None:
    typed = "@everyone **bold** what did Jiangxi say about trade"
    assert seed_corpus.ask(plain_question(typed)).answered
