"""The users, roles, audit log and power calculator pages over HTTP: what they show,
who is offered which control, CSRF, errors next to the field they name, and that a
successful post changes what the API reads.

The power calculator's figures are checked against statsmodels (an independent
implementation of the same normal-approximation formulas)."""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from statsmodels.stats.power import NormalIndPower  # type: ignore[import-untyped]
from statsmodels.stats.proportion import samplesize_proportions_2indep_onetail  # type: ignore[import-untyped]

from tests.integration.conftest import PASSWORD, unique
from tests.integration.web.conftest import Browser, Headers, MakeUser, form_token
from verdict.server.identity.models import User
from verdict.server.web.audit import compare
from verdict.server.web.forms import PAGE_SIZE

Login = Callable[[str], Headers]


@pytest.fixture
def admin(make_user: MakeUser) -> str:
    return make_user("admin")


@pytest.fixture
def headers(login: Login, admin: str) -> Headers:
    """The API headers of ``admin``."""
    return login(admin)


def _element(page: str, element_id: str) -> str:
    """The opening tag of the element with ``element_id``."""
    match = re.search(rf'<[a-z]+ [^>]*id="{re.escape(element_id)}"[^>]*>', page)
    assert match, f"no element #{element_id}"
    return match.group(0)


def _error_of(page: str, field: str) -> str:
    """The text of the error shown next to ``field``; asserts the input (or the group of
    boxes) points at it."""
    control = _element(page, f"f-{field}")
    if not control.startswith("<fieldset"):
        assert 'aria-invalid="true"' in control, control
    assert f"f-{field}-error" in control, control
    match = re.search(rf'<p class="field-error" id="f-{field}-error">([^<]*)</p>', page)
    assert match, f"no error next to {field}"
    return html.unescape(match.group(1))


def _row(page: str, needle: str) -> str:
    """The one table row of ``page`` that holds ``needle``."""
    rows = [row for row in page.split("<tr") if needle in row]
    assert len(rows) == 1, rows
    return rows[0][: rows[0].index("</tr>")]


def _api_user(client: TestClient, headers: Headers, username: str) -> dict[str, object]:
    found = client.get("/api/v1/users", params={"q": username}, headers=headers).json()["items"]
    matches = [user for user in found if user["username"] == username]
    assert len(matches) == 1, found
    user: dict[str, object] = matches[0]
    return user


def _user_page(client: TestClient, headers: Headers, username: str) -> str:
    user_id = _api_user(client, headers, username)["id"]
    return f"/users/{user_id}"


def _create_form(token: str, **fields: object) -> dict[str, object]:
    return {
        "csrf_token": token,
        "username": unique("new"),
        "email": f"{unique('mail')}@example.com",
        "password": PASSWORD,
        "password_again": PASSWORD,
        **fields,
    }


# -- users ------------------------------------------------------------------------------


def test_the_users_list_shows_roles_status_and_last_sign_in(
    browser: Browser, make_user: MakeUser, admin: str
) -> None:
    person = make_user("experimenter")
    browser(person)  # signs in, so the list has a last sign-in to show
    page = browser(admin).get("/users", params={"q": person})
    assert page.status_code == 200
    row = _row(page.text, f">{person}</a>")
    assert f"{person}@example.com" in row
    assert "experimenter" in row
    assert "Active" in row
    assert re.search(r'data-label="Last sign-in">\d{4}-\d\d-\d\d \d\d:\d\d UTC', row), row
    assert 'href="/users/new"' in page.text
    assert 'href="/roles"' in page.text  # the navigation names the roles section


def test_the_users_list_pages_by_cursor(browser: Browser, api_app: FastAPI, admin: str) -> None:
    prefix = unique("page")
    with api_app.state.session_factory() as session:  # no password: none is needed here
        session.add_all(
            User(username=f"{prefix}-{n:02d}", email=f"{prefix}-{n:02d}@example.com")
            for n in range(53)
        )
        session.commit()
    client = browser(admin)
    first = client.get("/users", params={"q": prefix})
    assert first.status_code == 200
    names = re.findall(r'data-label="Username"><a href="/users/[^"]+">([^<]+)</a>', first.text)
    assert names == [f"{prefix}-{n:02d}" for n in range(50)]
    following = re.search(r'href="(/users\?[^"]*cursor=[^"]+)"', first.text)
    assert following
    second = client.get(html.unescape(following.group(1)))
    rest = re.findall(r'data-label="Username"><a href="/users/[^"]+">([^<]+)</a>', second.text)
    assert rest == [f"{prefix}-{n:02d}" for n in range(50, 53)]
    assert "Next page" not in second.text
    assert 'href="/users?q=' in second.text  # back to the first page, same search
    assert client.get("/users", params={"cursor": "forged"}).status_code == 400


def test_a_viewer_is_offered_no_user_or_role_controls_and_forged_posts_are_refused(
    browser: Browser, make_user: MakeUser, client: TestClient, headers: Headers, admin: str
) -> None:
    target = make_user("viewer")
    viewer = browser(make_user("viewer"))
    listing = viewer.get("/users")
    assert listing.status_code == 200
    assert "/users/new" not in listing.text
    assert 'href="/roles"' not in listing.text  # viewers do not hold role:read
    path = _user_page(client, headers, target)
    page = viewer.get(path)
    assert page.status_code == 200
    assert "Save changes" not in page.text
    assert f"/users/{path.rsplit('/', 1)[1]}/active" not in page.text
    token = form_token(page.text)
    assert viewer.get("/users/new").status_code == 403
    assert viewer.post("/users/new", data=_create_form(token)).status_code == 403
    refused = viewer.post(f"{path}/active", data={"csrf_token": token, "version": 1})
    assert refused.status_code == 403
    assert _api_user(client, headers, target)["is_active"] is True
    assert viewer.get("/roles").status_code == 403
    assert viewer.post("/roles/new", data={"csrf_token": token, "name": "x"}).status_code == 403


def test_posts_without_the_session_token_are_refused(
    browser: Browser, client: TestClient, headers: Headers, admin: str, make_user: MakeUser
) -> None:
    admin_browser = browser(admin)
    username = unique("csrf")
    answer = admin_browser.post("/users/new", data=_create_form("forged", username=username))
    assert answer.status_code == 403
    assert "csrf_token" in answer.text
    assert client.get("/api/v1/users", params={"q": username}, headers=headers).json() == {
        "items": [],
        "next_cursor": None,
    }
    target = make_user("viewer")
    path = _user_page(client, headers, target)
    version = _api_user(client, headers, target)["version"]
    refused = admin_browser.post(f"{path}/active", data={"version": version, "active": "false"})
    assert refused.status_code == 403
    assert _api_user(client, headers, target)["is_active"] is True
    name = unique("role")
    assert admin_browser.post("/roles/new", data={"name": name}).status_code == 403
    roles = client.get("/api/v1/roles", params={"limit": 200}, headers=headers).json()["items"]
    assert name not in {role["name"] for role in roles}


def test_creating_a_user_shows_each_error_next_to_its_field_and_keeps_what_was_typed(
    browser: Browser, client: TestClient, headers: Headers, admin: str
) -> None:
    creator = browser(admin)
    page = creator.get("/users/new")
    assert page.status_code == 200
    for field in ("username", "email", "full_name", "password", "password_again"):
        assert f'<label for="f-{field}">' in page.text
    answer = creator.post(
        "/users/new",
        data=_create_form(
            form_token(page.text),
            username="has space",
            email="not-an-address",
            full_name="Ada Lovelace",
            password="short",
            password_again="different",
            roles=["experimenter"],
        ),
    )
    assert answer.status_code == 422
    assert "ASCII letters" in _error_of(answer.text, "username")
    assert "e-mail address" in _error_of(answer.text, "email")
    assert "at least 8 characters" in _error_of(answer.text, "password")
    assert "differ" in _error_of(answer.text, "password_again")
    assert 'value="has space"' in _element(answer.text, "f-username")
    assert 'value="Ada Lovelace"' in _element(answer.text, "f-full_name")
    assert "value=" not in _element(answer.text, "f-password")  # never echoed
    checked = re.search(r'<input type="checkbox" [^>]*value="experimenter"[^>]*>', answer.text)
    assert checked
    assert "checked" in checked.group(0)
    found = client.get("/api/v1/users", params={"q": "has space"}, headers=headers).json()
    assert found["items"] == []


def test_a_created_user_is_what_the_api_reads_and_can_sign_in(
    browser: Browser, client: TestClient, headers: Headers, admin: str
) -> None:
    creator = browser(admin)
    username = unique("made")
    answer = creator.post(
        "/users/new",
        data=_create_form(
            form_token(creator.get("/users/new").text),
            username=username,
            email=f"{username}@Example.com",
            full_name="Grace Hopper",
            roles=["experimenter", "viewer"],
        ),
    )
    assert answer.status_code == 303
    location = answer.headers["location"]
    assert location.endswith("?done=created")
    made = _api_user(client, headers, username)
    assert made["email"] == f"{username}@example.com"
    assert made["full_name"] == "Grace Hopper"
    assert made["roles"] == ["experimenter", "viewer"]
    assert made["is_superuser"] is False
    shown = creator.get(location)
    assert "User created." in shown.text
    assert "Grace Hopper" in shown.text
    assert browser(username).get("/users").status_code == 200  # the password works


def test_a_taken_username_is_reported_next_to_the_username(
    browser: Browser, make_user: MakeUser, admin: str
) -> None:
    taken = make_user("viewer")
    creator = browser(admin)
    answer = creator.post(
        "/users/new",
        data=_create_form(form_token(creator.get("/users/new").text), username=taken),
    )
    assert answer.status_code == 409
    assert taken in _error_of(answer.text, "username")


def test_editing_roles_and_deactivating_change_what_the_api_reads(
    browser: Browser, make_user: MakeUser, client: TestClient, headers: Headers, admin: str
) -> None:
    target = make_user("viewer")
    editor = browser(admin)
    path = _user_page(client, headers, target)
    page = editor.get(path)
    assert "Save changes" in page.text
    version = _api_user(client, headers, target)["version"]
    saved = editor.post(
        path,
        data={
            "csrf_token": form_token(page.text),
            "version": version,
            "email": f"{target}@example.org",
            "full_name": "",
            "roles": ["experimenter"],
        },
    )
    assert saved.status_code == 303, saved.text
    after = _api_user(client, headers, target)
    assert after["roles"] == ["experimenter"]
    assert after["email"] == f"{target}@example.org"
    stale = editor.post(
        path,
        data={"csrf_token": form_token(page.text), "version": version, "email": "x@example.org"},
    )
    assert stale.status_code == 412  # the page was read before the last change
    assert "stale" in stale.text
    page = editor.get(path)
    assert f'data-confirm="Deactivate {target}?' in page.text
    deactivated = editor.post(
        f"{path}/active",
        data={"csrf_token": form_token(page.text), "version": after["version"], "active": "false"},
    )
    assert deactivated.status_code == 303
    assert _api_user(client, headers, target)["is_active"] is False
    assert "Reactivate" in editor.get(path).text
    visitor = browser(None)  # a deactivated user can no longer sign in
    signed = visitor.post(
        "/login",
        data={
            "username": target,
            "password": PASSWORD,
            "csrf_token": form_token(visitor.get("/login").text),
        },
    )
    assert signed.status_code == 401


def test_deactivating_yourself_is_not_offered_and_refused(
    browser: Browser, client: TestClient, headers: Headers, admin: str
) -> None:
    me = browser(admin)
    path = _user_page(client, headers, admin)
    page = me.get(path)
    assert "Save changes" in page.text
    assert "Deactivate" not in page.text
    version = _api_user(client, headers, admin)["version"]
    refused = me.post(
        f"{path}/active",
        data={"csrf_token": form_token(page.text), "version": version, "active": "false"},
    )
    assert refused.status_code == 409
    assert "you cannot deactivate yourself" in refused.text
    assert _api_user(client, headers, admin)["is_active"] is True


def test_a_user_manager_is_offered_only_the_roles_it_may_grant(
    browser: Browser, make_user: MakeUser, client: TestClient, headers: Headers, admin: str
) -> None:
    manager = browser(make_user(permissions=["user:read", "user:create", "user:update"]))
    page = manager.get("/users/new")
    assert page.status_code == 200
    assert 'value="viewer"' not in page.text  # viewer holds permissions it lacks
    assert 'name="is_superuser"' not in page.text
    username = unique("forged")
    answer = manager.post(
        "/users/new",
        data=_create_form(form_token(page.text), username=username, roles=["viewer"]),
    )
    assert answer.status_code == 403
    assert "cannot grant" in _error_of(answer.text, "roles").replace("\n", " ")
    assert (
        client.get("/api/v1/users", params={"q": username}, headers=headers).json()["items"] == []
    )


# -- roles ------------------------------------------------------------------------------


def test_the_roles_list_shows_built_in_and_custom_roles_with_their_permissions(
    browser: Browser, make_user: MakeUser, admin: str
) -> None:
    make_user(permissions=["segment:read", "segment:update"])  # makes a custom role
    page = browser(admin).get("/roles")
    assert page.status_code == 200
    text = page.text
    admin_row = _row(text, ">admin</a>")
    assert "Built-in" in admin_row
    assert "Every permission" in admin_row
    viewer_row = _row(text, ">viewer</a>")
    assert "<strong>Experiments</strong>: read" in viewer_row
    assert "Roles" not in viewer_row  # viewers do not read roles
    assert "<strong>Segments</strong>: read, update" in text
    assert "Custom" in text


def test_built_in_roles_head_the_first_page_however_many_custom_roles_there_are(
    browser: Browser, client: TestClient, headers: Headers, admin: str
) -> None:
    # A full page of custom roles whose names sort before every built-in one.
    prefix = f"aa-{unique('r')}"
    for number in range(PAGE_SIZE + 1):
        made = client.post(
            "/api/v1/roles",
            json={"name": f"{prefix}-{number:03d}", "permissions": ["segment:read"]},
            headers=headers,
        )
        assert made.status_code == 201, made.text
    reader = browser(admin)
    first = reader.get("/roles").text
    for built_in in ("admin", "experimenter", "viewer"):
        assert "Built-in" in _row(first, f">{built_in}</a>")
    assert f">{prefix}-000</a>" in first
    next_link = re.search(r'href="([^"]+)">Next page</a>', first)
    assert next_link, "no next page"
    following = reader.get(html.unescape(next_link.group(1))).text
    assert ">viewer</a>" not in following  # listed once, on the first page
    assert "Custom" in following


def test_a_custom_role_made_in_the_grid_is_what_the_api_reads(
    browser: Browser, client: TestClient, headers: Headers, admin: str
) -> None:
    maker = browser(admin)
    form = maker.get("/roles/new")
    assert form.status_code == 200
    boxes = re.findall(r'<input type="checkbox" id="(p-[a-z_]+-[a-z]+)"', form.text)
    assert len(boxes) == 40  # 10 resources x 4 actions
    for box in boxes:
        assert f'<label for="{box}"' in form.text
    name = unique("Analysts")
    made = maker.post(
        "/roles/new",
        data={
            "csrf_token": form_token(form.text),
            "name": name,
            "description": "Reads results",
            "permissions": ["experiment:read", "metric:read", "metric:update"],
        },
    )
    assert made.status_code == 303, made.text
    role_id = made.headers["location"].split("/")[2].split("?")[0]
    read = client.get(f"/api/v1/roles/{role_id}", headers=headers).json()
    assert read["permissions"] == ["experiment:read", "metric:read", "metric:update"]
    assert read["description"] == "Reads results"
    page = maker.get(f"/roles/{role_id}")
    checked = re.findall(r'<input type="checkbox" id="p-([a-z_]+-[a-z]+)"[^>]* checked', page.text)
    assert sorted(checked) == ["experiment-read", "metric-read", "metric-update"]
    edited = maker.post(
        f"/roles/{role_id}",
        data={
            "csrf_token": form_token(page.text),
            "version": read["version"],
            "description": "",
            "permissions": ["segment:read"],
        },
    )
    assert edited.status_code == 303, edited.text
    read = client.get(f"/api/v1/roles/{role_id}", headers=headers).json()
    assert (read["permissions"], read["description"]) == (["segment:read"], None)
    page = maker.get(f"/roles/{role_id}")
    assert 'data-confirm="Delete role' in page.text
    deleted = maker.post(
        f"/roles/{role_id}/delete",
        data={"csrf_token": form_token(page.text), "version": read["version"]},
    )
    assert deleted.status_code == 303
    assert client.get(f"/api/v1/roles/{role_id}", headers=headers).status_code == 404


def test_a_look_alike_role_name_is_reported_next_to_the_name(browser: Browser, admin: str) -> None:
    maker = browser(admin)
    token = form_token(maker.get("/roles/new").text)
    answer = maker.post(
        "/roles/new",
        data={"csrf_token": token, "name": "\u0430dmin team", "permissions": ["segment:read"]},
    )  # a Cyrillic "a" before Latin letters
    assert answer.status_code == 422
    assert "one script" in _error_of(answer.text, "name")
    box = _element(answer.text, "p-segment-read")
    assert "checked" in box  # what was ticked stays ticked


def test_a_built_in_role_is_read_only(
    browser: Browser, client: TestClient, headers: Headers, admin: str
) -> None:
    roles = client.get("/api/v1/roles", params={"limit": 200}, headers=headers).json()["items"]
    viewer = next(role for role in roles if role["name"] == "viewer")
    reader = browser(admin)
    page = reader.get(f"/roles/{viewer['id']}")
    assert page.status_code == 200
    assert "Save changes" not in page.text
    assert 'type="checkbox"' not in page.text
    assert "Experiments: read allowed" in page.text
    assert "Experiments: update not allowed" in page.text
    answer = reader.post(
        f"/roles/{viewer['id']}",
        data={
            "csrf_token": form_token(page.text),
            "version": viewer["version"],
            "permissions": ["experiment:delete"],
        },
    )
    assert answer.status_code == 409
    after = client.get(f"/api/v1/roles/{viewer['id']}", headers=headers).json()
    assert after["permissions"] == viewer["permissions"]


def test_a_permission_the_editor_lacks_is_kept_not_dropped(
    browser: Browser, make_user: MakeUser, client: TestClient, headers: Headers, admin: str
) -> None:
    made = client.post(
        "/api/v1/roles",
        json={"name": unique("mixed"), "permissions": ["audit_log:read", "segment:read"]},
        headers=headers,
    ).json()
    editor = browser(make_user(permissions=["role:read", "role:update", "segment:read"]))
    page = editor.get(f"/roles/{made['id']}")
    box = _element(page.text, "p-audit_log-read")
    assert "disabled" in box
    assert "checked" in box
    assert 'type="hidden" name="permissions" value="audit_log:read"' in page.text
    kept = editor.post(
        f"/roles/{made['id']}",
        data={
            "csrf_token": form_token(page.text),
            "version": made["version"],
            "permissions": ["audit_log:read"],  # segment:read unticked; the other kept
        },
    )
    assert kept.status_code == 303, kept.text
    after = client.get(f"/api/v1/roles/{made['id']}", headers=headers).json()
    assert after["permissions"] == ["audit_log:read"]


# -- audit log --------------------------------------------------------------------------


def test_compare_marks_each_field_and_follows_nested_objects() -> None:
    changes = compare(
        {"name": "a", "roles": ["x"], "settings": {"on": True, "rollout": 10}, "gone": 1},
        {"name": "a", "roles": ["x", "y"], "settings": {"on": True, "rollout": 50}, "new": None},
    )
    kinds = {change.field: change.kind for change in changes}
    assert kinds == {
        "name": "same",
        "roles": "changed",
        "settings.on": "same",
        "settings.rollout": "changed",
        "gone": "removed",
        "new": "added",
    }
    roles = next(change for change in changes if change.field == "roles")
    assert roles.after == '[\n  "x",\n  "y"\n]'
    gone = next(change for change in changes if change.field == "gone")
    assert (gone.before, gone.after) == ("1", None)
    created = compare(None, {"key": "k"})
    assert [(c.field, c.before, c.after, c.kind) for c in created] == [
        ("key", None, '"k"', "added")
    ]
    assert compare(None, None) == []


def test_the_audit_log_lists_filters_and_shows_a_change_field_by_field(
    browser: Browser, make_user: MakeUser, client: TestClient, headers: Headers, admin: str
) -> None:
    target = make_user("viewer")
    user = _api_user(client, headers, target)
    changed = client.patch(
        f"/api/v1/users/{user['id']}",
        json={"full_name": "Changed Name", "roles": ["experimenter"]},
        headers={**headers, "If-Match": f'"{user["version"]}"'},
    )
    assert changed.status_code == 200, changed.text
    reader = browser(make_user("viewer"))  # viewers read the audit log
    listing = reader.get("/audit", params={"resource_type": "user", "action": "update"})
    assert listing.status_code == 200
    assert '<option value="user" selected>' in listing.text
    assert '<option value="update" selected>' in listing.text
    row = _row(listing.text, f"<strong>{target}</strong>")
    assert admin in row
    assert "full_name, roles" in row
    entry_path = re.findall(r'href="(/audit/[0-9a-f-]{36})"', row)[0]
    only_creates = reader.get("/audit", params={"resource_type": "user", "action": "create"})
    assert entry_path not in only_creates.text
    by_actor = reader.get("/audit", params={"actor": "nobody-" + unique("x")})
    assert "No change matches" in by_actor.text
    one_user = reader.get("/audit", params={"resource_type": "user", "resource_id": user["id"]})
    assert entry_path in one_user.text
    assert one_user.text.count('href="/audit/') == 2  # its creation and this change
    entry = reader.get(entry_path)
    assert entry.status_code == 200
    assert "2 of 6 fields changed" in entry.text
    changed_rows = re.findall(
        r'<tr class="changed">\s*<th scope="row"><code>([^<]+)</code>', entry.text
    )
    assert changed_rows == ["full_name", "roles"]
    roles_row = _row(entry.text, "<code>roles</code>")
    assert "<pre>[\n  &#34;viewer&#34;\n]</pre>" in roles_row
    assert "<pre>[\n  &#34;experimenter&#34;\n]</pre>" in roles_row
    assert reader.get("/audit/not-an-id").status_code == 404
    assert reader.get(f"/audit/{user['id']}").status_code == 404


def test_the_audit_log_needs_its_permission(browser: Browser, make_user: MakeUser) -> None:
    outsider = browser(make_user(permissions=["experiment:read"]))
    assert outsider.get("/audit").status_code == 403
    assert 'href="/audit"' not in outsider.get("/power").text


# -- power calculator -------------------------------------------------------------------


def _answer(page: str, name: str) -> str:
    match = re.search(rf'<dd id="answer-{name}">([^<]*)</dd>', page)
    assert match, f"no answer {name}"
    return match.group(1)


@pytest.mark.parametrize(
    ("params", "expected", "variants", "daily_units", "note"),
    [
        pytest.param(
            {
                "metric": "proportion",
                "baseline": "0.1",
                "mde": "0.02",
                "alpha": "0.05",
                "power": "0.8",
            },
            lambda: samplesize_proportions_2indep_onetail(
                diff=0.02, prop2=0.1, power=0.8, ratio=1, alpha=0.05, alternative="two-sided"
            ),
            2,
            1000,
            None,
            id="conversion-rate",
        ),
        pytest.param(
            {"metric": "mean", "baseline": "50", "std": "10", "mde": "0.04", "relative": "1"},
            # Holm plans each of the 2 comparisons at alpha / 2; effect 0.04 x 50 = 2 = 0.2 sd.
            lambda: NormalIndPower().solve_power(effect_size=0.2, alpha=0.025, power=0.8, ratio=1),
            3,
            500,
            "Holm across 2 comparisons",
            id="mean-three-variants",
        ),
    ],
)
def test_the_power_calculator_answers_as_statsmodels(
    browser: Browser,
    make_user: MakeUser,
    params: dict[str, str],
    expected: Callable[[], float],
    variants: int,
    daily_units: int,
    note: str | None,
) -> None:
    page = browser(make_user("viewer")).get(
        "/power",
        params={
            "run": "1",
            **params,
            "variants": str(variants),
            "daily_units": str(daily_units),
        },
    )
    assert page.status_code == 200, page.text
    size = math.ceil(expected())
    assert _answer(page.text, "n") == f"{size:,}"
    days = math.ceil(size * variants / daily_units * 10) / 10
    assert _answer(page.text, "days") == f"{days:,.1f}"
    if note is not None:
        assert note in page.text


def test_the_empty_power_calculator_shows_no_error(browser: Browser, make_user: MakeUser) -> None:
    empty = browser(make_user("viewer")).get("/power")
    assert empty.status_code == 200
    assert "field-error" not in empty.text


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"metric": "proportion", "baseline": "1.5", "mde": "0.01"}, "baseline", "between 0 and 1"),
        ({"metric": "mean", "baseline": "10", "mde": "1", "power": "2"}, "power", "less than 1"),
        ({"metric": "mean", "baseline": "ten", "mde": "1"}, "baseline", "valid number"),
        ({"metric": "mean", "baseline": "10", "mde": "1"}, "std", "required for mean metrics"),
    ],
)
def test_the_power_calculator_shows_errors_next_to_their_fields(
    browser: Browser, make_user: MakeUser, params: dict[str, str], field: str, message: str
) -> None:
    wrong = browser(make_user("viewer")).get("/power", params={"run": "1", **params})
    assert wrong.status_code == 422
    assert message in _error_of(wrong.text, field)
    if field in params:  # what was typed is kept
        assert f'value="{params[field]}"' in _element(wrong.text, f"f-{field}")


def test_the_power_calculator_needs_experiment_read(browser: Browser, make_user: MakeUser) -> None:
    outsider = browser(make_user(permissions=["audit_log:read"]))
    assert outsider.get("/power").status_code == 403
