"""Bytes per stored assignment on PostgreSQL (seed 004 budgets about 200 B).

Creates a throwaway database (or uses --database-url), migrates it, writes 1,000
experiments of two variants and N assignments spread over them with COPY, then prints
what PostgreSQL reports: heap, TOAST, each index, and (table + indexes) / rows.
Two row profiles are measured, because what a caller sends decides the size:

  minimal  unit id only (the hot path of a server-side SDK)
  full     unit id, device id, session id and a three-attribute context document

Usage: python benchmarks/storage.py [--rows 1000000] [--database-url URL] [--keep]
"""

from __future__ import annotations

import argparse
import json
import random
import time
import uuid
from collections.abc import Iterator

import psycopg
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from verdict.server.config import get_settings
from verdict.server.db import create_db_engine, migrate

ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
EXPERIMENTS = 1_000
COUNTRIES = ("US", "CA", "GB", "DE", "FR", "BR", "IN", "JP")
PLANS = ("free", "pro", "team")

# (experiment id, control variant id, treatment variant id)
Experiment = tuple[uuid.UUID, uuid.UUID, uuid.UUID]


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def create_experiments(conn: psycopg.Connection) -> list[Experiment]:
    rows = []
    with conn.cursor() as cur:
        for i in range(EXPERIMENTS):
            experiment, control, treatment = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
            cur.execute(
                "INSERT INTO experiments (id, key, name, status) VALUES (%s, %s, %s, 'running')",
                (experiment, f"exp-{i:04d}", f"Experiment {i}"),
            )
            cur.executemany(
                "INSERT INTO variants (id, experiment_id, key, is_control, weight, position) "
                "VALUES (%s, %s, %s, %s, 0.5, %s)",
                [
                    (control, experiment, "control", True, 0),
                    (treatment, experiment, "treatment", False, 1),
                ],
            )
            rows.append((experiment, control, treatment))
    conn.commit()
    return rows


def assignment_rows(
    n: int, experiments: list[Experiment], profile: str, seed: int
) -> Iterator[tuple[object, ...]]:
    rng = random.Random(seed)
    for i in range(n):
        experiment, control, treatment = experiments[i % len(experiments)]
        bucket = rng.randrange(10_000)
        variant = control if bucket < 5_000 else treatment
        unit_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        if profile == "minimal":
            yield (uuid.uuid4(), experiment, variant, unit_id, None, None, None, bucket)
        else:
            context = json.dumps(
                {
                    "country": rng.choice(COUNTRIES),
                    "plan": rng.choice(PLANS),
                    "app_version": "4.12.1",
                }
            )
            yield (
                uuid.uuid4(),
                experiment,
                variant,
                unit_id,
                f"dev-{rng.getrandbits(48):012x}",
                str(uuid.uuid4()),
                context,
                bucket,
            )


def measure(conn: psycopg.Connection) -> dict[str, int]:
    conn.autocommit = True  # VACUUM refuses to run inside a transaction
    with conn.cursor() as cur:
        cur.execute("VACUUM (ANALYZE) assignments")
        cur.execute(
            "SELECT count(*), pg_relation_size('assignments'), pg_table_size('assignments'), "
            "pg_indexes_size('assignments') FROM assignments"
        )
        rows, heap, table, indexes = cur.fetchone()  # type: ignore[misc]
        cur.execute(
            "SELECT indexrelid::regclass::text, pg_relation_size(indexrelid) FROM pg_index "
            "WHERE indrelid = 'assignments'::regclass ORDER BY 2 DESC"
        )
        per_index = dict(cur.fetchall())
    return {"rows": rows, "heap": heap, "table": table, "indexes": indexes, **per_index}


def run_profile(url: str, rows: int, profile: str, experiments: list[Experiment]) -> None:
    with psycopg.connect(_libpq(url), autocommit=False) as conn:
        conn.execute("TRUNCATE assignments, events")
        conn.commit()
        started = time.perf_counter()
        with (
            conn.cursor() as cur,
            cur.copy(
                "COPY assignments (id, experiment_id, variant_id, unit_id, device_id, session_id, "
                "context, bucket) FROM STDIN"
            ) as copy,
        ):
            for row in assignment_rows(rows, experiments, profile, seed=7):
                copy.write_row(row)
        conn.commit()
        elapsed = time.perf_counter() - started
        sizes = measure(conn)
    n = sizes.pop("rows")
    heap, table, indexes = sizes.pop("heap"), sizes.pop("table"), sizes.pop("indexes")
    print(
        f"\nprofile {profile}: {n:,} assignments written by COPY in {elapsed:.1f} s "
        f"({n / elapsed:,.0f} rows/s)"
    )
    print(f"  heap                         {heap / n:7.1f} B/row  ({heap / 2**20:8.1f} MiB)")
    print(f"  table incl. TOAST/FSM/VM     {table / n:7.1f} B/row  ({table / 2**20:8.1f} MiB)")
    for name, size in sizes.items():
        print(f"  index {name:<40} {size / n:7.1f} B/row")
    print(f"  indexes                      {indexes / n:7.1f} B/row  ({indexes / 2**20:8.1f} MiB)")
    print(
        f"  TOTAL (table + indexes) / rows = {(table + indexes) / n:.1f} B per assignment "
        f"(seed 004 budget: ~200 B)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database-url", help="an existing PostgreSQL database to use")
    parser.add_argument("--keep", action="store_true", help="keep the throwaway database")
    args = parser.parse_args()

    admin = None
    url = args.database_url
    if url is None:
        admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
        name = f"verdict_storage_{uuid.uuid4().hex[:8]}"
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    engine = create_db_engine(get_settings(database_url=url))
    try:
        migrate.upgrade(engine)
        with engine.connect() as connection:
            version = connection.execute(text("SHOW server_version")).scalar()
        print(f"PostgreSQL {version}; {args.rows:,} assignments over {EXPERIMENTS} experiments")
        with psycopg.connect(_libpq(url)) as conn:
            experiments = create_experiments(conn)
        for profile in ("minimal", "full"):
            run_profile(url, args.rows, profile, experiments)
    finally:
        engine.dispose()
        if admin is not None and not args.keep:
            with admin.connect() as connection:
                connection.execute(
                    text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')
                )
            admin.dispose()


if __name__ == "__main__":
    main()
