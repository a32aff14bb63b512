"""The experiment form and lifecycle actions in Chromium: create an experiment through
the form (one refusal fixed on the second try), start and pause it from its page, edit
it; the form (empty, with errors, editing) and a confirmation page are screenshotted at
both widths and checked with axe-core."""

from __future__ import annotations

from typing import Any

import httpx

from tests.e2e.conftest import accept_dialogs, check_page, sign_in
from tests.integration.conftest import unique
from tests.integration.web.api import make_experiment, make_metric, read_experiment

Headers = dict[str, str]


def press(page: Any, button: str) -> None:
    """Click a lifecycle button on the experiment's page, accepting its confirmation."""
    questions = accept_dialogs(page, once=True)
    page.get_by_role("button", name=button, exact=True).click()
    page.wait_for_load_state()
    assert questions, f"{button} was not confirmed first"


def test_create_with_a_fixed_error_then_start_and_pause(
    page: Any, api: httpx.Client, admin: Headers
) -> None:
    metric = make_metric(api, admin, key=unique("orders"), name="Orders", event_name="order")
    sign_in(page)
    page.goto("/experiments/new")
    assert page.get_by_role("heading", level=1).inner_text() == "New experiment"
    check_page(page, "experiments-form-new")

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
    check_page(page, "experiments-form-errors")

    key_input.fill(key)
    page.get_by_role("button", name="Create experiment").first.click()
    page.wait_for_url(f"**/experiments/{key}?notice=*")
    assert page.get_by_role("heading", level=1).inner_text() == "Shorter greeting"
    assert "created as a draft" in page.get_by_role("status").inner_text()
    stored = read_experiment(api, admin, key)
    assert [v["key"] for v in stored["variants"]] == ["control", "short"]
    assert stored["variants"][1]["system_prompt"] == "Greet in five words."

    press(page, "Start")
    assert page.locator(".badge.status-running").inner_text() == "Running"
    assert read_experiment(api, admin, key)["status"] == "running"
    press(page, "Pause")
    assert page.locator(".badge.status-paused").inner_text() == "Paused"
    assert read_experiment(api, admin, key)["status"] == "paused"


def test_the_edit_form_and_a_confirmation_page(
    page: Any, api: httpx.Client, admin: Headers
) -> None:
    metric = make_metric(api, admin, key=unique("orders"), name="Orders", event_name="order")
    key = make_experiment(
        api,
        admin,
        key=unique("checkout"),
        name="Checkout button",
        variants=[
            {"key": "control", "is_control": True, "configuration": {"color": "blue"}},
            {"key": "green", "configuration": {"color": "green"}},
        ],
        metrics=[{"metric": metric, "role": "primary"}],
    )["key"]
    sign_in(page)
    page.goto(f"/experiments/{key}/edit")
    assert page.locator("#variant-1-configuration").input_value().strip().startswith("{")
    check_page(page, "experiments-form-edit")
    page.locator("#coverage").fill("0.5")
    page.get_by_role("button", name="Save changes").last.click()
    page.wait_for_url(f"**/experiments/{key}?notice=*")
    assert read_experiment(api, admin, key)["coverage"] == 0.5

    page.goto(f"/experiments/{key}/start")
    assert page.get_by_role("heading", level=1).inner_text() == "Start experiment"
    check_page(page, "experiments-action-start")
    page.get_by_role("button", name="Start experiment").click()
    page.wait_for_url(f"**/experiments/{key}?notice=*")
    page.goto(f"/experiments/{key}/complete")
    page.get_by_label("Winner").select_option("green")
    check_page(page, "experiments-action-complete")
    page.get_by_role("button", name="Complete experiment").click()
    page.wait_for_url(f"**/experiments/{key}?notice=*")
    stored = read_experiment(api, admin, key)
    assert (stored["status"], stored["winner"]) == ("completed", "green")
