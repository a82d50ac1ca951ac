"""Ctrl-C that lands between two steps of long work, so the work can save and stop cleanly.

Inside ``deferred_interrupt()`` the first SIGINT only sets ``requested``; the loop checks it after
each whole step, saves, and raises ``Interrupted``. A second Ctrl-C interrupts at once (the old
handler is back). Outside the main thread (the app trains judges in worker threads) signals cannot
be caught, and the context does nothing.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator


class Interrupted(KeyboardInterrupt):
    """Ctrl-C, after the work saved what it had; the message says what was kept and how to resume."""


class InterruptFlag:
    requested: bool = False


@contextlib.contextmanager
def deferred_interrupt() -> Iterator[InterruptFlag]:
    flag = InterruptFlag()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    previous = signal.getsignal(signal.SIGINT)

    def on_interrupt(signum, frame):
        flag.requested = True
        signal.signal(signal.SIGINT, previous)  # a second Ctrl-C stops at once

    signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)
