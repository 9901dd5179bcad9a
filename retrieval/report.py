"""``corpusbot report``: what people asked and where the corpus falls short.

Pure functions over the question log (:mod:`retrieval.querylog`): :func:`build` turns
the logged questions, their votes and the corpus's articles into a :class:`Report`;
:meth:`Report.to_dict` is the ``--json`` schema, :func:`render` the human table (rich)
and :func:`short_text` the few lines ``/corpus report`` shows. :func:`gold_lines`
turns confirmed answers into a gold file for ``corpusbot eval`` (``--gold``).

A *question* here is a first page (``offset`` 0); ``More`` pages are counted apart.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta

from retrieval.answer import query_terms
from retrieval.models import Article
from retrieval.querylog import Asked, Vote

TOP = 10  # rows in each "most" list
SIMILAR = 0.5  # share of a question's idf weight a group's first question must share
LOW_QUANTILE = 0.1  # low confidence: a top score in the lowest tenth of the period's
MIN_FOR_LOW = 10  # ... once there are this many answered questions to compare with
SPARKS = "▁▂▃▄▅▆▇█"

_SINCE = re.compile(r"^(\d+)\s*([hdw])$")


def parse_since(text: str, now: datetime | None = None) -> str | None:
    """``7d``, ``24h``, ``2w``, an ISO date or time, or ``all`` → the ISO time to start
    from (None for all); ``ValueError`` with one line for anything else."""
    now = now or datetime.now(UTC)
    text = text.strip().casefold()
    if text == "all":
        return None
    if found := _SINCE.match(text):
        amount, unit = int(found[1]), found[2]
        delta = {"h": timedelta(hours=amount), "d": timedelta(days=amount)}.get(
            unit, timedelta(weeks=amount)
        )
        return (now - delta).isoformat(timespec="seconds")
    try:
        start = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"--since takes 7d, 24h, 2w, a date (2024-06-01) or all, not {text!r}"
        ) from None
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    return start.astimezone(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Day:
    day: str  # YYYY-MM-DD (UTC)
    questions: int
    answered: int
    not_found: int
    invalid: int


@dataclass(frozen=True)
class Frequent:
    """A question as people typed it, with how often and how it went."""

    question: str
    count: int
    status: str  # of its latest asking
    top_score: float | None = None  # its latest first page's best BM25 score


@dataclass(frozen=True)
class Gap:
    """Questions of similar wording the corpus did not answer, or answered weakly."""

    questions: tuple[str, ...]  # distinct wordings, most asked first
    count: int  # askings in all
    not_found: int
    low_confidence: int


@dataclass(frozen=True)
class Downvote:
    question_id: int
    question: str
    up: int
    down: int
    reasons: tuple[str, ...]
    quoted: str  # the first sentence shown
    article: str  # its article's title


@dataclass(frozen=True)
class Quoted:
    article_id: int
    title: str
    file: str
    count: int  # answers (first pages) that quoted it


@dataclass
class Report:
    since: str | None
    until: str
    questions: int
    more_pages: int
    answered: int
    not_found: int
    invalid: int
    per_day: list[Day]
    most_asked: list[Frequent]
    gaps: list[Gap]
    low_score: float | None  # the top score below which an answer counts as weak
    downvotes: list[Downvote]
    votes_up: int
    votes_down: int
    quoted_most: list[Quoted]
    never_quoted: list[Quoted]
    never_quoted_count: int
    articles: int
    fetch_errors: list[dict] = field(default_factory=list)

    def share(self, status: str) -> float:
        return getattr(self, status) / self.questions if self.questions else 0.0

    def to_dict(self) -> dict:
        """The ``--json`` object (docs/admin.md "report --json")."""
        out = asdict(self)
        out["shares"] = {s: round(self.share(s), 4) for s in ("answered", "not_found", "invalid")}
        return out


def normalise(question: str) -> str:
    """How two askings count as the same question: case, punctuation and spacing aside."""
    return " ".join(re.sub(r"[^\w\s]", " ", question.casefold()).split())


def build(
    asked: Sequence[Asked],
    votes: Sequence[Vote],
    articles: Sequence[Article],
    *,
    since: str | None,
    until: str | None = None,
    top: int = TOP,
    fetch_errors: Sequence[dict] = (),
) -> Report:
    """The report over ``asked`` (the period's questions, oldest first) and their votes."""
    firsts = [a for a in asked if a.offset == 0]
    status = Counter(a.status for a in firsts)
    low = low_score([a for a in firsts if a.status == "answered"])
    return Report(
        since=since,
        until=until or datetime.now(UTC).isoformat(timespec="seconds"),
        questions=len(firsts),
        more_pages=len(asked) - len(firsts),
        answered=status["answered"],
        not_found=status["not_found"],
        invalid=status["invalid"],
        per_day=per_day(firsts, since, until),
        most_asked=most_asked(firsts, top),
        gaps=gaps(firsts, low)[:top],
        low_score=low,
        downvotes=downvoted(asked, votes)[:top],
        votes_up=sum(1 for v in votes if v.vote > 0),
        votes_down=sum(1 for v in votes if v.vote < 0),
        quoted_most=quoted_most(firsts, top),
        never_quoted=never_quoted(firsts, articles)[:top],
        never_quoted_count=len(never_quoted(firsts, articles)),
        articles=len(articles),
        fetch_errors=fetch_error_counts(fetch_errors)[:top],
    )


def fetch_error_counts(errors: Sequence[dict]) -> list[dict]:
    """Web fetch errors (``at``, ``url``, ``error``) by URL: how many, the latest one."""
    by_url: dict[str, dict] = {}
    for e in errors:
        row = by_url.setdefault(e["url"], {"url": e["url"], "count": 0})
        row.update(count=row["count"] + 1, last_at=e["at"], error=e["error"])
    return sorted(by_url.values(), key=lambda r: (-r["count"], r["url"]))


def per_day(firsts: Sequence[Asked], since: str | None, until: str | None) -> list[Day]:
    """One row a day from the first day of the period (or the first question) to the
    last, days without questions included, so a sparkline's gaps are real."""
    counts: dict[str, Counter] = {}
    for a in firsts:
        counts.setdefault(a.asked_at[:10], Counter())[a.status] += 1
    if not counts:
        return []
    first = date.fromisoformat(since[:10]) if since else date.fromisoformat(min(counts))
    last = max(
        date.fromisoformat(until[:10]) if until else date.min, date.fromisoformat(max(counts))
    )
    days = []
    for n in range((last - first).days + 1):
        day = (first + timedelta(days=n)).isoformat()
        c = counts.get(day, Counter())
        days.append(Day(day, sum(c.values()), c["answered"], c["not_found"], c["invalid"]))
    return days


def most_asked(firsts: Sequence[Asked], top: int = TOP) -> list[Frequent]:
    """The questions asked most often (same wording up to case and punctuation)."""
    groups: dict[str, list[Asked]] = {}
    for a in firsts:
        if a.status != "invalid":
            groups.setdefault(normalise(a.question), []).append(a)
    ranked = sorted(groups.values(), key=lambda g: (-len(g), -_time(g[-1])))
    return [Frequent(g[-1].question, len(g), g[-1].status, _top_score(g[-1])) for g in ranked[:top]]


def _time(a: Asked) -> float:
    return datetime.fromisoformat(a.asked_at).timestamp()


def _top_score(a: Asked) -> float | None:
    return max((score for _, score in a.shown), default=None)


def low_score(answered: Sequence[Asked]) -> float | None:
    """The top BM25 score under which an answer counts as low-confidence: the lowest
    tenth of the period's answered questions (None with fewer than ten to compare)."""
    scores = sorted(s for a in answered if (s := _top_score(a)) is not None)
    if len(scores) < MIN_FOR_LOW:
        return None
    return scores[max(0, math.ceil(len(scores) * LOW_QUANTILE) - 1)]


def gaps(firsts: Sequence[Asked], low: float | None) -> list[Gap]:
    """Not-found and low-confidence questions, grouped by similar wording, the largest
    group first. Two wordings are similar when the group's first one shares at least
    half of the other's terms by weight (BM25's idf over these questions), so "tallest
    building dubai" and "what is the tallest building in Dubai?" are one gap. A question
    asked within one article is left out: that article not answering it says nothing of
    the corpus."""
    weak = [
        a
        for a in firsts
        if a.within_article is None
        and (
            a.status == "not_found"
            or (low is not None and a.status == "answered" and (_top_score(a) or 0) <= low)
        )
    ]
    by_wording: dict[str, list[Asked]] = {}
    for a in weak:
        by_wording.setdefault(normalise(a.question), []).append(a)
    wordings = sorted(by_wording.values(), key=lambda g: -len(g))
    terms = {id(g): set(query_terms(g[-1].question)) for g in wordings}
    df = Counter(t for ts in terms.values() for t in ts)
    n = len(wordings)

    def weight(ts: Iterable[str]) -> float:
        return sum(math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5)) for t in ts)

    grouped: list[list[list[Asked]]] = []
    for g in wordings:
        mine = terms[id(g)]
        for group in grouped:
            lead = terms[id(group[0])]
            shared = weight(mine & lead)
            if shared and shared >= SIMILAR * min(weight(mine), weight(lead)):
                group.append(g)
                break
        else:
            grouped.append([g])
    out = []
    for group in grouped:
        askings = [a for g in group for a in g]
        out.append(
            Gap(
                questions=tuple(g[-1].question for g in group),
                count=len(askings),
                not_found=sum(1 for a in askings if a.status == "not_found"),
                low_confidence=sum(1 for a in askings if a.status == "answered"),
            )
        )
    return sorted(out, key=lambda gap: -gap.count)


def downvoted(asked: Sequence[Asked], votes: Sequence[Vote]) -> list[Downvote]:
    """Answers with more 👎 than 👍, most 👎 first, with the reasons people gave."""
    by_id = {a.id: a for a in asked}
    tally: dict[int, list[Vote]] = {}
    for v in votes:
        if v.question_id in by_id:
            tally.setdefault(v.question_id, []).append(v)
    out = []
    for qid, vs in tally.items():
        up = sum(1 for v in vs if v.vote > 0)
        down = len(vs) - up
        if down <= up:
            continue
        a = by_id[qid]
        first = a.quoted[0] if a.quoted else None
        out.append(
            Downvote(
                question_id=qid,
                question=a.question,
                up=up,
                down=down,
                reasons=tuple(v.reason for v in vs if v.vote < 0 and v.reason),
                quoted=first.text if first else "",
                article=first.title if first else "",
            )
        )
    return sorted(out, key=lambda d: (-d.down, d.question_id))


def _quote_counts(firsts: Sequence[Asked]) -> Counter:
    """How many answers quoted each article (an article quoted twice in one answer counts once)."""
    return Counter(aid for a in firsts for aid in {q.article_id for q in a.quoted})


def quoted_most(firsts: Sequence[Asked], top: int = TOP) -> list[Quoted]:
    counts = _quote_counts(firsts)
    titles = {q.article_id: (q.title, q.file) for a in firsts for q in a.quoted}
    return [
        Quoted(aid, *titles[aid], count)
        for aid, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    ]


def never_quoted(firsts: Sequence[Asked], articles: Sequence[Article]) -> list[Quoted]:
    """The corpus's articles no answer of the period quoted, newest first."""
    counts = _quote_counts(firsts)
    left = [a for a in articles if a.id not in counts]
    left.sort(key=lambda a: (a.date or "", a.id), reverse=True)
    return [Quoted(a.id, a.title, a.file, 0) for a in left]


# -- the gold file (``report --gold``) -------------------------------------------------------


def gold_lines(asked: Sequence[Asked], votes: Sequence[Vote]) -> tuple[list[dict], list[dict]]:
    """Users' votes as a gold set: (confirmed, to label).

    Confirmed: each answered first page with more 👍 than 👎 becomes one dev-format
    question (``answerable: true``, the article of its first quote, and the quoted
    sentences of that article as ``gold``), so ``corpusbot eval`` checks that the answer
    people confirmed still comes back. To label: not-found questions and answers with
    more 👎 than 👍, in the same format with ``answerable: null`` and ``article: null``
    for a person to fill in (what was shown is kept in ``shown``)."""
    tally: dict[int, int] = Counter()
    for v in votes:
        tally[v.question_id] += v.vote
    confirmed, todo = [], []
    seen: set[str] = set()
    for a in asked:
        if a.offset != 0:
            continue
        net = tally.get(a.id, 0)
        key = normalise(a.question)
        if a.status == "answered" and net > 0 and a.quoted:
            if key in seen:  # one line per question, the latest confirmation kept first
                continue
            seen.add(key)
            article = a.quoted[0].file
            gold = list(dict.fromkeys(q.text for q in a.quoted if q.file == article))
            confirmed.append(
                {
                    "id": f"q{a.id}",
                    "question": a.question,
                    "answerable": True,
                    "article": article,
                    "gold": gold,
                    "answer_hint": "",
                    "kind": "confirmed",
                }
            )
        elif a.status == "not_found" or (a.status == "answered" and net < 0):
            todo.append(
                {
                    "id": f"q{a.id}",
                    "question": a.question,
                    "answerable": None,
                    "article": None,
                    "gold": [],
                    "answer_hint": "",
                    "kind": "not_found" if a.status == "not_found" else "downvoted",
                    "shown": [{"file": q.file, "text": q.text} for q in a.quoted],
                }
            )
    return confirmed, todo


# -- rendering -----------------------------------------------------------------------------


def sparkline(values: Sequence[int]) -> str:
    top = max(values, default=0)
    if top == 0:
        return SPARKS[0] * len(values)
    return "".join(SPARKS[min(len(SPARKS) - 1, round(v / top * (len(SPARKS) - 1)))] for v in values)


def bar(value: float, top: float, width: int = 20) -> str:
    if top <= 0:
        return ""
    cells = value / top * width
    return "█" * int(cells) + ("▌" if cells - int(cells) >= 0.5 else "")


def render(report: Report):  # -> rich.console.Group
    """The human report: a header, then one table a section (rich renderables)."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    period = f"since {report.since[:16].replace('T', ' ')} UTC" if report.since else "all time"
    parts: list = [
        Text(
            f"{report.questions} questions {period}"
            f" (+{report.more_pages} More pages), {report.articles} articles in the corpus",
            style="bold",
        )
    ]
    if report.questions:
        shares = Table(show_header=False, box=None, pad_edge=False)
        for status, label in (("answered", "answered"), ("not_found", "not found"),
                              ("invalid", "can't search")):  # fmt: skip
            share = report.share(status)
            shares.add_row(
                label, f"{getattr(report, status):>5}", f"{share:>6.1%}", bar(share, 1.0)
            )
        parts.append(shares)
    if report.per_day:
        counts = [d.questions for d in report.per_day]
        misses = [d.not_found for d in report.per_day]
        first, last = report.per_day[0].day, report.per_day[-1].day
        parts.append(Text(f"per day    {sparkline(counts)}  {first} … {last}, max {max(counts)}"))
        parts.append(Text(f"not found  {sparkline(misses)}"))
    sections = [
        ("Most asked", ["×", "question", "status", "top score"],
         [(str(m.count), m.question, m.status.replace("_", " "),
           "" if m.top_score is None else f"{m.top_score:.1f}") for m in report.most_asked]),
        ("Gaps: not found or weak" + (f" (top score ≤ {report.low_score:.1f})"
                                      if report.low_score is not None else ""),
         ["×", "questions of similar wording", "not found", "weak"],
         [(str(g.count), "\n".join(g.questions[:3]) + (f"\n… {len(g.questions) - 3} more"
                                                      if len(g.questions) > 3 else ""),
           str(g.not_found), str(g.low_confidence)) for g in report.gaps]),
        (f"👎 answers ({report.votes_down} 👎, {report.votes_up} 👍 in all)",
         ["👎", "👍", "question", "reasons", "first quote"],
         [(str(d.down), str(d.up), d.question, "; ".join(d.reasons),
           _cut(d.quoted, 80)) for d in report.downvotes]),
        ("Articles quoted most", ["answers", "", "article"],
         [(str(q.count), bar(q.count, report.quoted_most[0].count, 12), q.title)
          for q in report.quoted_most]),
        (f"Never quoted ({report.never_quoted_count} of {report.articles} articles)",
         ["id", "article", "file"],
         [(str(q.article_id), q.title, q.file) for q in report.never_quoted]),
        ("Web fetch errors", ["×", "last", "error"],
         [(str(e["count"]), e["last_at"][:16].replace("T", " "), e["error"])
          for e in report.fetch_errors]),
    ]  # fmt: skip
    for title, columns, rows in sections:
        if not rows:
            continue
        table = Table(title=title, title_justify="left", title_style="bold")
        for column in columns:
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(*row)
        parts.append(table)
    return Group(*parts)


def short_text(report: Report, limit: int = 1800) -> str:
    """A few plain lines for ``/corpus report`` (Discord: under 2,000 characters)."""
    lines = [
        f"{report.questions} questions"
        + (f" since {report.since[:10]}" if report.since else "")
        + f": {report.share('answered'):.0%} answered, {report.share('not_found'):.0%} not found",
    ]
    if report.per_day:
        lines.append(f"per day {sparkline([d.questions for d in report.per_day])}")
    if report.gaps:
        lines.append("Gaps:")
        lines += [f"• {_cut(g.questions[0], 90)} (×{g.count})" for g in report.gaps[:5]]
    if report.downvotes:
        lines.append("👎:")
        lines += [
            f"• {_cut(d.question, 70)}" + (f": {_cut(d.reasons[0], 60)}" if d.reasons else "")
            for d in report.downvotes[:3]
        ]
    if report.never_quoted_count:
        lines.append(f"Never quoted: {report.never_quoted_count} of {report.articles} articles")
    if report.fetch_errors:
        lines.append(f"Web fetch errors: {sum(e['count'] for e in report.fetch_errors)}")
        lines += [f"• {_cut(e['error'], 100)}" for e in report.fetch_errors[:3]]
    text = "\n".join(lines)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _cut(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
