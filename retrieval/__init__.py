"""Retrieval: articles → sentences in SQLite → exact BM25 → quoted, cited answers.

Nothing in this package knows about Discord; the CLI and the bot both call
:class:`retrieval.corpus.Corpus`.
"""
