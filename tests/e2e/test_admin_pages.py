"""Segments, metric definitions, environments and API keys in the browser: each page
renders, is accessible at 1280 and 390 px, and its forms work as a user drives them
(refusals next to the field, the secret of a new key shown once, revoking confirmed).
Screenshots of every page go to test-artifacts/screenshots/admin-*.png."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.e2e.conftest import ADMIN_PASSWORD, assert_accessible, screenshots, sign_in
from tests.integration.delivery.test_stream import LiveServer


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def _api(dashboard: LiveServer) -> httpx.Client:
    """An API client of the live server, logged in as the administrator."""
    answer = httpx.post(
        f"{dashboard.base}/api/v1/auth/login",
        json={"username": "admin", "password": ADMIN_PASSWORD},
    )
    assert answer.status_code == 200, answer.text
    token = answer.json()["access_token"]
    return httpx.Client(base_url=dashboard.base, headers={"Authorization": f"Bearer {token}"})


def _accept_confirmations(page: Any, questions: list[str]) -> None:
    def accept(dialog: Any) -> None:
        questions.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)


def test_segments_list_create_with_an_error_edit_and_delete(
    page: Any, dashboard: LiveServer
) -> None:
    with _api(dashboard) as api:
        base = _unique("beta")
        answer = api.post(
            "/api/v1/segments",
            json={"key": base, "name": "Beta testers", "conditions": {"beta": True}},
        )
        assert answer.status_code == 201, answer.text
    sign_in(page)
    page.goto("/segments")
    page.get_by_role("link", name="Segments").first.wait_for()
    assert page.get_by_role("link", name=base).is_visible()
    assert_accessible(page)
    screenshots(page, "admin-segments-list")

    page.get_by_role("link", name="New segment").click()
    page.wait_for_url("**/segments/-/new")
    assert_accessible(page)
    screenshots(page, "admin-segments-new")
    key = _unique("de")
    page.get_by_label("Key", exact=True).fill(key)
    page.get_by_label("Name", exact=True).fill("German speakers")
    conditions = page.get_by_label("Conditions (JSON)")
    conditions.fill('{"$and": [{"$inSegment": "no-such-segment"}]}')
    page.get_by_role("button", name="Create segment").click()
    error = page.locator("#conditions-error")
    assert "no-such-segment" in error.inner_text()
    assert conditions.get_attribute("aria-invalid") == "true"
    assert "conditions-error" in (conditions.get_attribute("aria-describedby") or "")
    assert page.get_by_label("Key", exact=True).input_value() == key  # what was typed is kept
    assert_accessible(page)
    screenshots(page, "admin-segments-new-error")

    conditions.fill(f'{{"$and": [{{"$inSegment": "{base}"}}, {{"country": "DE"}}]}}')
    page.get_by_role("button", name="Create segment").click()
    page.wait_for_url(f"**/segments/{key}?saved=created")
    assert page.get_by_role("status").inner_text() == "Segment created."
    assert_accessible(page)
    screenshots(page, "admin-segments-detail")

    page.get_by_label("Name", exact=True).fill("German-speaking beta testers")
    page.get_by_role("button", name="Save changes").click()
    page.wait_for_url(f"**/segments/{key}?saved=updated")
    assert (
        page.get_by_role("heading", level=1).inner_text().startswith("German-speaking beta testers")
    )

    questions: list[str] = []
    _accept_confirmations(page, questions)
    page.goto(f"/segments/{base}")
    page.get_by_role("button", name="Delete segment").click()
    refusal = page.get_by_role("alert")
    assert f"segments ({key})" in refusal.inner_text()
    assert_accessible(page)
    screenshots(page, "admin-segments-delete-refused")
    page.goto(f"/segments/{key}")
    page.get_by_role("button", name="Delete segment").click()
    page.wait_for_url(f"**/segments?deleted={key}")
    assert questions == [
        f"Delete the segment {base}? This cannot be undone.",
        f"Delete the segment {key}? This cannot be undone.",
    ]


def test_metric_definitions_list_create_with_errors_and_edit(
    page: Any, dashboard: LiveServer
) -> None:
    with _api(dashboard) as api:
        orders = _unique("orders")
        answer = api.post(
            "/api/v1/metrics",
            json={"key": orders, "name": "Orders", "event_name": "order", "type": "count"},
        )
        assert answer.status_code == 201, answer.text
    sign_in(page)
    page.goto("/")
    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Metrics").click()
    page.wait_for_url("**/metric-definitions")
    assert page.get_by_role("link", name=orders).is_visible()
    assert_accessible(page)
    screenshots(page, "admin-metrics-list")

    page.get_by_role("link", name="New metric").click()
    page.wait_for_url("**/metric-definitions/-/new")
    assert_accessible(page)
    screenshots(page, "admin-metrics-new")
    key = _unique("revenue-per-order")
    page.get_by_label("Key", exact=True).fill(key)
    page.get_by_label("Name", exact=True).fill("Revenue per order")
    page.get_by_label("Event name").fill("purchase")
    page.get_by_label("Type").select_option("ratio")
    page.get_by_label("Capping", exact=True).select_option("percentile")
    page.get_by_label("Cap value").fill("5")
    page.get_by_role("button", name="Create metric").click()
    assert "needs a denominator" in page.locator("#denominator-error").inner_text()
    assert "in (0, 1)" in page.locator("#cap_value-error").inner_text()
    assert page.get_by_label("Type").input_value() == "ratio"
    assert_accessible(page)
    screenshots(page, "admin-metrics-new-error")

    page.get_by_label("Denominator metric (key)").fill(orders)
    page.get_by_label("Cap value").fill("0.99")
    page.get_by_label("Value path").fill("order.total")
    page.get_by_role("button", name="Create metric").click()
    page.wait_for_url(f"**/metric-definitions/{key}?saved=created")
    assert page.get_by_role("link", name=orders).is_visible()  # the denominator's page
    assert_accessible(page)
    screenshots(page, "admin-metrics-detail")

    page.get_by_label("Direction").select_option("lower")
    page.get_by_role("button", name="Save changes").click()
    page.wait_for_url(f"**/metric-definitions/{key}?saved=updated")
    assert "Lower is better" in page.locator("dl.facts").inner_text()
    with _api(dashboard) as api:
        stored = api.get(f"/api/v1/metrics/{key}").json()
    assert (stored["denominator"], stored["lower_is_better"], stored["cap_value"]) == (
        orders,
        True,
        0.99,
    )


def test_environments_list_create_edit_and_delete(page: Any, dashboard: LiveServer) -> None:
    sign_in(page)
    page.goto("/environments")
    assert page.get_by_role("link", name="production").is_visible()
    assert_accessible(page)
    screenshots(page, "admin-environments-list")
    page.get_by_role("link", name="New environment").click()
    page.wait_for_url("**/environments/-/new")
    assert_accessible(page)
    screenshots(page, "admin-environments-new")
    page.get_by_label("Key", exact=True).fill("production")
    page.get_by_label("Name", exact=True).fill("Production again")
    page.get_by_role("button", name="Create environment").click()
    assert "exists" in page.locator("#key-error").inner_text()
    assert_accessible(page)
    screenshots(page, "admin-environments-new-error")

    key = _unique("qa")
    page.get_by_label("Key", exact=True).fill(key)
    page.get_by_label("Name", exact=True).fill("QA")
    page.get_by_role("button", name="Create environment").click()
    page.wait_for_url(f"**/environments/{key}?saved=created")
    assert_accessible(page)
    screenshots(page, "admin-environments-detail")
    page.get_by_label("Description").fill("Manual testing before release")
    page.get_by_role("button", name="Save changes").click()
    page.wait_for_url(f"**/environments/{key}?saved=updated")
    assert "Manual testing before release" in page.locator("dl.facts").inner_text()

    questions: list[str] = []
    _accept_confirmations(page, questions)
    page.get_by_role("button", name="Delete environment").click()
    page.wait_for_url(f"**/environments?deleted={key}")
    assert questions == [f"Delete the environment {key}? This cannot be undone."]
    assert page.get_by_role("link", name=key).count() == 0


def test_an_api_keys_secret_is_shown_once_and_the_key_is_revoked_after_confirming(
    page: Any, dashboard: LiveServer
) -> None:
    sign_in(page)
    page.goto("/api-keys")
    page.get_by_role("link", name="New API key").click()
    page.wait_for_url("**/api-keys/new")
    assert_accessible(page)
    screenshots(page, "admin-api-keys-new")
    name = _unique("checkout service")
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Kind").select_option("server")
    page.get_by_role("button", name="Create key").click()
    error = page.locator("#environment-error")
    assert "Field required" in error.inner_text()
    assert_accessible(page)
    screenshots(page, "admin-api-keys-new-error")

    page.get_by_label("Environment").select_option("production")
    page.get_by_role("button", name="Create key").click()
    page.get_by_role("heading", name="API key created").wait_for()
    assert "only time it is shown" in page.get_by_role("alert").inner_text()
    secret = page.get_by_label(f"Secret of {name}").input_value()
    assert secret.startswith("vk_")
    assert_accessible(page)
    screenshots(page, "admin-api-keys-secret-shown-once")
    answer = httpx.post(f"{dashboard.base}/api/v1/evaluate", json={}, headers={"X-API-Key": secret})
    assert answer.status_code == 200, answer.text

    page.get_by_role("link", name="Done: back to the keys").click()
    page.wait_for_url("**/api-keys")
    assert secret not in page.content()
    row = page.get_by_role("row").filter(has_text=name)
    assert "Active" in row.inner_text()
    assert_accessible(page)
    screenshots(page, "admin-api-keys-list")

    questions: list[str] = []
    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.dismiss()))
    row.get_by_role("button", name="Revoke").click()
    assert len(questions) == 1
    assert questions[0].startswith(f"Revoke the key {name}")
    assert "Active" in page.get_by_role("row").filter(has_text=name).inner_text()
    _accept_confirmations(page, questions)
    row.get_by_role("button", name="Revoke").click()
    page.wait_for_url("**/api-keys?revoked=*")
    assert "Revoked" in page.get_by_role("row").filter(has_text=name).inner_text()
    answer = httpx.post(f"{dashboard.base}/api/v1/evaluate", json={}, headers={"X-API-Key": secret})
    assert answer.status_code == 401
