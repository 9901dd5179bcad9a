"""Rooms of a size one can hold in mind: no module under retrieval/ or bot/ is over 600
lines and no class is over 300, so each piece can be found and read whole; and every test
module says which kind of test it is."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
MODULES = sorted([*ROOT.glob("retrieval/*.py"), *ROOT.glob("bot/*.py")])
MAX_MODULE_LINES = 600
MAX_CLASS_LINES = 300


@pytest.mark.parametrize("path", MODULES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_module_and_its_classes_fit_in_mind(path):
    text = path.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= MAX_MODULE_LINES
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.ClassDef):
            assert node.end_lineno - node.lineno + 1 <= MAX_CLASS_LINES, node.name


def test_the_modules_are_found():
    names = {f"{p.parent.name}/{p.name}" for p in MODULES}
    assert {"retrieval/answer.py", "bot/cli.py", "retrieval/store.py"} <= names


KINDS = {"unit", "oracle", "quality", "e2e", "hostile"}


@pytest.mark.parametrize("path", sorted(ROOT.glob("tests/test_*.py")), ids=lambda p: p.name)
def test_every_test_module_says_which_kind_it_is(path):
    # `pytest -m oracle` (or unit, quality, e2e, hostile) runs one kind.
    found = re.findall(r"^pytestmark = pytest\.mark\.(\w+)$", path.read_text(), re.M)
    assert len(found) == 1 and found[0] in KINDS, found
