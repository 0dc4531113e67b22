"""Running a pipeline so that Ctrl-C always stops it: every `anyio.run` of pfx goes through
`run_interruptibly`, which receives SIGINT as a cancellation of the pipeline and then raises
KeyboardInterrupt, so the caller's stop rules (a report, exit 130) always apply.

Why not asyncio's own handling: it cancels the main task once and raises KeyboardInterrupt
only if that task ends cancelled. A cancellation absorbed on the way (a cancel scope that
was cancelled for its own reasons at the same moment) let an interrupted import run on to
the end and exit 0. Here the interrupt is a flag that no code path can absorb.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar, TypeVarTuple

import anyio

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

__all__ = ["run_interruptibly"]


def run_interruptibly(fn: Callable[[*Ts], Awaitable[T]], *args: *Ts) -> T:
    """`anyio.run(fn, *args)`; KeyboardInterrupt when SIGINT arrived while it ran, whatever
    `fn` did with the cancellation. Off the main thread (signals reach the main thread only,
    e.g. inside a flow run) or without loop signal handlers, a plain `anyio.run`."""
    if threading.current_thread() is not threading.main_thread():
        return anyio.run(fn, *args)
    interrupted = False
    done: list[T] = []

    async def main() -> None:
        nonlocal interrupted
        loop = asyncio.get_running_loop()
        with anyio.CancelScope() as scope:

            def on_sigint() -> None:
                nonlocal interrupted
                interrupted = True
                scope.cancel()

            try:
                loop.add_signal_handler(signal.SIGINT, on_sigint)
            except NotImplementedError:  # no loop signal handlers here (Windows)
                done.append(await fn(*args))
                return
            try:
                done.append(await fn(*args))
            finally:
                loop.remove_signal_handler(signal.SIGINT)

    anyio.run(main)
    if interrupted or not done:
        raise KeyboardInterrupt
    return done[0]
