"""The segment, metric definition, environment and API key pages over HTTP: they show
what is stored, what a role may not do is neither offered nor done, forms without the
session's token are refused, the API's refusals are shown next to the field they name
with what was typed kept, and what a form saves is what the API then reads."""

from __future__ import annotations

import html
import re
from collections.abc import Callable

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.integration.conftest import unique
from tests.integration.web.api import make_metric, make_segment
from tests.integration.web.conftest import Browser, Headers, form_token


def _field_error(page: str, field: str) -> str:
    """The message shown next to ``field``, checking the field points at it."""
    match = re.search(rf'<p class="field-error" id="{field}-error">([^<]*)</p>', page)
    assert match, f"no error shown next to {field}"
    control = re.search(rf'<(?:input|textarea|select) id="{field}"[^>]*>', page)
    assert control, f"no control {field}"
    assert 'aria-invalid="true"' in control.group(0)
    assert f"{field}-error" in control.group(0)  # aria-describedby names the message
    return html.unescape(match.group(1))


def _kept(page: str, field: str) -> str:
    """What the form shows in the text area ``field`` (what the user typed)."""
    match = re.search(rf'<textarea id="{field}"[^>]*>([^<]*)</textarea>', page)
    assert match, f"no text area {field}"
    return html.unescape(match.group(1))


def _post(client: TestClient, url: str, data: dict[str, str]) -> httpx.Response:
    """Post ``data`` to the form at ``url`` with the token its page carries."""
    token = form_token(client.get(url).text)
    answer: httpx.Response = client.post(url, data={"csrf_token": token, **data})
    return answer


def _version(page: str) -> str:
    match = re.search(r'name="version" value="(\d+)"', page)
    assert match, "the page has no version field"
    return match.group(1)


def _edit_form(page: str, **fields: str) -> dict[str, str]:
    """``fields`` with the token and the version the edit page ``page`` carries."""
    return {"csrf_token": form_token(page), "version": _version(page), **fields}


# -- segments ------------------------------------------------------------------------


def test_a_segment_created_through_the_form_is_what_the_api_reads(
    browser: Browser, client: TestClient, admin: Headers, make_user: Callable[..., str]
) -> None:
    page = browser(make_user("experimenter"))
    key = unique("seg")
    answer = _post(
        page,
        "/segments/-/new",
        {
            "key": key,
            "name": "German speakers",
            "description": "DE and AT",
            "conditions": '{"country": {"$in": ["DE", "AT"]}}',
            "is_active": "on",
            "size_estimate": "1200",
        },
    )
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == f"/segments/{key}?saved=created"
    stored = client.get(f"/api/v1/segments/{key}", headers=admin).json()
    assert stored["conditions"] == {"country": {"$in": ["DE", "AT"]}}
    assert (stored["name"], stored["is_active"], stored["size_estimate"]) == (
        "German speakers",
        True,
        1200,
    )
    assert stored["owner"] is None  # the owner field was left empty
    detail = page.get(answer.headers["location"]).text
    assert "Segment created." in detail
    listed = page.get("/segments", params={"q": key}).text
    assert f'href="/segments/{key}"' in listed


def test_a_condition_the_engine_refuses_is_shown_next_to_the_field_with_what_was_typed(
    browser: Browser, client: TestClient, admin: Headers, make_user: Callable[..., str]
) -> None:
    page = browser(make_user("experimenter"))
    key = unique("seg")
    typed = '{"$inSegment": "no-such-segment"}'
    answer = _post(
        page,
        "/segments/-/new",
        {
            "key": key,
            "name": "Broken",
            "conditions": typed,
        },
    )
    assert answer.status_code == 422
    assert "no-such-segment" in _field_error(answer.text, "conditions")
    assert _kept(answer.text, "conditions") == typed
    assert f'value="{key}"' in answer.text
    assert client.get(f"/api/v1/segments/{key}", headers=admin).status_code == 404

    not_json = _post(
        page,
        "/segments/-/new",
        {
            "key": key,
            "name": "",
            "conditions": '{"country": ',
        },
    )
    assert not_json.status_code == 422
    assert _field_error(not_json.text, "conditions").startswith("not valid JSON")
    assert "at least 1 character" in _field_error(not_json.text, "name")
    bad_key = _post(
        page,
        "/segments/-/new",
        {
            "key": "1-starts-with-a-digit",
            "name": "x",
        },
    )
    assert bad_key.status_code == 422
    assert "pattern" in _field_error(bad_key.text, "key")


def test_editing_a_segment_saves_and_a_stale_form_overwrites_nothing(
    browser: Browser, client: TestClient, admin: Headers, make_user: Callable[..., str]
) -> None:
    key = make_segment(client, admin, conditions={"plan": "pro"})
    page = browser(make_user("experimenter"))
    detail = page.get(f"/segments/{key}").text
    fields = _edit_form(
        detail, name="Pro customers", conditions='{"plan": {"$in": ["pro", "team"]}}'
    )
    saved = page.post(f"/segments/{key}", data=fields)
    assert (saved.status_code, saved.headers["location"]) == (303, f"/segments/{key}?saved=updated")
    stored = client.get(f"/api/v1/segments/{key}", headers=admin).json()
    assert stored["conditions"] == {"plan": {"$in": ["pro", "team"]}}
    assert stored["is_active"] is False  # the box was not ticked
    stale = page.post(f"/segments/{key}", data={**fields, "name": "Someone else's change"})
    assert stale.status_code == 412
    assert "stale" in stale.text
    assert client.get(f"/api/v1/segments/{key}", headers=admin).json()["name"] == "Pro customers"


def test_a_segment_in_use_is_not_deleted_and_the_page_says_by_whom(
    browser: Browser, client: TestClient, admin: Headers, make_user: Callable[..., str]
) -> None:
    used = make_segment(client, admin)
    user = make_segment(client, admin, conditions={"$inSegment": used})
    page = browser(make_user("experimenter"))
    detail = page.get(f"/segments/{used}").text
    refused = page.post(
        f"/segments/{used}/delete",
        data=_edit_form(detail),
    )
    assert refused.status_code == 409
    assert f"segments ({user})" in html.unescape(refused.text)
    assert client.get(f"/api/v1/segments/{used}", headers=admin).status_code == 200
    detail = page.get(f"/segments/{user}").text
    gone = page.post(
        f"/segments/{user}/delete",
        data=_edit_form(detail),
    )
    assert (gone.status_code, gone.headers["location"]) == (303, f"/segments?deleted={user}")
    assert client.get(f"/api/v1/segments/{user}", headers=admin).status_code == 404


# -- metric definitions --------------------------------------------------------------


def _metric_form(key: str, **fields: str) -> dict[str, str]:
    return {
        "key": key,
        "name": f"Metric {key}",
        "event_name": "purchase",
        "type": "revenue",
        "aggregation": "sum",
        "capping": "none",
        "direction": "higher",
        "conversion_delay_hours": "0",
        **fields,
    }


def test_a_metric_created_and_edited_through_the_form_is_what_the_api_reads(
    browser: Browser, client: TestClient, admin: Headers, make_user: Callable[..., str]
) -> None:
    page = browser(make_user("experimenter"))
    key = unique("revenue")
    created = _post(
        page,
        "/metric-definitions/-/new",
        _metric_form(
            key,
            value_path="order.total",
            capping="percentile",
            cap_value="0.99",
            conversion_window_hours="72",
            tags="money, checkout",
            unit="EUR",
        ),
    )
    assert created.status_code == 303, created.text
    stored = client.get(f"/api/v1/metrics/{key}", headers=admin).json()
    assert stored["value_path"] == "order.total"
    assert (stored["capping"], stored["cap_value"]) == ("percentile", 0.99)
    assert stored["conversion_window_hours"] == 72
    assert stored["tags"] == ["money", "checkout"]
    assert stored["lower_is_better"] is False

    detail = page.get(f"/metric-definitions/{key}").text
    assert "checkout" in detail
    assert "order.total" in detail
    edited = page.post(
        f"/metric-definitions/{key}",
        data=_edit_form(detail, **_metric_form(key, direction="lower", tags="money", unit="EUR")),
    )
    assert edited.status_code == 303, edited.text
    stored = client.get(f"/api/v1/metrics/{key}", headers=admin).json()
    assert (stored["lower_is_better"], stored["capping"], stored["cap_value"]) == (
        True,
        "none",
        None,
    )
    assert stored["tags"] == ["money"]


def test_a_metric_the_api_refuses_shows_each_reason_next_to_its_field(
    browser: Browser, client: TestClient, admin: Headers, make_user: Callable[..., str]
) -> None:
    page = browser(make_user("experimenter"))
    key = unique("ratio")
    answer = _post(
        page,
        "/metric-definitions/-/new",
        _metric_form(key, type="ratio", capping="absolute"),
    )
    assert answer.status_code == 422
    text = answer.text
    assert "needs a denominator" in _field_error(text, "denominator")
    assert "needs a cap_value" in _field_error(text, "cap_value")
    assert '<option value="ratio" selected>' in text  # what was chosen is kept
    assert client.get(f"/api/v1/metrics/{key}", headers=admin).status_code == 404

    typed = _post(
        page,
        "/metric-definitions/-/new",
        _metric_form(key, minimum_sample_size="many", percentile="2", direction="sideways"),
    )
    assert typed.status_code == 422
    text = typed.text
    assert "valid integer" in _field_error(text, "minimum_sample_size")
    assert "less than 1" in _field_error(text, "percentile")
    assert "valid boolean" in _field_error(text, "direction")
    assert 'value="many"' in text


def test_a_metric_list_filters_by_type_and_shows_archived_metrics_apart(
    browser: Browser, client: TestClient, admin: Headers, make_user: Callable[..., str]
) -> None:
    tag = unique("t")
    keys = {}
    for kind, archived in (("conversion", False), ("count", False), ("count", True)):
        key = unique(kind)
        keys[(kind, archived)] = make_metric(
            client,
            admin,
            key=key,
            name=key,
            event_name="e",
            type=kind,
            tags=[tag],
            archived=archived,
        )
    page = browser(make_user("viewer"))
    counts = page.get("/metric-definitions", params={"type": "count", "q": ""}).text
    assert keys[("count", False)] in counts
    assert keys[("conversion", False)] not in counts
    assert keys[("count", True)] not in counts
    archived = page.get("/metric-definitions", params={"archived": "yes"}).text
    assert keys[("count", True)] in archived
    assert keys[("count", False)] not in archived


# -- environments --------------------------------------------------------------------


def test_an_environment_is_created_edited_and_deleted_through_its_pages(
    browser: Browser, client: TestClient, admin: Headers, make_user: Callable[..., str]
) -> None:
    page = browser(make_user("admin"))
    key = unique("env")
    created = _post(
        page,
        "/environments/-/new",
        {"key": key, "name": "QA", "description": "", "sort_order": "40"},
    )
    assert created.status_code == 303, created.text
    stored = client.get(f"/api/v1/environments/{key}", headers=admin).json()
    assert (stored["name"], stored["sort_order"], stored["description"]) == ("QA", 40, None)
    duplicate = _post(page, "/environments/-/new", {"key": key, "name": "Again"})
    assert duplicate.status_code == 409
    assert "exists" in _field_error(duplicate.text, "key")

    detail = page.get(f"/environments/{key}").text
    no_position = page.post(
        f"/environments/{key}",
        data=_edit_form(detail, name="QA"),
    )
    assert no_position.status_code == 422
    assert "cannot be null" in _field_error(no_position.text, "sort_order")
    edited = page.post(
        f"/environments/{key}",
        data=_edit_form(
            detail, name="Quality assurance", description="Manual testing", sort_order="41"
        ),
    )
    assert edited.status_code == 303, edited.text
    stored = client.get(f"/api/v1/environments/{key}", headers=admin).json()
    assert (stored["name"], stored["description"], stored["sort_order"]) == (
        "Quality assurance",
        "Manual testing",
        41,
    )
    listed = page.get("/environments").text
    assert f'href="/environments/{key}"' in listed

    api_key = client.post(
        "/api/v1/api-keys",
        json={"name": "blocker", "kind": "server", "environment": key},
        headers=admin,
    )
    assert api_key.status_code == 201
    detail = page.get(f"/environments/{key}").text
    refused = page.post(
        f"/environments/{key}/delete",
        data=_edit_form(detail),
    )
    assert refused.status_code == 409
    assert "API keys (blocker)" in html.unescape(refused.text)
    client.delete(f"/api/v1/api-keys/{api_key.json()['id']}", headers=admin)
    assert client.get(f"/api/v1/environments/{key}", headers=admin).status_code == 200


def test_an_unused_environment_is_deleted(
    browser: Browser, client: TestClient, admin: Headers, make_user: Callable[..., str]
) -> None:
    key = unique("env")
    assert (
        client.post(
            "/api/v1/environments", json={"key": key, "name": "Temp"}, headers=admin
        ).status_code
        == 201
    )
    page = browser(make_user("admin"))
    detail = page.get(f"/environments/{key}").text
    gone = page.post(
        f"/environments/{key}/delete",
        data=_edit_form(detail),
    )
    assert (gone.status_code, gone.headers["location"]) == (303, f"/environments?deleted={key}")
    assert client.get(f"/api/v1/environments/{key}", headers=admin).status_code == 404


# -- API keys ------------------------------------------------------------------------


def test_a_new_keys_secret_is_shown_once_works_and_is_never_shown_again(
    browser: Browser, client: TestClient, make_user: Callable[..., str]
) -> None:
    page = browser(make_user("admin"))
    name = unique("ci key")
    created = _post(page, "/api-keys/new", {"name": name, "kind": "admin", "environment": ""})
    assert created.status_code == 201, created.text
    text = created.text
    assert "only time it is shown" in text
    assert created.headers["cache-control"] == "no-store"
    secret = re.search(r'id="secret"[^>]*value="([^"]+)"', text)
    assert secret
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {secret.group(1)}"})
    assert me.status_code == 200, me.text
    listed = page.get("/api-keys").text
    assert name in listed
    assert secret.group(1) not in listed
    prefix = re.search(r"<dt>Prefix</dt><dd><code>([^<…]+)…", text)
    assert prefix
    assert f"<code>{prefix.group(1)}…</code>" in listed


def test_a_key_the_api_refuses_shows_the_reason_next_to_its_field(
    browser: Browser, make_user: Callable[..., str]
) -> None:
    page = browser(make_user("admin"))
    for data, field, reason in (
        ({"kind": "admin", "environment": "production"}, "environment", "leave environment out"),
        ({"kind": "server", "environment": ""}, "environment", "Field required"),
        ({"kind": "client", "environment": "no-such-env"}, "environment", "no environment"),
        ({"kind": "root", "environment": ""}, "kind", "Input should be"),
        (
            {"kind": "server", "environment": "production", "expires_at": "2001-01-01T00:00"},
            "expires_at",
            "in the future",
        ),
        (
            {"kind": "server", "environment": "production", "expires_at": "tomorrow"},
            "expires_at",
            "not a date",
        ),
    ):
        answer = _post(page, "/api-keys/new", {"name": "refused", **data})
        assert answer.status_code == 422, (data, answer.text)
        assert reason in _field_error(answer.text, field), data
        assert "only time it is shown" not in answer.text


def test_revoking_a_key_from_the_list_ends_it(
    browser: Browser, client: TestClient, admin: Headers, make_user: Callable[..., str]
) -> None:
    made = client.post(
        "/api/v1/api-keys",
        json={"name": unique("sdk"), "kind": "server", "environment": "production"},
        headers=admin,
    ).json()
    page = browser(make_user("admin"))
    listed = page.get("/api-keys", params={"kind": "server"}).text
    assert f'action="/api-keys/{made["id"]}/revoke"' in listed
    assert "data-confirm=" in listed
    revoked = page.post(f"/api-keys/{made['id']}/revoke", data={"csrf_token": form_token(listed)})
    assert revoked.status_code == 303
    assert client.get(f"/api/v1/api-keys/{made['id']}", headers=admin).json()["revoked_at"]
    evaluate = client.post("/api/v1/evaluate", json={}, headers={"X-API-Key": made["key"]})
    assert evaluate.status_code == 401
    after = page.get(revoked.headers["location"]).text
    assert f"{made['prefix']}… is revoked" in after
    assert f'action="/api-keys/{made["id"]}/revoke"' not in after


# -- who may do what -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("list_url", "create_url"),
    [
        ("/segments", "/segments/-/new"),
        ("/metric-definitions", "/metric-definitions/-/new"),
        ("/environments", "/environments/-/new"),
    ],
)
def test_a_viewer_reads_but_is_offered_no_edit_and_a_forged_post_is_refused(
    browser: Browser, make_user: Callable[..., str], list_url: str, create_url: str
) -> None:
    page = browser(make_user("viewer"))
    listed = page.get(list_url)
    assert listed.status_code == 200
    assert create_url not in listed.text
    assert page.get(create_url).status_code == 403
    forged = page.post(
        create_url,
        data={"csrf_token": form_token(listed.text), "key": unique("x"), "name": "x"},
    )
    assert forged.status_code == 403


def test_a_viewer_sees_a_segment_and_a_metric_without_their_forms(
    browser: Browser, client: TestClient, admin: Headers, make_user: Callable[..., str]
) -> None:
    segment = make_segment(client, admin, conditions={"plan": "pro"})
    metric = unique("m")
    client.post(
        "/api/v1/metrics",
        json={"key": metric, "name": "M", "event_name": "e", "type": "count"},
        headers=admin,
    )
    page = browser(make_user("viewer"))
    for url in (f"/segments/{segment}", f"/metric-definitions/{metric}"):
        detail = page.get(url)
        assert detail.status_code == 200
        assert f'action="{url}"' not in detail.text
        assert f'action="{url}/delete"' not in detail.text
        forged = page.post(
            url + "/delete", data={"csrf_token": form_token(detail.text), "version": "1"}
        )
        assert forged.status_code == 403
    assert "&#34;plan&#34;: &#34;pro&#34;" in page.get(f"/segments/{segment}").text
    assert client.get(f"/api/v1/segments/{segment}", headers=admin).status_code == 200


def test_api_keys_are_for_those_who_may_read_them(
    browser: Browser, make_user: Callable[..., str]
) -> None:
    experimenter = browser(make_user("experimenter"))
    assert experimenter.get("/api-keys").status_code == 403
    assert 'href="/api-keys"' not in experimenter.get("/segments").text
    reader = browser(make_user(permissions=["api_key:read", "segment:read"]))
    listed = reader.get("/api-keys")
    assert listed.status_code == 200
    assert "/api-keys/new" not in listed.text
    assert "/revoke" not in listed.text
    forged = reader.post(
        "/api-keys/new",
        data={"csrf_token": form_token(listed.text), "name": "x", "kind": "admin"},
    )
    assert forged.status_code == 403


@pytest.mark.parametrize(
    "url", ["/segments/-/new", "/metric-definitions/-/new", "/environments/-/new", "/api-keys/new"]
)
def test_a_form_without_the_sessions_token_is_refused(
    browser: Browser, make_user: Callable[..., str], url: str
) -> None:
    page = browser(make_user("admin"))
    for token in ("", "forged"):
        answer = page.post(url, data={"csrf_token": token, "key": unique("k"), "name": "x"})
        assert answer.status_code == 403
        assert "csrf_token" in answer.text


def test_the_metric_pages_leave_prometheus_its_metrics(
    browser: Browser, make_user: Callable[..., str]
) -> None:
    page = browser(make_user("viewer"))
    navigation = page.get("/segments").text
    assert 'href="/metric-definitions"' in navigation
    assert 'href="/environments"' in navigation
    assert 'href="/api-keys"' not in navigation  # viewers may not read keys
    scraped = page.get("/metrics")
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain")
