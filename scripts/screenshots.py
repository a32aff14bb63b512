"""Take the README's dashboard screenshots (docs/images/dashboard-*.png) from a live server.

    .venv/bin/python scripts/screenshots.py [--out docs/images] [--chromium /usr/bin/chromium]

Starts ``verdict serve`` on a fresh SQLite database in a temporary directory, on a free
port of 127.0.0.1, with an administrator; creates metrics, flags and experiments through
the management API, sends simulated visitors through ``/api/v1/assign`` and
``/api/v1/events`` (the green button and the one-page checkout are planted to convert
better), analyses the running experiments, and then drives Debian's Chromium through
Playwright at 1280 px wide (as ``tests/e2e`` does; no browser build is downloaded) to
photograph the pages. Nothing outside the temporary directory and ``--out`` is touched.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "screenshots-password"
WIDTH, HEIGHT = 1280, 900
VISITORS = 4000

# Conversion rates per variant: what the simulated visitors do.
BUTTON = {"blue": 0.10, "green": 0.13}
CHECKOUT = {"three-steps": 0.060, "two-steps": 0.064, "one-page": 0.080}
COUNTRIES = ("US", "DE", "FR", "GB")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def live_server(folder: Path) -> Iterator[str]:
    """``verdict serve`` on a new SQLite database with the administrator ``admin``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERDICT_")}
    env["VERDICT_DATABASE_URL"] = f"sqlite:///{folder / 'verdict.db'}"
    env["VERDICT_ADMIN_PASSWORD"] = PASSWORD
    verdict = [sys.executable, "-m", "verdict"]
    subprocess.run([*verdict, "db", "upgrade"], env=env, check=True, capture_output=True)
    subprocess.run(
        [*verdict, "users", "create-admin", "--username", "admin", "--email", "admin@example.com"],
        env=env,
        check=True,
        capture_output=True,
    )
    port = _free_port()
    server = subprocess.Popen(
        [*verdict, "serve", "--host", "127.0.0.1", "--port", str(port), "--no-migrate"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not become healthy in 30 s")
            time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=15)


def _check(response: httpx.Response) -> httpx.Response:
    if response.is_error:
        raise RuntimeError(f"{response.request.method} {response.request.url}: {response.text}")
    return response


def create_catalogue(api: httpx.Client) -> None:
    """Metrics, flags and experiments, as a team would create them."""
    metrics = [
        {"key": "signups", "name": "Sign-ups", "event_name": "signup", "type": "conversion"},
        {"key": "purchases", "name": "Purchases", "event_name": "purchase", "type": "conversion"},
        {
            "key": "revenue",
            "name": "Revenue per visitor",
            "event_name": "purchase",
            "type": "revenue",
            "aggregation": "sum",
            "unit": "USD",
            "capping": "percentile",
            "cap_value": 0.99,
        },
    ]
    for metric in metrics:
        _check(api.post("/api/v1/metrics", json=metric))
    _check(
        api.post(
            "/api/v1/segments",
            json={
                "key": "eu-visitors",
                "name": "EU visitors",
                "conditions": {"country": {"$in": ["DE", "FR"]}},
            },
        )
    )
    flags = [
        ("new-checkout", "New checkout", "boolean", False, [("rollout", 25)]),
        ("one-click-pay", "One-click payment", "boolean", False, [("force-eu", None)]),
        ("search-v2", "Search v2", "boolean", False, []),
    ]
    for key, name, value_type, default, rules in flags:
        _check(
            api.post(
                "/api/v1/flags",
                json={
                    "key": key,
                    "name": name,
                    "value_type": value_type,
                    "default_value": default,
                    "tags": ["checkout"] if "checkout" in key or "pay" in key else ["search"],
                },
            )
        )
        body: dict[str, object] = {"enabled": bool(rules), "rules": []}
        for kind, percentage in rules:
            if kind == "rollout":
                body["rules"] = [
                    {"id": "gradual", "type": "rollout", "percentage": percentage, "value": True}
                ]
            else:
                body["rules"] = [
                    {"id": "eu", "type": "force", "segment": "eu-visitors", "value": True}
                ]
        path = f"/api/v1/flags/{key}/environments/production"
        _check(api.put(path, json=body, headers={"If-Match": '"0"'}))
    _check(
        api.post(
            "/api/v1/flags",
            json={
                "key": "theme",
                "name": "Site theme",
                "value_type": "string",
                "default_value": "light",
                "variants": [{"key": "light", "value": "light"}, {"key": "dark", "value": "dark"}],
            },
        )
    )
    experiments = [
        {
            "key": "homepage-button-colour",
            "name": "Homepage button colour",
            "hypothesis": "A green sign-up button is easier to see and raises sign-ups",
            "environment": "production",
            "variants": [
                {"key": "blue", "is_control": True, "configuration": {"color": "#1f6feb"}},
                {"key": "green", "configuration": {"color": "#1a7f37"}},
            ],
            "metrics": [{"metric": "signups", "role": "primary"}],
            "breakdowns": ["country"],
            "tags": ["homepage"],
        },
        {
            "key": "checkout-flow",
            "name": "Checkout flow",
            "hypothesis": "Fewer checkout steps raise purchases without lowering revenue",
            "type": "multivariate",
            "environment": "production",
            "variants": [
                {"key": "three-steps", "is_control": True, "weight": 0.34},
                {"key": "two-steps", "weight": 0.33},
                {"key": "one-page", "weight": 0.33},
            ],
            "metrics": [
                {"metric": "purchases", "role": "primary"},
                {"metric": "revenue", "role": "guardrail"},
            ],
            "tags": ["checkout"],
        },
        {
            "key": "pricing-page-copy",
            "name": "Pricing page copy",
            "hypothesis": "Naming the yearly saving raises yearly plans",
            "environment": "production",
            "variants": [{"key": "control", "is_control": True}, {"key": "savings"}],
            "metrics": [{"metric": "purchases", "role": "primary"}],
        },
    ]
    for experiment in experiments:
        created = _check(api.post("/api/v1/experiments", json=experiment)).json()
        if experiment["key"] != "pricing-page-copy":  # stays a draft
            _check(
                api.post(
                    f"/api/v1/experiments/{experiment['key']}/start",
                    headers={"If-Match": f'"{created["version"]}"'},
                )
            )


def simulate(base: str, api: httpx.Client) -> None:
    """Visitors assigned through the API, and the events they send."""
    key = _check(
        api.post(
            "/api/v1/api-keys",
            json={"name": "web-shop", "kind": "server", "environment": "production"},
        )
    ).json()["key"]
    draw = random.Random(2026)
    events: list[dict[str, object]] = []
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}) as sdk:
        for i in range(VISITORS):
            unit = f"visitor-{i}"
            country = draw.choice(COUNTRIES)
            answer = _check(
                sdk.post(
                    "/api/v1/assign",
                    json={
                        "unit_id": unit,
                        "attributes": {"country": country},
                        "experiments": ["homepage-button-colour", "checkout-flow"],
                    },
                )
            ).json()
            seen = {a["experiment"]: a["variant"] for a in answer["assignments"]}
            if draw.random() < BUTTON[seen["homepage-button-colour"]]:
                events.append({"type": "signup", "unit_id": unit})
            if draw.random() < CHECKOUT[seen["checkout-flow"]]:
                amount = round(draw.lognormvariate(3.8, 0.5), 2)
                events.append({"type": "purchase", "unit_id": unit, "value": amount})
        for start in range(0, len(events), 1000):
            _check(sdk.post("/api/v1/events", json={"events": events[start : start + 1000]}))
    for experiment in ("homepage-button-colour", "checkout-flow"):
        _check(api.post(f"/api/v1/experiments/{experiment}/analyses", timeout=120))


def photograph(base: str, out: Path, chromium: str) -> list[Path]:
    from playwright.sync_api import sync_playwright

    # (file name, page, heading scrolled to the top of the window, or None)
    pages = [
        ("dashboard-experiments", "/experiments", None),
        ("dashboard-experiment-results", "/experiments/homepage-button-colour", "Results"),
        ("dashboard-flags", "/flags", None),
        ("dashboard-flag", "/flags/new-checkout?environment=production", None),
    ]
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium)
        try:
            context = browser.new_context(
                base_url=base, viewport={"width": WIDTH, "height": HEIGHT}
            )
            page = context.new_page()
            page.goto("/login")
            page.get_by_label("Username").fill("admin")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(lambda url: "/login" not in url)
            for name, path, heading in pages:
                page.goto(path)
                page.wait_for_load_state("networkidle")
                if heading is not None:
                    top = page.get_by_role("heading", name=heading, exact=True).first
                    top.evaluate("h => window.scrollTo(0, h.getBoundingClientRect().top - 16)")
                target = out / f"{name}.png"
                page.screenshot(path=str(target))
                written.append(target)
        finally:
            browser.close()
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    parser.add_argument(
        "--chromium", default=os.environ.get("VERDICT_CHROMIUM", "/usr/bin/chromium")
    )
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="verdict-screenshots-") as folder,
        live_server(Path(folder)) as base,
    ):
        login = _check(
            httpx.post(
                f"{base}/api/v1/auth/login", json={"username": "admin", "password": PASSWORD}
            )
        ).json()
        headers = {"Authorization": f"Bearer {login['access_token']}"}
        with httpx.Client(base_url=base, headers=headers, timeout=30) as api:
            create_catalogue(api)
            simulate(base, api)
        for path in photograph(base, args.out, args.chromium):
            print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)


if __name__ == "__main__":
    main()
