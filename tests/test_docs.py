"""The documentation names what the code has, as sqlite-utils' ``test_docs.py`` does.

Every ``corpusbot`` command and option (read from the real argparse parser) is documented
in docs/cli.md, in the section of its command; every field of a real ``ask --json`` answer
and of ``stats --json`` is there too; the module map of docs/architecture.md names every
module; every relative link between the documents resolves; and the README stays a short
page for users, without round-by-round history.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli import answer_json, build_parser, main
from retrieval.corpus import Corpus
from retrieval.models import CorpusStats, Status

from .conftest import ROOT

pytestmark = pytest.mark.unit

DOCS = ROOT / "docs"
README = ROOT / "README.md"
CLI_MD = DOCS / "cli.md"
ARCHITECTURE_MD = DOCS / "architecture.md"


def _commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every (sub)command of ``parser`` with its own parser, ``()`` being the top level."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _commands(sub, (*path, name))


def _options(parser: argparse.ArgumentParser) -> list[str]:
    return [s for action in parser._actions for s in action.option_strings]


def _choices(parser: argparse.ArgumentParser) -> list[str]:
    return [
        str(choice)
        for action in parser._actions
        if action.option_strings and action.choices
        for choice in action.choices
    ]


def _section(text: str, heading: str) -> str:
    """The text under the first heading (any level) that contains ``heading``, up to the
    next heading of the same or a higher level; empty when there is none."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        found = re.match(r"(#+) ", line)
        if found and heading in line:
            level = len(found.group(1))
            end = next(
                (
                    j
                    for j in range(i + 1, len(lines))
                    if (m := re.match(r"(#+) ", lines[j])) and len(m.group(1)) <= level
                ),
                len(lines),
            )
            return "\n".join(lines[i:end])
    return ""


def _leaf_commands() -> list[tuple[str, ...]]:
    """The commands one can run: ``ask``, ``shard serve``…, not ``shard`` alone."""
    return [
        path
        for path, sub in _commands(build_parser())
        if path and not any(isinstance(a, argparse._SubParsersAction) for a in sub._actions)
    ]


COMMANDS = _leaf_commands()


def test_the_parser_has_commands() -> None:
    # Guards the introspection itself: a parser built another way must not pass vacuously.
    assert ("ask",) in COMMANDS
    assert ("shard", "serve") in COMMANDS
    assert len(COMMANDS) >= 10


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_command_has_a_section_with_its_options(path: tuple[str, ...]) -> None:
    cli = CLI_MD.read_text(encoding="utf-8")
    global_options = _section(cli, "## Global options")
    section = _section(cli, f"`{' '.join(path)}`")
    assert section, f"docs/cli.md has no heading naming `{' '.join(path)}`"
    parser = dict(_commands(build_parser()))[path]
    for option in _options(parser):
        documented = re.compile(rf"`[^`]*(?<![\w-]){re.escape(option)}(?![\w-])[^`]*`")
        assert documented.search(section) or documented.search(global_options), (
            f"{option} of `corpusbot {' '.join(path)}` is not in its section of docs/cli.md"
        )


def test_global_options_are_documented() -> None:
    global_options = _section(CLI_MD.read_text(encoding="utf-8"), "## Global options")
    for option in _options(build_parser()):
        assert f"`{option}" in global_options, f"{option} is not in docs/cli.md's global options"


def test_every_choice_is_documented() -> None:
    cli = CLI_MD.read_text(encoding="utf-8")
    for _, parser in _commands(build_parser()):
        for choice in _choices(parser):
            assert re.search(rf"(?<![\w-]){re.escape(choice)}(?![\w-])", cli), choice


def test_readme_names_every_top_level_command() -> None:
    readme = README.read_text(encoding="utf-8")
    for path in COMMANDS:
        assert f"corpusbot {path[0]}" in readme, f"README's command table lacks {path[0]}"


def _keys(value: object) -> Iterator[str]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield key
            yield from _keys(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _keys(inner)


def _documented_field(name: str) -> bool:
    return f"`{name}`" in CLI_MD.read_text(encoding="utf-8")


@pytest.mark.parametrize("reranker", ["none", "wordllama"])
def test_every_ask_json_field_is_documented(seed_db: Path, reranker: str) -> None:
    with Corpus.open(seed_db, create=False, reranker=reranker) as corpus:
        answer = answer_json(corpus.ask("Which tourism year was launched in Kazakhstan in 2017?"))
    assert answer["results"], "the seed corpus answers this question"
    keys = set(_keys(answer))
    assert {"fused_score", "article", "date"} <= keys
    for key in keys:
        assert _documented_field(key), f"ask --json field {key!r} is not in docs/cli.md"
    for status in Status:
        assert _documented_field(str(status)), f"status {status} is not in docs/cli.md"


@pytest.mark.parametrize("reranker", ["none", "wordllama"])
def test_fused_score_is_a_number_as_documented(seed_db: Path, reranker: str) -> None:
    # docs/cli.md: "Always a number: with --reranker none it is the lexical part alone".
    with Corpus.open(seed_db, create=False, reranker=reranker) as corpus:
        answer = answer_json(corpus.ask("expo astana countries", k=5))
    assert answer["results"]
    for hit in answer["results"]:
        assert isinstance(hit["fused_score"], float)


def test_every_stats_and_articles_json_field_is_documented(
    seed_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--db", str(seed_db), "stats", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert set(stats) == {f.name for f in dataclasses.fields(CorpusStats)} | {"db"}
    assert main(["--db", str(seed_db), "articles", "--json"]) == 0
    articles = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert main(["--db", str(seed_db), "source", "--json", "hunan april 2018"]) == 0
    source = json.loads(capsys.readouterr().out)
    cli = CLI_MD.read_text(encoding="utf-8")
    for command, keys in [
        ("stats", set(stats)),
        ("articles", set(_keys(articles))),
        ("source", set(_keys(source))),
    ]:
        section = _section(cli, f"### `{command}`") + _section(cli, "## Answer format")
        for key in keys:
            assert f"`{key}`" in section, f"{command} --json field {key!r} is not documented"


MODULES = sorted(
    p.relative_to(ROOT).as_posix()
    for package in ("retrieval", "bot")
    for p in (ROOT / package).glob("*.py")
)


def test_module_map_names_every_module() -> None:
    architecture = ARCHITECTURE_MD.read_text(encoding="utf-8")
    assert len(MODULES) > 20
    for module in MODULES:
        assert f"| `{module}` |" in architecture, f"{module} is not in docs/architecture.md"


def test_module_map_names_no_missing_module() -> None:
    architecture = ARCHITECTURE_MD.read_text(encoding="utf-8")
    named = re.findall(r"^\| `((?:retrieval|bot)/[\w/]+\.py)` \|", architecture, re.MULTILINE)
    assert named
    assert sorted(set(named) - set(MODULES)) == []


DOCUMENTS = sorted([README, ROOT / "CHANGELOG.md", *DOCS.rglob("*.md")])


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lowercased, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)
    return {_anchor(h) for h in re.findall(r"^#+ (.+)$", text, re.MULTILINE)}


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_resolve(document: Path) -> None:
    text = document.read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue
        file, _, anchor = target.partition("#")
        linked = (document.parent / file).resolve() if file else document
        assert linked.exists(), f"{document.name} links to missing {target}"
        if anchor and linked.suffix == ".md":
            assert anchor in _anchors(linked), f"{document.name} links to missing {target}"


def test_readme_is_a_page_for_users() -> None:
    readme = README.read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 350
    assert "make run" in readme and "make test" in readme
    narration = [
        r"\b[Tt]his round\b",
        r"\brounds?\b",
        r"\b[Ii]ssue #?\d+",
        r"\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{7,40}\b",  # a commit hash
    ]
    for pattern in narration:
        found = re.findall(pattern, readme)
        assert not found, f"README narrates history: {found}"
