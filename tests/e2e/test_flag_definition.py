"""A flag's definition in Chromium: renaming the flag through the "edit definition"
form, then archiving it with the confirmation accepted; the page screenshotted at both
widths and checked with axe-core."""

from __future__ import annotations

from typing import Any

import httpx

from tests.e2e.conftest import accept_dialogs, check_page, sign_in
from tests.integration.web.api import BLUE_OR_GREEN, configure_flag, make_flag, read

Headers = dict[str, str]


def test_renaming_then_archiving_a_flag(page: Any, api: httpx.Client, admin: Headers) -> None:
    key = make_flag(api, admin, **BLUE_OR_GREEN)
    configure_flag(api, admin, key, "production")
    sign_in(page)
    page.goto(f"/flags/{key}?environment=production")
    page.get_by_text("Edit definition").click()
    name = page.locator("#definition-name")
    assert name.input_value() == key
    assert page.locator("#definition-variants").input_value() == "A = blue\nB = green"
    check_page(page, "flags-definition")
    name.fill("Checkout button colour")
    page.get_by_role("button", name="Save definition").click()
    page.wait_for_url("**saved=definition**")
    assert page.locator("p.alert.good").inner_text() == "Definition saved."
    assert read(api, admin, f"/api/v1/flags/{key}")["name"] == "Checkout button colour"
    history = page.locator("#history li")
    assert history.first.inner_text().endswith("update")
    questions = accept_dialogs(page, once=True)
    page.get_by_role("button", name=f"Archive {key}").click()
    page.wait_for_url("**saved=archived**")
    assert questions == [f"Archive {key}? SDKs will no longer receive it."]
    assert read(api, admin, f"/api/v1/flags/{key}")["archived"] is True
    assert page.get_by_role("button", name=f"Restore {key}").is_visible()
    assert history.first.inner_text().endswith("archive")
    check_page(page, "flags-definition-archived")
