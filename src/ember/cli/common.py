"""What the commands share: turning Ember's errors into one clear message and an exit status.

Exit statuses: 0 done, 1 the run failed (missing data, unreadable checkpoint, full disk, run directory in
use), 2 a bad configuration or argument (a taken run name, a config changed before a resume), 3 the
training diverged (NaN or infinite loss), 4 ``ember doctor`` flagged a check, 130 interrupted by Ctrl-C and
143 by SIGTERM (both resumable).
"""

from __future__ import annotations

import signal
import sys
import threading
import warnings
from collections.abc import Callable
from typing import Any

OK, FAILED, USAGE, DIVERGED, FLAGGED, INTERRUPTED, TERMINATED = 0, 1, 2, 3, 4, 130, 143


class Terminated(KeyboardInterrupt):
    """SIGTERM outside the training loop (which stops after the step instead): unwind like Ctrl-C."""


def _terminate(signum: int, frame: Any) -> None:
    raise Terminated


def fail(command: str, message: str, status: int) -> int:
    print(f"ember {command}: {message}", file=sys.stderr)
    return status


def guarded(command: str, action: Callable[[], int]) -> int:
    """Run ``action``, reporting every expected failure (``ember.errors.EmberError``) as one message,
    and each warning as one line ``ember COMMAND: warning: ...`` (not Python's file:line and source).

    An error's ``exit_status`` attribute, if it has one, is the status (else 1; 2 for a configuration).
    """
    from ember.errors import EmberError
    from ember.train.config import ConfigError

    def show(message: Warning | str, *_: Any, **__: Any) -> None:
        print(f"ember {command}: warning: {message}", file=sys.stderr)

    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if main else None
    try:
        with warnings.catch_warnings():
            warnings.showwarning = show
            return action()
    except ConfigError as error:
        return fail(command, str(error), USAGE)
    except (EmberError, FileNotFoundError) as error:
        return fail(command, str(error), getattr(error, "exit_status", FAILED))
    except Terminated:
        return fail(command, "terminated (SIGTERM)", TERMINATED)
    except KeyboardInterrupt:
        return fail(command, "interrupted", INTERRUPTED)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def run_status(result: Any) -> int:
    """The exit status of a finished, diverged or interrupted run (128 + the signal that stopped it)."""
    if result.diverged:
        return DIVERGED
    if result.interrupted:
        return 128 + int(result.signal) if getattr(result, "signal", None) else INTERRUPTED
    return OK
