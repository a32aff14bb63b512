"""The users, roles, audit log and power calculator pages in Chromium: creating a user
with the form's errors shown next to the fields, editing their roles, deactivating them
(confirmed); a custom role ticked in the permission grid with the keyboard; the audit
log filtered and a change shown before and after; the power calculator. Every page is
screenshotted at both widths and checked with axe-core."""

from __future__ import annotations

from typing import Any

import httpx

from tests.e2e.conftest import check_page, open_form, screenshots, sign_in
from tests.integration.conftest import unique
from tests.integration.web.api import post_created, read

Headers = dict[str, str]


def api_user(api: httpx.Client, admin: Headers, username: str) -> dict[str, Any]:
    found = api.get("/api/v1/users", params={"q": username}, headers=admin).json()["items"]
    (user,) = [item for item in found if item["username"] == username]
    return dict(user)


def test_creating_editing_and_deactivating_a_user(
    page: Any, api: httpx.Client, admin: Headers
) -> None:
    sign_in(page)
    page.goto("/users")
    assert page.get_by_role("heading", name="Users", level=1).is_visible()
    check_page(page, "users-list")

    open_form(page, "New user", "**/users/new", "users-new")
    username = unique("ada")
    page.get_by_label("Username").fill("ada lovelace")
    page.get_by_label("E-mail").fill(f"{username}@example.com")
    page.get_by_label("Full name (optional)").fill("Ada Lovelace")
    page.get_by_label("Password", exact=True).fill("short")
    page.get_by_label("Repeat the password").fill("short")
    page.get_by_label("experimenter").check()
    page.get_by_role("button", name="Create user").click()
    field = page.get_by_label("Username")
    assert field.get_attribute("aria-invalid") == "true"
    error = page.locator("#f-username-error")
    assert "ASCII letters" in error.inner_text()
    assert "f-username-error" in (field.get_attribute("aria-describedby") or "")
    assert "at least 8 characters" in page.locator("#f-password-error").inner_text()
    assert page.get_by_label("Full name (optional)").input_value() == "Ada Lovelace"
    assert page.get_by_label("experimenter").is_checked()
    check_page(page, "users-new-errors")

    field.fill(username)
    page.get_by_label("Password", exact=True).fill("a long enough password")
    page.get_by_label("Repeat the password").fill("a long enough password")
    page.get_by_role("button", name="Create user").click()
    page.wait_for_url("**/users/*?done=created")
    assert "User created." in page.get_by_role("status").inner_text()
    assert api_user(api, admin, username)["roles"] == ["experimenter"]
    check_page(page, "users-detail")

    page.get_by_label("experimenter").uncheck()
    page.get_by_label("viewer").check()
    page.get_by_role("button", name="Save changes").click()
    page.wait_for_url("**?done=saved")
    assert api_user(api, admin, username)["roles"] == ["viewer"]

    questions: list[str] = []

    def answer(dialog: Any) -> None:
        questions.append(dialog.message)
        dialog.dismiss() if len(questions) == 1 else dialog.accept()

    page.on("dialog", answer)
    deactivate = page.get_by_role("button", name=f"Deactivate {username}")
    deactivate.click()  # dismissed: nothing happens
    assert api_user(api, admin, username)["is_active"] is True
    deactivate.click()
    page.wait_for_url("**?done=deactivated")
    assert questions[0].startswith(f"Deactivate {username}?")
    assert api_user(api, admin, username)["is_active"] is False
    assert page.get_by_role("button", name=f"Reactivate {username}").is_visible()
    screenshots(page, "users-deactivated")


def test_a_custom_role_is_ticked_in_the_grid_with_the_keyboard(
    page: Any, api: httpx.Client, admin: Headers
) -> None:
    sign_in(page)
    page.goto("/roles")
    assert page.get_by_role("link", name="admin", exact=True).is_visible()
    check_page(page, "roles-list")

    page.get_by_role("link", name="New role").click()
    page.wait_for_url("**/roles/new")
    name = unique("Analysts")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Description (optional)").fill("Read results, edit metrics")
    box = page.get_by_label("Experiments: read")
    box.focus()
    page.keyboard.press("Space")
    assert box.is_checked()
    page.keyboard.press("Tab")  # the next box in the row: Experiments: create
    page.keyboard.press("Space")
    assert page.get_by_label("Experiments: create").is_checked()
    page.get_by_label("Metrics: update").check()
    check_page(page, "roles-new")
    page.get_by_role("button", name="Create role").click()
    page.wait_for_url("**/roles/*?done=created")
    role_id = page.url.split("/roles/")[1].split("?")[0]
    stored = read(api, admin, f"/api/v1/roles/{role_id}")
    assert stored["permissions"] == ["experiment:create", "experiment:read", "metric:update"]
    check_page(page, "roles-detail")

    page.goto("/roles")
    page.get_by_role("link", name="viewer", exact=True).click()
    assert page.get_by_role("heading", name="Role viewer").is_visible()
    assert not page.get_by_role("button", name="Save changes").count()
    check_page(page, "roles-built-in")


def test_the_audit_log_is_filtered_and_shows_a_change_before_and_after(
    page: Any, api: httpx.Client, admin: Headers
) -> None:
    made = post_created(
        api, admin, "/api/v1/roles", {"name": unique("auditors"), "permissions": ["audit_log:read"]}
    )
    changed = api.patch(
        f"/api/v1/roles/{made['id']}",
        json={"description": "Read the log", "permissions": ["audit_log:read", "user:read"]},
        headers={**admin, "If-Match": f'"{made["version"]}"'},
    )
    assert changed.status_code == 200, changed.text
    sign_in(page)
    page.goto("/audit")
    check_page(page, "audit-list")
    page.get_by_label("Resource type").select_option("role")
    page.get_by_label("Action").select_option("update")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**/audit?*resource_type=role*")
    row = page.get_by_role("row").filter(has_text=made["name"])
    assert "description, permissions" in row.inner_text()
    check_page(page, "audit-filtered")
    row.get_by_role("link").first.click()
    page.wait_for_url("**/audit/*")
    assert "2 of 3 fields changed" in page.get_by_text("fields changed").inner_text()
    changed_rows = page.locator("table.diff tr.changed th")
    assert [text.split()[0] for text in changed_rows.all_inner_texts()] == [
        "description",
        "permissions",
    ]
    check_page(page, "audit-entry")


def test_the_power_calculator_answers_and_shows_errors_next_to_fields(page: Any) -> None:
    sign_in(page)
    page.goto("/power")
    check_page(page, "power-empty")
    page.get_by_label("Baseline", exact=True).fill("1.5")
    page.get_by_label("Minimum detectable effect").fill("0.02")
    page.get_by_role("button", name="Calculate").click()
    baseline = page.get_by_label("Baseline", exact=True)
    assert baseline.get_attribute("aria-invalid") == "true"
    assert "between 0 and 1" in page.locator("#f-baseline-error").inner_text()
    check_page(page, "power-errors")
    baseline.fill("0.1")
    page.get_by_label("Units a day, all variants").fill("1000")
    page.get_by_role("button", name="Calculate").click()
    # Fleiss, two-sided alpha 0.05, power 0.8: 0.10 -> 0.12 needs 3,841 per variant
    # (statsmodels' samplesize_proportions_2indep_onetail gives 3,840.85).
    assert page.locator("#answer-n").inner_text() == "3,841"
    assert page.locator("#answer-days").inner_text() == "7.7"
    check_page(page, "power-answer")
