"""The flag pages over HTTP: the list with its kill switches, the create form, a flag's
rules editor, overrides, prerequisites and "try it" panel; who may change what, CSRF,
optimistic concurrency, and errors shown next to the field they name."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.integration.conftest import unique
from tests.integration.delivery.test_evaluate_api import sdk_key
from tests.integration.web.api import (
    BLUE_OR_GREEN,
    FLAGS,
    configure_flag,
    flag_state,
    make_flag,
)
from tests.integration.web.conftest import Browser, Headers, form_token

NONE = "\u2013"  # how a page shows a missing value (an en dash)


@pytest.fixture
def editor(browser: Browser, make_user: Callable[..., str]) -> TestClient:
    return browser(make_user("experimenter"))


def _element(page: str, element_id: str) -> str:
    """The opening tag of the element with ``element_id``."""
    match = re.search(rf'<[a-z]+ [^>]*id="{re.escape(element_id)}"[^>]*>', page)
    assert match, f"no element #{element_id}"
    return match.group(0)


def _error(page: str, element_id: str) -> str:
    """The text of the field error an input points at, asserting it is wired up."""
    tag = _element(page, element_id)
    assert 'aria-invalid="true"' in tag, tag
    match = re.search(rf'<p class="field-error" id="{element_id}-error">(.*?)</p>', page, re.S)
    assert match, f"no error next to #{element_id}"
    assert f"{element_id}-error" in tag
    return html.unescape(re.sub(r"<[^>]+>", " ", match.group(1))).strip()


# -- the list ------------------------------------------------------------------------


def test_the_list_shows_each_environment_switch_and_rollout(
    client: TestClient, admin: Headers, editor: TestClient
) -> None:
    key = make_flag(client, admin)
    configure_flag(client, admin, key, "production", rollout_percentage=25)
    page = editor.get("/flags", params={"q": key})
    assert page.status_code == 200
    assert f'href="/flags/{key}"' in page.text
    assert "25 % rollout" in page.text
    assert f'Turn off<span class="flag-sr"> {key} in Production' in page.text
    assert f'Turn on<span class="flag-sr"> {key} in Development' in page.text
    assert 'href="/flags/-/new"' in page.text
    assert "No flags match." in editor.get("/flags", params={"q": unique("nothing")}).text


def test_the_list_pages_through_flags_with_the_search_kept(
    client: TestClient, admin: Headers, editor: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("verdict.server.web.flags.PAGE_SIZE", 2)
    prefix = unique("paged")
    keys = [make_flag(client, admin, key=f"{prefix}-{n}") for n in range(3)]
    first = editor.get("/flags", params={"q": prefix})
    assert [k for k in keys if f'href="/flags/{k}"' in first.text] == keys[:2]
    link = re.search(r'href="(/flags\?[^"]*cursor=[^"]+)">Next page', first.text)
    assert link, "no next page link"
    second = editor.get(html.unescape(link.group(1)))
    assert [k for k in keys if f'href="/flags/{k}"' in second.text] == keys[2:]
    assert "Next page" not in second.text
    assert "First page" in second.text


def test_the_kill_switch_changes_what_the_api_reads(
    client: TestClient, admin: Headers, editor: TestClient
) -> None:
    key = make_flag(client, admin)
    version = configure_flag(client, admin, key, "production")["version"]
    page = editor.get("/flags", params={"q": key})
    answer = editor.post(
        f"/flags/{key}/environments/production/switch",
        data={
            "csrf_token": form_token(page.text),
            "enabled": "false",
            "version": version,
            "next": f"/flags?q={key}",
        },
    )
    assert (answer.status_code, answer.headers["location"]) == (303, f"/flags?q={key}")
    state = flag_state(client, admin, key, "production")
    assert state["enabled"] is False
    assert state["updated_by"] is not None


def test_a_switch_from_a_stale_page_is_refused_and_changes_nothing(
    client: TestClient, admin: Headers, editor: TestClient
) -> None:
    key = make_flag(client, admin)
    seen = configure_flag(client, admin, key, "production")["version"]
    page = editor.get(f"/flags/{key}?environment=production")
    configure_flag(client, admin, key, "production", rollout_percentage=10)  # a colleague
    answer = editor.post(
        f"/flags/{key}/environments/production/switch",
        data={"csrf_token": form_token(page.text), "enabled": "false", "version": seen},
    )
    assert answer.status_code == 412
    assert "Not saved: If-Match" in answer.text
    assert "is stale" in answer.text
    assert flag_state(client, admin, key, "production")["enabled"] is True


# -- permissions and CSRF ------------------------------------------------------------


def test_a_viewer_sees_no_edit_controls_and_a_forged_post_is_refused(
    client: TestClient, admin: Headers, browser: Browser, make_user: Callable[..., str]
) -> None:
    key = make_flag(client, admin)
    version = configure_flag(client, admin, key, "production")["version"]
    viewer = browser(make_user("viewer"))
    listed = viewer.get("/flags", params={"q": key})
    assert listed.status_code == 200
    assert key in listed.text
    assert "Turn off" not in listed.text
    assert "New flag" not in listed.text
    page = viewer.get(f"/flags/{key}?environment=production")
    assert page.status_code == 200
    for control in ("Turn off", "Save rules", "Add override", "Add prerequisite"):
        assert control not in page.text
    assert "Evaluate" in page.text  # trying a flag only reads it
    token = form_token(page.text)
    forged = viewer.post(
        f"/flags/{key}/environments/production/switch",
        data={"csrf_token": token, "enabled": "false", "version": version},
    )
    assert forged.status_code == 403
    rules = viewer.post(
        f"/flags/{key}/environments/production/rules",
        data={"csrf_token": token, "rules": "[]", "version": version},
    )
    assert rules.status_code == 403
    assert viewer.get("/flags/-/new").status_code == 403
    assert flag_state(client, admin, key, "production")["enabled"] is True


@pytest.mark.parametrize("token", [None, "", "0" * 64])
def test_a_post_without_the_right_csrf_token_is_refused(
    client: TestClient, admin: Headers, editor: TestClient, token: str | None
) -> None:
    key = make_flag(client, admin)
    version = configure_flag(client, admin, key, "production")["version"]
    editor.get("/flags")
    data: dict[str, Any] = {"enabled": "false", "version": version}
    if token is not None:
        data["csrf_token"] = token
    answer = editor.post(f"/flags/{key}/environments/production/switch", data=data)
    assert answer.status_code == 403
    assert "csrf_token" in answer.text
    assert flag_state(client, admin, key, "production")["enabled"] is True


def test_a_visitor_without_a_session_is_sent_to_sign_in(browser: Browser) -> None:
    answer = browser(None).get("/flags?q=x")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=/flags%3Fq%3Dx"


# -- creating a flag -----------------------------------------------------------------


def test_creating_a_flag_through_the_form(
    client: TestClient, admin: Headers, editor: TestClient
) -> None:
    key = unique("made")
    token = form_token(editor.get("/flags/-/new").text)
    answer = editor.post(
        "/flags/-/new",
        data={
            "csrf_token": token,
            "key": key,
            "name": "Checkout colour",
            "value_type": "string",
            "default_value": "blue",
            "variants": "control = blue\ntreatment = green\n",
            "tags": "checkout, ui",
        },
    )
    assert (answer.status_code, answer.headers["location"]) == (303, f"/flags/{key}")
    flag = client.get(f"{FLAGS}/{key}", headers=admin).json()
    assert flag["value_type"] == "string"
    assert flag["default_value"] == "blue"
    assert flag["variants"] == [
        {"key": "control", "value": "blue"},
        {"key": "treatment", "value": "green"},
    ]
    assert flag["tags"] == ["checkout", "ui"]
    page = editor.get(f"/flags/{key}")
    assert page.status_code == 200
    assert "treatment = green" in page.text


def test_the_create_form_shows_each_error_next_to_its_field(
    client: TestClient, admin: Headers, editor: TestClient
) -> None:
    token = form_token(editor.get("/flags/-/new").text)
    answer = editor.post(
        "/flags/-/new",
        data={
            "csrf_token": token,
            "key": "9 not a key",
            "name": "",
            "value_type": "integer",
            "default_value": "twelve",
            "variants": "small = 1\nlarge",
        },
    )
    assert answer.status_code == 422
    assert "pattern" in _error(answer.text, "new-key")
    assert _error(answer.text, "new-name")
    assert "not valid JSON" in _error(answer.text, "new-default")
    assert "line 2" in _error(answer.text, "new-variants")
    assert 'value="9 not a key"' in answer.text  # what was typed is kept
    # The service's own checks: a default of the wrong type, a key already taken.
    taken = make_flag(client, admin)
    answer = editor.post(
        "/flags/-/new",
        data={"csrf_token": token, "key": taken, "name": "x", "value_type": "boolean"},
    )
    assert answer.status_code == 422
    assert taken in _error(answer.text, "new-key")
    answer = editor.post(
        "/flags/-/new",
        data={
            "csrf_token": token,
            "key": unique("typed"),
            "name": "x",
            "value_type": "integer",
            "default_value": "1.5",
        },
    )
    assert answer.status_code == 422
    assert _error(answer.text, "new-default")


# -- rules and rollout ---------------------------------------------------------------


def test_saving_rules_and_rollout_changes_what_the_api_reads(
    client: TestClient, admin: Headers, editor: TestClient
) -> None:
    key = make_flag(client, admin)
    page = editor.get(f"/flags/{key}?environment=staging")
    rules_form = re.search(r'<form [^>]*/rules#rules".*?</form>', page.text, re.S)
    assert rules_form
    version = re.search(r'name="version" value="(\d+)"', rules_form.group(0))
    assert version
    assert version.group(1) == "0"  # never configured in staging
    rules = '[{"id": "pro", "type": "force", "condition": {"plan": "pro"}, "value": true}]'
    answer = editor.post(
        f"/flags/{key}/environments/staging/rules",
        data={
            "csrf_token": form_token(page.text),
            "rules": rules,
            "rollout_percentage": "12.5",
            "version": "0",
        },
    )
    assert answer.status_code == 303
    assert answer.headers["location"].startswith(f"/flags/{key}?environment=staging&saved=rules")
    state = flag_state(client, admin, key, "staging")
    assert state["rules"] == [
        {"id": "pro", "type": "force", "condition": {"plan": "pro"}, "value": True}
    ]
    assert state["rollout_percentage"] == 12.5
    assert state["enabled"] is False  # the kill switch is left as it was
    assert "Rules and rollout saved." in editor.get(answer.headers["location"]).text


def test_an_invalid_rule_is_shown_with_its_path_and_what_was_typed_is_kept(
    client: TestClient, admin: Headers, editor: TestClient
) -> None:
    key = make_flag(client, admin)
    version = configure_flag(client, admin, key, "production")["version"]
    token = form_token(editor.get(f"/flags/{key}").text)
    typed = (
        '[{"type": "force", "value": true},\n'
        ' {"type": "force", "condition": {"country": {"$inn": ["NL"]}}, "value": true}]'
    )
    answer = editor.post(
        f"/flags/{key}/environments/production/rules",
        data={"csrf_token": token, "rules": typed, "version": version},
    )
    assert answer.status_code == 422
    message = _error(answer.text, "rules-editor")
    assert "rules[1].condition.country.$inn" in message
    assert "unknown operator" in message
    kept = re.search(r'<textarea id="rules-editor"[^>]*>(.*?)</textarea>', answer.text, re.S)
    assert kept
    assert html.unescape(kept.group(1)) == typed
    # Shapes the schema refuses, and text that is not JSON, are named the same way.
    answer = editor.post(
        f"/flags/{key}/environments/production/rules",
        data={"csrf_token": token, "rules": '[{"type": "bogus"}]', "version": version},
    )
    assert "rules[0].type" in _error(answer.text, "rules-editor")
    answer = editor.post(
        f"/flags/{key}/environments/production/rules",
        data={"csrf_token": token, "rules": "[{", "version": version, "rollout_percentage": "x"},
    )
    assert "not valid JSON (line 1" in _error(answer.text, "rules-editor")
    assert "0 to 100" in _error(answer.text, "rules-rollout")
    assert flag_state(client, admin, key, "production")["rules"] == []


# -- overrides and prerequisites -----------------------------------------------------


def test_overrides_are_added_listed_and_removed(
    client: TestClient, admin: Headers, editor: TestClient
) -> None:
    key = make_flag(client, admin, variants=[{"key": "on", "value": True}])
    path = f"/flags/{key}/environments/production/overrides"
    token = form_token(editor.get(f"/flags/{key}?environment=production").text)
    answer = editor.post(
        path,
        data={
            "csrf_token": token,
            "unit_id": "user/7",
            "variant": "on",
            "reason": "support ticket",
            "expires_at": "2099-01-31T18:00",
        },
    )
    assert answer.status_code == 303, answer.text
    listed = client.get(f"{FLAGS}/{key}/environments/production/overrides", headers=admin)
    (override,) = listed.json()["items"]
    assert (override["unit_id"], override["value"], override["variant"]) == ("user/7", True, "on")
    assert override["expires_at"].startswith("2099-01-31T18:00:00")
    page = editor.get(answer.headers["location"])
    assert "<code>user/7</code>" in page.text
    again = editor.post(path, data={"csrf_token": token, "unit_id": "user/7", "value": "false"})
    assert again.status_code == 422
    assert "remove it first" in _error(again.text, "override-unit")
    past = editor.post(
        path,
        data={"csrf_token": token, "unit_id": "u2", "value": "true", "expires_at": "2001-01-01"},
    )
    assert "future" in _error(past.text, "override-expires")
    wrong = editor.post(path, data={"csrf_token": token, "unit_id": "u3", "value": '"yes"'})
    assert _error(wrong.text, "override-value")
    removed = editor.post(
        f"{path}/remove",
        data={"csrf_token": token, "unit_id": "user/7", "version": override["version"]},
    )
    assert removed.status_code == 303
    listed = client.get(f"{FLAGS}/{key}/environments/production/overrides", headers=admin)
    assert listed.json()["items"] == []


def test_prerequisites_are_added_and_removed_and_a_cycle_is_refused(
    client: TestClient, admin: Headers, editor: TestClient
) -> None:
    parent = make_flag(client, admin, value_type="string", default_value="off")
    child = make_flag(client, admin)
    page = editor.get(f"/flags/{child}")
    token = form_token(page.text)
    version = client.get(f"{FLAGS}/{child}", headers=admin).json()["version"]
    answer = editor.post(
        f"/flags/{child}/prerequisites",
        data={"csrf_token": token, "flag": parent, "value": "on", "version": version},
    )
    assert answer.status_code == 303, answer.text
    flag = client.get(f"{FLAGS}/{child}", headers=admin).json()
    assert flag["prerequisites"] == [{"flag": parent, "value": "on"}]
    parent_version = client.get(f"{FLAGS}/{parent}", headers=admin).json()["version"]
    cycle = editor.post(
        f"/flags/{parent}/prerequisites",
        data={"csrf_token": token, "flag": child, "value": "true", "version": parent_version},
    )
    assert cycle.status_code == 422
    assert f"{parent} → {child} → {parent}" in _error(cycle.text, "prerequisite-flag")
    unknown = editor.post(
        f"/flags/{child}/prerequisites",
        data={"csrf_token": token, "flag": unique("ghost"), "value": "1", "version": 0},
    )
    assert "unknown flag" in _error(unknown.text, "prerequisite-flag")
    removed = editor.post(
        f"/flags/{child}/prerequisites/remove",
        data={"csrf_token": token, "flag": parent, "version": flag["version"]},
    )
    assert removed.status_code == 303
    assert client.get(f"{FLAGS}/{child}", headers=admin).json()["prerequisites"] == []


# -- try it --------------------------------------------------------------------------


def _answer(page: str) -> dict[str, str]:
    found = {}
    for name in ("value", "variant", "reason", "rule"):
        match = re.search(rf'id="try-{name}">(.*?)</', page)
        assert match, f"no {name} in the answer"
        found[name] = html.unescape(match.group(1))
    return found


def test_try_it_answers_as_the_evaluate_api_does(
    client: TestClient, admin: Headers, editor: TestClient
) -> None:
    key = make_flag(client, admin, **BLUE_OR_GREEN)
    configure_flag(
        client,
        admin,
        key,
        "production",
        rules=[{"id": "dutch", "type": "force", "condition": {"country": "NL"}, "variant": "B"}],
    )
    sdk = sdk_key(client, admin)
    token = form_token(editor.get(f"/flags/{key}").text)
    reasons = []
    for attributes in ({"country": "NL"}, {"country": "FR"}):
        page = editor.post(
            f"/flags/{key}/environments/production/try",
            data={"csrf_token": token, "unit_id": "u-1", "attributes": json.dumps(attributes)},
        )
        assert page.status_code == 200
        assert "<html" in page.text
        api = client.post(
            "/api/v1/evaluate",
            json={"targeting_key": "u-1", "attributes": attributes, "flags": [key]},
            headers=sdk,
        ).json()["flags"][key]
        shown = _answer(page.text)
        assert shown["value"] == json.dumps(api["value"])
        assert shown["reason"] == api["reason"]
        assert shown["variant"] == (api["variant"] or NONE)
        assert shown["rule"] == (api["rule"] or NONE)
        reasons.append((shown["value"], shown["variant"], shown["reason"], shown["rule"]))
    assert reasons == [
        ('"green"', "B", "TARGETING_MATCH", "dutch"),
        ('"blue"', "A", "DEFAULT", NONE),
    ]


def test_try_it_answers_a_partial_to_the_script_and_reports_bad_attributes(
    client: TestClient, admin: Headers, editor: TestClient
) -> None:
    key = make_flag(client, admin)
    configure_flag(client, admin, key, "development", rules=[{"type": "force", "value": True}])
    token = form_token(editor.get(f"/flags/{key}").text)
    partial = editor.post(
        f"/flags/{key}/environments/development/try",
        data={"csrf_token": token, "unit_id": "u-1", "attributes": ""},
        headers={"X-Verdict-Partial": "1"},
    )
    assert partial.status_code == 200
    assert "<html" not in partial.text
    shown = _answer(partial.text)
    assert (shown["value"], shown["reason"]) == ("true", "TARGETING_MATCH")
    bad = editor.post(
        f"/flags/{key}/environments/development/try",
        data={"csrf_token": token, "unit_id": "u-1", "attributes": "[1, 2]"},
        headers={"X-Verdict-Partial": "1"},
    )
    assert bad.status_code == 422
    assert "attributes" in bad.text
    assert _error(bad.text, "try-attributes")
    assert "[1, 2]" in bad.text
