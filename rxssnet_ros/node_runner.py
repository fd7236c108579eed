# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""The process shell shared by our nodes: init, our own signal handling, spin until asked to stop, clean up.

Ctrl-C in a terminal and `launch` can both deliver SIGINT, so a node may get it twice. rclpy's default handler
would tear the context down under a worker thread, or in the middle of writing a report, so the nodes install
their own: every signal only sets `stop`, and shutdown runs once, to the end.
"""

from __future__ import annotations

import contextlib
import ctypes
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.signals import SignalHandlerOptions

EXIT_CONFIG_ERROR = 2
# glibc mallopt parameters and the values a node sets (see keep_frame_memory_mapped)
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
TRIM_THRESHOLD_BYTES, MMAP_THRESHOLD_BYTES = 256 * 1024 * 1024, 32 * 1024 * 1024


def keep_frame_memory_mapped() -> bool:
    """Let glibc keep freed frame-sized buffers (images, network inputs: MiBs each, every frame) for reuse.

    By default glibc hands such blocks back to the kernel on free (mmap threshold, heap trimming), so every frame
    page-faults its buffers in again: measured 8 ms per frame for two 640x480 network inputs on a loaded 2-core
    VM, against 0.7 ms with this. Linux/glibc only; elsewhere (or without glibc) nothing changes. True when set.
    """
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)) and \
            bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
    return False


def asks_for_help(argv: Sequence[str]) -> bool:
    """True when -h/--help comes before --ros-args (ROS arguments are rcl's, not ours)."""
    argv = list(argv)
    own_args = argv[1:argv.index("--ros-args")] if "--ros-args" in argv else argv[1:]
    return any(arg in ("-h", "--help") for arg in own_args)


def run_until_stopped(node_name: str, argv: Sequence[str], create: Callable[[threading.Event], Any],
                      config_errors: tuple[type[BaseException], ...],
                      after_spin: Callable[[Any], None] | None = None,
                      before_destroy: Callable[[Any], None] | None = None,
                      repeat_signal_note: str | None = None) -> int:
    """Runs one node in this process; returns the exit code (0, or EXIT_CONFIG_ERROR for bad configuration).

    create(stop) builds the node (a node may set `stop` itself, e.g. when its job is done); a `config_errors`
    exception there is printed as one FATAL line, without a traceback. after_spin(node) runs once the loop ends
    normally; before_destroy(node) runs in every case before the node is destroyed.
    """
    rclpy.init(args=list(argv), signal_handler_options=SignalHandlerOptions.NO)
    stop = threading.Event()
    signals_seen = [0]

    def request_stop(signum: int, frame: Any) -> None:
        signals_seen[0] += 1
        if signals_seen[0] > 1 and repeat_signal_note:
            print(f"{node_name}: signal {signum} again; {repeat_signal_note}", file=sys.stderr)
        stop.set()

    # Installed for the rest of the process on purpose: a second SIGINT can arrive after shutdown, while the
    # interpreter exits, and with Python's default handler it would kill the process with a traceback.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, request_stop)
    executor = SingleThreadedExecutor()
    node = None
    code = 0
    try:
        try:
            node = create(stop)
        except config_errors as error:
            message = " ".join(str(error).split())  # one line, whatever the library's message holds
            print(f"[FATAL] [{node_name}]: {message}", file=sys.stderr)
            code = EXIT_CONFIG_ERROR
        if node is not None and code == 0:
            executor.add_node(node)
            while not stop.is_set() and rclpy.ok():
                executor.spin_once(timeout_sec=0.1)
            if after_spin is not None:
                after_spin(node)
    finally:
        if node is not None:
            if before_destroy is not None:
                before_destroy(node)
            executor.remove_node(node)
            node.destroy_node()
        executor.shutdown()
        rclpy.try_shutdown()
        if signals_seen[0]:
            # Shutdown was asked for and is done. Python resets handlers to the default while the interpreter
            # finalizes (torch and rclpy take a while to unload), so a repeated Ctrl-C would still kill the
            # process with SIGINT there; ignoring it from here on keeps the exit clean.
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, signal.SIG_IGN)
    return code
