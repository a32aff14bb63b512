#!/usr/bin/env python3
"""How long ``verdict flags import --from growthbook`` takes for N flags (default
1,000, the most one file may hold), on SQLite and on PostgreSQL.

The payload is a GrowthBook SDK payload generated from a fixed seed: saved groups
(lists of user ids, and condition groups), and flags of the four value types whose
rules are force rules with conditions (``$in``, ``$regex``, ``$vgte``, ``$gte``,
``$inGroup``, ``$savedGroup``, ``$elemMatch``), percentage rollouts, and prerequisite
gates on other flags of the file (about a third of the flags have one). It is written
to a file and imported with the function the CLI calls (``verdict.cli.flags``), into
the environment ``production`` of a freshly migrated database.

Each run is its own process with its own database (a file for SQLite; on PostgreSQL a
database ``verdict_bench_<hex>`` created on the server and dropped afterwards), so a
run's peak memory is its own. The time is the import alone: reading the file,
mapping, writing, the final check and the commit; creating and migrating the
database is not timed. Printed per backend: the median and the spread of ``--runs``
runs, and the largest peak resident memory of a run's process (with, in brackets,
its resident memory before the import started: the interpreter and the libraries).

``--per-write-checks`` times the import as it was before its checks were deferred:
the services compile the environment's whole configuration before and after every
write, as for an API request (the run leaves the deferral out; everything else is the
same code). Its time grows with the square of the number of flags: about 6 minutes for
1,000 on SQLite.

Usage:  .venv/bin/python benchmarks/flag_import_bench.py [--flags 1000] [--runs 3]
            [--backend sqlite --backend postgresql] [--pg-admin-url URL]
            [--per-write-checks]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import resource
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
COUNTRIES = ("US", "CA", "GB", "DE", "FR", "BR", "IN", "JP", "ES", "IT")
PLANS = ("free", "pro", "team", "enterprise")


# --------------------------------------------------------------------- the payload
def _condition(rng: random.Random, list_groups: list[str], condition_groups: list[str]) -> Any:
    kind = rng.randrange(8)
    if kind == 0:
        return {"country": {"$in": rng.sample(COUNTRIES, rng.randint(1, 4))}}
    if kind == 1:
        return {"email": {"$regex": rf"@{rng.choice(('corp', 'staff', 'qa'))}\.example\.com$"}}
    if kind == 2:
        return {"device": "android", "app_version": {"$vgte": f"5.{rng.randint(0, 9)}.0"}}
    if kind == 3:
        return {"plan": rng.choice(PLANS), "lifetime_value": {"$gte": rng.randint(1, 50) * 100}}
    if kind == 4:
        return {"id": {"$inGroup": rng.choice(list_groups)}}
    if kind == 5:
        return {"$savedGroup": {"id": rng.choice(condition_groups)}}
    if kind == 6:
        return {"tags": {"$elemMatch": {"$eq": rng.choice(("retail", "wholesale", "beta"))}}}
    return {
        "$or": [
            {"country": rng.choice(COUNTRIES)},
            {"id": {"$notInGroup": rng.choice(list_groups)}, "plan": {"$ne": "free"}},
        ]
    }


def _value(rng: random.Random, value_type: str, index: int) -> Any:
    if value_type == "boolean":
        return rng.random() < 0.5
    if value_type == "string":
        return rng.choice(("blue", "green", "red", "gold", f"v{index}"))
    if value_type == "number":
        return rng.randint(0, 1000)
    return {"text": f"banner {rng.randint(0, 99)}", "dismissible": rng.random() < 0.5}


def growthbook_payload(flags: int, seed: int = 7) -> dict[str, Any]:
    """A GrowthBook SDK payload of ``flags`` features (see the module docstring)."""
    rng = random.Random(seed)
    list_groups = [f"grp_list_{i}" for i in range(max(4, flags // 25))]
    condition_groups = [f"grp_cond_{i}" for i in range(max(2, flags // 100))]
    saved: dict[str, Any] = {
        group: [f"u-{rng.randrange(100_000)}" for _ in range(rng.randint(5, 60))]
        for group in list_groups
    }
    for group in condition_groups:
        saved[group] = {
            "type": "condition",
            "condition": {"lifetime_value": {"$gte": rng.randint(1, 20) * 100}},
        }
    features: dict[str, Any] = {}
    booleans: list[str] = []
    for index in range(flags):
        key = f"flag-{index:04d}"
        value_type = rng.choices(("boolean", "string", "number", "json"), (6, 2, 1, 1))[0]
        rules: list[dict[str, Any]] = []
        if booleans and rng.random() < 0.35:
            parent = rng.choice(booleans[-200:])
            rules.append(
                {"parentConditions": [{"id": parent, "condition": {"value": True}, "gate": True}]}
            )
        for number in range(rng.randint(1, 4)):
            rule: dict[str, Any] = {
                "id": f"fr_{index}_{number}",
                "condition": _condition(rng, list_groups, condition_groups),
                "force": _value(rng, value_type, index),
            }
            if rng.random() < 0.25:
                rule.update(coverage=rng.randint(1, 99) / 100, hashAttribute="id")
            rules.append(rule)
        if rng.random() < 0.3:
            rules.append(
                {
                    "id": f"fr_{index}_all",
                    "force": _value(rng, value_type, index),
                    "coverage": rng.randint(1, 99) / 100,
                    "hashAttribute": "id",
                }
            )
        features[key] = {"defaultValue": _value(rng, value_type, index), "rules": rules}
        if value_type == "boolean":
            booleans.append(key)
    return {"status": 200, "features": features, "savedGroups": saved}


# --------------------------------------------------------------------- one run
def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _one_run(url: str, path: str, per_write: bool, queue: Any) -> None:
    from contextlib import nullcontext

    from verdict.cli.flags import import_flags
    from verdict.server.config import get_settings
    from verdict.server.db import create_db_engine, migrate
    from verdict.server.flags.imports import apply
    from verdict.server.flags.validation import DeferredChecks

    if per_write:
        # Nothing deferred: every service call checks the whole configuration itself.
        apply.deferred_checks = lambda session: nullcontext(DeferredChecks())
    engine = create_db_engine(get_settings(database_url=url))
    migrate.upgrade(engine)
    lines: list[str] = []
    before = _peak_mb()
    start = time.perf_counter()
    succeeded = import_flags(
        engine,
        path=path,
        source="growthbook",
        environments=["production"],
        existing=apply.Existing.FAIL,
        dry_run=False,
        say=lines.append,
    )
    elapsed = time.perf_counter() - start
    engine.dispose()
    queue.put((succeeded, elapsed, before, _peak_mb(), lines[-1] if lines else ""))


Outcome = tuple[bool, float, float, float, str]


def _in_process(url: str, path: str, per_write: bool) -> Outcome:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_one_run, args=(url, path, per_write, queue))
    process.start()
    result = queue.get()
    process.join()
    return result  # type: ignore[no-any-return]


def _run_sqlite(path: str, workdir: Path, per_write: bool) -> Outcome:
    database = workdir / f"bench-{uuid.uuid4().hex}.db"
    try:
        return _in_process(f"sqlite:///{database}", path, per_write)
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)


def _run_postgresql(path: str, admin_url: str, per_write: bool) -> Outcome:
    name = f"verdict_bench_{uuid.uuid4().hex}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
            return _in_process(url, path, per_write)
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flags", type=int, default=1_000, help="flags in the payload")
    parser.add_argument("--runs", type=int, default=3, help="runs per backend")
    parser.add_argument(
        "--backend", action="append", choices=("sqlite", "postgresql"), help="default: both"
    )
    parser.add_argument("--pg-admin-url", default=PG_ADMIN_URL)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--per-write-checks",
        action="store_true",
        help="check the whole configuration after every write (the import before)",
    )
    args = parser.parse_args()
    if not 1 <= args.flags <= 1_000:
        parser.error("--flags: between 1 and 1000 (the most one import file may hold)")
    if not 1 <= args.runs <= 50:
        parser.error("--runs: between 1 and 50")
    payload = growthbook_payload(args.flags, args.seed)
    rules = sum(len(feature["rules"]) for feature in payload["features"].values())
    print(
        f"GrowthBook SDK payload: {args.flags} flags, {rules} rules, "
        f"{len(payload['savedGroups'])} saved groups; checks "
        + ("after every write" if args.per_write_checks else "deferred to the end")
    )
    with tempfile.TemporaryDirectory(prefix="verdict-import-bench-") as tmp:
        workdir = Path(tmp)
        path = workdir / "payload.json"
        path.write_text(json.dumps(payload))
        print(f"{'backend':12} {'median s':>9} {'min s':>7} {'max s':>7} {'peak MB':>8}   result")
        for backend in args.backend or ["sqlite", "postgresql"]:
            times: list[float] = []
            peaks: list[float] = []
            baseline = 0.0
            summary = ""
            for _ in range(args.runs):
                if backend == "sqlite":
                    outcome = _run_sqlite(str(path), workdir, args.per_write_checks)
                else:
                    outcome = _run_postgresql(str(path), args.pg_admin_url, args.per_write_checks)
                succeeded, elapsed, before, peak, summary = outcome
                if not succeeded:
                    raise SystemExit(f"{backend}: the import was refused: {summary}")
                times.append(elapsed)
                peaks.append(peak)
                baseline = max(baseline, before)
            print(
                f"{backend:12} {statistics.median(times):9.2f} {min(times):7.2f} "
                f"{max(times):7.2f} {max(peaks):8.0f}   ({baseline:.0f} before) {summary}"
            )


if __name__ == "__main__":
    main()
