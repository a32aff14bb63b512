"""Setting up what the dashboard's pages show, through the public API.

Each helper takes an ``httpx.Client`` and the headers to send: the in-process
``TestClient`` of the HTTP tests and the browser tests' client of a live server (based
at its address) both are one, so both suites set up their data the same way. Each
asserts the API's answer and names what it made.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.integration.conftest import unique

Headers = dict[str, str]
FLAGS = "/api/v1/flags"

# A string flag with two variants, "A" (blue, the default) and "B" (green).
BLUE_OR_GREEN: dict[str, Any] = {
    "value_type": "string",
    "default_value": "blue",
    "variants": [{"key": "A", "value": "blue"}, {"key": "B", "value": "green"}],
}


def post_created(client: httpx.Client, headers: Headers, path: str, body: Any) -> dict[str, Any]:
    """POST ``body`` to ``path``, which must answer 201 Created; its body."""
    answer = client.post(path, json=body, headers=headers)
    assert answer.status_code == 201, answer.text
    made: dict[str, Any] = answer.json()
    return made


def read(client: httpx.Client, headers: Headers, path: str) -> dict[str, Any]:
    """GET ``path``, which must answer 200; its body."""
    answer = client.get(path, headers=headers)
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def make_metric(client: httpx.Client, admin: Headers, **fields: Any) -> str:
    """A metric definition (by default a conversion on ``purchase``); its key."""
    key = fields.pop("key", None) or unique("m")
    body = {"key": key, "name": f"Metric {key}", "event_name": "purchase", "type": "conversion"}
    post_created(client, admin, "/api/v1/metrics", {**body, **fields})
    return key


def make_segment(client: httpx.Client, admin: Headers, **fields: Any) -> str:
    key = fields.pop("key", None) or unique("seg")
    post_created(
        client, admin, "/api/v1/segments", {"key": key, "name": f"Segment {key}", **fields}
    )
    return key


def make_experiment(client: httpx.Client, admin: Headers, **fields: Any) -> dict[str, Any]:
    """A draft experiment: ``fields`` over a key and a name; the API's answer."""
    key = fields.pop("key", None) or unique("exp")
    body = {"key": key, "name": f"Experiment {key}", **fields}
    return post_created(client, admin, "/api/v1/experiments", body)


def start_experiment(client: httpx.Client, admin: Headers, experiment: dict[str, Any]) -> None:
    """Start ``experiment`` (as the API answered it, for its version)."""
    started = client.post(
        f"/api/v1/experiments/{experiment['key']}/start",
        headers={**admin, "If-Match": f'"{experiment["version"]}"'},
    )
    assert started.status_code == 200, started.text


def read_experiment(client: httpx.Client, admin: Headers, key: str) -> dict[str, Any]:
    return read(client, admin, f"/api/v1/experiments/{key}")


def make_user(
    client: httpx.Client, admin: Headers, password: str, roles: list[str], prefix: str = "user"
) -> dict[str, Any]:
    """A user with ``roles`` who signs in with ``password``; the API's answer."""
    username = unique(prefix)
    body = {
        "username": username,
        "email": f"{username}@example.com",
        "password": password,
        "roles": roles,
    }
    return post_created(client, admin, "/api/v1/users", body)


def make_flag(client: httpx.Client, admin: Headers, **fields: Any) -> str:
    """A flag: ``fields`` over a key (named as its name); its key."""
    key = fields.pop("key", None) or unique("flag")
    post_created(client, admin, FLAGS, {"key": key, "name": key, **fields})
    return key


def flag_state(client: httpx.Client, admin: Headers, key: str, environment: str) -> dict[str, Any]:
    return read(client, admin, f"{FLAGS}/{key}/environments/{environment}")


def configure_flag(
    client: httpx.Client, admin: Headers, key: str, environment: str, **state: Any
) -> dict[str, Any]:
    """Write the flag's state in ``environment`` (enabled, no rules, unless ``state``
    says otherwise); the state written."""
    current = flag_state(client, admin, key, environment)
    answer = client.put(
        f"{FLAGS}/{key}/environments/{environment}",
        json={"enabled": True, "rules": [], **state},
        headers={**admin, "If-Match": f'"{current["version"]}"'},
    )
    assert answer.status_code == 200, answer.text
    written: dict[str, Any] = answer.json()
    return written
