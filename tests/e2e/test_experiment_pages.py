"""The experiments pages in Chromium: an experiment created, started and fed through
the API, analysed, then read in the browser (table and charts); the progress of an
analysis followed on the page until it reloads with the results."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx

from tests.e2e.conftest import assert_accessible, screenshots, sign_in
from tests.integration.delivery.test_stream import LiveServer, admin_headers, server_key
from verdict.server.analysis import runs
from verdict.server.config import get_settings
from verdict.server.db import create_db_engine, create_session_factory

Headers = dict[str, str]


def _post(base: str, path: str, body: Any, headers: Headers, expect: int = 201) -> Any:
    answer = httpx.post(f"{base}{path}", json=body, headers=headers, timeout=30)
    assert answer.status_code == expect, answer.text
    return answer.json()


def _started_experiment(base: str, admin: Headers, key: str) -> None:
    metric = f"m-{uuid.uuid4().hex[:8]}"
    _post(
        base,
        "/api/v1/metrics",
        {"key": metric, "name": "Sign-ups", "event_name": "signup", "type": "conversion"},
        admin,
    )
    made = _post(
        base,
        "/api/v1/experiments",
        {
            "key": key,
            "name": "Greeting tone",
            "hypothesis": "A warmer greeting makes more visitors sign up.",
            "environment": "production",
            "minimum_sample_size": 500,
            "cuped_days": None,
            "variants": [
                {
                    "key": "control",
                    "is_control": True,
                    "system_prompt": "You are a terse assistant.",
                    "response_template": "Hello {name}.",
                },
                {
                    "key": "warm",
                    "system_prompt": "You are a warm and friendly assistant.",
                    "response_template": "Hi {name}! Lovely to see you.",
                    "configuration": {"tone": "warm"},
                },
            ],
            "metrics": [{"metric": metric, "role": "primary"}],
        },
        admin,
    )
    started = httpx.post(
        f"{base}/api/v1/experiments/{key}/start",
        headers={**admin, "If-Match": f'"{made["version"]}"'},
        timeout=30,
    )
    assert started.status_code == 200, started.text


def _send_traffic(base: str, admin: Headers, key: str) -> None:
    """150 units per variant exposed now; 20 sign-ups in control, 45 in warm."""
    server = server_key(base, admin)
    exposures, events = [], []
    for variant, converting in (("control", 20), ("warm", 45)):
        for i in range(150):
            unit = f"{key}-{variant}-{i}"
            exposures.append({"unit_id": unit, "experiment": key, "variant": variant})
            if i < converting:
                events.append(
                    {"client_event_id": str(uuid.uuid4()), "type": "signup", "unit_id": unit}
                )
    sent = _post(base, "/api/v1/exposures", {"exposures": exposures}, server, expect=200)
    assert not sent.get("errors"), sent
    _post(base, "/api/v1/events", {"events": events}, server, expect=200)


def test_an_analysed_experiment_shows_its_table_and_charts(
    page: Any, dashboard: LiveServer
) -> None:
    base = dashboard.base
    admin = admin_headers(base)
    key = f"greeting-{uuid.uuid4().hex[:8]}"
    _started_experiment(base, admin, key)
    _send_traffic(base, admin, key)
    run = _post(base, f"/api/v1/experiments/{key}/analyses", None, admin, expect=200)
    assert run["status"] == "succeeded"

    sign_in(page)
    page.goto("/experiments")
    page.get_by_label("Search").fill(key)
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(f"**/experiments?q={key}**")
    row = page.get_by_role("row").filter(has_text=key)
    assert "Running" in row.inner_text()
    assert "150 / 500" in row.inner_text()
    assert_accessible(page)
    screenshots(page, "experiments-list")

    page.get_by_role("link", name="Greeting tone").click()
    page.wait_for_url(f"**/experiments/{key}")
    assert page.get_by_role("heading", level=1).inner_text() == "Greeting tone"
    table = page.get_by_role("table", name="Sign-ups")
    assert table.is_visible()
    warm = table.get_by_role("row").filter(has_text="warm")
    assert "45" in warm.inner_text()
    assert "Better" in warm.inner_text()
    # plotly.js drew both charts from the page's JSON blocks.
    page.locator('[data-figure="forest-1"] .main-svg').first.wait_for()
    page.locator('[data-figure="series-1"] .main-svg').first.wait_for()
    assert page.get_by_text("You are a warm and friendly assistant.").is_visible()
    assert_accessible(page)
    screenshots(page, "experiments-detail")

    # "Refresh results" asks first, then analyses again; the page shows the new run.
    questions: list[str] = []

    def accept(dialog: Any) -> None:
        questions.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    page.get_by_role("button", name="Refresh results").click()
    page.wait_for_url(f"**/experiments/{key}?notice=*")
    assert questions == [f"Run the analysis of {key} now?"]
    assert page.get_by_role("status").filter(has_text="Refreshing the results").is_visible()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        listed = httpx.get(
            f"{base}/api/v1/experiments/{key}/analyses",
            params={"status": "succeeded"},
            headers=admin,
            timeout=30,
        ).json()["items"]
        if len(listed) == 2:
            break
        time.sleep(0.2)
    assert len(listed) == 2
    page.get_by_role("table", name="Sign-ups").wait_for()


def test_the_page_follows_an_analysis_and_reloads_with_its_results(
    page: Any, dashboard: LiveServer
) -> None:
    base = dashboard.base
    admin = admin_headers(base)
    key = f"followed-{uuid.uuid4().hex[:8]}"
    _started_experiment(base, admin, key)
    _send_traffic(base, admin, key)
    # A run as the worker or the "Refresh results" button records it: queued, not done.
    engine = create_db_engine(get_settings(database_url=dashboard.url))
    try:
        factory = create_session_factory(engine)
        with factory() as session:
            experiment = runs.find_experiment(session, key)
            run_id = runs.start_run(
                session, experiment=experiment, full=True, trigger="worker", actor=None
            ).id
        sign_in(page)
        page.goto(f"/experiments/{key}")
        status = page.get_by_role("status").filter(has_text="Analysis queued")
        assert status.is_visible()
        assert page.get_by_text("No results yet").is_visible()
        assert_accessible(page)
        screenshots(page, "experiments-detail-analysing")
        runs.execute_run(factory, engine, run_id)
    finally:
        engine.dispose()
    # The page polls the run, then reloads itself with the results.
    page.get_by_role("table", name="Sign-ups").wait_for()
    page.locator('[data-figure="forest-1"] .main-svg').first.wait_for()
    assert not page.get_by_text("No results yet").count()
