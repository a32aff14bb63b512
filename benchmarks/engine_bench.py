#!/usr/bin/env python3
"""Local flag-evaluation speed of Verdict's engine, beside GrowthBook and a plain-Python floor.

Two flags, defined the same way for every row (the flags of /work/shared/bench):

  new-checkout  boolean: true for users with country in {US, CA} and plan "pro", and of
                those only 50 % by a hash of the user id; false for everyone else.
  checkout-exp  string: variants A/B/C weighted 34/33/33 by a hash of the user id.

Every evaluation starts from the per-user dict {"id", "country", "plan"}; turning it into
the SDK's evaluation context is part of the timed work. Cases: ``bool`` = new-checkout
over all users (75 % fail targeting), ``bool-elig`` = new-checkout over the eligible
quarter only (every evaluation hashes), ``variant`` = checkout-exp over all users.

Rows:
  floor            plain function: frozenset membership + mmh3 hash % 10000
  verdict-value    Snapshot.value(flag, user["id"], user): the fast path; the context is
                   the (targeting key, attribute mapping) pair, no object is built
  verdict-detail   Snapshot.evaluate(flag, EvaluationContext(user["id"], user)): builds
                   the context object and returns the full FlagResult
  growthbook       one GrowthBook(features=...) instance; set_attributes(user) then
                   is_on() / get_feature_value() per evaluation

Timing: each pass evaluates every user of a case once with the garbage collector off;
passes are interleaved round-robin across rows in a shuffled order each round, so noise
hits every row alike. Reported: median pass and 95th-percentile pass, in microseconds
per evaluation, and the ratio to the floor of the same run.

A second part times a realistic environment of 200 flags (boolean, string, percentage
rollouts, segment and multi-condition flags) evaluated all at once for one context.

Usage:  .venv/bin/python benchmarks/engine_bench.py [--users 100000] [--rounds 15]
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import platform
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import mmh3

from verdict.engine import EvaluationContext, Snapshot, compile_config

BOOL_FLAG = "new-checkout"
EXP_FLAG = "checkout-exp"
VARIANTS = (("A", 34), ("B", 33), ("C", 33))
COUNTRIES = ("US", "CA", "GB", "DE")
PLANS = ("pro", "free")
CASES = ("bool", "bool-elig", "variant")

User = dict[str, Any]
Evaluator = Callable[[User], Any]
Setup = tuple[Evaluator, Evaluator, str]


def make_users(count: int, seed: int = 7) -> list[User]:
    rng = random.Random(seed)
    return [
        {
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "country": rng.choice(COUNTRIES),
            "plan": rng.choice(PLANS),
        }
        for _ in range(count)
    ]


def eligible(user: User) -> bool:
    return user["country"] in ("US", "CA") and user["plan"] == "pro"


# ------------------------------------------------------------------ rows
def setup_floor() -> Setup:
    countries = frozenset(("US", "CA"))
    bool_prefix, exp_prefix = f"{BOOL_FLAG}:", f"{EXP_FLAG}:"
    hash_ = mmh3.hash

    def floor_bool(user: User) -> bool:
        if user["country"] in countries and user["plan"] == "pro":
            return bool(hash_(bool_prefix + user["id"], 0, False) % 10_000 < 5_000)
        return False

    def floor_variant(user: User) -> str:
        bucket = hash_(exp_prefix + user["id"], 0, False) % 10_000
        return "A" if bucket < 3_400 else "B" if bucket < 6_700 else "C"

    return floor_bool, floor_variant, "frozenset membership + mmh3.hash(prefix + id) % 10000"


def verdict_config() -> dict[str, Any]:
    """The two benchmark flags in Verdict's configuration shape."""
    return {
        "flags": {
            BOOL_FLAG: {
                "type": "boolean",
                "default": False,
                "rules": [
                    {
                        "id": "eligible-half",
                        "type": "rollout",
                        "condition": {"country": {"$in": ["US", "CA"]}, "plan": "pro"},
                        "percentage": 50,
                        "value": True,
                    }
                ],
            },
            EXP_FLAG: {
                "type": "string",
                "default": "control",
                "variants": [{"key": key, "value": key} for key, _ in VARIANTS],
                "rules": [
                    {
                        "id": "split",
                        "type": "split",
                        "weights": [
                            {"variant": key, "weight": weight / 100} for key, weight in VARIANTS
                        ],
                    }
                ],
            },
        }
    }


def setup_verdict() -> Setup:
    """Drop-in for the shared peer harness: ``(bool_fn, variant_fn, note)``."""
    value = compile_config(verdict_config()).value

    def verdict_bool(user: User) -> Any:
        return value(BOOL_FLAG, user["id"], user)

    def verdict_variant(user: User) -> Any:
        return value(EXP_FLAG, user["id"], user)

    return (
        verdict_bool,
        verdict_variant,
        (
            "compile_config(<dict>) once; per eval Snapshot.value(flag, user['id'], user) "
            "(value path: targeting key + the user dict as attributes, no context object)"
        ),
    )


def setup_verdict_detail() -> Setup:
    evaluate = compile_config(verdict_config()).evaluate
    context = EvaluationContext

    def detail_bool(user: User) -> Any:
        return evaluate(BOOL_FLAG, context(user["id"], user)).value

    def detail_variant(user: User) -> Any:
        return evaluate(EXP_FLAG, context(user["id"], user)).value

    return (
        detail_bool,
        detail_variant,
        (
            "per eval Snapshot.evaluate(flag, EvaluationContext(user['id'], user)) -> FlagResult "
            "(value, variant, reason, rule)"
        ),
    )


def setup_growthbook() -> Setup:
    from growthbook import GrowthBook

    features = {
        BOOL_FLAG: {
            "defaultValue": False,
            "rules": [
                {
                    "condition": {"country": {"$in": ["US", "CA"]}, "plan": "pro"},
                    "force": True,
                    "coverage": 0.5,
                    "hashAttribute": "id",
                    "hashVersion": 2,
                    "seed": BOOL_FLAG,
                }
            ],
        },
        EXP_FLAG: {
            "defaultValue": "control",
            "rules": [
                {
                    "key": EXP_FLAG,
                    "variations": [key for key, _ in VARIANTS],
                    "weights": [weight / 100 for _, weight in VARIANTS],
                    "hashAttribute": "id",
                    "hashVersion": 2,
                    "seed": EXP_FLAG,
                }
            ],
        },
    }
    client = GrowthBook(features=features)

    def growthbook_bool(user: User) -> Any:
        client.set_attributes(user)
        return client.is_on(BOOL_FLAG)

    def growthbook_variant(user: User) -> Any:
        client.set_attributes(user)
        return client.get_feature_value(EXP_FLAG, "control")

    return (
        growthbook_bool,
        growthbook_variant,
        (
            "one GrowthBook(features=<dict>) instance; per eval set_attributes(user) then "
            "is_on() / get_feature_value() (force rule with coverage 0.5; experiment rule)"
        ),
    )


ROWS: dict[str, Callable[[], Setup]] = {
    "floor": setup_floor,
    "verdict-value": setup_verdict,
    "verdict-detail": setup_verdict_detail,
    "growthbook": setup_growthbook,
}


# ------------------------------------------------------------------ correctness
def check(bool_results: list[Any], variant_results: list[Any], users: list[User]) -> str:
    in_scope = [r for r, user in zip(bool_results, users, strict=True) if eligible(user)]
    leaked = sum(1 for r, user in zip(bool_results, users, strict=True) if r and not eligible(user))
    share_on = sum(1 for r in in_scope if r is True) / len(in_scope)
    rollout_ok = leaked == 0 and abs(share_on - 0.5) < 4 * math.sqrt(0.25 / len(in_scope))
    shares = {key: variant_results.count(key) / len(users) for key, _ in VARIANTS}
    split_ok = (
        all(
            abs(shares[key] - w / 100) < 4 * math.sqrt(w / 100 * (1 - w / 100) / len(users))
            for key, w in VARIANTS
        )
        and sum(shares.values()) > 0.999
    )
    verdict = "OK" if rollout_ok and split_ok else "FAIL"
    split = "/".join(f"{shares[key]:.4f}" for key, _ in VARIANTS)
    return f"eligible on {share_on:.4f}, ineligible on {leaked}, split {split} [{verdict}]"


# ------------------------------------------------------------------ timing
def timed_pass(function: Evaluator, users: list[User]) -> float:
    gc.disable()
    try:
        start = time.perf_counter()
        for user in users:
            function(user)
        return time.perf_counter() - start
    finally:
        gc.enable()


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


# ------------------------------------------------------------------ 200-flag environment
def realistic_environment(rng: random.Random) -> dict[str, Any]:
    """200 flags: 50 boolean, 40 string, 40 rollout, 35 segment, 35 multi-condition."""
    segments = {
        "internal": {"email": {"$regex": "@verdict\\.dev$"}},
        "beta": {"beta": True},
        "enterprise": {"plan": {"$in": ["enterprise", "business"]}, "company.size": {"$gte": 500}},
        "mobile": {"platform": {"$in": ["ios", "android"]}},
        "eu": {"country": {"$in": ["DE", "FR", "ES", "IT", "NL", "PL", "SE"]}},
        "modern-app": {"app_version": {"$vgte": "5.2.0"}},
    }
    flags: dict[str, Any] = {}
    for i in range(50):
        rules = []
        if i % 2:
            rules.append(
                {"type": "force", "condition": {"country": rng.choice(COUNTRIES)}, "value": True}
            )
        flags[f"bool-{i}"] = {"type": "boolean", "default": bool(i % 3 == 0), "rules": rules}
    for i in range(40):
        flags[f"string-{i}"] = {
            "type": "string",
            "default": "classic",
            "rules": [
                {"type": "force", "condition": {"plan": "pro"}, "value": "pro-theme"},
                {"type": "force", "condition": {"country": {"$in": ["US", "CA"]}}, "value": "na"},
            ],
        }
    for i in range(40):
        rollout: dict[str, Any] = {
            "type": "rollout",
            "percentage": rng.choice([1, 5, 10, 25, 50, 99.5]),
            "value": True,
        }
        if i % 2:
            rollout["condition"] = {"plan": {"$ne": "free"}}
        flags[f"rollout-{i}"] = {"type": "boolean", "default": False, "rules": [rollout]}
    for i in range(35):
        first, second = rng.sample(sorted(segments), 2)
        flags[f"segment-{i}"] = {
            "type": "boolean",
            "default": False,
            "rules": [
                {"type": "force", "segment": first, "value": True},
                {"type": "rollout", "segment": second, "percentage": 20, "value": True},
            ],
        }
    for i in range(35):
        flags[f"multi-{i}"] = {
            "type": "number",
            "default": 10,
            "variants": [{"key": "low", "value": 5}, {"key": "high", "value": 50}],
            "rules": [
                {
                    "type": "force",
                    "condition": {
                        "$or": [
                            {"age": {"$gte": 18, "$lt": 30}, "country": {"$nin": ["GB"]}},
                            {"$inSegment": "mobile", "app_version": {"$vlt": "4.0.0"}},
                        ],
                        "email": {"$exists": True},
                    },
                    "variant": "high",
                },
                {
                    "type": "split",
                    "condition": {"$nor": [{"$inSegment": "internal"}]},
                    "weights": [
                        {"variant": "low", "weight": 0.5},
                        {"variant": "high", "weight": 0.5},
                    ],
                },
            ],
        }
    return {"segments": segments, "flags": flags}


def realistic_contexts(count: int, rng: random.Random) -> list[tuple[str, dict[str, Any]]]:
    contexts = []
    for i in range(count):
        attributes = {
            "id": f"user-{i}",
            "country": rng.choice([*COUNTRIES, "FR", "JP"]),
            "plan": rng.choice(["free", "pro", "enterprise"]),
            "email": rng.choice([f"u{i}@example.com", f"u{i}@verdict.dev"]),
            "platform": rng.choice(["ios", "android", "web"]),
            "app_version": rng.choice(["3.9.1", "5.2.0", "5.10.3", "6.0.0-beta.1"]),
            "age": rng.randint(13, 80),
            "beta": rng.random() < 0.1,
            "company": {"size": rng.choice([5, 50, 800])},
        }
        contexts.append((attributes["id"], attributes))
    return contexts


def time_environment(
    snapshot: Snapshot, contexts: list[tuple[str, dict[str, Any]]], rounds: int
) -> dict[str, list[float]]:
    values, evaluate_all = snapshot.values, snapshot.evaluate_all
    rows: dict[str, Callable[[tuple[str, dict[str, Any]]], Any]] = {
        "values(targeting_key, attributes)": lambda c: values(c[0], c[1]),
        "evaluate_all(EvaluationContext)": lambda c: evaluate_all(EvaluationContext(c[0], c[1])),
    }
    samples: dict[str, list[float]] = {name: [] for name in rows}
    order = list(rows)
    rng = random.Random(11)
    for _ in range(rounds):
        rng.shuffle(order)
        for name in order:
            function = rows[name]
            gc.disable()
            try:
                for context in contexts:
                    start = time.perf_counter()
                    function(context)
                    samples[name].append(time.perf_counter() - start)
            finally:
                gc.enable()
    return samples


# ------------------------------------------------------------------ main
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=15, help="timed passes per row and case")
    parser.add_argument(
        "--contexts", type=int, default=2_000, help="contexts for the 200-flag part"
    )
    args = parser.parse_args()

    users = make_users(args.users)
    # Fresh, contiguous copies so the eligible-only pass does not walk every 4th object.
    eligible_users = [dict(user, id=(user["id"] + ".")[:-1]) for user in users if eligible(user)]
    populations = {"bool": users, "bool-elig": eligible_users, "variant": users}

    functions: dict[tuple[str, str], Evaluator] = {}
    notes: dict[str, str] = {}
    checks: dict[str, str] = {}
    for name, setup in ROWS.items():
        try:
            bool_fn, variant_fn, note = setup()
        except ImportError:
            notes[name] = "not installed"
            continue
        notes[name] = note
        checks[name] = check([bool_fn(u) for u in users], [variant_fn(u) for u in users], users)
        functions[(name, "bool")] = functions[(name, "bool-elig")] = bool_fn
        functions[(name, "variant")] = variant_fn

    times: dict[tuple[str, str], list[float]] = {key: [] for key in functions}
    order = list(functions)
    rng = random.Random(3)
    for _ in range(args.rounds):
        rng.shuffle(order)
        for key in order:
            times[key].append(timed_pass(functions[key], populations[key[1]]))

    def per_eval(key: tuple[str, str], statistic: Callable[[list[float]], float]) -> float:
        return statistic(times[key]) / len(populations[key[1]]) * 1e6

    print("Verdict engine local-evaluation benchmark")
    runtime = f"python {sys.version.split()[0]} ({platform.python_implementation()})"
    packages = f"mmh3 {package_version('mmh3')}, growthbook {package_version('growthbook')}"
    print(f"{runtime}, {platform.platform()}, {os.cpu_count()} cpus; {packages}")
    print(
        f"{len(users)} users ({len(eligible_users)} eligible); {args.rounds} interleaved "
        "passes per row and case; GC off during a pass; us/eval = median pass, "
        "p95 = 95th-percentile pass"
    )
    print()
    header = f"{'row':<16}{'case':<11}{'us/eval':>9}{'p95 us':>9}{'evals/s':>13}{'x floor':>9}"
    print(header)
    print("-" * len(header))
    for name in ROWS:
        if (name, "bool") not in functions:
            print(f"{name:<16}{'(all)':<11}{'not installed':>18}")
            continue
        for case in CASES:
            median = per_eval((name, case), statistics.median)
            floor = per_eval(("floor", case), statistics.median)
            print(
                f"{name:<16}{case:<11}{median:>9.3f}{per_eval((name, case), p95):>9.3f}"
                f"{1e6 / median:>13,.0f}{median / floor:>9.1f}"
            )
    print()
    print("correctness (target: eligible on 0.5, ineligible on 0, split 0.34/0.33/0.33):")
    for name, result in checks.items():
        print(f"  {name:<16}{result}")
    print()
    print("what each row times:")
    for name, note in notes.items():
        print(f"  {name}: {note}")

    environment = compile_config(realistic_environment(random.Random(5)))
    contexts = realistic_contexts(args.contexts, random.Random(9))
    samples = time_environment(environment, contexts, rounds=max(3, args.rounds // 3))
    print()
    print(
        f"200-flag environment ({len(environment.flags)} flags: boolean, string, rollout, segment, "
        f"multi-condition), all flags for one context, {len(contexts)} contexts:"
    )
    for name, values in samples.items():
        print(
            f"  {name:<36} median {statistics.median(values) * 1e6:8.1f} us   "
            f"p95 {p95(values) * 1e6:8.1f} us per context"
        )
    return 0 if all(result.endswith("[OK]") for result in checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
