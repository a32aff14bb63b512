"""The bandit panel of an experiment's page: settings, weights over time, the latest
updates, and "update the weights now", over a bandit fed through the public API."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.integration.bandits.test_bandit_updates import _bandit, _enrol
from tests.integration.web.api import make_experiment, make_metric, start_experiment
from tests.integration.web.conftest import Browser, Headers, MakeUser, form_token


@pytest.fixture
def signed_in(make_user: MakeUser, login: Callable[[str], dict[str, str]]) -> tuple[str, Headers]:
    """A new administrator: their username (for the browser) and API headers."""
    username = make_user("admin")
    return username, login(username)


def _figure(page: str, figure_id: str) -> dict[str, Any]:
    match = re.search(rf'<script type="application/json" id="{figure_id}">(.*?)</script>', page)
    assert match, f"no figure {figure_id}"
    figure: dict[str, Any] = json.loads(html.unescape(match.group(1)))
    return figure


def test_the_panel_shows_the_weights_history_and_updates_the_weights_on_demand(
    browser: Browser,
    client: TestClient,
    signed_in: tuple[str, Headers],
    make_user: MakeUser,
) -> None:
    username, headers = signed_in
    key = _bandit(client, headers, bandit_burn_in=20, bandit_floor=0.02)
    _enrol(client, headers, key, [f"{key}-{i}" for i in range(120)], np.random.default_rng(3))
    page = browser(username)
    before = page.get(f"/experiments/{key}")
    assert before.status_code == 200
    assert 'id="bandit-heading"' in before.text
    assert "No update yet" in before.text
    assert "2.0 % of traffic for every variant" in before.text
    answer = page.post(
        f"/experiments/{key}/bandit-update", data={"csrf_token": form_token(before.text)}
    )
    assert answer.status_code == 303, answer.text
    location = answer.headers["location"]
    assert "phase 2 opened" in unquote(location)
    after = page.get(location.split("#")[0])
    state = client.get(f"/api/v1/experiments/{key}/bandit", headers=headers).json()
    figure = _figure(after.text, "bandit-weights")
    traces = {trace["name"]: trace for trace in figure["data"]}
    assert set(traces) == {"a", "b", "c"}
    for variant, trace in traces.items():
        phases = [p["weights"][variant] for p in state["phases"]]
        assert trace["y"] == [*phases, phases[-1]]  # held to now
        assert trace["x"][:-1] == [p["started_at"].replace("Z", "+00:00") for p in state["phases"]]
    update = state["last_update"]
    assert update["status"] == "applied"
    text = html.unescape(after.text)
    assert update["reason"] in text
    assert "Chance of being best" in text
    viewer = browser(make_user("viewer"))
    seen = viewer.get(f"/experiments/{key}")
    assert seen.status_code == 200
    assert "Update the weights now" not in seen.text
    refused = viewer.post(
        f"/experiments/{key}/bandit-update", data={"csrf_token": form_token(seen.text)}
    )
    assert refused.status_code == 403


def test_an_update_that_keeps_the_weights_says_why_on_the_page(
    browser: Browser, client: TestClient, signed_in: tuple[str, Headers]
) -> None:
    username, headers = signed_in
    key = _bandit(client, headers)  # burn-in 30: nothing enrolled yet
    page = browser(username)
    token = form_token(page.get(f"/experiments/{key}").text)
    answer = page.post(f"/experiments/{key}/bandit-update", data={"csrf_token": token})
    assert answer.status_code == 303
    assert "stay as they are: burn-in" in unquote(answer.headers["location"])
    shown = html.unescape(page.get(answer.headers["location"].split("#")[0]).text)
    assert "burn-in" in shown
    assert "every variant needs 30 units" in shown


def test_other_experiments_have_no_bandit_panel(
    browser: Browser, client: TestClient, signed_in: tuple[str, Headers]
) -> None:
    username, headers = signed_in
    metric = make_metric(client, headers)
    experiment = make_experiment(
        client,
        headers,
        variants=[{"key": "a", "is_control": True}, {"key": "b"}],
        metrics=[{"metric": metric, "role": "primary"}],
    )
    start_experiment(client, headers, experiment)
    page = browser(username).get(f"/experiments/{experiment['key']}")
    assert page.status_code == 200
    assert 'id="bandit-heading"' not in page.text
    assert "bandit-weights" not in page.text
