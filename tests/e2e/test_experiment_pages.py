"""The experiments pages in Chromium: an experiment created, started and fed through
the API, analysed, then read in the browser (table and charts); the progress of an
analysis followed on the page until it reloads with the results."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx

from tests.e2e.conftest import accept_dialogs, check_page, sign_in
from tests.integration.conftest import unique
from tests.integration.delivery.test_stream import LiveServer, server_key
from tests.integration.web.api import make_experiment, make_metric, start_experiment
from verdict.server.analysis import runs
from verdict.server.config import get_settings
from verdict.server.db import create_db_engine, create_session_factory

Headers = dict[str, str]


def _post(api: httpx.Client, path: str, body: Any, headers: Headers) -> Any:
    answer = api.post(path, json=body, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _running_with_traffic(api: httpx.Client, admin: Headers, prefix: str) -> str:
    """A started experiment (a warm greeting against a terse one) with 150 units per
    variant exposed now; 20 sign-ups in control, 45 in warm. Its key."""
    metric = make_metric(api, admin, name="Sign-ups", event_name="signup")
    made = make_experiment(
        api,
        admin,
        key=unique(prefix),
        name="Greeting tone",
        hypothesis="A warmer greeting makes more visitors sign up.",
        environment="production",
        minimum_sample_size=500,
        cuped_days=None,
        variants=[
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
        metrics=[{"metric": metric, "role": "primary"}],
    )
    start_experiment(api, admin, made)
    key: str = made["key"]
    server = server_key(str(api.base_url).rstrip("/"), admin)
    exposures, events = [], []
    for variant, converting in (("control", 20), ("warm", 45)):
        for i in range(150):
            unit = f"{key}-{variant}-{i}"
            exposures.append({"unit_id": unit, "experiment": key, "variant": variant})
            if i < converting:
                events.append(
                    {"client_event_id": str(uuid.uuid4()), "type": "signup", "unit_id": unit}
                )
    sent = _post(api, "/api/v1/exposures", {"exposures": exposures}, server)
    assert not sent.get("errors"), sent
    _post(api, "/api/v1/events", {"events": events}, server)
    return key


def test_an_analysed_experiment_shows_its_table_and_charts(
    page: Any, api: httpx.Client, admin: Headers
) -> None:
    key = _running_with_traffic(api, admin, "greeting")
    run = _post(api, f"/api/v1/experiments/{key}/analyses", None, admin)
    assert run["status"] == "succeeded"

    sign_in(page)
    page.goto("/experiments")
    page.get_by_label("Search").fill(key)
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(f"**/experiments?q={key}**")
    row = page.get_by_role("row").filter(has_text=key)
    assert "Running" in row.inner_text()
    assert "150 / 500" in row.inner_text()
    check_page(page, "experiments-list")

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
    check_page(page, "experiments-detail")

    # "Refresh results" asks first, then analyses again; the page shows the new run.
    questions = accept_dialogs(page)
    page.get_by_role("button", name="Refresh results").click()
    page.wait_for_url(f"**/experiments/{key}?notice=*")
    assert questions == [f"Run the analysis of {key} now?"]
    assert page.get_by_role("status").filter(has_text="Refreshing the results").is_visible()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        listed = api.get(
            f"/api/v1/experiments/{key}/analyses",
            params={"status": "succeeded"},
            headers=admin,
        ).json()["items"]
        if len(listed) == 2:
            break
        time.sleep(0.2)
    assert len(listed) == 2
    page.get_by_role("table", name="Sign-ups").wait_for()


def test_the_page_follows_an_analysis_and_reloads_with_its_results(
    page: Any, dashboard: LiveServer, api: httpx.Client, admin: Headers
) -> None:
    key = _running_with_traffic(api, admin, "followed")
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
        check_page(page, "experiments-detail-analysing")
        runs.execute_run(factory, engine, run_id)
    finally:
        engine.dispose()
    # The page polls the run, then reloads itself with the results.
    page.get_by_role("table", name="Sign-ups").wait_for()
    page.locator('[data-figure="forest-1"] .main-svg').first.wait_for()
    assert not page.get_by_text("No results yet").count()


def test_a_bandit_shows_its_weights_over_time_and_updates_them_on_demand(
    page: Any, api: httpx.Client, admin: Headers
) -> None:
    metric = make_metric(api, admin, name="Replies resolved", event_name="resolved")
    made = make_experiment(
        api,
        admin,
        key=unique("reply-bandit"),
        name="Reply style bandit",
        type="bandit",
        environment="production",
        bandit_burn_in=20,
        variants=[
            {"key": "formal", "is_control": True},
            {"key": "friendly"},
            {"key": "steps"},
        ],
        metrics=[{"metric": metric, "role": "primary"}],
    )
    start_experiment(api, admin, made)
    key: str = made["key"]
    server = server_key(str(api.base_url).rstrip("/"), admin)
    exposures, events = [], []
    for variant, resolving in (("formal", 5), ("friendly", 6), ("steps", 24)):
        for i in range(40):
            unit = f"{key}-{variant}-{i}"
            exposures.append({"unit_id": unit, "experiment": key, "variant": variant})
            if i < resolving:
                events.append(
                    {"client_event_id": str(uuid.uuid4()), "type": "resolved", "unit_id": unit}
                )
    assert not _post(api, "/api/v1/exposures", {"exposures": exposures}, server).get("errors")
    _post(api, "/api/v1/events", {"events": events}, server)

    sign_in(page)
    page.goto(f"/experiments/{key}")
    panel = page.get_by_role("region", name="Bandit")
    assert "No update yet" in panel.inner_text()
    questions = accept_dialogs(page, once=True)
    panel.get_by_role("button", name="Update the weights now").click()
    page.wait_for_url(f"**/experiments/{key}?notice=*")
    assert questions == [f"Analyse {key} and move its weights now?"]
    assert "phase 2 opened" in page.get_by_role("status").inner_text()
    panel = page.get_by_role("region", name="Bandit")
    updates = panel.get_by_role("table", name="Latest bandit updates")
    assert "applied" in updates.inner_text()
    page.locator('[data-figure="bandit-weights"] .main-svg').first.wait_for()
    check_page(page, "experiments-bandit")
