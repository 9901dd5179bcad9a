"""Articles the Discord tests add to the seeds: one with a web address, one whose stored
text is all searchable (so the cleaned body and the stored text are the same)."""

from __future__ import annotations

import json
from pathlib import Path

FERRY_URL = "https://news.example/zanzibar-ferry_(2017)"
FERRY_TITLE = "Zanzibar ferry timetable changes"
FERRY = """\
Home> News> Islands
Zanzibar ferry timetable changes
Zanzibar ferry timetable changes
Photo: harbour at dawn [ISLAND TIMES]
The Zanzibar ferry company published a new timetable for the dry season.

Morning ferries to Zanzibar now leave at seven instead of eight.

A second evening ferry to Zanzibar was added on Fridays.

Ticket prices for the Zanzibar ferry stay the same until December.

Copyright Island Times. All rights reserved.
"""
# One paragraph of searchable sentences and nothing else: the body is the stored text.
MOMBASA = (
    "Mombasa port handled more cargo than ever before. "
    "Mombasa officials expect the growth to continue next year.\n"
)


def write_extra_articles(folder: Path) -> Path:
    """Write the extra articles (and their metadata.json) into ``folder``."""
    (folder / "ferry.txt").write_text(FERRY, encoding="utf-8")
    (folder / "mombasa.txt").write_text(MOMBASA, encoding="utf-8")
    metadata = {
        "ferry.txt": {
            "title": FERRY_TITLE,
            "outlet": "Island Times",
            "date": "2017-05-02",
            "url": FERRY_URL,
        },
        "mombasa.txt": {"title": "Mombasa port cargo record", "outlet": "Coast Daily"},
    }
    (folder / "metadata.json").write_text(json.dumps(metadata), encoding="utf-8")
    return folder
