"""Cost of ``HttpRecorder.track()`` and ``exposure()`` on the caller's thread.

The recorder runs as in production (its sender thread encodes and posts batches of 500
every time one fills, to an in-process ``httpx.MockTransport`` that answers like the
server), so the figures include the sender's competition for the GIL. Each pass times
``--calls`` calls with one clock read before and after; the per-call figure of a pass
is its time divided by the calls; median and P95 are over ``--passes`` passes, in
nanoseconds per call. The queue has its default bound (10,000): the benchmark calls far
faster than any host, so most entries are dropped as overflow, which is the path a
host under a burst takes.

Printed per case: median and P95 of the wall time per call, and of the calling thread's
CPU time per call (``time.thread_time_ns``: what the call itself costs, without the time
the thread waits for the GIL while the sender encodes a batch). The timing loop's own
cost is printed last; it is included in the figures.

Cases: ``track()`` with a small properties dict; ``exposure()`` of a new (unit,
experiment, variant), which is queued; ``exposure()`` of one already sent, which the
LRU stops (the common case: a unit decided again and again).

Usage: .venv/bin/python benchmarks/sdk_recorder_bench.py [--calls 10000] [--passes 50]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import httpx

from verdict.sdk.recorder import HttpRecorder


def _answer(request: httpx.Request) -> httpx.Response:
    # The real server is another process: the stand-in counts entries with one C-level
    # scan instead of decoding the batch, so it takes as little of the GIL as it can.
    body = request.content
    if body.startswith(b'{"events"'):
        return httpx.Response(
            200, json={"accepted": body.count(b'"client_event_id"'), "rejected": 0}
        )
    return httpx.Response(
        200, json={"recorded": body.count(b'"experiment"'), "conflicts": 0, "rejected": 0}
    )


def _quantiles(values: list[float]) -> tuple[float, float]:
    values = sorted(values)
    return statistics.median(values), values[int(0.95 * (len(values) - 1))]


def _measure(
    call: Callable[[int], None], calls: int, passes: int, offset: int = 0, paced: bool = False
) -> list[float]:
    """Median and P95 per call: wall time, and the calling thread's CPU time.

    ``paced``: the calls come in bursts of ``_BURST`` followed by an untimed pause that
    holds the rate at ``_PACE`` calls per second, so the sender keeps up and ships while
    the host records (the case of a busy but not flooded host); only the bursts are timed.
    """
    wall: list[float] = []
    cpu: list[float] = []
    step = _BURST if paced else calls
    for _ in range(passes):
        spent = spent_cpu = 0
        for chunk in range(offset, offset + calls, step):
            started, started_cpu = time.perf_counter_ns(), time.thread_time_ns()
            for i in range(chunk, chunk + step):
                call(i)
            spent_cpu += time.thread_time_ns() - started_cpu
            spent += time.perf_counter_ns() - started
            if paced:
                time.sleep(max(0.0, step / _PACE - (time.perf_counter_ns() - started) / 1e9))
        cpu.append(spent_cpu / calls)
        wall.append(spent / calls)
        offset += calls
    return [*_quantiles(wall), *_quantiles(cpu)]


_BURST = 100
_PACE = 50_000  # calls per second in the paced cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--passes", type=int, default=50)
    args = parser.parse_args()

    client = httpx.Client(transport=httpx.MockTransport(_answer))
    recorder = HttpRecorder(
        "vk_bench", "http://verdict.bench", http_client=client, dedup_size=100_000
    )
    properties = {"sku": "A-1", "price": 9.5}
    attributes = {"country": "FR", "plan": "pro"}

    def track(i: int) -> None:
        recorder.track(unit_id="user-1", event="purchase", value=9.5, properties=properties)

    def repeated_exposure(i: int) -> None:
        recorder.exposure(
            unit_id="user-1", experiment_key="checkout", variant_key="b", attributes=attributes
        )

    # Unit ids are built before timing for the new-exposure case (an f-string costs
    # about 100 ns, which a host would pay anyway).
    units = [f"u{i}" for i in range(4 * args.calls * args.passes)]

    def new_exposure_prebuilt(i: int) -> None:
        recorder.exposure(
            unit_id=units[i], experiment_key="checkout", variant_key="b", attributes=attributes
        )

    cases = [
        ("track()", track, False),
        ("exposure(), new unit", new_exposure_prebuilt, False),
        ("exposure(), already sent (LRU hit)", repeated_exposure, False),
        (f"track(), {_PACE:,}/s", track, True),
        (f"exposure(), new unit, {_PACE:,}/s", new_exposure_prebuilt, True),
    ]
    _measure(track, 1_000, 3)  # warm up
    print(f"{'ns per call':<38} {'median':>8} {'P95':>8} {'cpu med':>8} {'cpu P95':>8}")
    offset = 0
    for name, call, paced in cases:
        calls = args.calls // 10 if paced else args.calls  # a paced pass takes longer
        figures = _measure(call, calls, args.passes, offset, paced)
        offset += calls * args.passes
        print(f"{name:<38} " + " ".join(f"{figure:>8.0f}" for figure in figures))
    floor = _measure(lambda i: None, args.calls, args.passes)
    print(f"{'(the timing loop alone)':<38} " + " ".join(f"{f:>8.0f}" for f in floor))
    recorder.close(timeout=30)
    stats = recorder.stats
    print(
        f"sent {stats.sent}, dropped_overflow {stats.dropped_overflow}, "
        f"dropped_rejected {stats.dropped_rejected}, retries {stats.retries}"
    )


if __name__ == "__main__":
    main()
