"""``make screenshot``: docs/images/answer.png, an answer as Discord shows it on a phone.

The picture is made from the bot's real payload: the seed corpus is built in a temporary
folder, the question is asked through ``Corpus.ask``, and the message is what
:mod:`bot.render` and :mod:`bot.views` produce for Discord (embed and buttons, as JSON).
A small HTML template in Discord's dark theme lays that JSON out, and headless Chromium
takes the picture (``apt-get install chromium fonts-noto-color-emoji``). Only the
markdown the bot uses is drawn: quote blocks, bold, masked links and backslash escapes.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot import interactions, render, views  # noqa: E402
from retrieval.corpus import Corpus, build, seeds_dir  # noqa: E402

QUESTION = "what did china and kazakhstan agree on"  # lower case, as people type
OUT = ROOT / "docs" / "images" / "answer.png"
WIDTH = 420  # CSS pixels: a phone held upright
SCALE = 2  # device pixels per CSS pixel

TEMPLATE = """<!doctype html>
<html><head><meta charset="utf-8"><style>
body {{ margin: 0; background: #313338; color: #dbdee1; width: {width}px;
  font: 15px/1.375 "gg sans", "Noto Sans", "Helvetica Neue", Arial, sans-serif; }}
.msg {{ display: flex; padding: 12px 12px 14px 12px; gap: 10px; }}
.avatar {{ width: 40px; height: 40px; border-radius: 50%; background: #5865f2; flex: none;
  color: white; font-weight: 700; display: flex; align-items: center; justify-content: center; }}
.body {{ min-width: 0; flex: 1; }}
.name {{ color: #f2f3f5; font-weight: 600; }} .tag {{ background: #5865f2; color: white;
  font-size: 10px; border-radius: 3px; padding: 1px 4px; margin-left: 4px; vertical-align: 2px; }}
.time {{ color: #949ba4; font-size: 12px; margin-left: 6px; }}
.embed {{ margin-top: 6px; background: #2b2d31; border-left: 4px solid {colour};
  border-radius: 4px; padding: 8px 12px 12px 12px; }}
.title {{ color: #f2f3f5; font-weight: 600; margin: 2px 0 6px; }}
.desc, .value {{ font-size: 14px; white-space: normal; overflow-wrap: anywhere; }}
.fname {{ color: #f2f3f5; font-weight: 600; font-size: 14px; margin-top: 10px; }}
blockquote {{ margin: 4px 0; padding: 0 0 0 10px; border-left: 4px solid #4e5058; }}
a {{ color: #00a8fc; text-decoration: none; }}
.footer {{ color: #b5bac1; font-size: 12px; margin-top: 8px; }}
.row {{ display: flex; flex-wrap: wrap; gap: 8px; margin-top: 8px; }}
.btn {{ border-radius: 3px; padding: 2px 14px; min-height: 32px; font-size: 14px;
  font-weight: 500; display: flex; align-items: center; color: white; background: #4e5058; }}
.btn.primary {{ background: #5865f2; }} .btn.link::after {{ content: " ↗"; }}
</style></head><body>
<div class="msg"><div class="avatar">cb</div><div class="body">
<div><span class="name">corpusbot</span><span class="tag">APP</span>
<span class="time">Today at 14:02</span></div>
{embeds}
{rows}
</div></div>
<script>document.body.dataset.height = document.querySelector('.msg').offsetHeight;</script>
</body></html>
"""


def inline(text: str) -> str:
    """Discord markdown as the bot uses it (escapes, bold, masked links) → HTML."""
    text = text.replace("\u200b", "")
    escaped: list[str] = []

    def hold(m: re.Match[str]) -> str:
        escaped.append(m.group(1))
        return f"\x00{len(escaped) - 1}\x00"

    text = re.sub(r"\\([!-/:-@\[-`{-~])", hold, text)  # a backslash escape: literal
    text = html.escape(text, quote=False)
    text = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", text)
    text = re.sub(
        r"\[([^\]]+)\]\((https?://[^)\s]+)\)",
        lambda m: f'<a href="{html.escape(m[2])}">{m[1]}</a>',
        text,
    )
    return re.sub(r"\x00(\d+)\x00", lambda m: html.escape(escaped[int(m[1])]), text)


def blocks(text: str) -> str:
    """Lines → HTML: consecutive "> " lines form one quote block."""
    out: list[str] = []
    quote: list[str] = []
    for line in text.split("\n"):
        if line.startswith("> "):
            quote.append(inline(line[2:]))
            continue
        if quote:
            out.append("<blockquote>" + "<br>".join(quote) + "</blockquote>")
            quote = []
        out.append(inline(line) + "<br>" if line else "<br>")
    if quote:
        out.append("<blockquote>" + "<br>".join(quote) + "</blockquote>")
    return "".join(out)


def message_html(message: dict[str, Any]) -> str:
    """A Discord message payload (``embeds``, ``components``) laid out as HTML."""
    embeds = []
    for embed in message.get("embeds", []):
        parts = []
        if title := embed.get("title"):
            parts.append(f'<div class="title">{inline(title)}</div>')
        if description := embed.get("description"):
            parts.append(f'<div class="desc">{blocks(description)}</div>')
        for field in embed.get("fields", []):
            parts.append(f'<div class="fname">{inline(field["name"])}</div>')
            parts.append(f'<div class="value">{blocks(field["value"])}</div>')
        if footer := (embed.get("footer") or {}).get("text"):
            parts.append(f'<div class="footer">{inline(footer)}</div>')
        colour = f"#{embed.get('color', 0x5865F2):06x}"
        embeds.append(
            f'<div class="embed" style="border-left-color:{colour}">{"".join(parts)}</div>'
        )
    rows = []
    for row in message.get("components", []):
        buttons = []
        for item in row.get("components", []):
            style = {1: "primary", 5: "link"}.get(item.get("style"), "")
            buttons.append(f'<div class="btn {style}">{html.escape(item.get("label", ""))}</div>')
        rows.append(f'<div class="row">{"".join(buttons)}</div>')
    colour = "#5865f2"
    return TEMPLATE.format(width=WIDTH, colour=colour, embeds="".join(embeds), rows="".join(rows))


def answer_payload(question: str) -> dict[str, Any]:
    """The message the bot sends for ``question`` on the seed corpus (as Discord gets it)."""
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "corpus.db"
        build(db, [seeds_dir()])
        with Corpus.open(db, create=False) as corpus:
            answer = corpus.ask(question, k=interactions.RESULTS_PER_ANSWER)
    view = views.answer_view(views.Page(answer, question_id=1, numbers={}))
    return {
        "embeds": [render.answer_embed(answer).to_dict()],
        "components": view.to_components() if view is not None else [],
    }


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if found := shutil.which(name):
            return found
    raise SystemExit(
        "make screenshot: no Chromium found; install it with `apt-get install chromium "
        "fonts-noto-color-emoji`"
    )


def shoot(page: Path, out: Path) -> None:
    """Two headless runs: one to measure the message's height, one to take the picture."""
    browser = chromium()
    common = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    dom = subprocess.run(
        [*common, f"--window-size={WIDTH},2000", "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    height = int(re.search(r'data-height="(\d+)"', dom)[1])  # type: ignore[index]
    out.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            *common,
            f"--force-device-scale-factor={SCALE}",
            f"--window-size={WIDTH},{height}",
            f"--screenshot={out}",
            page.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--question", default=QUESTION)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--json", type=Path, help="also write the message payload here")
    args = parser.parse_args(argv)
    message = answer_payload(args.question)
    if args.json:
        args.json.write_text(json.dumps(message, indent=2, ensure_ascii=False) + "\n")
    with tempfile.TemporaryDirectory() as folder:
        page = Path(folder) / "answer.html"
        page.write_text(message_html(message), encoding="utf-8")
        shoot(page, args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
