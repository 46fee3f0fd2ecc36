"""Expected failures: bad input that the user can fix, as opposed to bugs in Ember.

Every error Ember raises for a wrong file, field or argument derives from ``EmberError`` (and also from the
built-in class a Python user would catch: ``ValueError``, ``FileNotFoundError``, ...). Its message is the
whole story in one line or a short block: *what* is wrong, *where* (the file, field or argument), and
*what to do*. The ``ember`` command prints such a message without a traceback and exits non-zero; any
other exception is a bug and keeps its traceback.
"""

from __future__ import annotations


class EmberError(Exception):
    """A failure the user can fix; the message names what is wrong, where, and what to do."""


class DataFormatError(EmberError, ValueError):
    """A data file exists but is damaged or not in the format it claims (truncated, wrong header, ...)."""


class MissingFileError(EmberError, FileNotFoundError):
    """A file or folder the user named (an image, a checkpoint, a data folder) does not exist."""


def name_list(names: list[str], limit: int = 5) -> str:
    """``a, b, c and 4 more``: names for a one-line message, however many there are."""
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")
