"""``verdict demo`` end to end: seeded through the SDK and the API, analysed by the real
pipeline, and its planted effects found (issue 17, points 1 and 5).

The demo runs once per module at 3,000 visitors on a database of its own; the checks
read what the pipeline stored and recompute the key figures from the raw assignment
and event rows with scipy, independently of the demo's code.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from scipy import stats
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from tests.conftest import DatabaseFactory
from verdict.cli import app
from verdict.server.analysis import results
from verdict.server.app import create_app
from verdict.server.config import get_settings
from verdict.server.db import create_db_engine, create_session_factory

runner = CliRunner()
USERS = 3_000
EXPERIMENTS = (
    "homepage-button-color",
    "chatbot-reply-style",
    "checkout-flow",
    "promo-headline",
    "landing-page-redesign",
)


@dataclass(frozen=True)
class Seeded:
    url: str
    output: str
    password: str


def _password(output: str) -> str:
    match = re.search(r"password \(shown once\):\s*\n\s*(\S+)", output)
    assert match, output
    return match.group(1)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _demo(*options: str) -> tuple[int, str]:
    result = runner.invoke(app, ["demo", "--no-serve", *options])
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def seeded(database_factory: DatabaseFactory) -> Seeded:
    url = database_factory.new_url("sqlite")
    code, output = _demo("--users", str(USERS), "--database-url", url)
    assert code == 0, output
    return Seeded(url, output, _password(output))


@pytest.fixture(scope="module")
def engine(seeded: Seeded) -> Iterator[Engine]:
    engine = create_db_engine(get_settings(database_url=seeded.url))
    yield engine
    engine.dispose()


def _latest(engine: Engine, key: str) -> results.ResultsOut:
    import verdict.server.models  # noqa: F401

    with create_session_factory(engine)() as session:
        return results.latest_results(session, key=key)


def _primary(out: results.ResultsOut, metric: str) -> dict[str, results.MetricResultOut]:
    return {r.variant: r for r in out.results if r.metric == metric and not r.cuped}


def _units(engine: Engine, key: str) -> dict[str, int]:
    query = text(
        "SELECT v.key, count(*) FROM assignments a JOIN variants v ON v.id = a.variant_id "
        "JOIN experiments e ON e.id = a.experiment_id WHERE e.key = :key GROUP BY v.key"
    )
    with engine.connect() as connection:
        return {k: int(n) for k, n in connection.execute(query, {"key": key})}


def _converted(engine: Engine, key: str, event: str) -> dict[str, int]:
    """Units per variant with an ``event`` at or after their exposure, from raw rows."""
    query = text(
        "SELECT v.key, count(DISTINCT a.unit_id) FROM assignments a "
        "JOIN variants v ON v.id = a.variant_id JOIN experiments e ON e.id = a.experiment_id "
        "JOIN events ev ON ev.unit_id = a.unit_id AND ev.event_type = :event "
        "AND ev.client_timestamp >= a.assigned_at "
        "WHERE e.key = :key GROUP BY v.key"
    )
    with engine.connect() as connection:
        return {k: int(n) for k, n in connection.execute(query, {"key": key, "event": event})}


def test_the_demo_seeds_every_experiment_with_traffic_and_results(
    seeded: Seeded, engine: Engine
) -> None:
    assert "simulated 3,000 visitors" in seeded.output
    for key in EXPERIMENTS:
        out = _latest(engine, key)
        assert out.run.status.value == "succeeded"
        assert sum(_units(engine, key).values()) > 100, key
    with engine.connect() as connection:
        draft = connection.execute(
            text("SELECT status FROM experiments WHERE key = 'pricing-annual-toggle'")
        ).scalar_one()
        flags = connection.execute(text("SELECT count(*) FROM feature_flags")).scalar_one()
        days = connection.execute(
            text("SELECT count(DISTINCT date(assigned_at)) FROM assignments")
        ).scalar_one()
    assert str(draft).lower() == "draft"
    assert flags >= 5
    assert days >= 14  # the traffic is spread over the past two weeks


def test_the_homepage_winner_is_significant_in_the_planted_direction(engine: Engine) -> None:
    rows = _primary(_latest(engine, "homepage-button-color"), "cta-click")
    green, blue = rows["green"], rows["blue"]
    assert green.significant is True
    assert green.relative_lift is not None
    assert green.relative_lift > 0.1
    # The stored figures are those of the raw rows, and scipy agrees on significance.
    units = _units(engine, "homepage-button-color")
    clicks = _converted(engine, "homepage-button-color", "cta_click")
    assert (blue.sample_size, green.sample_size) == (units["blue"], units["green"])
    assert green.mean == pytest.approx(clicks["green"] / units["green"])
    table = [
        [clicks["blue"], units["blue"] - clicks["blue"]],
        [clicks["green"], units["green"] - clicks["green"]],
    ]
    assert stats.chi2_contingency(table, correction=False).pvalue < 0.01


def test_the_chatbot_reply_style_shows_no_difference(engine: Engine) -> None:
    out = _latest(engine, "chatbot-reply-style")
    rows = _primary(out, "chat-resolved")
    assert set(rows) == {"formal", "friendly", "concise"}
    assert not any(r.significant for r in rows.values() if not r.is_control)
    units = _units(engine, "chatbot-reply-style")
    resolved = _converted(engine, "chatbot-reply-style", "chat_resolved")
    table = [[resolved[v], units[v] - resolved[v]] for v in sorted(units)]
    assert stats.chi2_contingency(table, correction=False).pvalue > 0.05


def test_the_split_url_test_flags_its_sample_ratio_mismatch(engine: Engine) -> None:
    out = _latest(engine, "landing-page-redesign")
    assert out.run.srm is not None
    assert out.run.srm["mismatch"] is True
    assert out.run.decision is not None
    assert out.run.decision["verdict"] == "invalid"
    units = _units(engine, "landing-page-redesign")
    assert units["redesign"] < units["current"]
    assert stats.chisquare([units["current"], units["redesign"]]).pvalue < 0.001
    for key in ("homepage-button-color", "chatbot-reply-style", "checkout-flow"):
        srm = _latest(engine, key).run.srm
        assert srm is not None, key
        assert srm["mismatch"] is False, key


def test_the_bandit_moved_traffic_to_the_best_headline(engine: Engine) -> None:
    units = _units(engine, "promo-headline")
    assert units["bundle"] > units["discount"] + units["shipping"]
    with engine.connect() as connection:
        phases = connection.execute(
            text(
                "SELECT count(*) FROM experiment_phases p JOIN experiments e "
                "ON e.id = p.experiment_id WHERE e.key = 'promo-headline'"
            )
        ).scalar_one()
    assert phases > 1


def test_the_printed_password_signs_the_admin_in(seeded: Seeded) -> None:
    with TestClient(create_app(get_settings(database_url=seeded.url))) as client:
        login = client.post(
            "/api/v1/auth/login", json={"username": "admin", "password": seeded.password}
        )
        assert login.status_code == 200, login.text
        page = client.get("/experiments/promo-headline")
        assert page.status_code == 200
        assert "Bandit" in page.text


def test_running_the_demo_again_changes_nothing(seeded: Seeded, engine: Engine) -> None:
    def counts() -> tuple[int, ...]:
        with engine.connect() as connection:
            return tuple(
                connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
                for table in ("experiments", "assignments", "events", "feature_flags", "users")
            )

    before = counts()
    code, output = _demo("--users", str(USERS), "--database-url", seeded.url)
    assert code == 0, output
    assert "already holds the demo" in output
    assert "password was not changed" in output
    assert counts() == before
    assert "sample ratio MISMATCH" in output  # the stored results are shown again


def _copy(database_factory: DatabaseFactory, seeded: Seeded) -> str:
    """A new SQLite database holding what the seeded demo database holds."""
    copy = database_factory.new_url("sqlite")
    with (
        sqlite3.connect(seeded.url.removeprefix("sqlite:///")) as source,
        sqlite3.connect(copy.removeprefix("sqlite:///")) as target,
    ):
        source.backup(target)
    return copy


def test_reset_password_gives_the_admin_a_new_one(
    database_factory: DatabaseFactory, seeded: Seeded
) -> None:
    copy = _copy(database_factory, seeded)
    code, output = _demo("--reset-password", "--database-url", copy)
    assert code == 0, output
    new = _password(output)
    assert new != seeded.password
    with TestClient(create_app(get_settings(database_url=copy))) as client:
        for password, status in ((new, 200), (seeded.password, 401)):
            login = client.post(
                "/api/v1/auth/login", json={"username": "admin", "password": password}
            )
            assert login.status_code == status, login.text


def test_an_interrupted_demo_is_refused_with_a_clear_message(
    database_factory: DatabaseFactory, seeded: Seeded
) -> None:
    copy = _copy(database_factory, seeded)
    with sqlite3.connect(copy.removeprefix("sqlite:///")) as target:
        # As if the run had stopped before analysing: no results for one experiment.
        target.execute("PRAGMA foreign_keys=ON")
        target.execute(
            "DELETE FROM analysis_runs WHERE experiment_id = "
            "(SELECT id FROM experiments WHERE key = 'landing-page-redesign')"
        )
    code, output = _demo("--database-url", copy)
    assert code == 1
    assert "interrupted" in output


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (["--users", "10"], "--users"),
        (["--users", "2000000"], "--users"),
        (["--users", "many"], "--users"),
        (["--port", "0"], "--port"),
    ],
)
def test_bad_options_exit_non_zero_naming_the_option(
    options: list[str], named: str, tmp_path: Path
) -> None:
    code, output = _demo(*options, "--database-url", f"sqlite:///{tmp_path / 'v.db'}")
    assert code == 2
    assert named in output
    assert not (tmp_path / "v.db").exists()


def test_the_demo_serves_the_dashboard_at_the_url_it_prints(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERDICT_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "verdict", "demo", "--users", "1000", "--port", str(port)],
        cwd=tmp_path,  # the default database, ./verdict.db
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 180
        url = None
        while url is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
            found = re.search(r"dashboard: (http://\S+)", line)
            url = found.group(1) if found else None
        assert url == f"http://127.0.0.1:{port}/", "".join(lines)
        password = _password("".join(lines))
        response = None
        while time.monotonic() < deadline:
            try:
                response = httpx.get(f"{url}login", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        assert response is not None
        assert response.status_code == 200
        with httpx.Client(base_url=url) as client:
            login = client.post(
                "/api/v1/auth/login", json={"username": "admin", "password": password}
            )
            assert login.status_code == 200
            page = client.get("/experiments")
            assert page.status_code == 200
            assert "homepage-button-color" in page.text
        assert (tmp_path / "verdict.db").exists()
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
