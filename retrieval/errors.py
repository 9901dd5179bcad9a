"""Errors that reach people: each carries one short line to show them."""


class CorpusError(Exception):
    """Base class: ``str(err)`` is a one-line message fit to show a user."""


class StoreError(CorpusError):
    """The database is missing, corrupt, locked, read-only or not a corpusbot store."""


class IngestError(CorpusError):
    """A file could not be ingested (the batch it belongs to goes on without it)."""
