"""SingleFlight: concurrent callers of one key share one run of a blocking function."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from verdict.server.singleflight import SingleFlight


def test_concurrent_callers_of_one_key_share_one_run() -> None:
    flight = SingleFlight()
    calls: list[int] = []
    lock = threading.Lock()

    def lookup(value: int) -> int:
        with lock:
            calls.append(value)
        time.sleep(0.05)  # long enough for every caller to arrive meanwhile
        return value * 2

    async def main() -> list[int]:
        return list(await asyncio.gather(*(flight.run("k", lookup, 21) for _ in range(20))))

    assert asyncio.run(main()) == [42] * 20
    assert calls == [21]


def test_different_keys_and_later_calls_run_again() -> None:
    flight = SingleFlight()
    calls: list[str] = []

    def lookup(key: str) -> str:
        calls.append(key)
        return key

    async def main() -> None:
        assert await asyncio.gather(flight.run("a", lookup, "a"), flight.run("b", lookup, "b")) == [
            "a",
            "b",
        ]
        assert await flight.run("a", lookup, "a") == "a"  # the first run had finished

    asyncio.run(main())
    assert sorted(calls) == ["a", "a", "b"]


def test_every_caller_gets_the_error_of_the_shared_run() -> None:
    flight = SingleFlight()

    def lookup() -> None:
        time.sleep(0.02)
        raise LookupError("no such key")

    async def main() -> list[BaseException | None]:
        results = await asyncio.gather(
            *(flight.run("k", lookup) for _ in range(5)), return_exceptions=True
        )
        return list(results)

    outcomes = asyncio.run(main())
    assert all(isinstance(outcome, LookupError) for outcome in outcomes)


def test_a_caller_that_goes_away_does_not_cancel_the_others() -> None:
    flight = SingleFlight()

    def lookup() -> str:
        time.sleep(0.05)
        return "done"

    async def main() -> str:
        first = asyncio.ensure_future(flight.run("k", lookup))
        second = asyncio.ensure_future(flight.run("k", lookup))
        await asyncio.sleep(0.01)
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        return await second

    assert asyncio.run(main()) == "done"
