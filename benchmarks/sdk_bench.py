#!/usr/bin/env python3
"""Per-call speed of the Python SDK's public API: ``Client.is_enabled`` and ``get_string``.

The client holds a realistic environment (the 200 flags of engine_bench.py's
``realistic_environment`` plus its two benchmark flags, ``new-checkout`` and
``checkout-exp``), bootstrapped offline, so no network is involved: what is timed is
the read path a host calls per decision (snapshot lookup, context handling, the
engine's decider, exposure check).

Cases (each over the same users; 75 % of them fail new-checkout's targeting):
  is_enabled/ctx     client.is_enabled("new-checkout", ctx), ctx an EvaluationContext
                     built before timing
  is_enabled/build   the same, building EvaluationContext(user["id"], user) per call
  get_string/ctx     client.get_string("checkout-exp", "control", ctx)
  get_string/build   the same, building the context per call
  get_string/str     client.get_string("checkout-exp", "control", user["id"]) (unit id only)
  engine/bool        Snapshot.value("new-checkout", user["id"], user) on the same
                     snapshot: the engine's own fast path, the floor for is_enabled
  engine/string      the same for checkout-exp, the floor for get_string
  openfeature/bool   api.get_client().get_boolean_value("new-checkout", False, ctx) through
                     verdict.sdk.openfeature.VerdictProvider over the same client, ctx an
                     OpenFeature EvaluationContext built before timing (the OpenFeature
                     client is got once; hooks, context merging and status checks are the
                     openfeature-sdk's own per-call work)
  openfeature/floor  the same call on a client of openfeature-sdk's InMemoryProvider
                     serving the flag as a constant: what the OpenFeature SDK costs by
                     itself, the floor for openfeature/bool

Timing: each pass evaluates every user once with the garbage collector off; passes
are interleaved round-robin across cases. Reported: the median pass and the
95th-percentile pass, in nanoseconds per call.

Usage:  .venv/bin/python benchmarks/sdk_bench.py [--users 20000] [--rounds 15]
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from openfeature import api
from openfeature.evaluation_context import EvaluationContext as OpenFeatureContext
from openfeature.provider.in_memory_provider import InMemoryFlag, InMemoryProvider

from engine_bench import (
    BOOL_FLAG,
    EXP_FLAG,
    make_users,
    realistic_environment,
    verdict_config,
)
from verdict.engine import EvaluationContext
from verdict.sdk import Client, MemoryRecorder
from verdict.sdk.openfeature import VerdictProvider

User = dict[str, Any]
FLOOR_DOMAIN = "in-memory-floor"


def environment() -> dict[str, Any]:
    config = realistic_environment(random.Random(5))
    config["flags"].update(verdict_config()["flags"])
    return config


def cases(client: Client, users: list[User]) -> dict[str, Callable[[], None]]:
    contexts = [EvaluationContext(user["id"], user) for user in users]
    ids = [user["id"] for user in users]
    is_enabled, get_string = client.is_enabled, client.get_string
    snapshot_value = client._config.snapshot.value  # the engine floor, same snapshot
    of_contexts = [OpenFeatureContext(user["id"], user) for user in users]
    of_boolean = api.get_client().get_boolean_value
    floor_boolean = api.get_client(FLOOR_DOMAIN).get_boolean_value

    def enabled_ctx() -> None:
        for ctx in contexts:
            is_enabled(BOOL_FLAG, ctx)

    def enabled_build() -> None:
        for user in users:
            is_enabled(BOOL_FLAG, EvaluationContext(user["id"], user))

    def string_ctx() -> None:
        for ctx in contexts:
            get_string(EXP_FLAG, "control", ctx)

    def string_build() -> None:
        for user in users:
            get_string(EXP_FLAG, "control", EvaluationContext(user["id"], user))

    def string_id() -> None:
        for unit in ids:
            get_string(EXP_FLAG, "control", unit)

    def engine_bool() -> None:
        for user in users:
            snapshot_value(BOOL_FLAG, user["id"], user, False)

    def engine_string() -> None:
        for user in users:
            snapshot_value(EXP_FLAG, user["id"], user, "control")

    def openfeature_bool() -> None:
        for ctx in of_contexts:
            of_boolean(BOOL_FLAG, False, ctx)

    def openfeature_floor() -> None:
        for ctx in of_contexts:
            floor_boolean(BOOL_FLAG, False, ctx)

    return {
        "is_enabled/ctx": enabled_ctx,
        "is_enabled/build": enabled_build,
        "get_string/ctx": string_ctx,
        "get_string/build": string_build,
        "get_string/str": string_id,
        "engine/bool": engine_bool,
        "engine/string": engine_string,
        "openfeature/bool": openfeature_bool,
        "openfeature/floor": openfeature_floor,
    }


def check(client: Client, users: list[User]) -> None:
    """The SDK's answers equal the engine's for every user (else the timing is moot)."""
    snapshot = client._config.snapshot
    for user in users:
        ctx = EvaluationContext(user["id"], user)
        assert client.is_enabled(BOOL_FLAG, ctx) is snapshot.value(BOOL_FLAG, user["id"], user)
        expected = snapshot.value(EXP_FLAG, user["id"], user)
        assert client.get_string(EXP_FLAG, "control", ctx) == expected
        wanted = snapshot.value(BOOL_FLAG, user["id"], user)
        of_ctx = OpenFeatureContext(user["id"], user)
        assert api.get_client().get_boolean_value(BOOL_FLAG, not wanted, of_ctx) is wanted


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    if not 100 <= args.users <= 1_000_000:
        parser.error("--users: between 100 and 1,000,000")
    if not 3 <= args.rounds <= 1000:
        parser.error("--rounds: between 3 and 1000")

    users = make_users(args.users)
    client = Client("offline", None, bootstrap=environment(), recorder=MemoryRecorder())
    api.set_provider_and_wait(VerdictProvider(client, close_client=False))
    constant = InMemoryFlag("on", {"on": True, "off": False})
    api.set_provider_and_wait(InMemoryProvider({BOOL_FLAG: constant}), FLOOR_DOMAIN)
    check(client, users)
    runs = cases(client, users)
    timings: dict[str, list[float]] = {name: [] for name in runs}
    names = list(runs)
    rng = random.Random(11)
    gc.disable()
    try:
        for _ in range(args.rounds):
            rng.shuffle(names)
            for name in names:
                start = time.perf_counter_ns()
                runs[name]()
                timings[name].append((time.perf_counter_ns() - start) / len(users))
    finally:
        gc.enable()

    print(
        f"# sdk_bench: {len(users)} users x {args.rounds} rounds, "
        f"{len(client.configuration['flags'])} flags, Python {platform.python_version()}, "
        f"{platform.machine()}, {os.cpu_count()} cores"
    )
    print(f"{'case':<18} {'median ns/call':>15} {'p95 ns/call':>12}")
    for name in runs:
        values = sorted(timings[name])
        p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
        print(f"{name:<18} {statistics.median(values):>15.0f} {p95:>12.0f}")
    api.shutdown()
    client.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
