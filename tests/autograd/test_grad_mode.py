"""Grad mode belongs to a thread, as in PyTorch: no_grad() in one thread leaves the others recording."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import ember


def in_thread(fn: Callable[[], Any]) -> Any:
    """fn() on a new thread; its result (or its exception, raised here)."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = fn()
        except BaseException as error:  # handed back to the test's thread
            outcome["error"] = error

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def test_no_grad_in_one_thread_leaves_another_thread_recording():
    x = ember.ones(3, requires_grad=True)
    with ember.no_grad():
        assert not (x * 2).requires_grad
        assert in_thread(lambda: (x * 2).requires_grad)
        assert in_thread(ember.is_grad_enabled)
    assert (x * 2).requires_grad


def test_no_grad_in_another_thread_leaves_this_thread_recording():
    x = ember.ones(3, requires_grad=True)
    inside = threading.Event()
    leave = threading.Event()

    def infer() -> bool:
        with ember.no_grad():
            inside.set()
            leave.wait(timeout=30)
            return (x * 2).requires_grad

    worker = threading.Thread(target=infer)
    worker.start()
    try:
        assert inside.wait(timeout=30)
        assert ember.is_grad_enabled()
        assert (x * 2).requires_grad
    finally:
        leave.set()
        worker.join()


def test_set_grad_enabled_as_a_function_sets_only_the_calling_thread():
    x = ember.ones(3, requires_grad=True)

    def switch_off() -> bool:
        ember.set_grad_enabled(False)
        return (x * 2).requires_grad

    assert in_thread(switch_off) is False
    assert ember.is_grad_enabled() and (x * 2).requires_grad


def test_loader_workers_under_no_grad_give_the_same_batches():
    data = ember.data.TensorDataset(ember.arange(12, dtype=ember.float32).reshape(6, 2))
    plain = [batch[0].array.copy() for batch in ember.data.DataLoader(data, batch_size=4)]
    with ember.no_grad():
        threaded = [batch[0].array for batch in ember.data.DataLoader(data, batch_size=4, num_workers=2)]
    assert len(plain) == len(threaded) == 2
    for a, b in zip(plain, threaded, strict=True):
        np.testing.assert_array_equal(a, b)


def test_convolution_chunk_threads_follow_the_calling_threads_grad_mode(monkeypatch):
    if not ember.threads.blas_libraries():
        pytest.skip("without threadpoolctl every chunk runs on the calling thread")
    monkeypatch.setenv("EMBER_NUM_THREADS", "2")
    conv = ember.nn.Conv2d(3, 4, 3, padding=1)
    x = ember.randn(64, 3, 32, 32)  # several chunks of samples, shared between two threads
    with ember.no_grad():
        inferred = conv(x)
    trained = conv(x)
    assert not inferred.requires_grad and trained.requires_grad
    np.testing.assert_array_equal(inferred.array, trained.array)
    trained.sum().backward()
    assert conv.weight.grad is not None


def test_inference_mode_records_nothing_as_a_block_and_as_a_decorator():
    x = ember.ones(2, requires_grad=True)
    with ember.inference_mode():
        assert not (x * 2).requires_grad
        with ember.inference_mode(False):  # inference_mode(False) records again
            assert (x * 2).requires_grad
    assert (x * 2).requires_grad

    @ember.inference_mode()
    def evaluate(t):
        return t * 2

    @ember.inference_mode  # PyTorch's form without parentheses
    def evaluate_bare(t):
        return t * 2

    assert not evaluate(x).requires_grad and not evaluate_bare(x).requires_grad
    assert evaluate_bare.__name__ == "evaluate_bare" and ember.is_grad_enabled()


def test_no_grad_and_enable_grad_decorate_without_parentheses_as_pytorch():
    x = ember.ones(2, requires_grad=True)

    @ember.no_grad
    def frozen(t):
        return t * 2

    with ember.no_grad():

        @ember.enable_grad
        def recorded(t):
            return t * 2

        assert recorded(x).requires_grad
    assert not frozen(x).requires_grad and frozen.__name__ == "frozen"
