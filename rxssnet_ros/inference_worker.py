# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""One inference thread with a latest-only slot, so that latency stays bounded at any input rate.

The executor thread only validates and pairs messages, then `submit`s a job. The worker takes the waiting job
when it is free; a job submitted while another one waits replaces it and is counted as dropped. So at most one
job is queued and one is running: the output latency is at most two inference times, whatever the input rate,
and memory does not grow when the model is slower than the cameras.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any


class InferenceWorker:
    """Runs `process(job)` on one background thread for the most recent submitted job.

    on_error(job, exception) is called when `process` raises (the thread keeps running). Counters:
    submitted, processed, dropped (replaced while waiting), failed.
    """

    def __init__(self, process: Callable[[Any], None],
                 on_error: Callable[[Any, BaseException], None] | None = None, name: str = "rxssnet-inference"
                 ) -> None:
        self._process = process
        self._on_error = on_error
        self._condition = threading.Condition()
        self._slot: Any = None
        self._has_job = False
        self._stopping = False
        self._busy = False
        self.submitted = 0
        self.processed = 0
        self.dropped = 0
        self.failed = 0
        self.last_process_s = 0.0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._started = False

    def start(self) -> InferenceWorker:
        if not self._started:
            self._started = True
            self._thread.start()
        return self

    @property
    def busy(self) -> bool:
        """True while a job is being processed."""
        return self._busy

    @property
    def stopping(self) -> bool:
        return self._stopping

    def submit(self, job: Any) -> bool:
        """Put `job` in the slot; returns True when it replaced a waiting job (that one is dropped)."""
        with self._condition:
            if self._stopping:
                return False
            replaced = self._has_job
            self._slot, self._has_job = job, True
            self.submitted += 1
            if replaced:
                self.dropped += 1
            self._condition.notify()
            return replaced

    def stop(self, timeout: float = 10.0) -> bool:
        """Drop the waiting job, let the running one finish, join the thread; True when it ended in time."""
        with self._condition:
            self._stopping = True
            self._slot, self._has_job = None, False
            self._condition.notify_all()
        if self._started and self._thread.is_alive():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until no job waits or runs (tests and benchmarks); True when idle in time."""
        deadline = time.monotonic() + timeout
        with self._condition:
            while self._has_job or self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._condition.wait(min(remaining, 0.05))
        return True

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._has_job and not self._stopping:
                    self._condition.wait()
                if self._stopping:
                    return
                job, self._slot, self._has_job = self._slot, None, False
                self._busy = True
            start = time.perf_counter()
            try:
                self._process(job)
                self.processed += 1
            except Exception as error:  # one bad frame must never stop the node
                self.failed += 1
                if self._on_error is not None:
                    with contextlib.suppress(Exception):  # reporting must not kill the worker either
                        self._on_error(job, error)
            finally:
                self.last_process_s = time.perf_counter() - start
                with self._condition:
                    self._busy = False
                    self._condition.notify_all()
