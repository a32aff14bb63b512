"""Signing in and out in the browser; the login page is accessible at both widths."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import ADMIN_PASSWORD, assert_accessible, screenshots, sign_in


def test_a_wrong_password_is_reported_next_to_the_form(page: Any) -> None:
    page.goto("/")
    assert page.url.endswith("/login")
    assert_accessible(page)
    screenshots(page, "login")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    alert = page.get_by_role("alert")
    assert "wrong username or password" in alert.inner_text()
    assert page.get_by_label("Username").get_attribute("aria-describedby") == "login-error"
    assert_accessible(page)
    screenshots(page, "login-error")


def test_signing_in_and_out(page: Any) -> None:
    sign_in(page)
    page.goto("/no-such-page")
    assert page.get_by_role("heading", level=1).inner_text() == "Page not found"
    assert page.get_by_text("admin").first.is_visible()
    assert_accessible(page)
    screenshots(page, "not-found")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/login")
    page.goto("/no-such-page")
    assert not page.get_by_role("button", name="Sign out").count()


def test_the_keyboard_alone_signs_in_skips_to_the_content_and_follows_the_navigation(
    page: Any,
) -> None:
    page.goto("/login")
    assert page.evaluate("document.activeElement.id") == "username"  # focused on arrival
    page.keyboard.type("admin")
    page.keyboard.press("Tab")
    page.keyboard.type(ADMIN_PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url("**/experiments")
    page.keyboard.press("Tab")
    skip = page.evaluate("[document.activeElement.tagName, document.activeElement.textContent]")
    assert skip == ["A", "Skip to content"]
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    page.goto("/experiments")
    for _ in range(3):  # skip link, brand, then the first section of the navigation
        page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Experiments"
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.wait_for_url("**/flags")
    assert page.get_by_role("heading", level=1).first.is_visible()
