"""tools/screenshot.py: the picture's HTML is made from the bot's real payload."""

from __future__ import annotations

import sys

import pytest

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "tools"))

import screenshot

pytestmark = pytest.mark.e2e


def test_the_payload_is_the_bots_own_answer() -> None:
    message = screenshot.answer_payload(screenshot.QUESTION)
    (embed,) = message["embeds"]
    assert embed["title"] == screenshot.QUESTION
    assert embed["description"].startswith("> ")
    labels = [b.get("label") for row in message["components"] for b in row["components"]]
    assert labels[:3] == ["👍 Helpful", "👎 Not helpful", "Context"]


def test_the_template_draws_the_markdown_the_bot_uses() -> None:
    page = screenshot.message_html(
        {
            "embeds": [
                {
                    "title": "Q",
                    "description": "> a **bold** \\*literal\\* <\u200b@x\n— [T](https://e.example/a)",
                    "fields": [{"name": "Supporting quotes", "value": "> b\n> c\n— S"}],
                }
            ],
            "components": [{"type": 1, "components": [{"type": 2, "style": 1, "label": "More"}]}],
        }
    )
    assert "<blockquote>a <b>bold</b> *literal* &lt;@x</blockquote>" in page
    assert '— <a href="https://e.example/a">T</a>' in page
    assert "<blockquote>b<br>c</blockquote>" in page
    assert '<div class="btn primary">More</div>' in page
