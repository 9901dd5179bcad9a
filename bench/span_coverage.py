"""Answer spans inside searchable sentences, for a SQuAD-format set read two ways.

    .venv/bin/python bench/span_coverage.py [--reranker NAME] [--save DIR] SET.json [...]

``jsonl``: the articles as ``corpusbot eval`` ingests them (one JSON Lines file, every
paragraph searchable). ``txt``: each article as a plain ``.txt`` file, read by the
plain-text heuristics (titles, bylines, footers and headings left out), as a user's own
folder of articles would be. Both go through the real ingest into a temporary store;
the figures are :func:`retrieval.evaluate.span_coverage`'s, the line ``corpusbot eval``
prints, followed by hit@1 and hit@3 of the top 3 answers (``--reranker``, default
wordllama) asked of that store. ``--save DIR`` writes each run's report as
``corpusbot eval --json`` prints it (``DIR/<set>-<jsonl|txt>.json``), for
``bench/compare.py``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
from pathlib import Path

from retrieval import evaluate as ev
from retrieval.corpus import Corpus


def coverage(
    squad: ev.SquadSet, how: str, reranker: str
) -> tuple[ev.SpanCoverage | None, ev.Report]:
    questions = list(squad.questions)
    with tempfile.TemporaryDirectory(prefix="span-coverage-") as tmp:
        folder = Path(tmp) / "articles"
        folder.mkdir()
        if how == "jsonl":
            source = squad.write_jsonl(folder)
        else:
            for a in squad.articles:
                (folder / f"{a.id}.txt").write_text(a.text, encoding="utf-8")
            questions = [
                dataclasses.replace(q, article=f"{q.article.split('#')[1]}.txt") if q.article else q
                for q in questions
            ]
            source = folder
        with Corpus.create(Path(tmp) / "c.db", reranker=reranker) as corpus:
            report = corpus.ingest([source])
            if report.failed:
                print(f"  {how}: not ingested: {report.failed}", file=sys.stderr)
            stored = [
                (
                    a.file,
                    corpus.article_text(a.id),
                    [(s.start, s.end) for s in corpus.store.article_sentences(a.id)],
                )
                for a in corpus.articles()
            ]
            answers = ev.evaluate(questions, lambda q: corpus.ask(q.question, k=3))
            return ev.span_coverage(questions, stored), answers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reranker", default="wordllama")
    parser.add_argument("--save", type=Path, help="write each report here")
    parser.add_argument("sets", nargs="+")
    args = parser.parse_args()
    for path in args.sets:
        squad = ev.load_squad(path)
        print(path)
        for how in ("jsonl", "txt"):
            found, answers = coverage(squad, how, args.reranker)
            hits = answers.overall.hits
            print(f"  {how:<6}{found.line() if found else 'no answer spans'}")
            print(f"        top 3 ({args.reranker}): hit@1 {hits[1]:.3f} hit@3 {hits[3]:.3f}")
            if args.save:
                args.save.mkdir(parents=True, exist_ok=True)
                out = args.save / f"{Path(path).stem}-{how}.json"
                out.write_text(json.dumps(answers.to_dict(), ensure_ascii=False))


if __name__ == "__main__":
    main()
