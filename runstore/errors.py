"""Typed store errors: each carries a message a page can show as is while it keeps the run in memory."""
from __future__ import annotations


class StoreError(Exception):
    """Base of every error the run store raises on purpose; str(err) is the message for the student."""


class BadBundle(StoreError):
    """What was offered for saving is not a run bundle (not a JSON object, missing parts, NaN, too large)."""


class RunTooLarge(BadBundle):
    """One bundle is larger than the store may hold for a single run."""


class RunNotFound(StoreError):
    """No run with that id belongs to that owner (a foreign, guessed or deleted id looks the same)."""


class CorruptRun(StoreError):
    """A stored row cannot be read back as a bundle (bad JSON or wrong shape)."""


class IncompatibleRun(StoreError):
    """A stored bundle was written by an older or newer app version whose format this one cannot read."""


class StoreFull(StoreError):
    """The database or its disk is full; nothing was written."""


class StoreLocked(StoreError):
    """Another connection held the database (or the table) past the busy timeout; nothing was written."""


class StoreUnavailable(StoreError):
    """The database cannot be opened or reached (bad path or URL, server down, damaged file)."""
