# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""A signal stack of our own for threads that compile or release OpenVINO models.

OpenVINO's CPU plugin gives the thread that compiles a model a larger alternate signal stack (signal frames
with AMX state need one) and, when that compiled model is released, puts back the stack it found at compile
time. Released out of order (compile A, compile B, release A, release B) the thread is left with a stack the
plugin has already unmapped, and the next signal handled on that thread kills the process with SIGSEGV: CPython
installs every Python signal handler with SA_ONSTACK (Ctrl-C, rclpy's shutdown handlers, torch's DataLoader
SIGCHLD handler). Found as a pytest process dying when a child process exited after the OpenVINO tests.

`keep_signal_stack()` gives the calling thread a stack that lives as long as the thread, large enough for any
signal frame (AVX-512 and AMX state included). The OpenVINO backend calls it after every compile and release.
"""

from __future__ import annotations

import ctypes
import sys
import threading

# Larger than any x86-64 signal frame (AMX tile data is 8 KiB of it) plus faulthandler's traceback dump.
SIGNAL_STACK_BYTES = 64 * 1024
_SS_ONSTACK = 1  # sigaltstack flag: the thread is running on its alternate stack right now


class _StackT(ctypes.Structure):
    _fields_ = [("ss_sp", ctypes.c_void_p), ("ss_flags", ctypes.c_int), ("ss_size", ctypes.c_size_t)]


_per_thread = threading.local()  # each thread's buffer: two threads must never share one signal stack


def current_signal_stack() -> tuple[int, int, int] | None:
    """(address, flags, size) of the calling thread's alternate signal stack; None off Linux."""
    if not sys.platform.startswith("linux"):
        return None
    current = _StackT()
    if ctypes.CDLL(None, use_errno=True).sigaltstack(None, ctypes.byref(current)) != 0:
        return None
    return int(current.ss_sp or 0), int(current.ss_flags), int(current.ss_size)


def keep_signal_stack() -> bool:
    """Point the calling thread's alternate signal stack at a buffer this thread owns; True when it did.

    A no-op off Linux, and while the thread runs on its alternate stack (inside a signal handler).
    """
    current = current_signal_stack()
    if current is None or current[1] & _SS_ONSTACK:
        return False
    buffer = getattr(_per_thread, "buffer", None)
    if buffer is None:
        buffer = _per_thread.buffer = ctypes.create_string_buffer(SIGNAL_STACK_BYTES)
    stack = _StackT(ctypes.addressof(buffer), 0, SIGNAL_STACK_BYTES)
    return ctypes.CDLL(None, use_errno=True).sigaltstack(ctypes.byref(stack), None) == 0
