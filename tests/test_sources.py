import json

import pytest

from .conftest import DATA

pytestmark = pytest.mark.unit

SOURCE_DEV = [json.loads(line) for line in (DATA / "source_dev.jsonl").open()]


@pytest.mark.parametrize("case", SOURCE_DEV, ids=lambda c: c["query"])
def test_source_dev_names_find_their_article(seed_corpus, case):
    match = seed_corpus.find_source(case["query"])
    assert match.found, match.candidates
    assert match.article.file == case["article"]


@pytest.mark.parametrize(
    "name, file",
    [
        ("004_51b944b31dc3064b.txt", "004_51b944b31dc3064b.txt"),
        ("004_51b944b31dc3064b", "004_51b944b31dc3064b.txt"),
        ("expo to deepen northeast asia biz ties", "004_51b944b31dc3064b.txt"),
        ("China Daily, August 2023", "004_51b944b31dc3064b.txt"),
        ("Alwihda Info 7 June 2017", "002_4aa99eda7d0eb28f.txt"),
        ("2017-06-07", "002_4aa99eda7d0eb28f.txt"),
    ],
)
def test_names_people_use(seed_corpus, name, file):
    match = seed_corpus.find_source(name)
    assert match.found and match.article.file == file


@pytest.mark.parametrize(
    "name, file",
    [
        ("zhejang", "001_2fb5e4078cb162f6.txt"),  # a letter left out
        ("kazakstan", "002_4aa99eda7d0eb28f.txt"),
        ("Northeast Asai biz ties", "004_51b944b31dc3064b.txt"),  # two letters swapped
    ],
)
def test_a_misspelt_name_finds_its_article(seed_corpus, name, file):
    match = seed_corpus.find_source(name)
    assert match.found and match.article.file == file
    assert match.query == name  # shown as typed


def test_autocomplete_reads_a_misspelt_word_when_nothing_matches(seed_corpus):
    assert [a.file for a in seed_corpus.suggest("zhejang")] == ["001_2fb5e4078cb162f6.txt"]
    assert seed_corpus.suggest("zhej")  # a word being typed is a prefix, not a typo
    assert seed_corpus.suggest("qqqqzzzz") == []


def test_a_misspelt_name_of_several_articles_still_offers_them(seed_corpus):
    match = seed_corpus.find_source("Astanna Expo")
    assert not match.found and len(match.candidates) >= 2


def test_by_id(seed_corpus):
    article = seed_corpus.articles()[0]
    assert seed_corpus.find_source(str(article.id)).article == article


def test_ambiguous_name_lists_candidates(seed_corpus):
    match = seed_corpus.find_source("Astana Expo")
    assert not match.found
    assert len(match.candidates) >= 2


@pytest.mark.parametrize(
    "name",
    [
        "",
        "no such article whatsoever",
        "../../etc/passwd",
        "99999",
        "x" * 10_000,
        '" OR 1=1 --',
        "NEAR(",
        "*",
    ],
)
def test_unknown_names_are_not_found(seed_corpus, name):
    match = seed_corpus.find_source(name)
    assert not match.found


def test_autocomplete_prefix(seed_corpus):
    titles = [a.title for a in seed_corpus.suggest("hun")]
    assert titles and titles[0].startswith("2018 Hunan")
    assert len(seed_corpus.suggest("", limit=3)) == 3


def test_ids_beyond_sqlite_integers_are_not_found(seed_corpus):
    assert not seed_corpus.find_source(str(2**63)).found
    assert seed_corpus.store.article(2**70) is None
    assert seed_corpus.context(2**70) == []
