"""A stop requested by a signal, seen by the scheduling loop even when Python swallowed its exception.

Ctrl-C raises KeyboardInterrupt wherever the main thread happens to be. Inside a weakref callback or a ``__del__``
(``dask.distributed`` runs many as a local cluster's workers die) Python only prints such an exception ("Exception
ignored in …") and goes on, so a run with ``--scheduler local`` once waited on its dead workers for ten minutes
(issue 39 item 6). The command line's signal handlers :func:`request` the stop before they raise, and the
scheduling loop calls :func:`check` at every turn."""

from __future__ import annotations

import threading

_lock = threading.Lock()
_requested: list[type[BaseException]] = []


def request(exc: type[BaseException] = KeyboardInterrupt) -> None:
    """Record that the run must stop by raising ``exc`` (KeyboardInterrupt, or the CLI's SIGTERM subclass)."""
    with _lock:
        _requested[:] = [exc]


def clear() -> None:
    """Forget a recorded stop (the command line calls it as each command starts)."""
    with _lock:
        _requested.clear()


def check() -> None:
    """Raise the recorded stop's exception, if any (it stays recorded: every later check raises it too)."""
    with _lock:
        exc = _requested[0] if _requested else None
    if exc is not None:
        raise exc()
