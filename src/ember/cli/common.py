"""What the commands share: turning Ember's errors into one clear message and an exit status.

Exit statuses: 0 done, 1 the run failed (missing data, unreadable checkpoint), 2 a bad configuration or
argument (or one that needs more memory than the machine has), 3 the training diverged (NaN or infinite
loss), 130 interrupted (resumable).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

OK, FAILED, USAGE, DIVERGED, INTERRUPTED = 0, 1, 2, 3, 130


def fail(command: str, message: str, status: int) -> int:
    print(f"ember {command}: {message}", file=sys.stderr)
    return status


def warn(command: str) -> Callable[[str], None]:
    """A printer of warnings for ``command``: ``ember train: warning: ...`` on stderr."""

    def echo(message: str) -> None:
        print(f"ember {command}: warning: {message}", file=sys.stderr, flush=True)

    return echo


def guarded(command: str, action: Callable[[], int]) -> int:
    """Run ``action``, reporting every expected failure (``ember.errors.EmberError``) as one message.

    A configuration or argument the user must change (a bad field, a model name, an input size, more
    memory than the machine has) exits with ``USAGE``; a failure of the run itself with ``FAILED``.
    """
    from ember.errors import EmberError
    from ember.models.registry import InputSizeError, UnknownModelError
    from ember.train.config import ConfigError
    from ember.train.memory import InsufficientMemoryError

    try:
        return action()
    except (ConfigError, InputSizeError, UnknownModelError, InsufficientMemoryError) as error:
        return fail(command, str(error), USAGE)
    except (EmberError, FileNotFoundError) as error:
        return fail(command, str(error), FAILED)
    except KeyboardInterrupt:
        return fail(command, "interrupted", INTERRUPTED)


def run_status(result: Any) -> int:
    """The exit status of a finished, diverged or interrupted run."""
    if result.diverged:
        return DIVERGED
    if result.interrupted:
        return INTERRUPTED
    return OK
