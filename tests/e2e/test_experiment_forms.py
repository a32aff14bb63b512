"""The experiment form and lifecycle actions in Chromium: create an experiment through
the form (one refusal fixed on the second try), start and pause it from its page, edit
it; the form (empty, with errors, editing) and a confirmation page are screenshotted at
both widths and checked with axe-core."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.e2e.conftest import ADMIN_PASSWORD, assert_accessible, screenshots, sign_in
from tests.integration.delivery.test_stream import LiveServer

Headers = dict[str, str]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def api_login(dashboard: LiveServer) -> Headers:
    answer = httpx.post(
        f"{dashboard.base}/api/v1/auth/login",
        json={"username": "admin", "password": ADMIN_PASSWORD},
    )
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def api_metric(dashboard: LiveServer, admin: Headers) -> str:
    key = unique("orders")
    answer = httpx.post(
        f"{dashboard.base}/api/v1/metrics",
        json={"key": key, "name": "Orders", "event_name": "order", "type": "conversion"},
        headers=admin,
    )
    assert answer.status_code == 201, answer.text
    return key


def api_experiment(dashboard: LiveServer, admin: Headers, key: str) -> dict[str, Any]:
    answer = httpx.get(f"{dashboard.base}/api/v1/experiments/{key}", headers=admin)
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def press(page: Any, button: str) -> None:
    """Click a lifecycle button on the experiment's page, accepting its confirmation."""
    questions: list[str] = []

    def accept(dialog: Any) -> None:
        questions.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    page.get_by_role("button", name=button, exact=True).click()
    page.wait_for_load_state()
    assert questions, f"{button} was not confirmed first"


def test_create_with_a_fixed_error_then_start_and_pause(page: Any, dashboard: LiveServer) -> None:
    admin = api_login(dashboard)
    metric = api_metric(dashboard, admin)
    sign_in(page)
    page.goto("/experiments/new")
    assert page.get_by_role("heading", level=1).inner_text() == "New experiment"
    assert_accessible(page)
    screenshots(page, "experiments-form-new")

    key = unique("greeting")
    page.locator("#key").fill("1 greeting")  # not a valid key: refused by the server
    page.locator("#name").fill("Shorter greeting")
    page.locator("#hypothesis").fill("A shorter greeting keeps more users talking.")
    page.locator("#variant-1-key").fill("short")
    page.locator("#variant-1-label").fill("Short greeting")
    page.get_by_text("Payload: configuration, system prompt").nth(1).click()
    page.locator("#variant-1-system_prompt").fill("Greet in five words.")
    page.locator("#metric-0-metric").fill(metric)
    page.get_by_role("button", name="Create experiment").first.click()

    alert = page.get_by_role("alert")
    assert "The experiment was not saved" in alert.inner_text()
    key_input = page.locator("#key")
    assert key_input.get_attribute("aria-invalid") == "true"
    assert "letters, digits" in page.locator("#key-error").inner_text()
    assert page.locator("#variant-1-system_prompt").input_value() == "Greet in five words."
    assert_accessible(page)
    screenshots(page, "experiments-form-errors")

    key_input.fill(key)
    page.get_by_role("button", name="Create experiment").first.click()
    page.wait_for_url(f"**/experiments/{key}?notice=*")
    assert page.get_by_role("heading", level=1).inner_text() == "Shorter greeting"
    assert "created as a draft" in page.get_by_role("status").inner_text()
    stored = api_experiment(dashboard, admin, key)
    assert [v["key"] for v in stored["variants"]] == ["control", "short"]
    assert stored["variants"][1]["system_prompt"] == "Greet in five words."

    press(page, "Start")
    assert page.locator(".badge.status-running").inner_text() == "Running"
    assert api_experiment(dashboard, admin, key)["status"] == "running"
    press(page, "Pause")
    assert page.locator(".badge.status-paused").inner_text() == "Paused"
    assert api_experiment(dashboard, admin, key)["status"] == "paused"


def test_the_edit_form_and_a_confirmation_page(page: Any, dashboard: LiveServer) -> None:
    admin = api_login(dashboard)
    metric = api_metric(dashboard, admin)
    key = unique("checkout")
    created = httpx.post(
        f"{dashboard.base}/api/v1/experiments",
        json={
            "key": key,
            "name": "Checkout button",
            "variants": [
                {"key": "control", "is_control": True, "configuration": {"color": "blue"}},
                {"key": "green", "configuration": {"color": "green"}},
            ],
            "metrics": [{"metric": metric, "role": "primary"}],
        },
        headers=admin,
    )
    assert created.status_code == 201, created.text
    sign_in(page)
    page.goto(f"/experiments/{key}/edit")
    assert page.locator("#variant-1-configuration").input_value().strip().startswith("{")
    assert_accessible(page)
    screenshots(page, "experiments-form-edit")
    page.locator("#coverage").fill("0.5")
    page.get_by_role("button", name="Save changes").last.click()
    page.wait_for_url(f"**/experiments/{key}?notice=*")
    assert api_experiment(dashboard, admin, key)["coverage"] == 0.5

    page.goto(f"/experiments/{key}/start")
    assert page.get_by_role("heading", level=1).inner_text() == "Start experiment"
    assert_accessible(page)
    screenshots(page, "experiments-action-start")
    page.get_by_role("button", name="Start experiment").click()
    page.wait_for_url(f"**/experiments/{key}?notice=*")
    page.goto(f"/experiments/{key}/complete")
    page.get_by_label("Winner").select_option("green")
    assert_accessible(page)
    screenshots(page, "experiments-action-complete")
    page.get_by_role("button", name="Complete experiment").click()
    page.wait_for_url(f"**/experiments/{key}?notice=*")
    stored = api_experiment(dashboard, admin, key)
    assert (stored["status"], stored["winner"]) == ("completed", "green")
