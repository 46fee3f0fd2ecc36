"""ember.set_num_threads / get_num_threads: BLAS's thread count (threadpoolctl) and the kernels'."""

from __future__ import annotations

import pytest

import ember


@pytest.fixture
def restored_threads(monkeypatch):
    """Put BLAS's thread count and the number set back afterwards (they hold for the whole process)."""
    monkeypatch.delenv("EMBER_NUM_THREADS", raising=False)
    monkeypatch.setattr(ember.threads, "_chosen", None)
    before = [lib.get_num_threads() for lib in ember.threads.blas_libraries()]
    yield
    for lib, count in zip(ember.threads.blas_libraries(), before, strict=True):
        lib.set_num_threads(count)


def test_set_num_threads_sets_blas_and_the_kernels_thread_count(restored_threads, monkeypatch):
    from ember.nn.functional import _parallel

    ember.set_num_threads(1)
    assert ember.get_num_threads() == 1 == _parallel.thread_count()
    ember.set_num_threads(3)
    assert ember.get_num_threads() == 3 == _parallel.thread_count()
    for lib in ember.threads.blas_libraries():  # none without threadpoolctl: then only recorded
        assert lib.get_num_threads() == 3
    monkeypatch.setenv("EMBER_NUM_THREADS", "2")  # the override of the kernels' count, as before
    assert ember.get_num_threads() == 2


def test_without_a_number_set_it_is_blas_s_count(restored_threads):
    blas = ember.threads.blas_libraries()
    if not blas:
        assert ember.get_num_threads() == 1
        return
    blas[0].set_num_threads(1)
    assert ember.get_num_threads() == 1


@pytest.mark.parametrize("bad", [0, -2, 1.5, True, "4"])
def test_set_num_threads_refuses_what_is_not_a_positive_int(bad):
    with pytest.raises(ValueError, match="must be a positive integer"):
        ember.set_num_threads(bad)


def _timeout_seen(code: str, **env: str) -> tuple[str, str]:
    """OPENBLAS_THREAD_TIMEOUT as a fresh interpreter sees it after running ``code``: in its environment, and
    as OpenBLAS itself holds it (``openblas_thread_timeout()``; "none" without threadpoolctl or OpenBLAS)."""
    import os
    import subprocess
    import sys

    environment = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"} | env
    script = (
        code + "; import os; from ember.threads import blas_libraries\n"
        "held = [lib.dynlib.openblas_thread_timeout() for lib in blas_libraries()\n"
        "        if lib.internal_api == 'openblas']\n"
        "print(os.environ.get('OPENBLAS_THREAD_TIMEOUT', 'unset'), held[0] if held else 'none')"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], env=environment, capture_output=True, text=True, check=True
    )
    seen, held = done.stdout.split()
    return seen, held


def test_importing_ember_before_numpy_puts_openblas_idle_workers_to_sleep_at_once():
    seen, held = _timeout_seen("import ember")
    assert seen == ember.threads.IDLE_BLAS_TIMEOUT == "4"
    assert held in ("4", "none")


def test_importing_ember_after_numpy_has_openblas_read_the_timeout_again():
    seen, held = _timeout_seen("import numpy; import ember")
    assert seen == "4"
    assert held in ("4", "none")  # OpenBLAS held 0 (its default) before ``import ember``


def test_the_user_s_own_timeout_is_left_alone():
    assert _timeout_seen("import ember", OPENBLAS_THREAD_TIMEOUT="12") in (("12", "12"), ("12", "none"))
    assert _timeout_seen("import numpy; import ember", OPENBLAS_THREAD_TIMEOUT="12") in (
        ("12", "12"),
        ("12", "none"),
    )
