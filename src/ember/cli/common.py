"""What the commands share: turning Ember's errors into one clear message and an exit status.

Exit statuses: 0 done, 1 the run failed (missing data, unreadable checkpoint), 2 a bad configuration or
argument, 3 the training diverged (NaN or infinite loss), 130 interrupted (resumable).
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable
from typing import Any

OK, FAILED, USAGE, DIVERGED, INTERRUPTED = 0, 1, 2, 3, 130


def fail(command: str, message: str, status: int) -> int:
    print(f"ember {command}: {message}", file=sys.stderr)
    return status


def guarded(command: str, action: Callable[[], int]) -> int:
    """Run ``action``, reporting every expected failure (``ember.errors.EmberError``) as one message,
    and each warning as one line ``ember COMMAND: warning: ...`` (not Python's file:line and source)."""
    from ember.errors import EmberError
    from ember.train.config import ConfigError

    def show(message: Warning | str, *_: Any, **__: Any) -> None:
        print(f"ember {command}: warning: {message}", file=sys.stderr)

    try:
        with warnings.catch_warnings():
            warnings.showwarning = show
            return action()
    except ConfigError as error:
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
