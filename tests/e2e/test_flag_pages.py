"""The flag pages in Chromium: the list with its kill switches, the create form with its
errors, a flag's rules editor, overrides, prerequisites and the "try it" panel; every
page screenshotted at both widths and checked with axe-core."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.e2e.conftest import ADMIN_PASSWORD, assert_accessible, screenshots, sign_in
from tests.integration.delivery.test_stream import LiveServer

Headers = dict[str, str]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def api_login(
    dashboard: LiveServer, username: str = "admin", password: str = ADMIN_PASSWORD
) -> Headers:
    answer = httpx.post(
        f"{dashboard.base}/api/v1/auth/login", json={"username": username, "password": password}
    )
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def api_flag(dashboard: LiveServer, admin: Headers, **fields: Any) -> str:
    key = fields.pop("key", None) or unique("flag")
    answer = httpx.post(
        f"{dashboard.base}/api/v1/flags", json={"key": key, "name": key, **fields}, headers=admin
    )
    assert answer.status_code == 201, answer.text
    return key


def api_state(dashboard: LiveServer, admin: Headers, key: str, environment: str) -> dict[str, Any]:
    answer = httpx.get(
        f"{dashboard.base}/api/v1/flags/{key}/environments/{environment}", headers=admin
    )
    assert answer.status_code == 200, answer.text
    state: dict[str, Any] = answer.json()
    return state


def api_configure(
    dashboard: LiveServer, admin: Headers, key: str, environment: str, **state: Any
) -> None:
    version = api_state(dashboard, admin, key, environment)["version"]
    answer = httpx.put(
        f"{dashboard.base}/api/v1/flags/{key}/environments/{environment}",
        json={"enabled": True, "rules": [], **state},
        headers={**admin, "If-Match": f'"{version}"'},
    )
    assert answer.status_code == 200, answer.text


def accept_dialogs(page: Any) -> None:
    page.on("dialog", lambda dialog: dialog.accept())


def test_the_list_switches_a_flag_on_in_one_environment(page: Any, dashboard: LiveServer) -> None:
    admin = api_login(dashboard)
    prefix = unique("list")
    first = api_flag(dashboard, admin, key=f"{prefix}-checkout")
    api_flag(dashboard, admin, key=f"{prefix}-banner", value_type="string", default_value="hi")
    api_configure(dashboard, admin, first, "production", rollout_percentage=25)
    sign_in(page)
    accept_dialogs(page)
    page.goto("/flags")
    page.get_by_label("Search key, name or description").fill(prefix)
    page.get_by_role("button", name="Search").click()
    page.wait_for_url(f"**/flags?q={prefix}**")
    rows = page.locator("table.flag-list tbody tr")
    assert rows.count() == 2
    assert "25 % rollout" in rows.filter(has_text=first).inner_text()
    assert_accessible(page)
    screenshots(page, "flags-list")
    page.get_by_role("button", name=f"Turn on {first} in Staging").click()
    page.wait_for_load_state()
    assert page.get_by_role("button", name=f"Turn off {first} in Staging").is_visible()
    assert f"q={prefix}" in page.url  # back where the switch was pressed
    assert api_state(dashboard, admin, first, "staging")["enabled"] is True


def test_creating_a_flag_shows_errors_next_to_fields_then_the_flag(
    page: Any, dashboard: LiveServer
) -> None:
    sign_in(page)
    page.goto("/flags")
    page.get_by_role("link", name="New flag").click()
    page.wait_for_url("**/flags/-/new")
    assert_accessible(page)
    screenshots(page, "flags-new")
    page.get_by_label("Key").fill("1-bad key")
    page.get_by_label("Type").select_option("integer")
    page.get_by_label("Default value").fill("twelve")
    page.get_by_role("button", name="Create flag").click()
    key_input = page.get_by_label("Key")
    assert key_input.get_attribute("aria-invalid") == "true"
    assert page.locator("#new-key-error").is_visible()
    assert "not valid JSON" in page.locator("#new-default-error").inner_text()
    assert page.locator("#new-name-error").is_visible()
    assert key_input.input_value() == "1-bad key"
    assert_accessible(page)
    screenshots(page, "flags-new-errors")
    key = unique("colour")
    key_input.fill(key)
    page.get_by_label("Name").fill("Checkout colour")
    page.get_by_label("Type").select_option("string")
    page.get_by_label("Default value").fill("blue")
    page.get_by_label("Variants").fill("control = blue\ntreatment = green")
    page.get_by_role("button", name="Create flag").click()
    page.wait_for_url(f"**/flags/{key}")
    assert page.get_by_role("heading", level=1).inner_text() == key
    assert "treatment = green" in page.locator("#definition-heading + dl").inner_text()


def test_the_rules_editor_shows_the_error_path_and_keeps_the_text(
    page: Any, dashboard: LiveServer
) -> None:
    admin = api_login(dashboard)
    key = api_flag(dashboard, admin)
    sign_in(page)
    page.goto(f"/flags/{key}?environment=production")
    assert_accessible(page)
    screenshots(page, "flags-detail")
    typed = (
        '[{"id": "staff", "type": "force", "value": true},\n'
        ' {"id": "nl", "type": "force", "condition": {"country": {"$inn": ["NL"]}}, "value": true}]'
    )
    editor = page.get_by_label("Rules (a JSON array")
    editor.fill(typed)
    page.get_by_role("button", name="Save rules").click()
    error = page.locator("#rules-editor-error")
    assert "rules[1].condition.country.$inn" in error.inner_text()
    assert editor.get_attribute("aria-invalid") == "true"
    assert editor.input_value() == typed
    assert_accessible(page)
    screenshots(page, "flags-rules-error")
    editor.fill(typed.replace("$inn", "$in"))
    page.get_by_label("Rollout percentage").fill("50")
    page.get_by_role("button", name="Save rules").click()
    assert page.get_by_role("status").filter(has_text="Rules and rollout saved.").is_visible()
    state = api_state(dashboard, admin, key, "production")
    assert [rule["id"] for rule in state["rules"]] == ["staff", "nl"]
    assert state["rollout_percentage"] == 50


def test_overrides_prerequisites_and_try_it(page: Any, dashboard: LiveServer) -> None:
    admin = api_login(dashboard)
    parent = api_flag(dashboard, admin)
    key = api_flag(
        dashboard,
        admin,
        value_type="string",
        default_value="blue",
        variants=[{"key": "A", "value": "blue"}, {"key": "B", "value": "green"}],
    )
    api_configure(dashboard, admin, key, "development")
    sign_in(page)
    page.goto(f"/flags/{key}?environment=development")
    page.get_by_label("Unit id", exact=True).fill("user-42")
    page.get_by_label("Variant", exact=True).select_option("B")
    page.get_by_label("Reason").fill("beta tester")
    page.get_by_role("button", name="Add override").click()
    assert page.get_by_role("status").filter(has_text="Override saved.").is_visible()
    assert page.locator("#overrides table").get_by_text("user-42", exact=True).is_visible()
    page.get_by_label("Flag key").fill(parent)
    page.get_by_label("Value it must have").fill("maybe")
    page.get_by_role("button", name="Add prerequisite").click()
    assert "not valid JSON" in page.locator("#prerequisite-value-error").inner_text()
    page.get_by_label("Value it must have").fill("false")
    page.get_by_role("button", name="Add prerequisite").click()
    assert page.get_by_role("status").filter(has_text="Prerequisites saved.").is_visible()
    assert page.locator("#prerequisites li").filter(has_text=parent).is_visible()
    # "Try it" answers in place, through the page's script.
    address = page.url
    page.get_by_label("Unit id (targeting key)").fill("user-42")
    page.get_by_role("button", name="Evaluate").click()
    page.locator("#try-reason").wait_for()
    assert page.url == address
    assert page.locator("#try-value").inner_text() == '"green"'
    assert page.locator("#try-variant").inner_text() == "B"
    assert page.locator("#try-rule").inner_text() == "override"
    page.get_by_label("Attributes (a JSON object)").fill("{not json")
    page.get_by_role("button", name="Evaluate").click()
    page.locator("#try-attributes-error").wait_for()
    assert page.get_by_label("Attributes (a JSON object)").get_attribute("aria-invalid") == "true"
    assert_accessible(page)
    screenshots(page, "flags-detail-overrides-try")
