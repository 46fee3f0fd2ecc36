"""``import ember`` sets glibc's malloc to keep freed memory for reuse (``ember.allocation``): a large
array freed and made again is not faulted in again; the user's own settings and ``EMBER_MALLOC_TUNING=0``
leave glibc as it is."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from ember.allocation import USER_SETTINGS

pytestmark = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc's malloc only"
)

# Make and free eight arrays of 3 MiB, three times (as a step's activations: each below the size from
# which NumPy asks for huge pages); print the page faults of the last round and whether Ember set the
# thresholds.
PROGRAM = """
import resource
import numpy as np
import ember
for _ in range(3):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    arrays = [np.ones(3 << 18, np.float32) for _ in range(8)]
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    del arrays
print(faults, ember.allocation.kept)
"""


def faults_and_kept(**environment: str) -> tuple[int, bool]:
    unset = (*USER_SETTINGS, "EMBER_MALLOC_TUNING")
    env = {name: value for name, value in os.environ.items() if name not in unset}
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM],
        env={**env, **environment},
        capture_output=True,
        text=True,
        check=True,
    )
    faults, kept = done.stdout.split()
    return int(faults), kept == "True"


def test_a_freed_large_array_is_reused_without_page_faults():
    faults, kept = faults_and_kept()
    assert kept
    assert faults < 300  # 6,144 pages of 4 KiB if they came fresh from the kernel


def test_the_switch_and_the_users_own_settings_leave_glibc_alone():
    faults, kept = faults_and_kept(EMBER_MALLOC_TUNING="0")
    assert not kept and faults > 3000  # glibc's default: given back, faulted in again
    faults, kept = faults_and_kept(MALLOC_MMAP_THRESHOLD_="131072")
    assert not kept and faults > 3000
