"""The FastAPI and Django examples of docs/sdk.md run as written against a live
``verdict serve``: visitors are sent to their variant's page of the split-URL test or
served, and their exposures and purchases reach the server (stored as the sticky
assignments and events the analysis reads)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.conftest import DatabaseFactory
from tests.integration.delivery.test_assign_api import start_experiment
from tests.integration.delivery.test_stream import LiveServer, admin_headers, server_key
from tests.integration.sdk.conftest import live_verdict
from tests.integration.sdk.test_client_track_live import stored_events
from tests.integration.sdk.test_recorder_live import stored
from tests.unit.sdk.test_docs import doc_blocks

VISITORS = 24
PAGE = "http://testserver/landing"  # both frameworks' test clients use this host
STORY = "http://testserver/landing-story"


@pytest.fixture
def shop(database_factory: DatabaseFactory) -> Iterator[tuple[LiveServer, str, str]]:
    """A live server whose production environment has the examples' split-URL test
    and flag; yields the server, the experiment key and a server key."""
    with live_verdict(database_factory, "sqlite") as server:
        admin = admin_headers(server.base)
        with httpx.Client(base_url=server.base, timeout=10) as api:
            experiment = start_experiment(
                api,  # type: ignore[arg-type]
                admin,
                type="split_url",
                variants=[
                    {"key": "control", "is_control": True, "weight": 0.5, "url": PAGE},
                    {"key": "story", "weight": 0.5, "url": "/landing-story"},
                ],
            )
            flag = api.post(
                "/api/v1/flags",
                json={
                    "key": "checkout-style",
                    "name": "Checkout style",
                    "value_type": "string",
                    "default_value": "classic",
                },
                headers=admin,
            )
            assert flag.status_code == 201, flag.text
            state = api.put(
                "/api/v1/flags/checkout-style/environments/production",
                json={
                    "enabled": True,
                    "rules": [
                        {
                            "id": "nl",
                            "type": "force",
                            "condition": {"country": "NL"},
                            "value": "compact",
                        },
                    ],
                },
                headers={**admin, "If-Match": '"0"'},
            )
            assert state.status_code == 200, state.text
        secret = server_key(server.base, admin)["Authorization"].removeprefix("Bearer ")
        yield server, experiment, secret


def _example(marker: str) -> str:
    return next(block for block in doc_blocks() if marker in block)


def _visitor_country(i: int) -> str:
    return "NL" if i % 3 == 0 else "FR"


def _check_outcome(
    server: LiveServer, experiment: str, answers: dict[str, tuple[int, Any]], redirect: int
) -> None:
    """Every visitor was redirected to the story page or served the flag's value, as
    the assignment the server stored says; the purchases arrived once each."""
    assignments, per_event = stored(server.url, experiment)
    assert set(assignments) == {f"v{i}" for i in range(VISITORS)}
    assert set(assignments.values()) == {"control", "story"}
    for i in range(VISITORS):
        status, what = answers[f"v{i}"]
        if assignments[f"v{i}"] == "story":
            assert (status, what) == (redirect, STORY + "?ref=mail")
        else:
            expected = "compact" if _visitor_country(i) == "NL" else "classic"
            assert (status, what) == (200, expected)
    assert sorted(unit for _, unit, _, _ in stored_events(server.url)) == ["v0", "v1", "v2"]
    assert set(per_event.values()) == {1}


def test_the_fastapi_example(
    shop: tuple[LiveServer, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, experiment, secret = shop
    source = _example("app = FastAPI(lifespan=lifespan)").replace(
        '"landing-page"', repr(experiment)
    )
    monkeypatch.setenv("VERDICT_SDK_KEY", secret)
    monkeypatch.setenv("VERDICT_URL", server.base)
    namespace: dict[str, Any] = {"__name__": "docs_fastapi_example"}
    exec(compile(source, "docs/sdk.md", "exec"), namespace)
    answers: dict[str, tuple[int, Any]] = {}
    with TestClient(namespace["app"]) as http:
        for i in range(VISITORS):
            http.cookies.set("visitor", f"v{i}")
            response = http.get(
                "/landing?ref=mail",
                headers={"x-country": _visitor_country(i)},
                follow_redirects=False,
            )
            what = (
                response.headers["location"]
                if response.status_code == 303
                else response.json()["checkout"]
            )
            answers[f"v{i}"] = (response.status_code, what)
        for i in range(3):
            http.cookies.set("visitor", f"v{i}")
            assert http.post("/purchase", params={"amount": 12.5}).json() == {"tracked": True}
    # Leaving the lifespan closed the client, which flushed what was queued.
    _check_outcome(server, experiment, answers, redirect=303)


_DJANGO_RUNNER = """
import json
import sys

import django
from django.conf import settings

settings.configure(
    ROOT_URLCONF="shop.urls", ALLOWED_HOSTS=["testserver"], SECRET_KEY="docs-example"
)
django.setup()

from django.test import Client

answers = {}
for i in range(VISITORS):
    browser = Client()
    browser.cookies["visitor"] = f"v{i}"
    response = browser.get("/landing?ref=mail", headers={"X-Country": COUNTRIES[i]})
    what = response["Location"] if response.status_code == 302 else response.json()["checkout"]
    answers[f"v{i}"] = [response.status_code, what]
for i in range(3):
    browser = Client()
    browser.cookies["visitor"] = f"v{i}"
    assert browser.post("/purchase", {"amount": "12.5"}).json() == {"tracked": True}
json.dump(answers, sys.stdout)
# No close(): the client's atexit hook flushes the queued exposures and events.
"""


def test_the_django_example(shop: tuple[LiveServer, str, str], tmp_path: Path) -> None:
    server, experiment, secret = shop
    package = tmp_path / "shop"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for block in doc_blocks():
        named = re.match(r"# (shop/\w+\.py)\n", block)
        if named:
            source = block.replace('"landing-page"', repr(experiment))
            (tmp_path / named.group(1)).write_text(source)
    assert {p.name for p in package.iterdir()} == {"__init__.py", "flags.py", "views.py", "urls.py"}
    runner = textwrap.dedent(_DJANGO_RUNNER)
    runner = runner.replace("VISITORS", str(VISITORS)).replace(
        "COUNTRIES", repr([_visitor_country(i) for i in range(VISITORS)])
    )
    env = {
        **os.environ,
        "VERDICT_SDK_KEY": secret,
        "VERDICT_URL": server.base,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path]),
    }
    done = subprocess.run(
        [sys.executable, "-c", runner],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    answers = {unit: (status, what) for unit, (status, what) in json.loads(done.stdout).items()}
    _check_outcome(server, experiment, answers, redirect=302)
