"""The experiment create and edit forms, the lifecycle actions and "refresh results",
posted as a browser would and checked against what the API then reads.

Forms are filled from the page's own HTML (:func:`form_fields` reads every input,
textarea and select as a browser would submit them), so the tests post exactly what
the page offers.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.integration.conftest import unique
from tests.integration.web.api import (
    make_experiment,
    make_metric,
    make_segment,
    read_experiment,
    start_experiment,
)
from tests.integration.web.conftest import Browser, Headers, form_token


class _FormReader(HTMLParser):
    """The fields one form submits: inputs (checked radios only), textareas and the
    selected option of each select; buttons are left out."""

    def __init__(self, action: str) -> None:
        super().__init__(convert_charrefs=True)
        self.action = action
        self.inside = False
        self.fields: dict[str, str] = {}
        self._textarea: str | None = None
        self._select: str | None = None
        self._first_option: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.inside = a.get("action") == self.action
        if not self.inside:
            return
        if tag == "input" and a.get("name"):
            if a.get("type") in ("radio", "checkbox") and "checked" not in a:
                return
            self.fields[a["name"]] = a.get("value", "")
        elif tag == "textarea":
            self._textarea = a["name"]
            self.fields[a["name"]] = ""
        elif tag == "select":
            self._select = a["name"]
            self._first_option = None
        elif tag == "option" and self._select is not None:
            if self._first_option is None:
                self._first_option = a.get("value", "")
                self.fields.setdefault(self._select, self._first_option)
            if "selected" in a:
                self.fields[self._select] = a.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "textarea":
            self._textarea = None
        elif tag == "select":
            self._select = None

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self.fields[self._textarea] += data


def form_fields(page: str, action: str) -> dict[str, str]:
    reader = _FormReader(action)
    reader.feed(page)
    for name, value in reader.fields.items():  # the parser keeps a textarea's first LF
        reader.fields[name] = value.removeprefix("\n")
    return reader.fields


def field_error(page: str, input_id: str) -> str:
    """The error shown next to input ``input_id``, which must point at it."""
    tag = re.search(rf'<(?:input|textarea|select)[^>]*\bid="{re.escape(input_id)}"[^>]*>', page)
    assert tag, f"no input {input_id}"
    assert 'aria-invalid="true"' in tag.group(0), tag.group(0)
    assert f"{input_id}-error" in tag.group(0), tag.group(0)
    found = re.search(rf'<p class="field-error" id="{re.escape(input_id)}-error">(.*?)</p>', page)
    assert found, f"no error shown for {input_id}"
    return html.unescape(found.group(1))


def api_create(client: TestClient, admin: Headers, **fields: Any) -> dict[str, Any]:
    """A draft "Checkout button" experiment, control against green, with a new
    conversion metric as its primary metric."""
    return make_experiment(
        client,
        admin,
        name="Checkout button",
        variants=[
            {"key": "control", "is_control": True, "weight": 0.5},
            {"key": "green", "weight": 0.5, "system_prompt": "Be brief."},
        ],
        metrics=[{"metric": make_metric(client, admin), "role": "primary"}],
        **fields,
    )


def api_running(client: TestClient, admin: Headers) -> str:
    """An :func:`api_create` experiment, started; its key."""
    created = api_create(client, admin)
    start_experiment(client, admin, created)
    key: str = created["key"]
    return key


@pytest.fixture
def experimenter_page(browser: Browser, make_user: Callable[..., str]) -> TestClient:
    return browser(make_user("experimenter"))


def test_creating_through_the_form_stores_what_the_api_reads(
    experimenter_page: TestClient, client: TestClient, admin: Headers
) -> None:
    metric, guardrail = make_metric(client, admin), make_metric(client, admin)
    segment = make_segment(client, admin, conditions={"plan": "pro"})
    page = experimenter_page.get("/experiments/new")
    assert page.status_code == 200
    assert '<label for="variant-1-system_prompt">System prompt</label>' in page.text
    assert '<option value="production"' in page.text
    fields = form_fields(page.text, "/experiments/new")
    assert fields["control"] == "0"
    grown = experimenter_page.post("/experiments/new", data={**fields, "add": "metric"})
    assert grown.status_code == 200
    fields = form_fields(grown.text, "/experiments/new")
    assert fields["metric_rows"] == "2"
    key = unique("exp")
    fields.update(
        {
            "key": key,
            "name": "Greeting prompt",
            "hypothesis": "A shorter greeting keeps more users talking.",
            "environment": "production",
            "tags": "bot, greeting",
            "coverage": "0.8",
            "include_segments": segment,
            "targeting": '{"country": {"$in": ["DE", "FR"]}}',
            "start_at": "2030-01-02T09:30",
            "variant-0-weight": "0.4",
            "variant-1-key": "short",
            "variant-1-label": "Short greeting",
            "variant-1-system_prompt": "Greet in five words.\r\nNever more.",
            "variant-1-configuration": '{"max_tokens": 40}',
            "control": "0",
            "metric-0-metric": metric,
            "metric-0-role": "primary",
            "metric-1-metric": guardrail,
            "metric-1-role": "guardrail",
            "metric-1-non_inferiority_margin": "0.02",
            "minimum_sample_size": "5000",
        }
    )
    answer = experimenter_page.post("/experiments/new", data=fields)
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"].startswith(f"/experiments/{key}?notice=")
    stored = read_experiment(client, admin, key)
    assert stored["status"] == "draft"
    assert stored["environment"] == "production"
    assert stored["tags"] == ["bot", "greeting"]
    assert stored["coverage"] == 0.8
    assert stored["include_segments"] == [segment]
    assert stored["targeting"] == {"country": {"$in": ["DE", "FR"]}}
    assert stored["start_at"].startswith("2030-01-02T09:30:00")
    assert stored["minimum_sample_size"] == 5000
    control, short = stored["variants"]
    assert (control["key"], control["is_control"], control["weight"]) == ("control", True, 0.4)
    assert (short["key"], short["is_control"]) == ("short", False)
    assert short["weight"] == pytest.approx(0.6)  # left blank: what the control leaves
    assert short["system_prompt"] == "Greet in five words.\nNever more."
    assert short["configuration"] == {"max_tokens": 40}
    assert [(m["metric"], m["role"], m["non_inferiority_margin"]) for m in stored["metrics"]] == [
        (metric, "primary", None),
        (guardrail, "guardrail", 0.02),
    ]


def test_errors_are_shown_next_to_their_fields_and_nothing_is_stored(
    experimenter_page: TestClient, client: TestClient, admin: Headers
) -> None:
    page = experimenter_page.get("/experiments/new")
    fields = form_fields(page.text, "/experiments/new")
    fields.update({"key": "9 lives", "variant-1-weight": "1.5", "targeting": '{"plan": '})
    refused = experimenter_page.post("/experiments/new", data=fields)
    assert refused.status_code == 422
    assert "letters, digits" in field_error(refused.text, "key")
    assert "less than or equal to 1" in field_error(refused.text, "variant-1-weight")
    assert "not valid JSON" in field_error(refused.text, "targeting")
    assert 'role="alert"' in refused.text
    again = form_fields(refused.text, "/experiments/new")
    assert (again["key"], again["targeting"]) == ("9 lives", '{"plan": ')  # as typed
    assert client.get("/api/v1/experiments?q=9%20lives", headers=admin).json()["items"] == []


def test_service_errors_name_the_row_they_concern_when_blank_rows_are_dropped(
    experimenter_page: TestClient, client: TestClient, admin: Headers
) -> None:
    page = experimenter_page.post(
        "/experiments/new",
        data={
            **form_fields(experimenter_page.get("/experiments/new").text, "/experiments/new"),
            "add": "variant",
        },
    )
    fields = form_fields(page.text, "/experiments/new")
    key = unique("exp")
    fields.update(
        {
            "key": key,
            "name": "Rows",
            "variant-1-key": "",  # the second row left blank is dropped
            "variant-1-label": "",
            "variant-2-key": "control",  # the body's variants.1: a repeated key
            "metric-0-metric": "no-such-metric",
            "environment": "nowhere",
        }
    )
    refused = experimenter_page.post("/experiments/new", data=fields)
    assert refused.status_code == 422
    assert "repeated" in field_error(refused.text, "variant-2-key")
    assert "unknown metric" in field_error(refused.text, "metric-0-metric")
    assert "unknown environment" in field_error(refused.text, "environment")
    assert 'id="variant-1-key-error"' not in refused.text
    assert client.get(f"/api/v1/experiments/{key}", headers=admin).status_code == 404


def test_a_duplicate_key_is_refused_next_to_the_key(
    experimenter_page: TestClient, client: TestClient, admin: Headers
) -> None:
    taken = api_create(client, admin)["key"]
    fields = form_fields(experimenter_page.get("/experiments/new").text, "/experiments/new")
    fields.update({"key": taken, "name": "Another"})
    refused = experimenter_page.post("/experiments/new", data=fields)
    assert refused.status_code == 409
    assert "exists" in field_error(refused.text, "key")
    assert read_experiment(client, admin, taken)["name"] == "Checkout button"


def test_an_edit_saves_what_changed_and_a_stale_edit_overwrites_nothing(
    experimenter_page: TestClient, client: TestClient, admin: Headers
) -> None:
    created = api_create(client, admin, description="Before.")
    key = created["key"]
    action = f"/experiments/{key}/edit"
    page = experimenter_page.get(action)
    assert page.status_code == 200
    loaded = form_fields(page.text, action)
    assert loaded["version"] == str(created["version"])
    assert loaded["variant-1-system_prompt"] == "Be brief."
    saved = experimenter_page.post(action, data={**loaded, "name": "Checkout, take two"})
    assert saved.status_code == 303, saved.text
    after = read_experiment(client, admin, key)
    assert after["name"] == "Checkout, take two"
    assert after["description"] == "Before."
    assert after["variants"] == created["variants"]  # untouched rows are not rewritten
    assert after["version"] > created["version"]

    stale = experimenter_page.post(action, data={**loaded, "description": "Mine."})
    assert stale.status_code == 412
    assert "Someone else changed this experiment" in stale.text
    assert form_fields(stale.text, action)["description"] == "Mine."
    assert read_experiment(client, admin, key)["description"] == "Before."


def test_a_running_experiment_keeps_its_bucketing_fields(
    experimenter_page: TestClient, client: TestClient, admin: Headers
) -> None:
    key = api_running(client, admin)
    action = f"/experiments/{key}/edit"
    loaded = form_fields(experimenter_page.get(action).text, action)
    saved = experimenter_page.post(action, data={**loaded, "hypothesis": "Green sells."})
    assert saved.status_code == 303, saved.text  # unchanged frozen fields are not sent
    assert read_experiment(client, admin, key)["hypothesis"] == "Green sells."

    loaded = form_fields(experimenter_page.get(action).text, action)
    refused = experimenter_page.post(
        action, data={**loaded, "layer": "checkout", "variant-1-key": "blue"}
    )
    assert refused.status_code == 409
    assert "cannot be changed while the experiment is running" in field_error(refused.text, "layer")
    assert "cannot change a variant key" in field_error(refused.text, "variant-1-key")
    assert read_experiment(client, admin, key)["layer"] is None


def test_lifecycle_actions_move_the_status_and_refuse_what_it_does_not_allow(
    experimenter_page: TestClient, client: TestClient, admin: Headers
) -> None:
    key = api_create(client, admin)["key"]
    confirm = experimenter_page.get(f"/experiments/{key}/start")
    assert confirm.status_code == 200
    fields = form_fields(confirm.text, f"/experiments/{key}/start")
    started = experimenter_page.post(f"/experiments/{key}/start", data=fields)
    assert started.status_code == 303
    assert started.headers["location"].startswith(f"/experiments/{key}?notice=")
    assert read_experiment(client, admin, key)["status"] == "running"

    stale = experimenter_page.post(f"/experiments/{key}/pause", data=fields)  # old version
    assert stale.status_code == 412
    assert read_experiment(client, admin, key)["status"] == "running"

    token = form_token(confirm.text)
    illegal = experimenter_page.post(f"/experiments/{key}/archive", data={"csrf_token": token})
    assert illegal.status_code == 409
    assert "cannot archive an experiment that is running" in illegal.text

    paused = experimenter_page.post(f"/experiments/{key}/pause", data={"csrf_token": token})
    assert paused.status_code == 303
    assert read_experiment(client, admin, key)["status"] == "paused"

    page = experimenter_page.get(f"/experiments/{key}/complete")
    assert '<option value="green">' in page.text
    fields = {**form_fields(page.text, f"/experiments/{key}/complete"), "winner": "purple"}
    unknown = experimenter_page.post(f"/experiments/{key}/complete", data=fields)
    assert unknown.status_code == 422
    assert "has no variant 'purple'" in html.unescape(unknown.text)
    completed = experimenter_page.post(
        f"/experiments/{key}/complete", data={**fields, "winner": "green"}
    )
    assert completed.status_code == 303
    stored = read_experiment(client, admin, key)
    assert (stored["status"], stored["winner"]) == ("completed", "green")


def test_starting_an_experiment_that_breaks_the_start_rules_says_why(
    experimenter_page: TestClient, client: TestClient, admin: Headers
) -> None:
    key = make_experiment(client, admin, name="Lonely", variants=[{"key": "only"}])["key"]
    token = form_token(experimenter_page.get(f"/experiments/{key}/start").text)
    refused = experimenter_page.post(f"/experiments/{key}/start", data={"csrf_token": token})
    assert refused.status_code == 422
    assert "needs at least two variants" in refused.text
    assert "needs a primary metric" in refused.text
    assert read_experiment(client, admin, key)["status"] == "draft"


def test_refresh_runs_the_analysis_through_the_service(
    experimenter_page: TestClient, client: TestClient, admin: Headers
) -> None:
    key = api_running(client, admin)
    token = form_token(experimenter_page.get(f"/experiments/{key}/pause").text)
    answer = experimenter_page.post(f"/experiments/{key}/refresh", data={"csrf_token": token})
    assert answer.status_code == 303
    assert answer.headers["location"].startswith(f"/experiments/{key}?notice=")
    runs = client.get(f"/api/v1/experiments/{key}/analyses", headers=admin).json()["items"]
    assert [(run["trigger"], run["status"]) for run in runs] == [("dashboard", "succeeded")]


def test_a_viewer_is_offered_no_form_and_a_forged_post_is_refused(
    browser: Browser, make_user: Callable[..., str], client: TestClient, admin: Headers
) -> None:
    key = api_create(client, admin)["key"]
    viewer = browser(make_user("viewer"))
    for path in ("/experiments/new", f"/experiments/{key}/edit", f"/experiments/{key}/start"):
        refused = viewer.get(path)
        assert refused.status_code == 403, path
        assert "lacks the permission experiment:" in refused.text
    token = form_token(viewer.get("/experiments/new").text)  # the page's sign-out form
    posts = {
        "/experiments/new": {"key": unique("exp"), "name": "Forged"},
        f"/experiments/{key}/edit": {"name": "Forged"},
        f"/experiments/{key}/start": {},
        f"/experiments/{key}/refresh": {},
    }
    for path, data in posts.items():
        assert viewer.post(path, data={"csrf_token": token, **data}).status_code == 403, path
    stored = read_experiment(client, admin, key)
    assert (stored["name"], stored["status"]) == ("Checkout button", "draft")
    runs = client.get(f"/api/v1/experiments/{key}/analyses", headers=admin).json()["items"]
    assert runs == []


def test_posts_without_the_form_token_are_refused(
    experimenter_page: TestClient, client: TestClient, admin: Headers
) -> None:
    key = api_create(client, admin)["key"]
    for path in (
        "/experiments/new",
        f"/experiments/{key}/edit",
        f"/experiments/{key}/start",
        f"/experiments/{key}/refresh",
    ):
        for token in ({}, {"csrf_token": "forged"}):
            answer = experimenter_page.post(path, data={"name": "Forged", **token})
            assert answer.status_code == 403, path
            assert "csrf_token" in answer.text
    assert read_experiment(client, admin, key)["status"] == "draft"
