"""The dashboard in a real browser: Debian's ``chromium`` driven by Playwright.

One live ``verdict serve`` (SQLite, with the administrator ``admin``) is shared by a
test worker and one browser by a test module; each test gets a fresh browser context
(its own cookies), 1280 px wide. Helpers:

- ``sign_in(page, username, password)`` goes through the login form;
- ``screenshots(page, name)`` writes the page at 1280 and 390 px wide under
  ``test-artifacts/screenshots/`` (ignored by git) for a reviewer to look at;
- ``assert_accessible(page)`` runs axe-core (from the npm registry's package, installed
  into the user's cache, never committed) and fails on any serious or critical
  violation, naming the rule and the elements;
- ``check_page(page, name)`` does both: accessible, then screenshotted;
- ``open_form(page, link, url, name)`` follows a link to a form and checks its page;
- ``accept_dialogs(page)`` accepts every confirmation, recording its question;
- the fixtures ``api`` (an ``httpx.Client`` based at the server, for the helpers of
  :mod:`tests.integration.web.api`) and ``admin`` (the administrator's API headers).

Chromium is launched from ``/usr/bin/chromium`` (``VERDICT_CHROMIUM`` overrides); no
browser build is ever downloaded. Without it the tests skip, and under ``CI=true`` they
fail instead.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import DatabaseFactory
from tests.integration.conformance.server import prepare_database
from tests.integration.delivery.test_stream import (
    ADMIN_PASSWORD,
    LiveServer,
    admin_headers,
    start_server,
)
from tests.npm_packages import NodeSetupError, installed

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "screenshots"
AXE_DIR = Path(__file__).resolve().parent / "js"
WIDTHS = (1280, 390)

__all__ = [
    "ADMIN_PASSWORD",
    "accept_dialogs",
    "assert_accessible",
    "check_page",
    "open_form",
    "screenshots",
    "sign_in",
]


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"the browser tests cannot run: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = os.environ.get("VERDICT_CHROMIUM", "/usr/bin/chromium")
    if not (Path(path).exists() or shutil.which(path)):
        _unavailable(f"no chromium at {path} (Debian: apt-get install chromium)")
    return path


# Per module, not per session: Playwright's synchronous API keeps an event loop running
# in the thread while it is open, and tests of other modules that the same worker runs
# afterwards call asyncio.run(), which refuses to start inside a running loop.
@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install -e '.[test]')")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium_path, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        yield launched
        launched.close()


@pytest.fixture(scope="session")
def dashboard(database_factory: DatabaseFactory) -> Iterator[LiveServer]:
    """A live server on SQLite with the administrator ``admin``."""
    url = database_factory.new_url("sqlite")
    prepare_database(url)
    server = start_server(url)
    yield server
    server.stop()


@pytest.fixture
def page(browser: Any, dashboard: LiveServer) -> Iterator[Any]:
    """A page in a fresh context (no cookies), 1280 px wide, based at the server.

    The context bypasses the pages' Content-Security-Policy only so that axe-core can
    be injected; the policy itself is checked by the HTTP tests."""
    context = browser.new_context(
        base_url=dashboard.base, viewport={"width": 1280, "height": 900}, bypass_csp=True
    )
    context.set_default_timeout(15_000)
    opened = context.new_page()
    problems: list[str] = []
    opened.on("pageerror", lambda error: problems.append(str(error)))
    yield opened
    context.close()
    assert not problems, f"scripts failed on the page: {problems}"


@pytest.fixture
def api(dashboard: LiveServer) -> Iterator[httpx.Client]:
    """An API client of the live server (send ``admin`` as its headers)."""
    with httpx.Client(base_url=dashboard.base, timeout=30) as client:
        yield client


@pytest.fixture
def admin(dashboard: LiveServer) -> dict[str, str]:
    """The administrator's API headers (a bearer token from logging in)."""
    return admin_headers(dashboard.base)


def sign_in(page: Any, username: str = "admin", password: str = ADMIN_PASSWORD) -> None:
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/login" not in url)


def screenshots(page: Any, name: str) -> list[Path]:
    """The page at each width, full length, under test-artifacts/screenshots/."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    written = []
    size = page.viewport_size
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        target = ARTIFACTS / f"{name}-{width}.png"
        page.screenshot(path=str(target), full_page=True)
        written.append(target)
    page.set_viewport_size(size)
    return written


def _axe_script() -> Path:
    try:
        folder = installed(AXE_DIR, "dashboard-axe")
    except NodeSetupError as error:
        _unavailable(str(error))
    return folder / "node_modules" / "axe-core" / "axe.min.js"


def assert_accessible(page: Any) -> None:
    """No serious or critical axe-core violation on the page as it stands, at both
    widths."""
    script = _axe_script()
    size = page.viewport_size
    found = []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        if not page.evaluate("typeof window.axe !== 'undefined'"):
            page.add_script_tag(path=str(script))
        violations = page.evaluate(
            "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        )
        found += [
            f"{width}px {v['id']} ({v['impact']}): {v['help']} at "
            + ", ".join(str(node["target"]) for node in v["nodes"][:5])
            for v in violations
            if v["impact"] in ("serious", "critical")
        ]
    page.set_viewport_size(size)
    assert not found, "accessibility violations:\n" + "\n".join(found)


def check_page(page: Any, name: str) -> None:
    """The page as it stands is accessible at both widths; screenshots named ``name``."""
    assert_accessible(page)
    screenshots(page, name)


def open_form(page: Any, link: str, url: str, name: str) -> None:
    """Follow the link named ``link`` to the form at ``url`` (a glob) and check its page."""
    page.get_by_role("link", name=link).click()
    page.wait_for_url(url)
    check_page(page, name)


def accept_dialogs(page: Any, once: bool = False) -> list[str]:
    """Accept every confirmation the page asks from now on (only the next one, with
    ``once``); the questions, as asked."""
    questions: list[str] = []

    def accept(dialog: Any) -> None:
        questions.append(dialog.message)
        dialog.accept()

    (page.once if once else page.on)("dialog", accept)
    return questions
