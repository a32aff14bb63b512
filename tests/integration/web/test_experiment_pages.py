"""The experiments list and detail pages over data sent through the public API.

Experiments are created, started and fed exposures (``/api/v1/exposures``, with a
server key) and events (``/api/v1/events``) exactly as a user's service would, then
analysed through ``POST /api/v1/experiments/{key}/analyses``. The pages must show what
the API's ``/results`` answers for the same run, and the charts must carry those
figures; nothing on the page is recomputed.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from tests.integration.delivery.test_evaluate_api import sdk_key
from tests.integration.web.api import make_experiment, make_metric, start_experiment
from tests.integration.web.conftest import Browser, Headers, form_token
from verdict.server.models import Experiment, ExperimentPhase

DAYS_BACK = 3


def create(client: TestClient, admin: Headers, **fields: Any) -> dict[str, Any]:
    """A draft experiment in production."""
    return make_experiment(client, admin, environment="production", **fields)


def backdate(client: TestClient, key: str, days: int) -> dt.datetime:
    """Move the start (and phase 1) back to the start of a UTC day ``days`` ago, so
    exposures can spread over past days, each one's within its day whatever the time."""
    today = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    moment = today - dt.timedelta(days=days)
    with client.app.state.session_factory() as session:  # type: ignore[attr-defined]
        experiment_id = session.scalar(select(Experiment.id).where(Experiment.key == key))
        session.execute(
            update(Experiment).where(Experiment.id == experiment_id).values(started_at=moment)
        )
        session.execute(
            update(ExperimentPhase)
            .where(ExperimentPhase.experiment_id == experiment_id)
            .values(started_at=moment)
        )
        session.commit()
    return moment


def feed(
    client: TestClient,
    key: str,
    server: Headers,
    since: dt.datetime,
    plan: dict[str, tuple[int, dict[str, int]]],
) -> None:
    """``plan``: {variant: (units, {event name: units that send it once})}; units are
    exposed on the days since ``since`` in turn, each event an hour after exposure."""
    exposures, events = [], []
    for variant, (units, converting) in plan.items():
        for i in range(units):
            unit = f"{key}-{variant}-{i}"
            seen = since + dt.timedelta(days=i % DAYS_BACK, hours=1, minutes=i % 50)
            exposures.append(
                {
                    "unit_id": unit,
                    "experiment": key,
                    "variant": variant,
                    "timestamp": seen.isoformat(),
                    "attributes": {"country": "FR" if i % 2 else "DE"},
                }
            )
            for name, count in converting.items():
                if i < count:
                    events.append(
                        {
                            "client_event_id": str(uuid.uuid4()),
                            "type": name,
                            "unit_id": unit,
                            "timestamp": (seen + dt.timedelta(hours=1)).isoformat(),
                        }
                    )
    answer = client.post("/api/v1/exposures", json={"exposures": exposures}, headers=server)
    assert answer.status_code == 200, answer.text
    assert not answer.json().get("errors"), answer.text
    answer = client.post("/api/v1/events", json={"events": events}, headers=server)
    assert answer.status_code == 200, answer.text


def start_and_feed(
    client: TestClient,
    admin: Headers,
    server: Headers,
    experiment: dict[str, Any],
    plan: dict[str, tuple[int, dict[str, int]]],
) -> None:
    """Start ``experiment``, move its start ``DAYS_BACK`` days back and :func:`feed` it
    ``plan`` over those days."""
    start_experiment(client, admin, experiment)
    since = backdate(client, experiment["key"], DAYS_BACK)
    client.app.state.snapshots.invalidate(None)  # type: ignore[attr-defined]
    feed(client, experiment["key"], server, since, plan)


def fed_control_and_b(
    client: TestClient,
    admin: Headers,
    server: Headers,
    primary: str,
    plan: dict[str, tuple[int, dict[str, int]]],
    **fields: Any,
) -> dict[str, Any]:
    """An experiment of "control" against "b", half each, on the ``primary`` metric,
    started and fed ``plan`` (see :func:`start_and_feed`); as the API created it."""
    made = create(
        client,
        admin,
        cuped_days=None,
        variants=[
            {"key": "control", "is_control": True, "weight": 0.5},
            {"key": "b", "weight": 0.5},
        ],
        metrics=[{"metric": primary, "role": "primary"}],
        **fields,
    )
    start_and_feed(client, admin, server, made, plan)
    return made


def analyse(client: TestClient, admin: Headers, key: str) -> dict[str, Any]:
    run = client.post(f"/api/v1/experiments/{key}/analyses", headers=admin)
    assert run.status_code == 200, run.text
    assert run.json()["status"] == "succeeded", run.text
    results = client.get(f"/api/v1/experiments/{key}/results", headers=admin)
    assert results.status_code == 200, results.text
    body: dict[str, Any] = results.json()
    return body


def figures(page: str) -> dict[str, Any]:
    """The chart JSON blocks of a page, by id."""
    found = re.findall(r'<script type="application/json" id="([^"]+)">(.*?)</script>', page, re.S)
    return {name: json.loads(body) for name, body in found}


def text_of(page: str) -> str:
    """The page's visible text, tags removed and spaces collapsed."""
    page = re.sub(r"<script.*?</script>", " ", page, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


@pytest.fixture(scope="module")
def server(client: TestClient, admin: Headers) -> Headers:
    return sdk_key(client, admin, "server")


@pytest.fixture(scope="module")
def primary(client: TestClient, admin: Headers) -> str:
    """A conversion metric experiments can start with."""
    return make_metric(client, admin)


@pytest.fixture(scope="module")
def analysed(client: TestClient, admin: Headers, server: Headers) -> dict[str, Any]:
    """A bot-response test with a primary conversion metric and a guardrail, three days
    of exposures, warm converting at 30 % against control's 15 %."""
    signup = make_metric(client, admin, event_name="signup")
    failure = make_metric(client, admin, event_name="bot_error", lower_is_better=True)
    experiment = create(
        client,
        admin,
        name="Greeting tone",
        hypothesis="A warmer greeting makes more visitors sign up.",
        type="a_b",
        target="support-bot",
        minimum_sample_size=1000,
        cuped_days=None,
        coverage=0.8,
        layer="greetings",
        bucket_start=0,
        bucket_end=5000,
        tags=["bots"],
        breakdowns=["country"],
        variants=[
            {
                "key": "control",
                "is_control": True,
                "weight": 0.5,
                "system_prompt": "You are a terse assistant.",
                "response_template": "Hello {name}.",
                "configuration": {"tone": "plain"},
            },
            {
                "key": "warm",
                "weight": 0.5,
                "system_prompt": "You are a <warm> & friendly assistant.",
                "response_template": "Hi {name}! Lovely to see you.",
                "configuration": {"tone": "warm", "emoji": True},
            },
        ],
        metrics=[
            {"metric": signup, "role": "primary"},
            {"metric": failure, "role": "guardrail", "non_inferiority_margin": 0.5},
        ],
    )
    start_and_feed(
        client,
        admin,
        server,
        experiment,
        {
            "control": (200, {"signup": 30, "bot_error": 10}),
            "warm": (200, {"signup": 60, "bot_error": 10}),
        },
    )
    results = analyse(client, admin, experiment["key"])
    return {"key": experiment["key"], "signup": signup, "failure": failure, "results": results}


def row(results: dict[str, Any], metric: str, variant: str) -> dict[str, Any]:
    [found] = [
        r
        for r in results["results"]
        if r["metric"] == metric and r["variant"] == variant and not r["cuped"]
    ]
    return dict(found)


def table_rows(page: str, caption: str) -> list[list[str]]:
    """The body rows (cell texts) of the table with this caption."""
    match = re.search(
        r"<caption[^>]*>" + re.escape(caption) + r"</caption>(.*?)</table>", page, re.S
    )
    assert match, f"no table {caption!r}"
    body = match.group(1).split("<tbody>", 1)[1]
    return [
        [text_of(cell) for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", tr, re.S)]
        for tr in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


def percent(value: float, digits: int = 1, signed: bool = False) -> str:
    return f"{value * 100:{'+' if signed else ''}.{digits}f} %"


def points(value: float) -> str:
    return f"{value * 100:+.2f} pp"


def interval(show: Callable[[float], str], found: dict[str, Any], value: str, ci: str) -> str:
    """``found[value]`` and its interval ``found[ci + "lower"]`` to ``found[ci + "upper"]``,
    each shown by ``show``, as the results table writes them."""
    return f"{show(found[value])} [{show(found[ci + 'lower'])}, {show(found[ci + 'upper'])}]"


# --- The list -------------------------------------------------------------------------


def test_the_list_shows_status_owner_start_progress_and_decision(
    browser: Browser,
    make_user: Callable[..., str],
    client: TestClient,
    admin: Headers,
    analysed: dict[str, Any],
) -> None:
    reader = browser(make_user("viewer"))
    page = reader.get("/experiments", params={"q": analysed["key"]})
    assert page.status_code == 200, page.text
    stored = client.get(f"/api/v1/experiments/{analysed['key']}", headers=admin).json()
    [cells] = table_rows(page.text, "Experiments, newest first")
    name, status, kind, owner, started, sample, decision = cells
    assert name == f"Greeting tone {analysed['key']}"
    assert (status, kind, owner) == ("Running", "A/B", stored["owner"])
    assert started == dt.datetime.fromisoformat(stored["started_at"]).strftime("%Y-%m-%d %H:%M UTC")
    assert sample == "200 / 1,000"  # the smallest variant against the minimum sample size
    assert '<progress max="1000" value="200"' in page.text
    assert decision == "Keep running"
    assert 'href="/experiments/new"' not in page.text  # a viewer may not create


def test_the_list_filters_by_status_and_type_and_searches_key_and_name(
    browser: Browser,
    make_user: Callable[..., str],
    client: TestClient,
    admin: Headers,
    primary: str,
) -> None:
    token = uuid.uuid4().hex[:10]
    plain = create(client, admin, key=f"a{token}-plain", name=f"Plain {token}")
    split = create(
        client,
        admin,
        key=f"a{token}-split",
        name=f"Landing {token}",
        type="split_url",
        variants=[
            {"key": "control", "is_control": True, "url": "https://example.com/a"},
            {"key": "b", "url": "https://example.com/b"},
        ],
        metrics=[{"metric": primary, "role": "primary"}],
    )
    start_experiment(client, admin, split)
    reader = browser(make_user("viewer"))

    def keys(**params: str) -> set[str]:
        page = reader.get("/experiments", params=params)
        assert page.status_code == 200, page.text
        return set(re.findall(rf"<code class=\"muted\">(a{token}-\w+)</code>", page.text))

    assert keys(q=token) == {plain["key"], split["key"]}
    assert keys(q=f"Landing {token}") == {split["key"]}  # the name is searched too
    assert keys(q=token, status="draft") == {plain["key"]}
    assert keys(q=token, status="running") == {split["key"]}
    assert keys(q=token, type="split_url") == {split["key"]}
    assert keys(q=token, type="a_b") == {plain["key"]}
    assert keys(q=f"{token}-nothing") == set()
    refused = reader.get("/experiments", params={"status": "finished", "q": token})
    assert refused.status_code == 422
    assert 'aria-invalid="true" aria-describedby="filter-status-error"' in refused.text
    assert re.search(r'id="filter-status-error">Status must be one of draft, running', refused.text)
    assert plain["key"] in refused.text  # the rest of the filters still apply


def test_the_list_is_paginated(
    browser: Browser, make_user: Callable[..., str], client: TestClient, admin: Headers
) -> None:
    token = uuid.uuid4().hex[:10]
    made = {create(client, admin, key=f"p{token}-{i}")["key"] for i in range(27)}
    reader = browser(make_user("viewer"))
    first = reader.get("/experiments", params={"q": token})
    shown = re.findall(rf"<code class=\"muted\">(p{token}-\d+)</code>", first.text)
    assert len(shown) == 25
    assert "First page" not in first.text
    [link] = re.findall(r'<a href="(/experiments\?[^"]+)" rel="next">', first.text)
    second = reader.get(html.unescape(link))
    assert second.status_code == 200
    rest = re.findall(rf"<code class=\"muted\">(p{token}-\d+)</code>", second.text)
    assert set(shown) | set(rest) == made
    assert len(shown) + len(rest) == 27
    assert 'rel="next"' not in second.text
    assert "First page" in second.text
    assert reader.get("/experiments", params={"cursor": "forged"}).status_code == 400


def test_the_pages_need_a_session_and_the_read_permission(
    browser: Browser, make_user: Callable[..., str], analysed: dict[str, Any]
) -> None:
    visitor = browser(None)
    for path in ("/experiments", f"/experiments/{analysed['key']}"):
        answer = visitor.get(path)
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/login?next=/experiments")
    nobody = browser(make_user(permissions=[]))
    assert nobody.get("/experiments").status_code == 403
    assert nobody.get(f"/experiments/{analysed['key']}").status_code == 403
    assert nobody.get(f"/experiments/{analysed['key']}/run-status").status_code == 403


# --- The detail page ------------------------------------------------------------------


def test_the_results_table_shows_what_the_api_reads(
    browser: Browser, make_user: Callable[..., str], analysed: dict[str, Any]
) -> None:
    page = browser(make_user("viewer")).get(f"/experiments/{analysed['key']}")
    assert page.status_code == 200, page.text
    results = analysed["results"]
    signup, failure = analysed["signup"], analysed["failure"]
    rows = table_rows(page.text, f"Metric {signup}")
    assert [r[0] for r in rows] == ["control control", "warm"]
    control, warm = row(results, signup, "control"), row(results, signup, "warm")
    mean = lambda v: percent(v, 2)  # noqa: E731
    assert rows[0][1:4] == ["200", "30", interval(mean, control, "mean", "ci_")]
    assert rows[1][1:4] == ["200", "60", interval(mean, warm, "mean", "ci_")]
    assert rows[1][4] == interval(points, warm, "absolute_lift", "absolute_ci_")
    lift = lambda v: percent(v, 1, True)  # noqa: E731
    assert rows[1][5] == interval(lift, warm, "relative_lift", "lift_ci_")
    assert warm["p_value"] < 0.001
    assert rows[1][6] == "< 0.001"
    assert rows[1][7] == percent(warm["statistical_power"], 0)
    assert warm["significant"] is True
    assert rows[1][8] == "Better"
    # The guardrail: equal error rates, so not significant, and not breached; the badge
    # says what the stored decision says of it.
    guard = table_rows(page.text, f"Metric {failure}")
    [status] = [
        g["status"]
        for g in results["run"]["decision"]["guardrails"]
        if (g["metric"], g["variant"]) == (failure, "warm")
    ]
    assert status in ("pending", "shown")
    label = {"pending": "Guardrail not yet safe", "shown": "Guardrail safe"}[status]
    assert guard[1][8] == f"Not significant {label}"
    summary = text_of(page.text)
    assert "Sample ratio check OK p = 1" in summary
    assert "Exposures control 200 · warm 200" in summary
    assert "200 of 1,000 units in the smallest variant" in summary
    # 800 units missing per variant at 200 per elapsed window: whole days, rounded up.
    run = results["run"]
    elapsed = (
        dt.datetime.fromisoformat(run["data_window_end"])
        - dt.datetime.fromisoformat(run["data_window_start"])
    ).total_seconds() / 86400
    expected_days = -(-800 // (200 / elapsed))
    assert f"Days left About {expected_days:.0f} days at the current pace" in summary
    assert "Decision Keep running" in summary
    for reason in run["decision"]["reasons"]:
        assert reason in summary
    assert 'class="alert error srm"' not in page.text


def test_the_charts_carry_the_stored_lifts_intervals_and_daily_bands(
    browser: Browser,
    make_user: Callable[..., str],
    client: TestClient,
    admin: Headers,
    analysed: dict[str, Any],
) -> None:
    page = browser(make_user("viewer")).get(f"/experiments/{analysed['key']}")
    assert re.search(r'<script src="/static/[^"]*plotly\.min\.js[^"]*" defer>', page.text)
    charts = figures(page.text)
    assert set(charts) == {"forest-1", "series-1", "forest-2", "series-2"}
    warm = row(analysed["results"], analysed["signup"], "warm")
    [forest] = charts["forest-1"]["data"]
    assert forest["y"] == ["warm"]
    assert forest["x"] == [pytest.approx(warm["relative_lift"])]
    assert forest["error_x"]["array"] == [
        pytest.approx(warm["lift_ci_upper"] - warm["relative_lift"])
    ]
    assert forest["error_x"]["arrayminus"] == [
        pytest.approx(warm["relative_lift"] - warm["lift_ci_lower"])
    ]
    series = client.get(
        f"/api/v1/experiments/{analysed['key']}/results/timeseries",
        params={"metric": analysed["signup"]},
        headers=admin,
    ).json()["points"]
    stored = sorted(
        (p for p in series if p["variant"] == "warm" and p["relative_lift"] is not None),
        key=lambda p: p["day"],
    )
    assert len(stored) == DAYS_BACK  # one cumulative point per exposure day
    upper, lower, line = charts["series-1"]["data"]
    assert line["name"] == "warm"
    assert line["x"] == [p["day"] for p in stored]
    assert line["y"] == [pytest.approx(p["relative_lift"]) for p in stored]
    assert upper["y"] == [pytest.approx(p["lift_ci_upper"]) for p in stored]
    assert lower["y"] == [pytest.approx(p["lift_ci_lower"]) for p in stored]
    assert lower["fill"] == "tonexty"
    assert '<figure aria-describedby="forest-1-about">' in page.text
    assert re.search(r'id="forest-1-about">Interval plot: relative lift of each variant', page.text)


def test_a_breakdown_shows_one_row_per_attribute_value(
    browser: Browser,
    make_user: Callable[..., str],
    client: TestClient,
    admin: Headers,
    analysed: dict[str, Any],
) -> None:
    reader = browser(make_user("viewer"))
    page = reader.get(f"/experiments/{analysed['key']}", params={"dimension": "country"})
    assert page.status_code == 200, page.text
    api = client.get(
        f"/api/v1/experiments/{analysed['key']}/results",
        params={"dimension": "country", "metric": analysed["signup"]},
        headers=admin,
    ).json()["results"]
    rows = table_rows(page.text, f"Metric {analysed['signup']}, by country")
    assert [(r[0], r[1], r[2]) for r in rows] == [
        (
            r["dimension_value"],
            r["variant"] + (" control" if r["is_control"] else ""),
            str(r["sample_size"]),
        )
        for r in api
    ]
    assert {r[0] for r in rows} == {"DE", "FR"}
    assert not figures(page.text)  # charts are for the overall results
    refused = reader.get(f"/experiments/{analysed['key']}", params={"dimension": "planet"})
    assert refused.status_code == 422
    assert (
        'id="dimension-error">Breakdown is not one of the experiment\'s breakdowns (country)'
        in html.unescape(refused.text)
    )


def test_the_detail_page_shows_payloads_allocation_phases_and_history(
    browser: Browser, make_user: Callable[..., str], analysed: dict[str, Any]
) -> None:
    page = browser(make_user("viewer")).get(f"/experiments/{analysed['key']}")
    text = text_of(page.text)
    assert "Hypothesis A warmer greeting makes more visitors sign up." in text
    assert "<pre>You are a &lt;warm&gt; &amp; friendly assistant.</pre>" in page.text
    assert "Response template Hi {name}! Lovely to see you." in text
    assert "System prompt You are a terse assistant. Response template Hello {name}." in text
    assert 'Configuration { "emoji": true, "tone": "warm" }' in text
    assert "Coverage 80.0 % of eligible units" in text
    assert "Layer greetings Buckets 0 to 5,000 of 10,000" in text
    assert "Weights control 50.0 % · warm 50.0 %" in text
    phases = table_rows(page.text, "Allocation phases")
    assert len(phases) == 1
    assert phases[0][0] == "1"
    assert phases[0][2] == "open"
    assert "start (draft → running)" in text
    assert "create (as draft)" in text


def test_split_url_targets_are_shown_as_text_and_a_draft_has_no_results(
    browser: Browser, make_user: Callable[..., str], client: TestClient, admin: Headers
) -> None:
    made = create(
        client,
        admin,
        type="split_url",
        variants=[
            {"key": "control", "is_control": True, "url": "https://example.com/a?x=1&y=2"},
            {"key": "b", "url": "javascript:alert(1)"},
        ],
    )
    page = browser(make_user("viewer")).get(f"/experiments/{made['key']}")
    assert page.status_code == 200
    assert '<code class="wrap">https://example.com/a?x=1&amp;y=2</code>' in page.text
    assert 'href="javascript' not in page.text
    assert "No results yet: start the experiment, then run an analysis" in text_of(page.text)
    assert not figures(page.text)
    assert "plotly.min.js" not in page.text  # only pages with charts load it


def test_new_is_never_read_as_an_experiment_key(
    browser: Browser, make_user: Callable[..., str]
) -> None:
    from starlette.routing import Match

    from verdict.server.web.experiments import router

    [detail] = [r for r in router.routes if getattr(r, "name", "") == "experiment_detail"]
    scope = {"type": "http", "method": "GET"}
    assert detail.matches({**scope, "path": "/experiments/new"})[0] is Match.NONE
    assert detail.matches({**scope, "path": "/experiments/newer"})[0] is Match.FULL
    page = browser(make_user("admin")).get("/experiments/new")
    assert "no experiment with key" not in page.text


def test_only_a_role_that_may_edit_is_offered_the_edit_lifecycle_and_refresh_controls(
    browser: Browser, make_user: Callable[..., str], analysed: dict[str, Any]
) -> None:
    key = analysed["key"]
    viewer = browser(make_user("viewer")).get(f"/experiments/{key}")
    assert viewer.status_code == 200
    assert f'href="/experiments/{key}/edit"' not in viewer.text
    main = viewer.text.split("</header>", 1)[1]  # the sign-out form is in the header
    assert 'method="post"' not in main
    editor = browser(make_user("experimenter"))
    page = editor.get(f"/experiments/{key}")
    token = form_token(page.text)
    assert f'href="/experiments/{key}/edit"' in page.text
    forms = dict(
        re.findall(
            r'<form method="post" action="/experiments/[^/"]+/(\w+)"[^>]*?data-confirm="([^"]+)"',
            page.text,
        )
    )
    # A running experiment may be paused or completed; each is confirmed first.
    assert set(forms) == {"pause", "complete", "refresh"}
    assert all(question.endswith("?") or "?" in question for question in forms.values())
    bodies = re.findall(
        r'<form method="post" action="/experiments/[^"]+".*?</form>', page.text, re.S
    )
    assert all(f'name="csrf_token" value="{token}"' in body for body in bodies)
    [complete] = [b for b in bodies if "/complete" in b]
    assert '<label for="complete-winner">Winner</label>' in complete
    assert re.findall(r'<option value="([^"]*)"', complete) == ["", "control", "warm"]
    assert '<input type="hidden" name="version"' in complete
    listing = editor.get("/experiments")
    assert 'href="/experiments/new"' in listing.text


def test_a_sample_ratio_mismatch_shows_a_banner_and_the_invalid_verdict(
    browser: Browser,
    make_user: Callable[..., str],
    client: TestClient,
    admin: Headers,
    server: Headers,
    primary: str,
) -> None:
    made = fed_control_and_b(
        client,
        admin,
        server,
        primary,
        {"control": (300, {"purchase": 30}), "b": (150, {"purchase": 15})},
    )
    run = analyse(client, admin, made["key"])["run"]
    assert run["srm"]["mismatch"] is True
    page = browser(make_user("viewer")).get(f"/experiments/{made['key']}")
    [banner] = re.findall(r'<div class="alert error srm" role="alert">(.*?)</div>', page.text, re.S)
    text = text_of(banner)
    assert text.startswith("Sample ratio mismatch.")
    assert f"p = {run['srm']['p_value']:.2g}" in text
    assert "control 300 (expected 225), b 150 (expected 225)" in text
    assert '<span class="badge bad">Invalid</span>' in page.text
    listing = browser(make_user("viewer")).get("/experiments", params={"q": made["key"]})
    assert '<span class="badge bad">Invalid</span>' in listing.text


def test_the_run_status_partial_polls_while_an_analysis_runs_then_reloads(
    browser: Browser,
    make_user: Callable[..., str],
    client: TestClient,
    admin: Headers,
    primary: str,
) -> None:
    from verdict.server.analysis import runs

    made = create(
        client,
        admin,
        variants=[{"key": "control", "is_control": True}, {"key": "b"}],
        metrics=[{"metric": primary, "role": "primary"}],
    )
    start_experiment(client, admin, made)
    app = client.app
    reader = browser(make_user("viewer"))
    path = f"/experiments/{made['key']}/run-status"
    assert "No analysis has run yet." in reader.get(path).text
    with app.state.session_factory() as session:  # type: ignore[attr-defined]
        experiment = runs.find_experiment(session, made["key"])
        queued = runs.start_run(
            session, experiment=experiment, full=True, trigger="api", actor=None
        )
        run_id = queued.id
    waiting = reader.get(path)
    assert waiting.status_code == 200
    assert f'data-poll="{path}"' in waiting.text
    assert '<progress max="1" value="0.0" aria-label="Analysis progress">' in waiting.text
    detail = reader.get(f"/experiments/{made['key']}")
    assert f'data-poll="{path}"' in detail.text  # the page shows the run and polls it
    runs.execute_run(app.state.session_factory, app.state.engine, run_id)  # type: ignore[attr-defined]
    done = reader.get(path)
    assert "data-poll" not in done.text
    assert "data-reload" in done.text
    assert "Analysis succeeded" in done.text
    assert "data-poll" not in reader.get(f"/experiments/{made['key']}").text


def test_a_bayesian_analysis_shows_chance_to_win_and_expected_loss(
    browser: Browser,
    make_user: Callable[..., str],
    client: TestClient,
    admin: Headers,
    server: Headers,
    primary: str,
) -> None:
    made = fed_control_and_b(
        client,
        admin,
        server,
        primary,
        {"control": (200, {"purchase": 40}), "b": (200, {"purchase": 20})},
        analysis_method="bayesian",
    )
    treated = row(analyse(client, admin, made["key"]), primary, "b")
    page = browser(make_user("viewer")).get(f"/experiments/{made['key']}")
    header = re.search(
        r"<caption[^>]*>Metric " + primary + r"</caption>(.*?)</thead>", page.text, re.S
    )
    assert header
    assert "Chance to win" in header.group(1)
    assert "Expected loss" in header.group(1)
    assert "p-value" not in header.group(1)
    [_, b] = table_rows(page.text, f"Metric {primary}")
    assert b[6] == percent(treated["chance_to_win"], 1)
    assert b[7] == f"{treated['expected_loss'] * 100:+.2f} pp"
    # Half the conversions: surely worse, whatever the prior.
    assert treated["significant"] is True
    assert b[9] == "Worse"
