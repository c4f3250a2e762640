"""``Debouncer``: run a function once, a moment after the last of a burst of triggers (the editor's
auto-regenerate waits for the drawing to pause). No front end needed.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

__all__ = ["Debouncer"]


class Debouncer:
    """Call ``fn`` once, ``delay_s`` after the *last* of a burst of triggers.

    Inside a Jupyter kernel (a running asyncio loop in this thread) the call is scheduled on that
    loop, so it runs on the kernel's main thread between messages — no thread touches the
    editor. Elsewhere a daemon timer thread makes the call.
    """

    def __init__(self, fn: Callable[[], object], delay_s: float = 0.25) -> None:
        self.fn = fn
        self.delay_s = delay_s
        self._handle: asyncio.TimerHandle | threading.Timer | None = None
        self._ticket = 0  # a timer that fires after being superseded must not call fn
        self._lock = threading.Lock()

    @property
    def pending(self) -> bool:
        return self._handle is not None

    def __call__(self) -> None:
        with self._lock:
            self._cancel()
            self._ticket += 1
            ticket = self._ticket
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                loop = None
            if loop is not None:
                self._handle = loop.call_later(self.delay_s, self._fire, ticket)
            else:
                self._handle = threading.Timer(self.delay_s, self._fire, (ticket,))
                self._handle.daemon = True
                self._handle.start()

    def _cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def cancel(self) -> None:
        with self._lock:
            self._cancel()
            self._ticket += 1

    def flush(self) -> None:
        """Run a pending call now (and not again later)."""
        with self._lock:
            was = self._handle is not None
            self._cancel()
            self._ticket += 1
        if was:
            self.fn()

    def _fire(self, ticket: int) -> None:
        with self._lock:
            if ticket != self._ticket:
                return
            self._handle = None
        self.fn()
