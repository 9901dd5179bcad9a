"""Rooms of a size one can hold in mind: no module under retrieval/ or bot/ is over 600
lines and no class is over 300, so each piece can be found and read whole."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

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
