"""The flag pages in Chromium: the list with its kill switches, the create form with its
errors, a flag's rules editor, overrides, prerequisites and the "try it" panel; every
page screenshotted at both widths and checked with axe-core."""

from __future__ import annotations

from typing import Any

import httpx

from tests.e2e.conftest import accept_dialogs, check_page, open_form, sign_in
from tests.integration.conftest import unique
from tests.integration.web.api import BLUE_OR_GREEN, configure_flag, flag_state, make_flag

Headers = dict[str, str]


def test_the_list_switches_a_flag_on_in_one_environment(
    page: Any, api: httpx.Client, admin: Headers
) -> None:
    prefix = unique("list")
    first = make_flag(api, admin, key=f"{prefix}-checkout")
    make_flag(api, admin, key=f"{prefix}-banner", value_type="string", default_value="hi")
    configure_flag(api, admin, first, "production", rollout_percentage=25)
    sign_in(page)
    accept_dialogs(page)
    page.goto("/flags")
    page.get_by_label("Search key, name or description").fill(prefix)
    page.get_by_role("button", name="Search").click()
    page.wait_for_url(f"**/flags?q={prefix}**")
    rows = page.locator("table.flag-list tbody tr")
    assert rows.count() == 2
    assert "25 % rollout" in rows.filter(has_text=first).inner_text()
    check_page(page, "flags-list")
    page.get_by_role("button", name=f"Turn on {first} in Staging").click()
    page.wait_for_load_state()
    assert page.get_by_role("button", name=f"Turn off {first} in Staging").is_visible()
    assert f"q={prefix}" in page.url  # back where the switch was pressed
    assert flag_state(api, admin, first, "staging")["enabled"] is True


def test_creating_a_flag_shows_errors_next_to_fields_then_the_flag(page: Any) -> None:
    sign_in(page)
    page.goto("/flags")
    open_form(page, "New flag", "**/flags/-/new", "flags-new")
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
    check_page(page, "flags-new-errors")
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
    page: Any, api: httpx.Client, admin: Headers
) -> None:
    key = make_flag(api, admin)
    sign_in(page)
    page.goto(f"/flags/{key}?environment=production")
    check_page(page, "flags-detail")
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
    check_page(page, "flags-rules-error")
    editor.fill(typed.replace("$inn", "$in"))
    page.get_by_label("Rollout percentage").fill("50")
    page.get_by_role("button", name="Save rules").click()
    assert page.get_by_role("status").filter(has_text="Rules and rollout saved.").is_visible()
    state = flag_state(api, admin, key, "production")
    assert [rule["id"] for rule in state["rules"]] == ["staff", "nl"]
    assert state["rollout_percentage"] == 50


def test_overrides_prerequisites_and_try_it(page: Any, api: httpx.Client, admin: Headers) -> None:
    parent = make_flag(api, admin)
    key = make_flag(api, admin, **BLUE_OR_GREEN)
    configure_flag(api, admin, key, "development")
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
    check_page(page, "flags-detail-overrides-try")
