"""In Chromium: switching a flag off changes what "try it" answers; a viewer is offered
no control that changes anything, and the server refuses the viewer's forged posts;
a post without the session's CSRF token is refused and changes nothing."""

from __future__ import annotations

from typing import Any

import httpx

from tests.e2e.conftest import accept_dialogs, check_page, sign_in
from tests.integration.conftest import unique
from tests.integration.web.api import (
    configure_flag,
    flag_state,
    make_experiment,
    make_flag,
    make_user,
    read_experiment,
)

Headers = dict[str, str]

VIEWER_PASSWORD = "viewer-password-for-the-browser"
NONE = "\u2013"  # how a page shows a missing value (an en dash)


def _answer(page: Any) -> tuple[str, str, str]:
    page.locator("#try-reason").wait_for()
    return (
        page.locator("#try-value").inner_text(),
        page.locator("#try-reason").inner_text(),
        page.locator("#try-rule").inner_text(),
    )


def _evaluate(page: Any) -> tuple[str, str, str]:
    """Press "Evaluate" and wait for a new answer to replace the old one."""
    old = page.locator("#try-reason")
    handle = old.element_handle() if old.count() else None
    page.get_by_role("button", name="Evaluate").click()
    if handle is not None:
        page.wait_for_function("(element) => !element.isConnected", arg=handle)
    return _answer(page)


def _token(page: Any) -> str:
    token: str = page.locator("input[name=csrf_token]").first.get_attribute("value")
    assert token
    return token


def test_switching_a_flag_off_changes_the_try_it_answer(
    page: Any, api: httpx.Client, admin: Headers
) -> None:
    key = make_flag(api, admin)
    configure_flag(
        api,
        admin,
        key,
        "production",
        rules=[{"id": "everyone", "type": "force", "value": True}],
    )
    sign_in(page)
    accept_dialogs(page)
    page.goto(f"/flags/{key}?environment=production")
    page.get_by_label("Unit id (targeting key)").fill("user-1")
    assert _evaluate(page) == ("true", "TARGETING_MATCH", "everyone")
    page.get_by_role("button", name=f"Turn off {key} in Production").click()
    page.get_by_role("button", name=f"Turn on {key} in Production").wait_for()
    assert page.get_by_role("status").filter(has_text="Kill switch changed.").is_visible()
    page.get_by_label("Unit id (targeting key)").fill("user-1")
    assert _evaluate(page) == ("false", "DISABLED", NONE)
    check_page(page, "flags-switched-off-try")
    page.get_by_role("button", name=f"Turn on {key} in Production").click()
    page.get_by_role("button", name=f"Turn off {key} in Production").wait_for()
    page.get_by_label("Unit id (targeting key)").fill("user-1")
    assert _evaluate(page) == ("true", "TARGETING_MATCH", "everyone")


def test_a_viewer_is_offered_no_edit_controls_and_a_forged_post_is_refused(
    page: Any, api: httpx.Client, admin: Headers
) -> None:
    username = make_user(api, admin, VIEWER_PASSWORD, ["viewer"], prefix="viewer")["username"]
    key = make_flag(api, admin)
    configure_flag(api, admin, key, "production")
    experiment = make_experiment(
        api,
        admin,
        name="Checkout button",
        variants=[
            {"key": "control", "is_control": True, "weight": 0.5},
            {"key": "green", "weight": 0.5},
        ],
    )["key"]
    sign_in(page, username, VIEWER_PASSWORD)

    page.goto(f"/flags?q={key}")
    assert page.get_by_role("link", name=key).is_visible()
    assert page.get_by_role("button", name="Turn off").count() == 0
    assert page.get_by_role("button", name="Turn on").count() == 0
    assert page.get_by_role("link", name="New flag").count() == 0
    check_page(page, "flags-list-viewer")
    page.goto(f"/flags/{key}?environment=production")
    for name in ("Save rules", "Add override", "Add prerequisite", "Turn off"):
        assert page.get_by_role("button", name=name).count() == 0, name
    assert page.get_by_role("button", name="Evaluate").is_visible()
    check_page(page, "flags-detail-viewer")

    page.goto("/experiments")
    assert page.get_by_role("link", name="New experiment").count() == 0
    page.goto(f"/experiments/{experiment}")
    assert page.get_by_role("link", name="Edit").count() == 0
    assert page.locator("main form[method=post]").count() == 0

    token = _token(page)
    state = flag_state(api, admin, key, "production")
    forged_switch = page.request.post(
        f"/flags/{key}/environments/production/switch",
        form={"csrf_token": token, "enabled": "false", "version": str(state["version"])},
        max_redirects=0,
    )
    assert forged_switch.status == 403
    forged_start = page.request.post(
        f"/experiments/{experiment}/start",
        form={"csrf_token": token, "version": "1"},
        max_redirects=0,
    )
    assert forged_start.status == 403
    assert flag_state(api, admin, key, "production")["enabled"] is True
    assert read_experiment(api, admin, experiment)["status"] == "draft"


def test_a_post_without_the_right_csrf_token_is_refused(
    page: Any, api: httpx.Client, admin: Headers
) -> None:
    key = make_flag(api, admin)
    configure_flag(api, admin, key, "production")
    sign_in(page)
    page.goto(f"/flags/{key}?environment=production")
    version = str(flag_state(api, admin, key, "production")["version"])
    for form in (
        {"enabled": "false", "version": version},
        {"enabled": "false", "version": version, "csrf_token": "0" * 64},
        {"enabled": "false", "version": version, "csrf_token": _token(page)[:-1] + "x"},
    ):
        answer = page.request.post(
            f"/flags/{key}/environments/production/switch", form=form, max_redirects=0
        )
        assert answer.status == 403
        assert "csrf_token" in answer.text()
    created = unique("forged")
    answer = page.request.post(
        "/flags/-/new",
        form={"key": created, "name": created, "value_type": "boolean"},
        max_redirects=0,
    )
    assert answer.status == 403
    assert flag_state(api, admin, key, "production")["enabled"] is True
    missing = api.get(f"/api/v1/flags/{created}", headers=admin)
    assert missing.status_code == 404
    # The same post with the page's token goes through: the refusals were the token's.
    answer = page.request.post(
        f"/flags/{key}/environments/production/switch",
        form={"enabled": "false", "version": version, "csrf_token": _token(page)},
        max_redirects=0,
    )
    assert answer.status == 303
    assert flag_state(api, admin, key, "production")["enabled"] is False
