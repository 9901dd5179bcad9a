"""The package installs anywhere: a wheel built from this checkout and installed into a
fresh venv answers a question from a folder that holds nothing of the checkout.

Offline: the fresh venv installs from the wheels ``make test`` keeps in ``.venv/wheels``
(``$CORPUSBOT_WHEELS`` elsewhere), with the test runner's own pip (``pip --python``), so
nothing is downloaded and no pip is bootstrapped into the new venv.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT
from .test_cli import ACCEPTANCE

pytestmark = pytest.mark.e2e

WHEELS = Path(os.environ.get("CORPUSBOT_WHEELS") or ROOT / ".venv" / "wheels")
# What a source tree holds beyond the files a build reads.
NOT_SOURCE = shutil.ignore_patterns(
    ".venv", ".git", "data", "build", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis"
)


def run(*cmd: str | Path, cwd: Path | None = None, env: dict | None = None) -> str:
    done = subprocess.run(
        [str(c) for c in cmd], capture_output=True, text=True, timeout=600, cwd=cwd, env=env
    )
    assert done.returncode == 0, f"{cmd}: {done.stderr[-2000:]}"
    return done.stdout


def test_a_wheel_installs_into_a_fresh_venv_and_answers(tmp_path: Path) -> None:
    assert any(WHEELS.glob("setuptools-*.whl")), f"no wheels in {WHEELS}: run `make test`"
    # A copy of the sources, so the build leaves nothing (build/, *.egg-info) here.
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCE)
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", python, "--disable-pip-version-check"]
    offline = ["--no-index", "--find-links", WHEELS]
    run(*pip, "install", "--no-compile", *offline, "setuptools>=68")
    dist = tmp_path / "dist"
    run(*pip, "wheel", "--no-deps", "--no-build-isolation", *offline, "-w", dist, source)
    (wheel,) = dist.glob("corpusbot-*.whl")
    run(*pip, "install", "--no-compile", *offline, wheel)
    shutil.rmtree(source)

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    where = run(python, "-c", "import retrieval; print(retrieval.__file__)", cwd=elsewhere, env=env)
    assert Path(where.strip()).is_relative_to(venv)  # the installed copy, not this checkout
    out = run(venv / "bin" / "corpusbot", "ask", ACCEPTANCE, cwd=elsewhere, env=env)
    assert "China Tourism Year" in out and "Sources:" in out
    # Built from the seeds in the wheel, in the user's data folder: neither in the folder
    # it ran from nor inside site-packages.
    assert (tmp_path / ".local" / "share" / "corpusbot" / "corpus.db").is_file()
    assert not (elsewhere / "data").exists()
    assert not list(venv.rglob("corpus.db"))
