"""Server-side render time of every dashboard page at seed 004's scale.

Seeds 1,000 running experiments and 200 flags (benchmarks/load/seed.py, through the
ORM) into a fresh SQLite database (or ``--database-url``, PostgreSQL databases are
created and dropped here), builds the app in process, signs in through the login form
and times ``--requests`` GETs of each page with the app's test client: the time from
the request entering the ASGI app to the last byte of the answer, no network. Printed
per page: median and P95 in milliseconds and the answer's size. The issue's goal is
every page under 200 ms.

Usage: .venv/bin/python benchmarks/dashboard_bench.py [--requests 30]
           [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parent / "load"))
from seed import seed

from verdict.server.app import create_app
from verdict.server.config import get_settings
from verdict.server.db import create_db_engine, create_session_factory, migrate
from verdict.server.identity import service
from verdict.server.identity.schemas import UserCreate

PASSWORD = "dashboard-bench-password"
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def _pages(app_sections: frozenset[str], keys: dict[str, list[str]]) -> list[str]:
    pages = sorted(app_sections)
    if "/experiments" in app_sections:
        pages += [
            "/experiments?page=20",
            "/experiments?q=exp-09&status=running",
            f"/experiments/{keys['experiments'][500]}",
        ]
    if "/flags" in app_sections:
        pages += ["/flags?q=flag-1", f"/flags/{keys['flags'][100]}"]
    return pages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        admin_engine = name = None
        url = f"sqlite:///{scratch}/dashboard.db"
        if args.database_url:
            name = f"verdict_bench_{uuid.uuid4().hex[:12]}"
            admin_engine = sa.create_engine(args.database_url, isolation_level="AUTOCOMMIT")
            with admin_engine.connect() as connection:
                connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
            url = str(sa.make_url(args.database_url).set(database=name))
        try:
            _run(url, args.requests)
        finally:
            if admin_engine is not None:
                with admin_engine.connect() as connection:
                    connection.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
                admin_engine.dispose()


def _run(url: str, requests: int) -> None:
    settings = get_settings(database_url=url, migrate_on_start=False)
    engine = create_db_engine(settings)
    migrate.upgrade(engine)
    started = time.perf_counter()
    with create_session_factory(engine)() as session:
        keys = seed(session)
        service.create_user(
            session,
            actor=service.SYSTEM,
            data=UserCreate(
                username="bench-admin",
                email="bench@example.com",
                password=PASSWORD,
                is_superuser=True,
                roles=["admin"],
            ),
        )
    engine.dispose()
    print(f"seeded 1,000 experiments and 200 flags in {time.perf_counter() - started:.1f} s")
    app = create_app(settings)
    with TestClient(app, follow_redirects=False) as client:
        form = client.get("/login").text
        token = _TOKEN.search(form)
        assert token is not None
        answer = client.post(
            "/login",
            data={"username": "bench-admin", "password": PASSWORD, "csrf_token": token[1]},
        )
        assert answer.status_code == 303, answer.text
        print(f"{'page':<44} {'median ms':>10} {'P95 ms':>8} {'kB':>7}")
        for page in _pages(app.state.dashboard_sections, keys):
            first = client.get(page)  # warm: templates compiled, caches filled
            if first.status_code != 200:
                print(f"{page:<44} HTTP {first.status_code}")
                continue
            times = []
            for _ in range(requests):
                began = time.perf_counter()
                client.get(page)
                times.append((time.perf_counter() - began) * 1000)
            times.sort()
            p95 = times[int(0.95 * (len(times) - 1))]
            print(
                f"{page:<44} {statistics.median(times):>10.1f} {p95:>8.1f} "
                f"{len(first.content) / 1024:>7.1f}"
            )


if __name__ == "__main__":
    main()
