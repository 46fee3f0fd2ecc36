"""Test configuration: hypothesis profiles, and a fixed seed for every test."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

import ember

settings.register_profile(
    "default", max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("thorough", max_examples=300, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(autouse=True)
def _seeded() -> None:
    ember.manual_seed(0)
