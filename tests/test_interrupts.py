"""Ctrl-C always stops a pipeline: run_interruptibly raises KeyboardInterrupt after SIGINT,
also when the pipeline absorbed the cancellation it was sent."""

from __future__ import annotations

import os
import signal
import threading

import anyio
import pytest

from pfx.interrupts import run_interruptibly


async def _stubborn() -> str:
    """Sends itself SIGINT, then absorbs every cancellation and finishes anyway."""
    os.kill(os.getpid(), signal.SIGINT)
    for _ in range(20):
        try:
            await anyio.sleep(0.01)
        except anyio.get_cancelled_exc_class():
            pass
    return "finished"


async def _answer(n: int) -> int:
    await anyio.sleep(0)
    return n * 2


def test_sigint_stops_a_pipeline_that_absorbs_its_cancellation() -> None:
    """SIGINT during the run is KeyboardInterrupt even when the pipeline returns normally."""
    with pytest.raises(KeyboardInterrupt):
        run_interruptibly(_stubborn)


def test_a_run_without_sigint_returns_its_value_and_restores_the_handler() -> None:
    """Without SIGINT the pipeline's value comes back, and Ctrl-C is Python's again after."""
    assert run_interruptibly(_answer, 21) == 42
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_off_the_main_thread_it_is_a_plain_run() -> None:
    """In a worker thread (a flow run), no signal handler is installed and the value returns."""
    found: list[int] = []
    worker = threading.Thread(target=lambda: found.append(run_interruptibly(_answer, 5)))
    worker.start()
    worker.join()
    assert found == [10]
