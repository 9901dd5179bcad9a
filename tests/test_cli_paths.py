"""The command line means what the README says: where ``--db`` goes, which database a
command uses (``--db``, then ``$CORPUSBOT_DB`` from the environment or ``.env``, then the
project's ``data/corpus.db``), when the seed corpus is built, and bad gold files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from bot import cli
from retrieval import corpus as corpusmod
from retrieval import settings as settingsmod
from retrieval.corpus import Corpus

from .conftest import DATA, ROOT
from .test_cli import ACCEPTANCE, run

pytestmark = pytest.mark.unit


def test_db_is_accepted_after_the_command_too(corpus_path, tmp_path):
    out = run("ask", "--db", str(corpus_path), ACCEPTANCE)
    assert out.returncode == 0, out.stderr
    assert "China Tourism Year" in out.stdout
    # After the command it wins over one before it.
    out = run("--db", str(tmp_path / "other.db"), "stats", "--json", "--db", str(corpus_path))
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["db"] == str(corpus_path)


@pytest.mark.parametrize("command", [["stats", "--json"], ["ask", ACCEPTANCE], ["articles"]])
def test_every_command_reads_the_database_from_dotenv(corpus_path, tmp_path, command):
    (tmp_path / ".env").write_text(f"CORPUSBOT_DB={corpus_path}\n")
    out = run(*command, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert not (tmp_path / "data").exists()
    if command[0] == "stats":
        assert json.loads(out.stdout)["db"] == str(corpus_path)


def test_ingest_and_remove_read_dotenv_too(corpus_path, tmp_path):
    (tmp_path / ".env").write_text(f"CORPUSBOT_DB={corpus_path}\n")
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "lake.txt").write_text("Lake report\n\nThe frozen lake held the skaters all week.\n")
    assert run("ingest", "--quiet", str(folder), cwd=tmp_path).returncode == 0
    with Corpus.open(corpus_path, create=False) as corpus:
        assert "lake.txt" in [a.file for a in corpus.articles()]
    assert run("remove", "--quiet", "lake.txt", cwd=tmp_path).returncode == 0
    with Corpus.open(corpus_path, create=False) as corpus:
        assert "lake.txt" not in [a.file for a in corpus.articles()]


def test_a_missing_database_elsewhere_is_one_line_and_nothing_is_created(tmp_path):
    db = tmp_path / "my.dbb"  # a typo for my.db
    out = run("ask", ACCEPTANCE, db=db)
    assert out.returncode == 1 and out.stdout == ""
    (line,) = out.stderr.splitlines()
    assert line.startswith("corpusbot: error: no database at ") and str(db) in line
    assert not db.exists() and list(tmp_path.iterdir()) == []


def assert_names_the_default(out: subprocess.CompletedProcess) -> None:
    """``stats --json`` used the project's data/corpus.db, or said it is missing there."""
    default = ROOT / "data" / "corpus.db"
    if out.returncode == 0:
        assert json.loads(out.stdout)["db"] == str(default)
    else:
        assert f"no database at {default}," in out.stderr


def test_the_default_database_is_in_the_project_wherever_corpusbot_runs(tmp_path):
    # No seeds here, so a missing default is an error instead of a build: either way the
    # path named is the project's data/corpus.db, and nothing appears in this folder.
    out = run("stats", "--json", cwd=tmp_path, env={"CORPUSBOT_SEEDS": str(tmp_path / "none")})
    assert_names_the_default(out)
    assert list(tmp_path.iterdir()) == []


def test_the_seed_corpus_is_built_only_at_the_default_path(tmp_path, monkeypatch):
    default = tmp_path / "project" / "data" / "corpus.db"
    monkeypatch.setattr(settingsmod, "DEFAULT_DB", default)
    monkeypatch.setattr(corpusmod, "DEFAULT_DB", default)  # (its messages name it)
    monkeypatch.delenv("CORPUSBOT_DB", raising=False)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["stats"]) == 0
    assert default.exists() and not (tmp_path / "data").exists()
    assert cli.main(["--db", str(tmp_path / "elsewhere.db"), "stats"]) == 1
    assert not (tmp_path / "elsewhere.db").exists()


def test_a_failed_ingest_into_a_new_path_leaves_no_database(tmp_path):
    db = tmp_path / "new" / "mine.db"
    out = run("ingest", str(tmp_path / "nonexistent"), db=db)
    assert out.returncode == 1
    assert f"skipped {tmp_path / 'nonexistent'}: no such file or folder" in out.stderr
    assert "no database was created" in out.stderr.splitlines()[-1]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("record", "says"),
    [
        ({"gold": "a gold sentence"}, '"gold" must be a list of non-empty strings'),
        ({"gold": ["ok", 3]}, '"gold" must be a list of non-empty strings'),
        ({"answerable": "false"}, '"answerable" must be true or false, not "false"'),
        ({"answerable": 1}, '"answerable" must be true or false, not 1'),
        ({"question": ""}, '"question" must be a non-empty string'),
        ({"article": 7}, '"article" must be a file name or null'),
        ({"kind": ["date"]}, '"kind" must be a string'),
    ],
)
def test_eval_names_the_bad_line_of_a_gold_file(seed_db, tmp_path, record, says):
    good = json.loads(DATA.joinpath("dev.jsonl").read_text().splitlines()[0])
    gold = tmp_path / "gold.jsonl"
    gold.write_text(json.dumps(good) + "\n" + json.dumps(good | record) + "\n")
    db = tmp_path / "corpus.db"
    shutil.copy(seed_db, db)
    out = run("eval", str(gold), db=db)
    assert out.returncode == 1 and out.stdout == ""
    (line,) = out.stderr.splitlines()
    assert "line 2" in line and says in line, line


def test_the_example_env_file_means_the_default_database(tmp_path):
    # .env.example copied as .env must not pin a path relative to the working folder.
    shutil.copy(ROOT / ".env.example", tmp_path / ".env")
    out = run("stats", "--json", cwd=tmp_path, env={"CORPUSBOT_SEEDS": str(tmp_path / "none")})
    assert_names_the_default(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".env"]


def test_flags_reach_commands_as_settings_not_through_the_environment(monkeypatch, capsys):
    """--backend/--shards are passed down in one settings object: the environment is
    left as it was (a later command in the same process is not steered by them)."""
    monkeypatch.delenv("CORPUSBOT_BACKEND", raising=False)
    monkeypatch.delenv("CORPUSBOT_SHARDS", raising=False)
    assert cli.main(["--backend", "xapian", "--shards", "127.0.0.1:1", "stats"]) == 1
    assert "search is unavailable" in capsys.readouterr().err
    assert "CORPUSBOT_BACKEND" not in os.environ and "CORPUSBOT_SHARDS" not in os.environ


def test_an_explicit_path_opens_that_sqlite_file_whatever_the_backend(seed_db, monkeypatch):
    monkeypatch.setenv("CORPUSBOT_BACKEND", "xapian")
    monkeypatch.setenv("CORPUSBOT_SHARDS", "127.0.0.1:1")
    with corpusmod.Corpus.open(seed_db) as corpus:
        assert corpus.path == seed_db and corpus.stats().articles > 0


def test_an_empty_backend_variable_means_sqlite_and_keeps_db(seed_db, monkeypatch, capsys):
    monkeypatch.setenv("CORPUSBOT_BACKEND", "")
    assert cli.main(["--db", str(seed_db), "stats", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["db"] == str(seed_db)
