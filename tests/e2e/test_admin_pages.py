"""Segments, metric definitions, environments and API keys in the browser: each page
renders, is accessible at 1280 and 390 px, and its forms work as a user drives them
(refusals next to the field, the secret of a new key shown once, revoking confirmed).
Screenshots of every page go to test-artifacts/screenshots/admin-*.png."""

from __future__ import annotations

from typing import Any

import httpx

from tests.e2e.conftest import accept_dialogs, check_page, open_form, sign_in
from tests.integration.conftest import unique
from tests.integration.web.api import make_metric, make_segment, read

Headers = dict[str, str]


def _fill_key_and_name(page: Any, key: str, name: str) -> None:
    page.get_by_label("Key", exact=True).fill(key)
    page.get_by_label("Name", exact=True).fill(name)


def test_segments_list_create_with_an_error_edit_and_delete(
    page: Any, api: httpx.Client, admin: Headers
) -> None:
    base = make_segment(
        api, admin, key=unique("beta"), name="Beta testers", conditions={"beta": True}
    )
    sign_in(page)
    page.goto("/segments")
    page.get_by_role("link", name="Segments").first.wait_for()
    assert page.get_by_role("link", name=base).is_visible()
    check_page(page, "admin-segments-list")

    open_form(page, "New segment", "**/segments/-/new", "admin-segments-new")
    key = unique("de")
    _fill_key_and_name(page, key, "German speakers")
    conditions = page.get_by_label("Conditions (JSON)")
    conditions.fill('{"$and": [{"$inSegment": "no-such-segment"}]}')
    page.get_by_role("button", name="Create segment").click()
    error = page.locator("#conditions-error")
    assert "no-such-segment" in error.inner_text()
    assert conditions.get_attribute("aria-invalid") == "true"
    assert "conditions-error" in (conditions.get_attribute("aria-describedby") or "")
    assert page.get_by_label("Key", exact=True).input_value() == key  # what was typed is kept
    check_page(page, "admin-segments-new-error")

    conditions.fill(f'{{"$and": [{{"$inSegment": "{base}"}}, {{"country": "DE"}}]}}')
    page.get_by_role("button", name="Create segment").click()
    page.wait_for_url(f"**/segments/{key}?saved=created")
    assert page.get_by_role("status").inner_text() == "Segment created."
    check_page(page, "admin-segments-detail")

    page.get_by_label("Name", exact=True).fill("German-speaking beta testers")
    page.get_by_role("button", name="Save changes").click()
    page.wait_for_url(f"**/segments/{key}?saved=updated")
    assert (
        page.get_by_role("heading", level=1).inner_text().startswith("German-speaking beta testers")
    )

    questions = accept_dialogs(page)
    page.goto(f"/segments/{base}")
    page.get_by_role("button", name="Delete segment").click()
    refusal = page.get_by_role("alert")
    assert f"segments ({key})" in refusal.inner_text()
    check_page(page, "admin-segments-delete-refused")
    page.goto(f"/segments/{key}")
    page.get_by_role("button", name="Delete segment").click()
    page.wait_for_url(f"**/segments?deleted={key}")
    assert questions == [
        f"Delete the segment {base}? This cannot be undone.",
        f"Delete the segment {key}? This cannot be undone.",
    ]


def test_metric_definitions_list_create_with_errors_and_edit(
    page: Any, api: httpx.Client, admin: Headers
) -> None:
    orders = make_metric(
        api, admin, key=unique("orders"), name="Orders", event_name="order", type="count"
    )
    sign_in(page)
    page.goto("/")
    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Metrics").click()
    page.wait_for_url("**/metric-definitions")
    assert page.get_by_role("link", name=orders).is_visible()
    check_page(page, "admin-metrics-list")

    open_form(page, "New metric", "**/metric-definitions/-/new", "admin-metrics-new")
    key = unique("revenue-per-order")
    _fill_key_and_name(page, key, "Revenue per order")
    page.get_by_label("Event name").fill("purchase")
    page.get_by_label("Type").select_option("ratio")
    page.get_by_label("Capping", exact=True).select_option("percentile")
    page.get_by_label("Cap value").fill("5")
    page.get_by_role("button", name="Create metric").click()
    assert "needs a denominator" in page.locator("#denominator-error").inner_text()
    assert "in (0, 1)" in page.locator("#cap_value-error").inner_text()
    assert page.get_by_label("Type").input_value() == "ratio"
    check_page(page, "admin-metrics-new-error")

    page.get_by_label("Denominator metric (key)").fill(orders)
    page.get_by_label("Cap value").fill("0.99")
    page.get_by_label("Value path").fill("order.total")
    page.get_by_role("button", name="Create metric").click()
    page.wait_for_url(f"**/metric-definitions/{key}?saved=created")
    assert page.get_by_role("link", name=orders).is_visible()  # the denominator's page
    check_page(page, "admin-metrics-detail")

    page.get_by_label("Direction").select_option("lower")
    page.get_by_role("button", name="Save changes").click()
    page.wait_for_url(f"**/metric-definitions/{key}?saved=updated")
    assert "Lower is better" in page.locator("dl.facts").inner_text()
    stored = read(api, admin, f"/api/v1/metrics/{key}")
    assert (stored["denominator"], stored["lower_is_better"], stored["cap_value"]) == (
        orders,
        True,
        0.99,
    )


def test_environments_list_create_edit_and_delete(page: Any) -> None:
    sign_in(page)
    page.goto("/environments")
    assert page.get_by_role("link", name="production").is_visible()
    check_page(page, "admin-environments-list")
    open_form(page, "New environment", "**/environments/-/new", "admin-environments-new")
    _fill_key_and_name(page, "production", "Production again")
    page.get_by_role("button", name="Create environment").click()
    assert "exists" in page.locator("#key-error").inner_text()
    check_page(page, "admin-environments-new-error")

    key = unique("qa")
    _fill_key_and_name(page, key, "QA")
    page.get_by_role("button", name="Create environment").click()
    page.wait_for_url(f"**/environments/{key}?saved=created")
    check_page(page, "admin-environments-detail")
    page.get_by_label("Description").fill("Manual testing before release")
    page.get_by_role("button", name="Save changes").click()
    page.wait_for_url(f"**/environments/{key}?saved=updated")
    assert "Manual testing before release" in page.locator("dl.facts").inner_text()

    questions = accept_dialogs(page)
    page.get_by_role("button", name="Delete environment").click()
    page.wait_for_url(f"**/environments?deleted={key}")
    assert questions == [f"Delete the environment {key}? This cannot be undone."]
    assert page.get_by_role("link", name=key).count() == 0


def test_an_api_keys_secret_is_shown_once_and_the_key_is_revoked_after_confirming(
    page: Any, api: httpx.Client
) -> None:
    sign_in(page)
    page.goto("/api-keys")
    open_form(page, "New API key", "**/api-keys/new", "admin-api-keys-new")
    name = unique("checkout service")
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Kind").select_option("server")
    page.get_by_role("button", name="Create key").click()
    error = page.locator("#environment-error")
    assert "Field required" in error.inner_text()
    check_page(page, "admin-api-keys-new-error")

    page.get_by_label("Environment").select_option("production")
    page.get_by_role("button", name="Create key").click()
    page.get_by_role("heading", name="API key created").wait_for()
    assert "only time it is shown" in page.get_by_role("alert").inner_text()
    secret = page.get_by_label(f"Secret of {name}").input_value()
    assert secret.startswith("vk_")
    check_page(page, "admin-api-keys-secret-shown-once")
    answer = api.post("/api/v1/evaluate", json={}, headers={"X-API-Key": secret})
    assert answer.status_code == 200, answer.text

    page.get_by_role("link", name="Done: back to the keys").click()
    page.wait_for_url("**/api-keys")
    assert secret not in page.content()
    row = page.get_by_role("row").filter(has_text=name)
    assert "Active" in row.inner_text()
    check_page(page, "admin-api-keys-list")

    questions: list[str] = []

    def dismiss(dialog: Any) -> None:
        questions.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    row.get_by_role("button", name="Revoke").click()
    assert len(questions) == 1
    assert questions[0].startswith(f"Revoke the key {name}")
    assert "Active" in page.get_by_role("row").filter(has_text=name).inner_text()
    accepted = accept_dialogs(page)
    row.get_by_role("button", name="Revoke").click()
    page.wait_for_url("**/api-keys?revoked=*")
    assert accepted == questions
    assert "Revoked" in page.get_by_role("row").filter(has_text=name).inner_text()
    answer = api.post("/api/v1/evaluate", json={}, headers={"X-API-Key": secret})
    assert answer.status_code == 401
