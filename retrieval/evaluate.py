"""Answer-quality metrics over a gold file (the format of ``shared/eval/dev.jsonl``).

One JSON object a line: ``id``, ``question``, ``answerable`` (bool), ``article`` (the
file name of the answering article, ``null`` when unanswerable), ``gold`` (exact
substrings of that article, any one of which answers), ``kind`` (``keyword``,
``paraphrase``, ...), optionally ``answer_hint``.

A returned sentence *hits* when it comes from the gold article and contains a gold
string or is contained in one (whitespace normalised). For an answerable question the
rank is that of the first hit among the returned sentences (``None``: no hit, or "not
found"); hit@k is the share with rank ≤ k and MRR the mean of 1/rank (0 for no hit).
An unanswerable question scores when the answer is "not found".

Everything here is a pure function of the gold questions and the answers, except
:func:`run`, which asks a corpus through the same ``answer()`` the bot uses.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

from retrieval.formats import jsonl_name
from retrieval.models import Answer, Sentence

KS = (1, 3, 5)


@dataclass(frozen=True)
class GoldQuestion:
    id: str
    question: str
    answerable: bool
    article: str | None = None
    gold: tuple[str, ...] = ()
    kind: str = "other"
    answer_hint: str = ""
    # Character spans of the gold article's text that answer it (SQuAD): a sentence hits
    # when it overlaps one. Empty: the ``gold`` substrings decide.
    spans: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class Outcome:
    """What one question scored."""

    id: str
    kind: str
    answerable: bool
    answered: bool
    rank: int | None  # answerable: 1-based rank of the first hit; None if none
    top: str = ""  # the first returned sentence (for reports)
    article: str | None = None  # the gold article
    # What a user is shown (the answer after its relevance cut), when it was asked:
    shown: int | None = None  # how many quotes
    shown_answering: int | None = None  # how many of them answer


@dataclass
class Row:
    """Metrics over a group of answerable questions."""

    n: int = 0
    hits: dict[int, float] = field(default_factory=lambda: dict.fromkeys(KS, 0.0))
    mrr: float = 0.0
    refused: int = 0  # answered "not found" although answerable


@dataclass(frozen=True)
class Shown:
    """What users are shown for the answerable questions: the share with an answering
    quote among those shown, the mean number of quotes shown, and the share of shown
    quotes that answer."""

    hit: float
    mean_quotes: float
    answering: float


@dataclass
class Report:
    by_kind: dict[str, Row]
    overall: Row
    unanswerable: int
    abstained: int  # unanswerable questions answered "not found"
    outcomes: list[Outcome]
    shown: Shown | None = None  # None when only the ranked lists were asked

    @property
    def false_answers(self) -> int:
        return self.unanswerable - self.abstained

    def to_dict(self) -> dict:
        def row(r: Row) -> dict:
            return {
                "n": r.n,
                **{f"hit@{k}": round(v, 4) for k, v in r.hits.items()},
                "mrr": round(r.mrr, 4),
                "refused": r.refused,
            }

        shown = None
        if self.shown is not None:
            shown = {
                "hit": round(self.shown.hit, 4),
                "mean_quotes": round(self.shown.mean_quotes, 4),
                "answering": round(self.shown.answering, 4),
            }
        return {
            "answerable": row(self.overall),
            "shown": shown,
            "by_kind": {k: row(r) for k, r in sorted(self.by_kind.items())},
            "unanswerable": {"n": self.unanswerable, "not_found": self.abstained},
            "questions": [asdict(o) for o in self.outcomes],
        }


def normalise(text: str) -> str:
    return " ".join(text.split())


def parse_gold(lines: Iterable[str]) -> list[GoldQuestion]:
    """Gold questions from JSON Lines (blank lines skipped); ``ValueError`` names the line
    and what is wrong with it (:func:`gold_question`)."""
    out = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            out.append(gold_question(json.loads(line), number))
        except ValueError as err:  # json.JSONDecodeError is a ValueError
            raise ValueError(f"line {number}: not a gold question ({err})") from err
    return out


def gold_question(obj: object, number: int) -> GoldQuestion:
    """One checked gold record: ``question`` a non-empty string, ``answerable`` a JSON
    boolean (``"false"`` is a string, not false), ``gold`` a list of non-empty strings,
    ``article`` a string or null, ``id`` a string or number, ``kind`` and ``answer_hint``
    strings; an answerable question needs ``article`` and ``gold``."""
    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    question, answerable = obj.get("question"), obj.get("answerable")
    article, gold = obj.get("article"), obj.get("gold", [])
    if not isinstance(question, str) or not question.strip():
        raise ValueError('"question" must be a non-empty string')
    if not isinstance(answerable, bool):
        raise ValueError(f'"answerable" must be true or false, not {json.dumps(answerable)}')
    if gold is None:
        gold = []
    if not isinstance(gold, list) or not all(isinstance(g, str) and g.strip() for g in gold):
        raise ValueError('"gold" must be a list of non-empty strings')
    if article is not None and (not isinstance(article, str) or not article.strip()):
        raise ValueError('"article" must be a file name or null')
    ident = obj.get("id", number)
    if isinstance(ident, bool) or not isinstance(ident, str | int):
        raise ValueError('"id" must be a string or a number')
    for name in ("kind", "answer_hint"):
        if obj.get(name) is not None and not isinstance(obj[name], str):
            raise ValueError(f'"{name}" must be a string')
    if answerable and (not article or not gold):
        raise ValueError('an answerable question needs "article" and "gold"')
    return GoldQuestion(
        id=str(ident),
        question=question,
        answerable=answerable,
        article=article,
        gold=tuple(gold),
        kind=obj.get("kind") or "other",
        answer_hint=obj.get("answer_hint") or "",
    )


def load_gold(path: str | Path) -> list[GoldQuestion]:
    with open(path, encoding="utf-8") as f:
        return parse_gold(f)


# -- SQuAD ---------------------------------------------------------------------------------

SQUAD_CORPUS = "squad.jsonl"  # the file a SQuAD set's articles are written to for ingest
PARAGRAPH_BREAK = "\n\n"
_WH_KINDS = ("what", "which", "who", "whom", "whose", "when", "where", "why", "how")


@dataclass(frozen=True)
class SquadArticle:
    id: str  # the JSONL id: the article's key is ``squad.jsonl#<id>``
    title: str
    text: str  # its paragraphs, separated by a blank line


@dataclass(frozen=True)
class SquadSet:
    """A SQuAD-format file as a corpus to ingest and gold questions to ask of it."""

    articles: tuple[SquadArticle, ...]
    questions: tuple[GoldQuestion, ...]

    def write_jsonl(self, folder: str | Path) -> Path:
        """Write the articles as the JSON Lines file :func:`retrieval.ingest` reads."""
        path = Path(folder) / SQUAD_CORPUS
        with path.open("w", encoding="utf-8") as f:
            for a in self.articles:
                record = {"id": a.id, "title": a.title, "text": a.text}
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
        return path


def question_kind(question: str) -> str:
    """A SQuAD question's kind for the by-kind table: its first wh-word, else "other"."""
    words = question.casefold().replace("?", " ").split()
    return next((w for w in words if w in _WH_KINDS), "other")


def is_squad(path: str | Path) -> bool:
    """Whether ``path`` is a SQuAD-format JSON file (a ``data`` list of articles)."""
    try:
        with open(path, encoding="utf-8") as f:
            head = f.read(4096).lstrip()
    except (OSError, UnicodeDecodeError):
        return False
    return head.startswith("{") and '"data"' in head


def parse_squad(obj: object) -> SquadSet:
    """SQuAD 1.1/2.0 JSON → :class:`SquadSet`. Each article is one document: its
    paragraphs joined by a blank line, titled by SQuAD's title (underscores as spaces).
    An answer's ``answer_start`` in its paragraph becomes a span of the article's text;
    ``is_impossible`` questions are unanswerable. ``ValueError`` says what is wrong."""
    try:
        data = obj["data"]  # type: ignore[index]
        articles, questions = [], []
        for number, art in enumerate(data, start=1):
            title = str(art.get("title") or f"article {number}").replace("_", " ").strip()
            art_id = f"a{number}"
            parts, offset = [], 0
            for para in art["paragraphs"]:
                context = str(para["context"])
                for qa in para["qas"]:
                    impossible = bool(qa.get("is_impossible", False))
                    spans = tuple(
                        sorted(
                            {
                                (offset + int(a["answer_start"]),
                                 offset + int(a["answer_start"]) + len(str(a["text"])))
                                for a in ([] if impossible else qa["answers"])
                            }
                        )
                    )  # fmt: skip
                    if not impossible and not spans:
                        raise ValueError(f"question {qa.get('id')}: no answers")
                    questions.append(
                        GoldQuestion(
                            id=str(qa["id"]),
                            question=str(qa["question"]),
                            answerable=not impossible,
                            article=None if impossible else jsonl_name(SQUAD_CORPUS, art_id),
                            gold=tuple(sorted({str(a["text"]) for a in qa.get("answers", [])})),
                            kind=question_kind(str(qa["question"])),
                            spans=spans,
                        )
                    )
                parts.append(context)
                offset += len(context) + len(PARAGRAPH_BREAK)
            articles.append(SquadArticle(art_id, title, PARAGRAPH_BREAK.join(parts)))
    except (KeyError, TypeError, AttributeError) as err:
        raise ValueError(f"not a SQuAD file ({type(err).__name__}: {err})") from err
    if not articles:
        raise ValueError("not a SQuAD file (no articles)")
    return SquadSet(tuple(articles), tuple(questions))


def load_squad(path: str | Path) -> SquadSet:
    with open(path, encoding="utf-8") as f:
        try:
            obj = json.load(f)
        except json.JSONDecodeError as err:
            raise ValueError(f"not valid JSON ({err.msg} at line {err.lineno})") from err
    return parse_squad(obj)


# A BEIR folder with sentence-level judgements (``shared/eval/scifact``): the claims'
# rationale sentences, a third domain of sentence retrieval (docs/answer-quality.md).
RATIONALES = Path("qrels") / "test_sentences.tsv"
SENTENCES = "corpus_sentences.jsonl"


def is_rationale_set(path: str | Path) -> bool:
    """Whether ``path`` is a BEIR folder with sentence-level judgements
    (``corpus_sentences.jsonl``, ``queries.jsonl`` and ``qrels/test_sentences.tsv``)."""
    path = Path(path)
    return all((path / name).is_file() for name in (SENTENCES, "queries.jsonl", RATIONALES))


def load_rationale_set(path: str | Path) -> SquadSet:
    """A BEIR folder with sentence judgements (SciFact's layout) → :class:`SquadSet`.

    Each abstract is one article: its title, then its sentences as the set gives them,
    joined by a space. Each test claim whose rationale sentences all lie in one abstract
    is a question (answerable); its gold spans are those sentences, so a quote hits when
    it comes from that abstract and overlaps one. A claim judged on several abstracts is
    left out: a gold question names one article. ``ValueError`` says what is wrong."""
    path = Path(path)
    try:
        abstracts: dict[str, tuple[str, list[str]]] = {}
        with open(path / SENTENCES, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    row = json.loads(line)
                    doc = abstracts.setdefault(str(row["doc_id"]), (str(row["title"]), []))
                    doc[1].append(str(row["text"]))  # in the file's order: sent_idx
        claims = {}
        with open(path / "queries.jsonl", encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    row = json.loads(line)
                    claims[str(row["_id"])] = str(row["text"])
        judged: dict[str, set[tuple[str, int]]] = {}
        with open(path / RATIONALES, encoding="utf-8") as f:
            next(f)  # the header
            for line in f:
                if line.strip():
                    query, sentence, _ = line.rstrip("\n").split("\t")
                    doc, index = sentence.rsplit("-", 1)
                    judged.setdefault(query, set()).add((doc, int(index)))
    except (KeyError, TypeError, ValueError, StopIteration) as err:
        raise ValueError(f"not a BEIR folder with sentence judgements ({err})") from err
    articles, starts = [], {}
    for doc, (title, sentences) in abstracts.items():
        at, offsets = 0, []
        for text in sentences:
            offsets.append((at, at + len(text)))
            at += len(text) + 1
        starts[doc] = offsets
        articles.append(SquadArticle(doc, title, " ".join(sentences)))
    questions = []
    for query, sentences in judged.items():
        docs = {doc for doc, _ in sentences}
        if len(docs) != 1 or query not in claims:
            continue
        (doc,) = docs
        if doc not in starts or any(i >= len(starts[doc]) for _, i in sentences):
            raise ValueError(f"claim {query}: a judged sentence is not in the corpus")
        questions.append(
            GoldQuestion(
                id=query,
                question=claims[query],
                answerable=True,
                article=jsonl_name(SQUAD_CORPUS, doc),
                gold=(),
                kind="claim",
                spans=tuple(sorted(starts[doc][i] for _, i in sentences)),
            )
        )
    if not articles or not questions:
        raise ValueError("no abstracts or no judged claims")
    return SquadSet(tuple(articles), tuple(questions))


@dataclass(frozen=True)
class SpanCoverage:
    """How many gold answer spans the searchable sentences reach (SQuAD-format sets)."""

    spans: int
    inside: int  # every character but whitespace lies in a searchable sentence
    overlapping: int  # overlaps a searchable sentence (the rule a hit uses)

    def to_dict(self) -> dict:
        share = (lambda n: round(n / self.spans, 4)) if self.spans else (lambda n: 0.0)
        return {
            "spans": self.spans,
            "inside": self.inside,
            "overlapping": self.overlapping,
            "inside_share": share(self.inside),
            "overlapping_share": share(self.overlapping),
        }

    def line(self) -> str:
        pct = (lambda n: 100 * n / self.spans) if self.spans else (lambda n: 0.0)
        return (
            f"answer spans inside searchable sentences: {self.inside}/{self.spans} "
            f"({pct(self.inside):.1f}%); overlapping one: {self.overlapping}/{self.spans} "
            f"({pct(self.overlapping):.1f}%)"
        )


def span_coverage(
    questions: Iterable[GoldQuestion],
    articles: Iterable[tuple[str, str, Sequence[tuple[int, int]]]],
) -> SpanCoverage | None:
    """The share of the questions' answer spans that searchable sentences reach, from each
    stored article's ``(file, text, sentence (start, end) offsets)``; None when no
    question has spans (a dev-format file). A span is *inside* when each of its
    characters but whitespace (the gap between two sentences) lies in a sentence of its
    gold article, and *overlapping* when it shares a character with one."""
    wanted = [q for q in questions if q.answerable and q.spans and q.article]
    if not wanted:
        return None
    stored = list(articles)
    spans = inside = overlapping = 0
    for q in wanted:
        found = next((a for a in stored if same_article(a[0], q.article or "")), None)
        for start, end in q.spans:
            spans += 1
            if found is None:
                continue
            text, sentences = found[1], found[2]
            covered = bytearray(end - start)
            for s, e in sentences:
                if s < end and start < e:
                    covered[max(s, start) - start : min(e, end) - start] = b"\x01" * (
                        min(e, end) - max(s, start)
                    )
            overlapping += any(covered)
            inside += all(c or text[start + i].isspace() for i, c in enumerate(covered))
    return SpanCoverage(spans, inside, overlapping)


def same_article(file: str, gold_article: str) -> bool:
    """Whether a stored article name is the gold one: the same path, or a stored path that
    ends with the gold's (gold files name articles relative to their corpus folder)."""
    a = PurePosixPath(file.replace("\\", "/")).parts
    b = PurePosixPath(gold_article.replace("\\", "/")).parts
    return bool(b) and a[-len(b) :] == b


def is_hit(sentence: Sentence, file: str, q: GoldQuestion) -> bool:
    """Whether a returned sentence (of the article stored as ``file``) answers ``q``."""
    if not q.answerable or q.article is None or not same_article(file, q.article):
        return False
    if q.spans:
        return any(sentence.start < end and start < sentence.end for start, end in q.spans)
    t = normalise(sentence.text)
    return any((g := normalise(s)) and (g in t or t in g) for s in q.gold)


def first_rank(answer: Answer, q: GoldQuestion) -> int | None:
    """1-based position of the first hit among the answer's sentences."""
    if not answer.answered:
        return None
    for i, hit in enumerate(answer.hits, start=1):
        if is_hit(hit.sentence, hit.article.file, q):
            return i
    return None


def outcome(q: GoldQuestion, answer: Answer, shown: Answer | None = None) -> Outcome:
    """How ``answer`` (the ranked list) scores on ``q``; with ``shown``, what a user is
    shown too (the same question's answer after the relevance cut)."""
    top = answer.hits[0].sentence.text if answer.answered and answer.hits else ""
    count = answering = None
    if shown is not None:
        quotes = shown.hits if shown.answered else ()
        count = len(quotes)
        answering = sum(is_hit(h.sentence, h.article.file, q) for h in quotes)
    return Outcome(
        q.id,
        q.kind,
        q.answerable,
        answer.answered,
        first_rank(answer, q),
        top,
        q.article,
        count,
        answering,
    )


def _add(row: Row, o: Outcome) -> None:
    row.n += 1
    for k in KS:
        row.hits[k] += o.rank is not None and o.rank <= k
    row.mrr += 1 / o.rank if o.rank else 0.0
    row.refused += not o.answered


def _finish(row: Row) -> Row:
    if row.n:
        row.hits = {k: v / row.n for k, v in row.hits.items()}
        row.mrr /= row.n
    return row


def summarise(outcomes: Sequence[Outcome]) -> Report:
    overall, by_kind = Row(), {}
    unanswerable = abstained = 0
    for o in outcomes:
        if o.answerable:
            _add(overall, o)
            _add(by_kind.setdefault(o.kind, Row()), o)
        else:
            unanswerable += 1
            abstained += not o.answered
    return Report(
        by_kind={k: _finish(r) for k, r in by_kind.items()},
        overall=_finish(overall),
        unanswerable=unanswerable,
        abstained=abstained,
        outcomes=list(outcomes),
        shown=_shown([o for o in outcomes if o.answerable]),
    )


def _shown(answerable: Sequence[Outcome]) -> Shown | None:
    counted = [o for o in answerable if o.shown is not None]
    if not counted or len(counted) < len(answerable):
        return None
    quotes = sum(o.shown or 0 for o in counted)
    answering = sum(o.shown_answering or 0 for o in counted)
    return Shown(
        hit=sum(bool(o.shown_answering) for o in counted) / len(counted),
        mean_quotes=quotes / len(counted),
        answering=answering / quotes if quotes else 0.0,
    )


def evaluate(
    questions: Sequence[GoldQuestion],
    ask: Callable[[GoldQuestion], Answer],
    shown: Callable[[GoldQuestion], Answer] | None = None,
) -> Report:
    """Ask every question with ``ask`` (the ranked list, e.g. ``lambda q:
    corpus.ask(q.question, k=5, cut=False)``) and, with ``shown``, what users are shown
    (``corpus.ask(q.question, k=5)``), and score both."""
    return summarise(
        [outcome(q, ask(q), shown(q) if shown is not None else None) for q in questions]
    )


def gold_articles(questions: Sequence[GoldQuestion], files: dict[str, int]) -> dict[str, int]:
    """Each gold article a question names → the id of the stored article it is (by
    :func:`same_article`; ``files`` maps stored file names to ids). A gold article
    that is not stored is left out."""
    by_last_part: dict[str, list[tuple[str, int]]] = {}
    for file, i in files.items():  # same_article needs the last parts equal
        by_last_part.setdefault(PurePosixPath(file.replace("\\", "/")).name, []).append((file, i))
    found: dict[str, int] = {}
    for name in {q.article for q in questions if q.article is not None}:
        last = PurePosixPath(name.replace("\\", "/")).name
        match = [i for file, i in by_last_part.get(last, []) if same_article(file, name)]
        if match:
            found[name] = match[0]
    return found


def format_table(report: Report) -> str:
    """The report as a plain-text table."""
    head = f"{'kind':<12}{'n':>4}{'hit@1':>8}{'hit@3':>8}{'hit@5':>8}{'MRR':>8}{'refused':>9}"
    lines = [head, "-" * len(head)]

    def line(name: str, r: Row) -> str:
        return (
            f"{name:<12}{r.n:>4}"
            + "".join(f"{r.hits[k]:>8.2f}" for k in KS)
            + f"{r.mrr:>8.2f}{r.refused:>9}"
        )

    for kind, r in sorted(report.by_kind.items()):
        lines.append(line(kind, r))
    lines.append("-" * len(head))
    lines.append(line("answerable", report.overall))
    lines.append("")
    lines.append(
        f"unanswerable: {report.abstained}/{report.unanswerable} answered “not found”; "
        f"answerable wrongly refused: {report.overall.refused}/{report.overall.n}"
    )
    if report.shown is not None:
        lines.append(
            f"shown to users (after the relevance cut): hit {report.shown.hit:.2f}, "
            f"{report.shown.mean_quotes:.2f} quotes a question, "
            f"{report.shown.answering:.2f} of them answering"
        )
    return "\n".join(lines)


def misses(report: Report) -> list[str]:
    """One line per question that did not score a hit at rank 1 or was answered wrongly."""
    out = []
    for o in report.outcomes:
        if o.answerable and o.rank != 1:
            state = "refused" if not o.answered else f"rank {o.rank or '-'}"
            out.append(f"{o.id} {o.kind}: {state}")
        elif not o.answerable and o.answered:
            out.append(f"{o.id} {o.kind}: answered although unanswerable: {o.top[:80]}")
    return out
