"""A flag's definition on its page over HTTP: editing name, description, default value,
variants, tags and owner; archiving, restoring and deleting; the history of its audit
entries; who may do what, CSRF and optimistic concurrency."""

from __future__ import annotations

import html
import re
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from tests.integration.web.api import BLUE_OR_GREEN, FLAGS, configure_flag, make_flag, read
from tests.integration.web.conftest import Browser, Headers, form_token


@pytest.fixture
def editor(browser: Browser, make_user: Callable[..., str]) -> TestClient:
    return browser(make_user("experimenter"))


def _error(page: str, element_id: str) -> str:
    """The text of the field error an input points at, asserting it is wired up."""
    tag = re.search(rf'<[a-z]+ [^>]*id="{re.escape(element_id)}"[^>]*>', page)
    assert tag, f"no element #{element_id}"
    assert 'aria-invalid="true"' in tag.group(0), tag.group(0)
    assert f'aria-describedby="{element_id}-error"' in tag.group(0)
    match = re.search(rf'<p class="field-error" id="{element_id}-error">(.*?)</p>', page, re.S)
    assert match, f"no error next to #{element_id}"
    return html.unescape(re.sub(r"<[^>]+>", " ", match.group(1))).strip()


def _definition(key: str, version: int, token: str, **fields: str) -> dict[str, str | int]:
    data: dict[str, str | int] = {
        "csrf_token": token,
        "version": version,
        "name": "Checkout colour",
        "description": "",
        "default_value": "blue",
        "variants": "A = blue\nB = green",
        "tags": "",
        "owner": "",
        "environment": "production",
    }
    data.update(fields)
    return data


def test_editing_the_definition_changes_what_the_api_reads(
    client: TestClient, admin: Headers, editor: TestClient, make_user: Callable[..., str]
) -> None:
    key = make_flag(client, admin, **BLUE_OR_GREEN)
    owner = make_user("viewer")
    version = read(client, admin, f"{FLAGS}/{key}")["version"]
    page = editor.get(f"/flags/{key}?environment=production")
    assert page.status_code == 200
    assert 'action="/flags/' + key + '/definition#definition"' in page.text
    assert 'id="definition-variants"' in page.text
    assert "A = blue\nB = green" in page.text  # the stored variants, as the form types them
    answer = editor.post(
        f"/flags/{key}/definition",
        data=_definition(
            key,
            version,
            form_token(page.text),
            name="Checkout colour",
            description="Which colour the checkout button has.",
            default_value="green",
            variants="A = blue\nB = green\nC = red",
            tags="checkout, ui",
            owner=owner,
        ),
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == (
        f"/flags/{key}?environment=production&saved=definition#definition"
    )
    stored = read(client, admin, f"{FLAGS}/{key}")
    assert stored["name"] == "Checkout colour"
    assert stored["description"] == "Which colour the checkout button has."
    assert stored["default_value"] == "green"
    assert [(v["key"], v["value"]) for v in stored["variants"]] == [
        ("A", "blue"),
        ("B", "green"),
        ("C", "red"),
    ]
    assert stored["tags"] == ["checkout", "ui"]
    assert stored["owner"] == owner
    shown = editor.get(answer.headers["location"])
    assert "Definition saved." in shown.text
    assert "Checkout colour" in shown.text


def test_an_unreadable_definition_is_shown_next_to_the_field_and_nothing_is_saved(
    client: TestClient, admin: Headers, editor: TestClient
) -> None:
    key = make_flag(client, admin, value_type="integer", default_value=3)
    version = read(client, admin, f"{FLAGS}/{key}")["version"]
    page = editor.get(f"/flags/{key}")
    token = form_token(page.text)
    answer = editor.post(
        f"/flags/{key}/definition",
        data=_definition(
            key, version, token, name="", default_value="three", variants="small 1", tags="x"
        ),
    )
    assert answer.status_code == 422
    assert "not valid JSON" in _error(answer.text, "definition-default")
    assert "line 1: write key = value" in _error(answer.text, "definition-variants")
    assert 'value="three"' in answer.text  # what was typed is kept
    unknown = editor.post(
        f"/flags/{key}/definition",
        data=_definition(
            key, version, token, name="Size", default_value="4", variants="", owner="nobody-x"
        ),
    )
    assert unknown.status_code == 422
    assert "unknown user" in _error(unknown.text, "definition-owner")
    stored = read(client, admin, f"{FLAGS}/{key}")
    assert (stored["name"], stored["default_value"], stored["owner"]) == (key, 3, None)
    assert stored["version"] == version


def test_a_definition_from_a_stale_page_is_refused_and_overwrites_nothing(
    client: TestClient, admin: Headers, editor: TestClient
) -> None:
    key = make_flag(client, admin, **BLUE_OR_GREEN)
    seen = read(client, admin, f"{FLAGS}/{key}")["version"]
    page = editor.get(f"/flags/{key}")
    changed = client.patch(
        f"{FLAGS}/{key}",
        json={"name": "A colleague's name"},
        headers={**admin, "If-Match": f'"{seen}"'},
    )
    assert changed.status_code == 200, changed.text
    answer = editor.post(
        f"/flags/{key}/definition",
        data=_definition(key, seen, form_token(page.text), name="My name"),
    )
    assert answer.status_code == 412
    assert "Not saved:" in answer.text
    assert 'value="My name"' in answer.text  # kept for comparing
    assert read(client, admin, f"{FLAGS}/{key}")["name"] == "A colleague's name"


def test_archiving_and_restoring_a_flag(
    client: TestClient, admin: Headers, editor: TestClient
) -> None:
    key = make_flag(client, admin)
    configure_flag(client, admin, key, "production")
    page = editor.get(f"/flags/{key}?environment=production")
    assert 'data-confirm="Archive ' + key in page.text
    version = read(client, admin, f"{FLAGS}/{key}")["version"]
    token = form_token(page.text)
    answer = editor.post(
        f"/flags/{key}/archive",
        data={"csrf_token": token, "version": version, "environment": "production"},
    )
    assert answer.status_code == 303
    assert "saved=archived" in answer.headers["location"]
    assert read(client, admin, f"{FLAGS}/{key}")["archived"] is True
    archived = editor.get(answer.headers["location"])
    assert "Flag archived" in archived.text
    assert "Save definition" not in archived.text  # an archived flag is read-only
    assert f'action="/flags/{key}/restore"' in archived.text
    again = editor.post(
        f"/flags/{key}/archive",
        data={"csrf_token": token, "version": read(client, admin, f"{FLAGS}/{key}")["version"]},
    )
    assert again.status_code == 409
    assert "already archived" in again.text
    restored = editor.post(
        f"/flags/{key}/restore",
        data={"csrf_token": token, "version": read(client, admin, f"{FLAGS}/{key}")["version"]},
    )
    assert restored.status_code == 303
    assert read(client, admin, f"{FLAGS}/{key}")["archived"] is False


def test_archiving_a_flag_others_require_is_refused_with_the_reason(
    client: TestClient, admin: Headers, editor: TestClient
) -> None:
    parent = make_flag(client, admin)
    make_flag(client, admin, prerequisites=[{"flag": parent, "value": True}])
    page = editor.get(f"/flags/{parent}")
    version = read(client, admin, f"{FLAGS}/{parent}")["version"]
    answer = editor.post(
        f"/flags/{parent}/archive", data={"csrf_token": form_token(page.text), "version": version}
    )
    assert answer.status_code == 409
    assert "is a prerequisite of" in html.unescape(answer.text)
    assert read(client, admin, f"{FLAGS}/{parent}")["archived"] is False


def test_deleting_a_flag_goes_back_to_the_list(
    client: TestClient, admin: Headers, editor: TestClient
) -> None:
    key = make_flag(client, admin)
    page = editor.get(f"/flags/{key}")
    assert f'action="/flags/{key}/delete"' in page.text
    version = read(client, admin, f"{FLAGS}/{key}")["version"]
    token = form_token(page.text)
    stale = editor.post(f"/flags/{key}/delete", data={"csrf_token": token, "version": version + 1})
    assert stale.status_code == 412
    answer = editor.post(f"/flags/{key}/delete", data={"csrf_token": token, "version": version})
    assert (answer.status_code, answer.headers["location"]) == (303, "/flags")
    assert client.get(f"{FLAGS}/{key}", headers=admin).status_code == 404


def test_the_history_lists_the_flag_audit_entries_newest_first(
    client: TestClient, admin: Headers, editor: TestClient
) -> None:
    key = make_flag(client, admin)
    configure_flag(client, admin, key, "production")
    page = editor.get(f"/flags/{key}")
    section = page.text.split('id="history-heading"', 1)[1].split("</section>", 1)[0]
    entries = read(client, admin, f"{FLAGS}/{key}/history")["items"]
    assert len(entries) == 2
    links = re.findall(r'href="/audit/([0-9a-f-]+)"', section)
    assert links == [e["id"] for e in entries]  # newest first, as the API lists them
    assert [a for a in re.findall(r"<strong>(\w+)</strong>", section)] == [
        e["action"] for e in entries
    ]
    assert entries[-1]["action"] == "create"
    entry = editor.get(f"/audit/{links[0]}")
    assert entry.status_code == 200


def test_the_history_shows_the_latest_entries_only(
    client: TestClient,
    admin: Headers,
    editor: TestClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("verdict.server.web.flags.HISTORY_SHOWN", 2)
    key = make_flag(client, admin)
    for name in ("one", "two"):
        version = read(client, admin, f"{FLAGS}/{key}")["version"]
        renamed = client.patch(
            f"{FLAGS}/{key}", json={"name": name}, headers={**admin, "If-Match": f'"{version}"'}
        )
        assert renamed.status_code == 200, renamed.text
    section = editor.get(f"/flags/{key}").text.split('id="history-heading"', 1)[1]
    section = section.split("</section>", 1)[0]
    assert len(re.findall(r'href="/audit/', section)) == 2
    assert "create" not in section
    assert "The 2 latest changes." in section


def test_a_viewer_sees_no_definition_controls_and_a_forged_post_is_refused(
    client: TestClient, admin: Headers, browser: Browser, make_user: Callable[..., str]
) -> None:
    key = make_flag(client, admin, **BLUE_OR_GREEN)
    version = read(client, admin, f"{FLAGS}/{key}")["version"]
    viewer = browser(make_user("viewer"))
    page = viewer.get(f"/flags/{key}")
    assert page.status_code == 200
    for control in ("Edit definition", "Save definition", "/archive", "/restore", "/delete"):
        assert control not in page.text
    assert 'id="history-heading"' in page.text  # reading the history needs no more
    token = form_token(page.text)
    forged = [
        viewer.post(f"/flags/{key}/definition", data=_definition(key, version, token, name="X")),
        viewer.post(f"/flags/{key}/archive", data={"csrf_token": token, "version": version}),
        viewer.post(f"/flags/{key}/delete", data={"csrf_token": token, "version": version}),
    ]
    assert [answer.status_code for answer in forged] == [403, 403, 403]
    stored = read(client, admin, f"{FLAGS}/{key}")
    assert (stored["name"], stored["archived"]) == (key, False)


@pytest.mark.parametrize("action", ["definition", "archive", "delete"])
@pytest.mark.parametrize("token", [None, "0" * 64])
def test_a_post_without_the_right_csrf_token_is_refused(
    client: TestClient, admin: Headers, editor: TestClient, action: str, token: str | None
) -> None:
    key = make_flag(client, admin, **BLUE_OR_GREEN)
    version = read(client, admin, f"{FLAGS}/{key}")["version"]
    editor.get(f"/flags/{key}")
    data = _definition(key, version, token or "", name="Changed")
    if token is None:
        del data["csrf_token"]
    answer = editor.post(f"/flags/{key}/{action}", data=data)
    assert answer.status_code == 403
    assert "csrf_token" in answer.text
    stored = read(client, admin, f"{FLAGS}/{key}")
    assert (stored["name"], stored["archived"], stored["version"]) == (key, False, version)
