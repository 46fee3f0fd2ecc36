"""The layers' tests run with the workspace check on: every convolution and pooling kernel verifies that
the padding gaps of the grids it reuses are still zero (``ember.nn.functional._workspace``)."""

import pytest

from ember.nn.functional import _workspace


@pytest.fixture(autouse=True)
def check_workspace_gaps(monkeypatch):
    monkeypatch.setattr(_workspace, "CHECK_GAPS", True)
