"""The real ``corpusbot`` console script, run as a subprocess on temporary databases."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT

pytestmark = pytest.mark.e2e

ACCEPTANCE = "Which tourism year was launched in Kazakhstan in 2017?"


def run(
    *args: str,
    db: Path | None = None,
    stdin: str = "",
    cwd: Path | None = None,
    env: dict | None = None,
) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "CORPUSBOT_"))}
    full_env |= env or {}
    cmd = [sys.executable, "-m", "bot.cli"]
    if db is not None:
        cmd += ["--db", str(db)]
    return subprocess.run(
        [*cmd, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd or ROOT,
        env=full_env,
    )


def test_ask_prints_quotes_markers_and_sources(corpus_path):
    out = run("ask", ACCEPTANCE, db=corpus_path)
    assert out.returncode == 0, out.stderr
    assert "“The China Tourism Year that has been launched in Kazakhstan in 2017" in out.stdout
    assert "[1]" in out.stdout and "Sources:" in out.stdout
    assert (
        "[1] President Xi’s visit cements China-Kazakhstan ties — Alwihda Info, 2017-06-07"
        in out.stdout
    )


def test_ask_json_has_the_documented_shape(corpus_path):
    out = run("ask", "--json", ACCEPTANCE, db=corpus_path)
    data = json.loads(out.stdout)
    assert set(data) >= {"question", "answered", "results"}
    assert data["answered"] is True
    first = data["results"][0]
    assert set(first) == {
        "rank", "text", "score", "fused_score", "sentence_id", "position", "article"
    }  # fmt: skip
    assert set(first["article"]) == {"id", "file", "title", "outlet", "date"}
    assert first["article"]["file"] == "002_4aa99eda7d0eb28f.txt"
    assert first["rank"] == 1 and first["score"] > 0


def test_ask_within_one_article(corpus_path):
    out = run("ask", "--json", "--article", "Zhejiang seeks cooperation", "energy cooperation",
              db=corpus_path)  # fmt: skip
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["within"]["title"] == "Zhejiang seeks cooperation at Astana Expo"
    assert data["results"]
    assert {r["article"]["id"] for r in data["results"]} == {data["within"]["id"]}
    # Unscoped, the same question quotes other articles too.
    whole = json.loads(
        run("ask", "--json", "-k", "10", "energy cooperation", db=corpus_path).stdout
    )
    assert whole["within"] is None
    assert len({r["article"]["id"] for r in whole["results"]}) > 1
    text = run("ask", "--article", "Zhejiang seeks cooperation", "guitar lessons", db=corpus_path)
    assert text.returncode == 0
    assert text.stdout.startswith("Not found in this article.")
    assert "Searched only: Zhejiang seeks cooperation at Astana Expo" in text.stdout


def test_a_question_about_this_study_gets_the_tip(corpus_path):
    question = "what did this study find about energy in Kazakhstan"
    text = run("ask", question, db=corpus_path)
    assert text.returncode == 0 and "Sources:" in text.stdout
    assert text.stdout.rstrip().endswith("`corpusbot ask --article NAME` asks within it.")
    data = json.loads(run("ask", "--json", question, db=corpus_path).stdout)
    assert data["unnamed_article"] is True and data["results"]
    scoped = json.loads(run("ask", "--json", "--article", "1", question, db=corpus_path).stdout)
    assert scoped["unnamed_article"] is False and scoped["within"]["id"] == 1


def test_ask_within_an_unknown_or_unclear_article_is_one_message_and_status_1(corpus_path):
    out = run("ask", "--article", "no such thing zzqx", "energy", db=corpus_path)
    assert out.returncode == 1
    assert out.stdout == ""
    assert (
        out.stderr.strip()
        == "No article matches “no such thing zzqx”. Try `corpusbot articles` for the list."
    )
    several = run("ask", "--article", "Expo", "energy", db=corpus_path)
    assert several.returncode == 1
    assert "No single article clearly matches “Expo”" in several.stderr
    assert "Traceback" not in out.stderr + several.stderr
    pasted = run("ask", "--article", "x" * 10_000, "energy", db=corpus_path)
    assert pasted.returncode == 1 and len(pasted.stderr) < 300 and "x…”" in pasted.stderr


def test_eval_within_article_asks_each_question_of_its_own_article(corpus_path, tmp_path):
    tourism = "The China Tourism Year that has been launched in Kazakhstan in 2017"
    rows = [
        {"id": "w1", "question": ACCEPTANCE, "answerable": True,
         "article": "002_4aa99eda7d0eb28f.txt", "gold": [tourism]},
        # The same question, its gold article one that does not hold the answer.
        {"id": "w2", "question": ACCEPTANCE, "answerable": True,
         "article": "000_b4a62ee959497d86.txt", "gold": [tourism]},
    ]  # fmt: skip
    gold = tmp_path / "gold.jsonl"
    gold.write_text("".join(json.dumps(r) + "\n" for r in rows))
    args = ("eval", str(gold), "--json", "-k", "3")
    plain = json.loads(run(*args, db=corpus_path).stdout)["questions"]
    within = json.loads(run(*args, "--within-article", db=corpus_path).stdout)["questions"]
    assert [q["rank"] for q in plain] == [1, None]
    assert [q["rank"] for q in within] == [1, None]
    # Asked of the whole corpus both quote the tourism sentence first; asked within
    # article 000, w2 quotes that article instead.
    assert plain[1]["top"].startswith(tourism) and within[0]["top"].startswith(tourism)
    article = run("source", "000_b4a62ee959497d86.txt", db=corpus_path).stdout
    assert within[1]["top"] and within[1]["top"] in article
    assert not within[1]["top"].startswith(tourism)


def test_ask_json_lines_from_stdin(corpus_path):
    out = run(
        "ask",
        "--json",
        "-",
        db=corpus_path,
        stdin=f"{ACCEPTANCE}\n\nWho put forth the Bright Road?\n   \n",
    )
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [d["question"] for d in lines] == [ACCEPTANCE, "Who put forth the Bright Road?"]


def test_source_articles_and_stats(corpus_path):
    out = run("source", "Yangtze River Delta, April 2018", db=corpus_path)
    assert out.returncode == 0
    assert out.stdout.startswith("2018 Hunan-Yangtze River Delta")
    assert "Main activities include introducing Hunan" in out.stdout
    out = run("source", "no such thing at all", db=corpus_path)
    assert out.returncode == 1 and "No " in out.stdout
    out = run("articles", "--json", db=corpus_path)
    assert len(out.stdout.splitlines()) == 5
    out = run("stats", "--json", db=corpus_path)
    assert json.loads(out.stdout)["articles"] == 5


def test_a_new_database_is_built_from_the_seeds_when_asked(tmp_path):
    db = tmp_path / "fresh" / "corpus.db"
    assert run("ingest", "--quiet", str(ROOT / "seeds"), db=db).returncode == 0
    out = run("ask", ACCEPTANCE, db=db)
    assert out.returncode == 0, out.stderr
    assert db.exists() and "China Tourism Year" in out.stdout


def test_corrupt_database_is_one_line_and_status_1(tmp_path):
    db = tmp_path / "corrupt.db"
    db.write_bytes(os.urandom(4096))
    out = run("ask", ACCEPTANCE, db=db)
    assert out.returncode == 1
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    assert out.stderr.startswith("corpusbot: error:")


def test_env_var_picks_the_database(corpus_path, tmp_path):
    out = run("stats", "--json", env={"CORPUSBOT_DB": str(corpus_path)}, cwd=tmp_path)
    assert json.loads(out.stdout)["db"] == str(corpus_path)


def test_run_without_token_is_the_piped_harness(corpus_path, tmp_path):
    out = run("run", db=corpus_path, cwd=tmp_path, stdin=f"{ACCEPTANCE}\n\nthe of\n")
    assert out.returncode == 0, out.stderr
    assert f"> {ACCEPTANCE}" in out.stdout
    assert "China Tourism Year" in out.stdout
    assert "only common words" in out.stdout


def _replies(stdout: str) -> dict[str, str]:
    """The piped harness's output as {line typed: its reply}, in order."""
    replies: dict[str, str] = {}
    for block in stdout.strip().split("\n\n> "):
        typed, _, reply = block.removeprefix("> ").partition("\n")
        replies.setdefault(typed, reply)
    return replies


def test_the_harness_speaks_the_bots_commands(corpus_path, tmp_path):
    typed = [
        "/help",
        "expo",
        "more",
        "/source Zhejiang seeks cooperation",
        f"/ask {ACCEPTANCE} article:Zhejiang seeks cooperation",
        f"/ask {ACCEPTANCE} article:no such article anywhere",
        "/sources x",
    ]
    out = run("run", db=corpus_path, cwd=tmp_path, stdin="\n".join(typed) + "\n")
    assert out.returncode == 0, out.stderr
    replies = _replies(out.stdout)
    assert list(replies) == typed
    assert "/source NAME" in replies["/help"]
    # "more" shows the quotes after the first page: those `ask -k 6` gives 4th to 6th
    six = json.loads(run("ask", "--json", "-k", "6", "expo", db=corpus_path).stdout)
    quotes = [f"“{r['text']}”" for r in six["results"]]
    assert len(quotes) == 6
    assert all(q in replies["expo"] for q in quotes[:3])
    assert all(q in replies["more"] for q in quotes[3:])
    assert not any(q in replies["more"] for q in quotes[:3])
    assert replies["/source Zhejiang seeks cooperation"].startswith("Zhejiang seeks cooperation")
    scoped = replies[f"/ask {ACCEPTANCE} article:Zhejiang seeks cooperation"]
    assert "Zhejiang seeks cooperation" in scoped and "China Tourism Year" not in scoped
    assert "No article matches" in replies[f"/ask {ACCEPTANCE} article:no such article anywhere"]
    assert replies["/sources x"].startswith("No command /sources")


def test_more_before_any_answer_says_there_is_nothing_more(corpus_path, tmp_path):
    out = run("run", db=corpus_path, cwd=tmp_path, stdin="more\nthe of\nmore\n")
    replies = out.stdout.split("\n\n")
    assert "Nothing more to show" in replies[0] and "Nothing more to show" in replies[2]


def test_make_run_pipes_a_question(corpus_path, tmp_path):
    out = subprocess.run(
        ["make", "-s", "run"],
        input=ACCEPTANCE + "\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        env={k: v for k, v in os.environ.items() if not k.startswith("DISCORD_")}
        | {"CORPUSBOT_DB": str(corpus_path)},
    )
    assert out.returncode == 0, out.stderr
    assert "China Tourism Year" in out.stdout


def test_run_with_a_token_in_dotenv_starts_the_bot(corpus_path, tmp_path):
    # Nothing listens on this port: the bot starts, cannot reach "Discord" and says so in
    # one line; the harness would instead have answered the piped question.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    secret = "dotenv-token-value-123"
    (tmp_path / ".env").write_text(
        f"DISCORD_TOKEN={secret}\nDISCORD_API_BASE=http://127.0.0.1:{port}\n"
        f"DISCORD_GATEWAY_URL=ws://127.0.0.1:{port}\n"
    )
    out = run("run", db=corpus_path, cwd=tmp_path, stdin=f"{ACCEPTANCE}\n")
    assert out.returncode == 1
    assert "China Tourism Year" not in out.stdout
    assert "cannot reach Discord" in out.stderr
    assert secret not in out.stdout + out.stderr
    assert "Traceback" not in out.stderr


def test_a_misspelt_question_is_answered_and_says_what_was_read(corpus_path):
    text = run("ask", "how many contries take part in the exppo", db=corpus_path)
    assert text.returncode == 0, text.stderr
    assert "Sources:" in text.stdout
    assert text.stdout.rstrip().endswith("Read “contries” as “countries”, “exppo” as “expo”.")
    data = json.loads(run("ask", "--json", "astanna", db=corpus_path).stdout)
    assert data["answered"] is True and data["question"] == "astanna"
    assert data["read_as"] == [{"typed": "astanna", "read": "astana"}]
    right = json.loads(run("ask", "--json", "astana", db=corpus_path).stdout)
    assert right["read_as"] == [] and right["results"] == data["results"]


def test_eval_typos_asks_each_question_as_typed_in_chat(corpus_path, tmp_path):
    rows = [{"id": f"t{i}", "question": "Astana", "answerable": True,
             "article": "002_4aa99eda7d0eb28f.txt", "gold": ["Astana Expo 2017"]}
            for i in range(6)]  # fmt: skip
    gold = tmp_path / "gold.jsonl"
    gold.write_text("".join(json.dumps(r) + "\n" for r in rows))
    args = ("eval", str(gold), "--json", "-k", "3", "--typos")
    once, again = run(*args, db=corpus_path), run(*args, db=corpus_path)
    assert once.returncode == 0, once.stderr
    assert once.stdout == again.stdout  # the same seed, the same typos
    # Each question's one word is misspelt (a typo per id) and still answered.
    assert json.loads(once.stdout)["answerable"]["refused"] == 0
