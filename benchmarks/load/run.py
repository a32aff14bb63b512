"""Load benchmark of the hot paths against `verdict serve` on PostgreSQL.

Seeds a throwaway database with 1,000 running experiments and 200 flags in production
(seed 004's scale), starts `verdict serve --workers W`, and drives each hot path with
wrk (C, from Debian's `wrk` package) on 127.0.0.1: assignment, single and bulk flag
evaluation (REST and OFREP) and event ingestion. Prints throughput and P50/P95/P99 per
scenario, and bytes per stored assignment after the run.

Usage: python benchmarks/load/run.py [--duration 15] [--connections 64] [--workers 2]
                                     [--only assign,evaluate-bulk,...]
Needs: PostgreSQL on 127.0.0.1:5432 (trust auth), `wrk` on PATH.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent))
from seed import seed

from verdict.server.config import get_settings
from verdict.server.db import create_db_engine, create_session_factory, migrate
from verdict.server.identity import keys, service
from verdict.server.identity.models import ApiKeyKind

ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

# Each scenario: path, Lua code that builds one body, and how many decisions a request is.
COMMON_LUA = r"""
local counter = 0
local thread_id = 0
function setup(thread) thread:set("tid", thread_id); thread_id = thread_id + 1 end
local pool, pooled, next_request = {}, 0, 0
local countries = {"US", "CA", "GB", "DE"}
local plans = {"pro", "free"}
local function unit() counter = counter + 1; return "u" .. counter .. "-" .. math.random(1, 1000000000) end
local function attrs() return '"country":"' .. countries[math.random(1, 4)] .. '","plan":"' .. plans[math.random(1, 2)] .. '"' end
done = function(summary, latency, requests)
  io.write(string.format('RESULT {"requests":%d,"duration_us":%d,"non_2xx":%d,"socket_errors":%d,"p50":%d,"p95":%d,"p99":%d}\n',
    summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""

SCENARIOS: dict[str, tuple[str, str, int]] = {
    "assign": (
        "/api/v1/assign",
        'return \'{"unit_id":"\' .. unit() .. \'","attributes":{\' .. attrs() .. \'},"experiments":["exp-\' .. string.format("%04d", math.random(0, 999)) .. \'"]}\'',
        1,
    ),
    "evaluate-single": (
        "/api/v1/evaluate",
        'return \'{"targeting_key":"\' .. unit() .. \'","attributes":{\' .. attrs() .. \'},"flags":["flag-\' .. string.format("%03d", math.random(0, 199)) .. \'"]}\'',
        1,
    ),
    "evaluate-bulk": (
        "/api/v1/evaluate",
        "return '{\"targeting_key\":\"' .. unit() .. '\",\"attributes\":{' .. attrs() .. '}}'",
        200,
    ),
    "ofrep-single": (
        "/ofrep/v1/evaluate/flags/flag-{FLAG}",
        "return '{\"context\":{\"targetingKey\":\"' .. unit() .. '\",' .. attrs() .. '}}'",
        1,
    ),
    "ofrep-bulk": (
        "/ofrep/v1/evaluate/flags",
        "return '{\"context\":{\"targetingKey\":\"' .. unit() .. '\",' .. attrs() .. '}}'",
        200,
    ),
    "ingest": (
        "/api/v1/events",
        r"""local parts = {}
for i = 1, 1000 do
  parts[i] = '{"client_event_id":"' .. unit() .. '","type":"order","unit_id":"u' .. math.random(1, 100000) .. '","value":' .. math.random(1, 100) .. '}'
end
return '{"events":[' .. table.concat(parts, ",") .. ']}'""",
        1000,
    ),
}


# Requests each wrk thread builds before the clock starts and then sends in turn, so
# that wrk spends its CPU on sending rather than on building bodies in Lua (it shares
# the machine with the server). Assignment needs a new unit per request (a repeated
# unit would be a sticky read, not a first assignment): its pool is larger than the
# requests a thread sends in a run. Ingestion builds its large bodies as it goes.
POOL_SIZES = {"assign": 60_000, "ingest": 0}
DEFAULT_POOL = 10_000


def _lua(scenario: str, key: str) -> str:
    path, body, _ = SCENARIOS[scenario]
    dynamic_path = "{FLAG}" in path
    lines = [COMMON_LUA, "local function body()", body, "end", "local function make()"]
    if dynamic_path:
        lines.append(
            '  local p = "'
            + path.replace("{FLAG}", '" .. string.format("%03d", math.random(0, 199)) .. "')
            + '"'
        )
    else:
        lines.append(f'  local p = "{path}"')
    lines.append(
        '  return wrk.format("POST", p, {["Content-Type"] = "application/json", '
        f'["Authorization"] = "Bearer {key}"}}, body())'
    )
    lines.append("end")
    size = POOL_SIZES.get(scenario, DEFAULT_POOL)
    lines.append(
        "function init(args)\n"
        "  math.randomseed(os.time() * 1000 + tid); counter = tid * 100000000\n"
        f"  pooled = {size}\n"
        "  for i = 1, pooled do pool[i] = make() end\n"
        "end\n"
        "request = function()\n"
        "  if pooled == 0 then return make() end\n"
        "  next_request = next_request % pooled + 1\n"
        "  return pool[next_request]\n"
        "end"
    )
    return "\n".join(lines)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _prepare_database(url: str) -> str:
    engine = create_db_engine(get_settings(database_url=url))
    migrate.upgrade(engine)
    with create_session_factory(engine)() as session:
        seed(session)
        _, secret = keys.create_key(
            session,
            actor=service.SYSTEM,
            name="load",
            kind=ApiKeyKind.SERVER,
            environment="production",
        )
    engine.dispose()
    return secret


def _start_server(url: str, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {**os.environ, "VERDICT_DATABASE_URL": url, "VERDICT_LOG_LEVEL": "warning"}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "verdict",
            "serve",
            "--port",
            str(port),
            "--no-migrate",
            "--workers",
            str(workers),
            "--no-access-log",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return server, base
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise RuntimeError("server did not start")


def _run_wrk(
    base: str, scenario: str, key: str, connections: int, duration: int
) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_lua(scenario, key))
    command = [
        "wrk",
        "-t2",
        f"-c{connections}",
        f"-d{duration}s",
        "--timeout",
        "10s",
        "-s",
        script.name,
        base,
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    os.unlink(script.name)
    line = next(line for line in output.splitlines() if line.startswith("RESULT "))
    result: dict[str, float] = json.loads(line.removeprefix("RESULT "))
    return result


def _bytes_per_assignment(url: str) -> tuple[int, float]:
    engine = create_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT count(*) FROM assignments")).scalar() or 0
        size = (
            connection.execute(
                text("SELECT pg_table_size('assignments') + pg_indexes_size('assignments')")
            ).scalar()
            or 0
        )
    engine.dispose()
    return int(rows), (size / rows if rows else float("nan"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--ingest-connections", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=2, help="seconds, not measured")
    parser.add_argument(
        "--latency-connections",
        type=int,
        default=16,
        help="also run the single-flag scenarios with this many connections (0: no)",
    )
    parser.add_argument("--only", default=",".join(SCENARIOS))
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"verdict_load_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    server = None
    try:
        started = time.perf_counter()
        key = _prepare_database(url)
        print(
            f"seeded 1,000 running experiments and 200 flags in {time.perf_counter() - started:.1f} s"
        )
        server, base = _start_server(url, args.workers)
        print(
            f"verdict serve --workers {args.workers} on PostgreSQL; wrk -t2 -c{args.connections} "
            f"-d{args.duration}s on 127.0.0.1 (one 2-core machine runs both)\n"
        )
        print(
            f"{'scenario':<16} {'conns':>5} {'req/s':>9} {'decisions/s':>12} {'P50 ms':>8} {'P95 ms':>8} "
            f"{'P99 ms':>8} {'non-2xx':>8}"
        )
        runs = [
            (scenario, args.ingest_connections if scenario == "ingest" else args.connections)
            for scenario in args.only.split(",")
        ]
        if args.latency_connections:
            # Saturating 64 connections measures throughput; single-flag latency is also
            # shown at a lighter, steady concurrency.
            runs += [
                (scenario, args.latency_connections)
                for scenario in ("evaluate-single", "ofrep-single")
                if scenario in args.only.split(",")
            ]
        for scenario, connections in runs:
            # Warm up first: every worker compiles its snapshot and opens its pool.
            _run_wrk(base, scenario, key, connections, args.warmup)
            result = _run_wrk(base, scenario, key, connections, args.duration)
            seconds = result["duration_us"] / 1e6
            rps = result["requests"] / seconds
            per_request = SCENARIOS[scenario][2]
            print(
                f"{scenario:<16} {connections:>5} {rps:>9,.0f} {rps * per_request:>12,.0f} "
                f"{result['p50'] / 1000:>8.2f} {result['p95'] / 1000:>8.2f} "
                f"{result['p99'] / 1000:>8.2f} {result['non_2xx'] + result['socket_errors']:>8.0f}"
            )
        rows, per_row = _bytes_per_assignment(url)
        print(
            f"\nassignments stored: {rows:,}; bytes per assignment (table + indexes): {per_row:.0f}"
        )
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
