#!/usr/bin/env python3
"""Local (in-process) flag-evaluation benchmark of peer feature-flag SDKs.

Written from scratch for our experimentation platform's performance anchors.
It drives each SDK only through its public API; no SDK code is copied here.

Two logical flags, configured identically (as far as each SDK allows) in every SDK:

  new-checkout  boolean. True only for users with country in {US, CA} AND
                plan == "pro", and of those only 50% (hashed on the user id).
                Everyone else gets False.
  checkout-exp  string experiment, variants A/B/C weighted 34/33/33, hashed on
                the user id, every user enrolled.

Rows:
  floor                 plain Python: set membership + mmh3.hash('salt:uid') % 10000
  empty-call            `lambda a: None`, i.e. the loop + call overhead every row pays
  growthbook            one GrowthBook(features=dict) instance, set_attributes() per user
  growthbook-per-user   a new GrowthBook(attributes, features=dict) per user (per-request pattern)
  unleash               UnleashClient bootstrapped from an in-memory cache, no server
  flagsmith-sdk         Flagsmith(offline_mode=True, offline_handler=<env document dict>)
  flagsmith-engine      flag_engine.get_evaluation_result(EvaluationContext dict) directly
  openfeature           OpenFeature client + InMemoryProvider, flag logic = floor logic
  verdict               verdict.sdk.Client bootstrapped offline from a configuration dict,
                        the context passed as a dict {"targeting_key", "attributes"}
  verdict-ctx           the same, the context built as an EvaluationContext

Every eval starts from the same per-user dict {"id", "country", "plan"}; turning that
into the SDK's own context object is part of the timed work (it is per-request work
in a real service too).

Cases: bool = new-checkout over all N users (75% fail targeting, 25% reach the hash);
bool-elig = new-checkout over just the ~N/4 eligible users (every eval hashes);
variant = checkout-exp over all N users (every eval hashes).

Timing: each timed pass evaluates every user of the case once (timeit, number=1).
Passes are interleaved round-robin across all rows in a shuffled order per round, so
machine noise hits all rows alike; the median pass is reported (us/eval, evals/s) plus
the ratio to the floor measured in the same run.

Usage:  /tmp/peervenv/bin/python benchmarks/peer_eval_bench.py [--users 100000] [--rounds 5]
                                                   [--out peer_eval_results.txt]
"""

from __future__ import annotations

import argparse
import gc
import logging
import math
import os
import platform
import random
import statistics
import sys
import time
import timeit
import uuid
from importlib.metadata import PackageNotFoundError, version

import mmh3

BOOL_FLAG = "new-checkout"
EXP_FLAG = "checkout-exp"
ELIGIBLE_COUNTRIES = ("US", "CA")
ELIGIBLE_PLAN = "pro"
ROLLOUT_PCT = 50
VARIANTS = (("A", 34), ("B", 33), ("C", 33))

# Population: 4 countries x 2 plans, uniform -> 25% of users are eligible.
COUNTRIES = ("US", "CA", "GB", "DE")
PLANS = ("pro", "free")

# bool      : new-checkout over all users (75% short-circuit on targeting, 25% hashed)
# bool-elig : new-checkout over only the eligible users (every eval reaches the hash)
# variant   : checkout-exp over all users (every eval hashes)
CASES = ("bool", "bool-elig", "variant")

PACKAGES = (
    "growthbook",
    "UnleashClient",
    "yggdrasil-engine",
    "flagsmith",
    "flagsmith-flag-engine",
    "openfeature-sdk",
    "mmh3",
    "verdict",
)


def make_users(n: int, seed: int = 20240601) -> list[dict]:
    rng = random.Random(seed)
    users = []
    seen = set()
    while len(users) < n:
        uid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        if uid in seen:
            continue
        seen.add(uid)
        users.append({"id": uid, "country": rng.choice(COUNTRIES), "plan": rng.choice(PLANS)})
    return users


def is_eligible(a: dict) -> bool:
    return a["country"] in ELIGIBLE_COUNTRIES and a["plan"] == ELIGIBLE_PLAN


# --------------------------------------------------------------------------- floor
_ELIG_SET = frozenset(ELIGIBLE_COUNTRIES)
_BOOL_SALT = BOOL_FLAG + ":"
_EXP_SALT = EXP_FLAG + ":"
_CUT_A = VARIANTS[0][1] * 100  # 3400
_CUT_B = _CUT_A + VARIANTS[1][1] * 100  # 6700
_ROLLOUT_CUT = ROLLOUT_PCT * 100  # 5000


def floor_bool(a: dict) -> bool:
    if a["country"] in _ELIG_SET and a["plan"] == "pro":
        return mmh3.hash(_BOOL_SALT + a["id"]) % 10000 < _ROLLOUT_CUT
    return False


def floor_variant(a: dict) -> str:
    b = mmh3.hash(_EXP_SALT + a["id"]) % 10000
    return "A" if b < _CUT_A else ("B" if b < _CUT_B else "C")


def setup_floor():
    return (
        floor_bool,
        floor_variant,
        "plain function: frozenset membership + mmh3.hash('<flag>:'+uid) % 10000",
    )


def setup_empty():
    f = lambda a: None  # noqa: E731
    return f, f, "lambda a: None (loop + one Python call; every row pays this)"


# ---------------------------------------------------------------------- GrowthBook
def growthbook_features() -> dict:
    return {
        BOOL_FLAG: {
            "defaultValue": False,
            "rules": [
                {
                    # percentage rollout rule: force + coverage, hashed on attribute "id"
                    "id": "rollout-1",
                    "condition": {
                        "country": {"$in": list(ELIGIBLE_COUNTRIES)},
                        "plan": ELIGIBLE_PLAN,
                    },
                    "force": True,
                    "coverage": ROLLOUT_PCT / 100,
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
                    "id": "exp-1",
                    "key": EXP_FLAG,
                    "variations": [v for v, _ in VARIANTS],
                    "weights": [w / 100 for _, w in VARIANTS],
                    "coverage": 1.0,
                    "hashAttribute": "id",
                    "hashVersion": 2,
                    "seed": EXP_FLAG,
                }
            ],
        },
    }


def setup_growthbook():
    from growthbook import GrowthBook

    gb = GrowthBook(features=growthbook_features())  # no api_host / client_key: local only

    def gb_bool(a, gb=gb):
        gb.set_attributes(a)
        return gb.is_on(BOOL_FLAG)

    def gb_variant(a, gb=gb):
        gb.set_attributes(a)
        return gb.get_feature_value(EXP_FLAG, "control")

    return (
        gb_bool,
        gb_variant,
        (
            "GrowthBook(features=<dict>) shared instance; per eval set_attributes(user) then "
            "is_on()/get_feature_value(); rollout rule = condition+force+coverage 0.5, experiment "
            "rule = variations+weights; hashAttribute 'id', hashVersion 2"
        ),
    )


def setup_growthbook_per_user():
    from growthbook import GrowthBook

    feats = growthbook_features()

    def gbi_bool(a, feats=feats):
        gb = GrowthBook(attributes=a, features=feats)
        return gb.is_on(BOOL_FLAG)

    def gbi_variant(a, feats=feats):
        gb = GrowthBook(attributes=a, features=feats)
        return gb.get_feature_value(EXP_FLAG, "control")

    return (
        gbi_bool,
        gbi_variant,
        (
            "new GrowthBook(attributes=user, features=<same dict>) per eval (per-request instance "
            "pattern), then is_on()/get_feature_value()"
        ),
    )


# ------------------------------------------------------------------------- Unleash
def unleash_toggles() -> dict:
    return {
        "version": 2,
        "features": [
            {
                "name": BOOL_FLAG,
                "type": "release",
                "project": "default",
                "enabled": True,
                "stale": False,
                "impressionData": False,
                "strategies": [
                    {
                        "name": "flexibleRollout",
                        "parameters": {
                            "rollout": str(ROLLOUT_PCT),
                            "stickiness": "userId",
                            "groupId": BOOL_FLAG,
                        },
                        "constraints": [
                            {
                                "contextName": "country",
                                "operator": "IN",
                                "values": list(ELIGIBLE_COUNTRIES),
                                "inverted": False,
                                "caseInsensitive": False,
                            },
                            {
                                "contextName": "plan",
                                "operator": "IN",
                                "values": [ELIGIBLE_PLAN],
                                "inverted": False,
                                "caseInsensitive": False,
                            },
                        ],
                    }
                ],
                "variants": [],
            },
            {
                "name": EXP_FLAG,
                "type": "experiment",
                "project": "default",
                "enabled": True,
                "stale": False,
                "impressionData": False,
                "strategies": [
                    {
                        "name": "flexibleRollout",
                        "parameters": {
                            "rollout": "100",
                            "stickiness": "userId",
                            "groupId": EXP_FLAG,
                        },
                        "constraints": [],
                        # strategy variants; weights are per-mille and must sum to 1000
                        "variants": [
                            {
                                "name": v,
                                "weight": w * 10,
                                "weightType": "variable",
                                "stickiness": "userId",
                                "payload": {"type": "string", "value": v},
                            }
                            for v, w in VARIANTS
                        ],
                    }
                ],
                "variants": [],
            },
        ],
    }


def setup_unleash():
    import json

    from UnleashClient import UnleashClient
    from UnleashClient.cache import BaseCache
    from UnleashClient.constants import FEATURES_URL

    class MemoryCache(BaseCache):
        """In-memory BaseCache: avoids the default on-disk FileCache."""

        def __init__(self):
            self._d = {}

        def bootstrap_from_dict(self, cfg: dict) -> None:
            self._d[FEATURES_URL] = json.dumps(cfg)
            self.bootstrapped = True

        def set(self, key, value):
            self._d[key] = value

        def mset(self, data):
            self._d.update(data)

        def get(self, key, default=None):
            return self._d.get(key, default)

        def exists(self, key):
            return key in self._d

        def destroy(self):
            self._d.clear()

    cache = MemoryCache()
    cache.bootstrap_from_dict(unleash_toggles())
    client = UnleashClient(
        url="http://127.0.0.1:9/never-contacted",
        app_name="peer-eval-bench",
        disable_metrics=True,
        disable_registration=True,
        refresh_interval=86400,
        cache=cache,
    )
    # Offline mode: no fetching; toggles come from the (bootstrapped) cache only.
    client.initialize_client(fetch_toggles=False)

    def un_bool(a, c=client):
        return c.is_enabled(
            BOOL_FLAG, {"userId": a["id"], "country": a["country"], "plan": a["plan"]}
        )

    def un_variant(a, c=client):
        return c.get_variant(
            EXP_FLAG, {"userId": a["id"], "country": a["country"], "plan": a["plan"]}
        )["name"]

    un_bool.client = client  # keep alive / allow teardown
    return (
        un_bool,
        un_variant,
        (
            "UnleashClient(url=<unused>, disable_metrics, disable_registration, cache=<in-memory "
            "BaseCache bootstrapped with /client/features JSON>); initialize_client(fetch_toggles=False) "
            "= offline connector; flexibleRollout 50% (stickiness userId) + constraints country IN "
            "[US,CA], plan IN [pro]; experiment = flexibleRollout 100% with strategy variants "
            "340/330/330; per eval is_enabled()/get_variant() with {userId, country, plan}"
        ),
    )


# ------------------------------------------------------------------------ Flagsmith
FS_ENV_KEY = "benchEnvKey"


def flagsmith_env_document() -> dict:
    """Environment document in the shape the Flagsmith API serves it."""
    return {
        "api_key": FS_ENV_KEY,
        "name": "bench",
        "updated_at": "2024-01-01T00:00:00+00:00",
        "identity_overrides": [],
        "feature_states": [
            {
                "feature": {"id": 1, "name": BOOL_FLAG},
                "enabled": False,
                "feature_state_value": None,
                "django_id": 101,
                "featurestate_uuid": "00000000-0000-4000-8000-000000000101",
                "multivariate_feature_state_values": [],
            },
            {
                "feature": {"id": 2, "name": EXP_FLAG},
                "enabled": True,
                "feature_state_value": "control",
                "django_id": 102,
                "featurestate_uuid": "00000000-0000-4000-8000-000000000102",
                "multivariate_feature_state_values": [
                    {
                        "id": i + 1,
                        "mv_fs_value_uuid": f"00000000-0000-4000-8000-00000000020{i}",
                        "percentage_allocation": w,
                        "multivariate_feature_option": {"value": v},
                    }
                    for i, (v, w) in enumerate(VARIANTS)
                ],
            },
        ],
        "project": {
            "segments": [
                {
                    "id": 10,
                    "name": "new-checkout-eligible-50pct",
                    "rules": [
                        {
                            "type": "ALL",
                            "rules": [],
                            "conditions": [
                                {
                                    "operator": "IN",
                                    "property_": "country",
                                    "value": ",".join(ELIGIBLE_COUNTRIES),
                                },
                                {"operator": "EQUAL", "property_": "plan", "value": ELIGIBLE_PLAN},
                                {
                                    "operator": "PERCENTAGE_SPLIT",
                                    "property_": "",
                                    "value": str(ROLLOUT_PCT),
                                },
                            ],
                        }
                    ],
                    "feature_states": [
                        {
                            "feature": {"id": 1, "name": BOOL_FLAG},
                            "enabled": True,
                            "feature_state_value": None,
                            "django_id": 201,
                            "featurestate_uuid": "00000000-0000-4000-8000-000000000301",
                            "feature_segment": {"priority": 0},
                            "multivariate_feature_state_values": [],
                        }
                    ],
                }
            ]
        },
    }


def setup_flagsmith_sdk():
    from flagsmith import Flagsmith

    doc = flagsmith_env_document()

    class DictOfflineHandler:
        def get_environment(self):
            return doc

    fs = Flagsmith(offline_mode=True, offline_handler=DictOfflineHandler())

    def fs_bool(a, fs=fs):
        return fs.get_identity_flags(
            a["id"], {"country": a["country"], "plan": a["plan"]}
        ).is_feature_enabled(BOOL_FLAG)

    def fs_variant(a, fs=fs):
        return fs.get_identity_flags(
            a["id"], {"country": a["country"], "plan": a["plan"]}
        ).get_feature_value(EXP_FLAG)

    return (
        fs_bool,
        fs_variant,
        (
            "Flagsmith(offline_mode=True, offline_handler=<object returning an environment-document "
            "dict>); segment rule ALL[country IN 'US,CA', plan EQUAL pro, PERCENTAGE_SPLIT 50] with a "
            "segment override enabling new-checkout; checkout-exp = multivariate 34/33/33; per eval "
            "get_identity_flags(uid, traits).is_feature_enabled()/get_feature_value()"
        ),
    )


def flagsmith_engine_contexts() -> tuple[dict, dict]:
    """Hand-built EvaluationContext dicts, one per case (just that feature)."""
    env = {"key": FS_ENV_KEY, "name": "bench"}
    bool_ctx = {
        "environment": env,
        "features": {BOOL_FLAG: {"key": "101", "name": BOOL_FLAG, "enabled": False, "value": None}},
        "segments": {
            "10": {
                "key": "10",
                "name": "new-checkout-eligible-50pct",
                "rules": [
                    {
                        "type": "ALL",
                        "conditions": [
                            {
                                "property": "country",
                                "operator": "IN",
                                "value": list(ELIGIBLE_COUNTRIES),
                            },
                            {"property": "plan", "operator": "EQUAL", "value": ELIGIBLE_PLAN},
                            {
                                "property": "",
                                "operator": "PERCENTAGE_SPLIT",
                                "value": str(ROLLOUT_PCT),
                            },
                        ],
                    }
                ],
                "overrides": [
                    {"key": "201", "name": BOOL_FLAG, "enabled": True, "value": None, "priority": 0}
                ],
            }
        },
    }
    exp_ctx = {
        "environment": env,
        "features": {
            EXP_FLAG: {
                "key": "102",
                "name": EXP_FLAG,
                "enabled": True,
                "value": "control",
                "variants": [
                    {"key": v, "value": v, "weight": w, "priority": i + 1}
                    for i, (v, w) in enumerate(VARIANTS)
                ],
            }
        },
    }
    return bool_ctx, exp_ctx


def setup_flagsmith_engine():
    from flag_engine.engine import get_evaluation_result

    bool_ctx, exp_ctx = flagsmith_engine_contexts()

    def fe_bool(a, base=bool_ctx, ev=get_evaluation_result):
        ctx = {
            **base,
            "identity": {
                "identifier": a["id"],
                "traits": {"country": a["country"], "plan": a["plan"]},
            },
        }
        return ev(ctx)["flags"][BOOL_FLAG]["enabled"]

    def fe_variant(a, base=exp_ctx, ev=get_evaluation_result):
        ctx = {
            **base,
            "identity": {
                "identifier": a["id"],
                "traits": {"country": a["country"], "plan": a["plan"]},
            },
        }
        return ev(ctx)["flags"][EXP_FLAG]["value"]

    return (
        fe_bool,
        fe_variant,
        (
            "flag_engine.get_evaluation_result(EvaluationContext) on a hand-built context dict "
            "holding only the queried feature (+ its segment); identity {identifier, traits} merged "
            "in per eval (flag-engine 11 has no get_identity_feature_states/environment model)"
        ),
    )


# ---------------------------------------------------------------------- OpenFeature
def setup_openfeature():
    from openfeature import api
    from openfeature.evaluation_context import EvaluationContext
    from openfeature.flag_evaluation import FlagResolutionDetails, Reason
    from openfeature.provider.in_memory_provider import InMemoryFlag, InMemoryProvider

    def bool_eval(flag, ctx):
        attrs = ctx.attributes
        if attrs.get("country") in _ELIG_SET and attrs.get("plan") == "pro":
            on = mmh3.hash(_BOOL_SALT + ctx.targeting_key) % 10000 < _ROLLOUT_CUT
            v = "on" if on else "off"
            return FlagResolutionDetails(
                value=flag.variants[v], variant=v, reason=Reason.TARGETING_MATCH
            )
        return FlagResolutionDetails(value=False, variant="off", reason=Reason.DEFAULT)

    def exp_eval(flag, ctx):
        b = mmh3.hash(_EXP_SALT + ctx.targeting_key) % 10000
        v = "A" if b < _CUT_A else ("B" if b < _CUT_B else "C")
        return FlagResolutionDetails(value=flag.variants[v], variant=v, reason=Reason.SPLIT)

    provider = InMemoryProvider(
        {
            BOOL_FLAG: InMemoryFlag(
                default_variant="off",
                variants={"on": True, "off": False},
                context_evaluator=bool_eval,
            ),
            EXP_FLAG: InMemoryFlag(
                default_variant="A",
                variants={v: v for v, _ in VARIANTS},
                context_evaluator=exp_eval,
            ),
        }
    )
    api.set_provider(provider)
    client = api.get_client("peer-eval-bench")

    def of_bool(a, c=client, ec=EvaluationContext):
        return c.get_boolean_value(
            BOOL_FLAG, False, ec(a["id"], {"country": a["country"], "plan": a["plan"]})
        )

    def of_variant(a, c=client, ec=EvaluationContext):
        return c.get_string_value(
            EXP_FLAG, "control", ec(a["id"], {"country": a["country"], "plan": a["plan"]})
        )

    return (
        of_bool,
        of_variant,
        (
            "api.set_provider(InMemoryProvider({flag: InMemoryFlag(variants, context_evaluator=...)})); "
            "InMemoryProvider has no rule language, so targeting+hashing is the floor logic in a "
            "context_evaluator; per eval client.get_boolean_value/get_string_value(key, default, "
            "EvaluationContext(targeting_key=uid, attributes))"
        ),
    )


# ------------------------------------------------------------------------- Verdict
def verdict_configuration() -> dict:
    """The two flags as a Verdict configuration document (docs/targeting.md section 4)."""
    return {
        "flags": {
            BOOL_FLAG: {
                "type": "boolean",
                "default": False,
                "rules": [
                    {
                        "id": "eligible-half",
                        "type": "rollout",
                        "condition": {
                            "country": {"$in": list(ELIGIBLE_COUNTRIES)},
                            "plan": ELIGIBLE_PLAN,
                        },
                        "percentage": ROLLOUT_PCT,
                        "value": True,
                    }
                ],
            },
            EXP_FLAG: {
                "type": "string",
                "default": "control",
                "variants": [{"key": v, "value": v} for v, _ in VARIANTS],
                "rules": [
                    {
                        "id": "split",
                        "type": "split",
                        "weights": [{"variant": v, "weight": w / 100} for v, w in VARIANTS],
                    }
                ],
            },
        }
    }


def _verdict_client():
    from verdict.sdk import Client

    # Offline: no server, the configuration comes from the bootstrap document alone.
    return Client("peer-eval-bench", None, bootstrap=verdict_configuration())


def setup_verdict():
    client = _verdict_client()

    def vd_bool(a, c=client):
        return c.is_enabled(BOOL_FLAG, {"targeting_key": a["id"], "attributes": a})

    def vd_variant(a, c=client):
        return c.get_string(EXP_FLAG, "control", {"targeting_key": a["id"], "attributes": a})

    vd_bool.client = client  # keep alive / allow teardown
    return (
        vd_bool,
        vd_variant,
        (
            "verdict.sdk.Client(key, None, bootstrap=<configuration dict>) offline; rollout "
            "rule 50% with condition country $in [US,CA], plan pro; checkout-exp = split rule "
            "34/33/33; per eval is_enabled()/get_string(key, 'control', context) with the "
            "context a dict {'targeting_key': user['id'], 'attributes': user}"
        ),
    )


def setup_verdict_ctx():
    from verdict.sdk import EvaluationContext

    client = _verdict_client()

    def vdc_bool(a, c=client, ec=EvaluationContext):
        return c.is_enabled(BOOL_FLAG, ec(a["id"], a))

    def vdc_variant(a, c=client, ec=EvaluationContext):
        return c.get_string(EXP_FLAG, "control", ec(a["id"], a))

    vdc_bool.client = client
    return (
        vdc_bool,
        vdc_variant,
        (
            "the same client; the context built as EvaluationContext(user['id'], user) per eval "
            "(a named tuple: its constructor runs Python code)"
        ),
    )


SETUPS = {
    "floor": setup_floor,
    "empty-call": setup_empty,
    "growthbook": setup_growthbook,
    "growthbook-per-user": setup_growthbook_per_user,
    "unleash": setup_unleash,
    "flagsmith-sdk": setup_flagsmith_sdk,
    "flagsmith-engine": setup_flagsmith_engine,
    "openfeature": setup_openfeature,
    "verdict": setup_verdict,
    "verdict-ctx": setup_verdict_ctx,
}


# ---------------------------------------------------------------------- correctness
def check_bool(results: list, users: list[dict]) -> dict:
    elig_true = elig_n = inelig_true = 0
    for r, a in zip(results, users, strict=True):
        if r not in (True, False):
            raise AssertionError(f"non-boolean result {r!r}")
        if is_eligible(a):
            elig_n += 1
            elig_true += r
        else:
            inelig_true += r
    frac = elig_true / elig_n
    p = ROLLOUT_PCT / 100
    tol = 4 * math.sqrt(p * (1 - p) / elig_n)  # 4 sigma binomial tolerance
    ok = inelig_true == 0 and abs(frac - p) < tol
    return {
        "eligible": elig_n,
        "eligible_true_frac": frac,
        "ineligible_true": inelig_true,
        "ok": ok,
    }


def check_variant(results: list) -> dict:
    n = len(results)
    counts = {v: 0 for v, _ in VARIANTS}
    other = 0
    for r in results:
        if r in counts:
            counts[r] += 1
        else:
            other += 1
    fracs = {v: c / n for v, c in counts.items()}
    ok = other == 0 and all(
        abs(fracs[v] - w / 100) < 4 * math.sqrt((w / 100) * (1 - w / 100) / n) for v, w in VARIANTS
    )
    return {"fracs": fracs, "other": other, "ok": ok}


# --------------------------------------------------------------------------- timing
def make_loop(fn, users):
    def loop():
        for a in users:
            fn(a)

    return loop


def pkg_versions() -> dict:
    out = {}
    for p in PACKAGES:
        try:
            out[p] = version(p)
        except PackageNotFoundError:
            out[p] = "not installed"
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=5, help="timed passes per row/case")
    ap.add_argument("--only", default="", help="comma-separated row names")
    ap.add_argument("--gc", action="store_true", help="keep GC enabled while timing")
    ap.add_argument(
        "--append",
        action="store_true",
        help="append to --out instead of overwriting (for repeat runs)",
    )
    ap.add_argument("--label", default="run 1", help="label printed in the report header")
    ap.add_argument(
        "--out",
        default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "peer_eval_results.txt"),
    )
    args = ap.parse_args()

    logging.basicConfig(level=logging.WARNING)
    users = make_users(args.users)
    n = len(users)
    # Fresh, contiguously allocated copies (new dicts and new id strings): walking every
    # 4th object of `users` instead costs the floor ~0.3 us/eval of cache misses, which
    # would swamp it. The full-population passes walk objects in allocation order.
    eligible = [
        {"id": (a["id"] + ".")[:-1], "country": a["country"], "plan": a["plan"]}
        for a in users
        if is_eligible(a)
    ]
    names = [s for s in SETUPS if not args.only or s in args.only.split(",")]

    rows = {}
    notes = {}
    checks = {}
    for name in names:
        t0 = time.perf_counter()
        fb, fv, note = SETUPS[name]()
        setup_s = time.perf_counter() - t0
        notes[name] = note
        rows[(name, "bool")] = fb
        rows[(name, "bool-elig")] = fb
        rows[(name, "variant")] = fv
        # untimed correctness pass (doubles as warm-up)
        rb = [fb(a) for a in users]
        rv = [fv(a) for a in users]
        if name == "empty-call":
            checks[name] = {"setup_s": setup_s, "bool": None, "variant": None}
        else:
            checks[name] = {
                "setup_s": setup_s,
                "bool": check_bool(rb, users),
                "variant": check_variant(rv),
            }
        print(
            f"[setup] {name}: {setup_s * 1e3:.1f} ms; correctness "
            f"bool={checks[name]['bool']} variant={checks[name]['variant']}",
            flush=True,
        )

    # interleaved, shuffled round-robin timing
    pop = {"bool": users, "bool-elig": eligible, "variant": users}
    times = {k: [] for k in rows}
    rng = random.Random(7)
    setup_stmt = "gc.enable()" if args.gc else "pass"
    keys = list(rows)
    t_start = time.perf_counter()
    for rnd in range(args.rounds):
        rng.shuffle(keys)
        for k in keys:
            timer = timeit.Timer(
                make_loop(rows[k], pop[k[1]]), setup=setup_stmt, globals={"gc": gc}
            )
            times[k].append(timer.timeit(number=1))
        print(
            f"[round {rnd + 1}/{args.rounds}] done at {time.perf_counter() - t_start:.0f}s",
            flush=True,
        )

    def us_per(k):
        return statistics.median(times[k]) / len(pop[k[1]]) * 1e6

    floor = {c: us_per(("floor", c)) for c in CASES}

    lines = []
    w = lines.append
    w(f"Peer feature-flag SDK local-evaluation benchmark -- {args.label}")
    w("=" * 72)
    w(f"date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    w(
        f"python: {sys.version.split()[0]} ({platform.python_implementation()}), "
        f"platform: {platform.platform()}, cpus: {os.cpu_count()}"
    )
    w("packages: " + ", ".join(f"{k}=={v}" for k, v in pkg_versions().items()))
    w(
        f"users: {n} distinct (uuid4 strings; country uniform over {COUNTRIES}, plan uniform "
        f"over {PLANS} -> {len(eligible)} eligible)"
    )
    w(
        f"cases: bool = new-checkout over all {n} users (75% fail targeting, 25% reach the "
        f"hash); bool-elig = new-checkout over the {len(eligible)} eligible users only (every "
        f"eval hashes); variant = checkout-exp over all {n} users (every eval hashes)"
    )
    w(
        f"timing: {args.rounds} timed passes per row and case, each pass = every user of the "
        f"case once (timeit number=1, GC {'enabled' if args.gc else 'disabled, timeit default'}); "
        f"passes interleaved round-robin in shuffled order; "
        f"figures = median pass. spread = (max-min)/median over passes. "
        f"x floor = ratio to the floor row of the same case in this run."
    )
    w("")
    hdr = (
        f"{'sdk':<22}{'case':<10}{'us/eval':>10}{'evals/s':>12}{'x floor':>9}"
        f"{'min us':>9}{'spread':>8}"
    )
    w(hdr)
    w("-" * len(hdr))
    for name in names:
        for case in CASES:
            k = (name, case)
            med = us_per(k)
            mn = min(times[k]) / len(pop[k[1]]) * 1e6
            spread = (max(times[k]) - min(times[k])) / statistics.median(times[k])
            w(
                f"{name:<22}{case:<10}{med:>10.2f}{1e6 / med:>12,.0f}{med / floor[case]:>9.1f}"
                f"{mn:>9.2f}{spread * 100:>7.1f}%"
            )
    w("")
    w(
        "correctness (bool: fraction of eligible users getting True, target 0.50, and count of "
        "ineligible users getting True, target 0; variant: split, target 0.34/0.33/0.33):"
    )
    for name in names:
        c = checks[name]
        if c["bool"] is None:
            continue
        b, v = c["bool"], c["variant"]
        fr = "/".join(f"{v['fracs'][x]:.4f}" for x, _ in VARIANTS)
        w(
            f"  {name:<22} bool: eligible_true={b['eligible_true_frac']:.4f} "
            f"ineligible_true={b['ineligible_true']} [{'OK' if b['ok'] else 'FAIL'}]   "
            f"variant A/B/C={fr} other={v['other']} [{'OK' if v['ok'] else 'FAIL'}]"
        )
    w("")
    w(
        "setup per row (setup wall time incl. first import of the SDK, then how the flag "
        "config was fed):"
    )
    for name in names:
        w(f"  {name}: ({checks[name]['setup_s'] * 1e3:.1f} ms) {notes[name]}")
    w("")
    w("raw pass times (s):")
    for name in names:
        for case in CASES:
            w(f"  {name}/{case}: " + " ".join(f"{t:.3f}" for t in times[(name, case)]))

    text = "\n".join(lines) + "\n"
    print(text)
    with open(args.out, "a" if args.append else "w") as fh:
        if args.append:
            fh.write("\n\n")
        fh.write(text)
    print(f"written to {args.out}")

    fn = rows.get(("unleash", "bool"))
    if fn is not None and hasattr(fn, "client"):
        fn.client.destroy()
    for row in ("verdict", "verdict-ctx"):
        fn = rows.get((row, "bool"))
        if fn is not None and hasattr(fn, "client"):
            fn.client.close()
    all_ok = all(
        c["bool"] is None or (c["bool"]["ok"] and c["variant"]["ok"]) for c in checks.values()
    )
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
