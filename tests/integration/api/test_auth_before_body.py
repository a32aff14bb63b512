"""Authentication before the body: a management route that reads a body refuses an
unauthenticated or unauthorized caller (401/403, the usual problem document) before it
reads a byte of that body, and authenticates an accepted caller once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.integration.conftest import unique
from verdict.server.identity import auth

MIB = 1024 * 1024
CHUNK = 64 * 1024
TEN_MB = 10 * MIB
ANY_ID = "00000000-0000-4000-8000-000000000000"

# One route of each shape that declares a body and needs a permission.
ROUTES = [
    ("POST", "/api/v1/flags"),
    ("PATCH", "/api/v1/flags/some-flag"),
    ("PUT", "/api/v1/flags/some-flag/environments/production/overrides/a/b"),
    ("POST", "/api/v1/users"),
    ("PATCH", f"/api/v1/users/{ANY_ID}"),
    ("POST", "/api/v1/api-keys"),
    ("POST", "/api/v1/experiments/some-experiment/complete"),
]


@dataclass
class Answer:
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    receive_calls: int = 0
    bytes_read: int = 0

    def json(self) -> Any:
        return json.loads(self.body)


def call(
    app: FastAPI,
    method: str,
    path: str,
    headers: dict[str, str],
    *,
    body: bytes | None = None,
    total: int = TEN_MB,
    declare_length: bool = False,
) -> Answer:
    """Send a request straight through the ASGI interface (a test client would buffer
    the body first), counting what the app asks ``receive`` for. Without ``body``, a
    body of ``total`` bytes of filler is offered in 64 KiB chunks, as a chunked upload
    (or with its Content-Length, when ``declare_length``)."""
    answer = Answer()
    chunks = [body] if body is not None else None
    length = len(body) if body is not None else total

    async def receive() -> dict[str, Any]:
        answer.receive_calls += 1
        if chunks is not None:
            chunk = chunks.pop() if chunks else b""
        else:
            chunk = b"x" * min(CHUNK, total - answer.bytes_read)
        answer.bytes_read += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": answer.bytes_read < length}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer.status = message["status"]
            answer.headers = {k.decode().lower(): v.decode() for k, v in message["headers"]}
        elif message["type"] == "http.response.body":
            answer.body += message.get("body", b"")

    framing = (
        [(b"content-length", str(length).encode())]
        if declare_length or body is not None
        else [(b"transfer-encoding", b"chunked")]
    )
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"application/json"),
            *framing,
            *((k.lower().encode(), v.encode()) for k, v in headers.items()),
        ],
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 1234),
        "state": {},
    }
    asyncio.run(app(scope, receive, send))
    return answer


def assert_refused_unread(answer: Answer, status: int) -> None:
    assert answer.status == status, answer.body
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["status"] == status
    # Not one chunk of the body was asked for, and the connection is not kept for it.
    assert (answer.receive_calls, answer.bytes_read) == (0, 0)
    assert answer.headers["connection"] == "close"


def admin_key(client: TestClient, admin: dict[str, str]) -> tuple[str, dict[str, str]]:
    made = client.post(
        "/api/v1/api-keys", json={"name": unique("k"), "kind": "admin"}, headers=admin
    )
    assert made.status_code == 201, made.text
    return made.json()["id"], {"Authorization": f"Bearer {made.json()['key']}"}


@pytest.fixture(scope="module")
def revoked_key(client: TestClient, admin: dict[str, str]) -> dict[str, str]:
    key_id, headers = admin_key(client, admin)
    assert client.delete(f"/api/v1/api-keys/{key_id}", headers=admin).status_code == 200
    return headers


@pytest.fixture(scope="module")
def signed_out_token(client: TestClient, make_user: Callable[..., str]) -> dict[str, str]:
    from tests.integration.conftest import PASSWORD

    login = client.post(
        "/api/v1/auth/login", json={"username": make_user("admin"), "password": PASSWORD}
    )
    client.cookies.clear()
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    assert client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    return headers


@pytest.mark.parametrize("declare_length", [False, True], ids=["chunked", "content-length"])
@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_an_anonymous_ten_megabyte_body_is_refused_before_it_is_read(
    api_app: FastAPI, client: TestClient, method: str, path: str, declare_length: bool
) -> None:
    answer = call(api_app, method, path, {}, declare_length=declare_length)
    assert_refused_unread(answer, 401)
    assert answer.headers["www-authenticate"] == 'Bearer realm="verdict"'
    assert answer.json()["detail"].startswith("log in or send an API key")


@pytest.mark.parametrize("declare_length", [False, True], ids=["chunked", "content-length"])
@pytest.mark.parametrize(
    "credential", ["invalid token", "invalid key", "revoked key", "signed-out token", "cookie"]
)
def test_a_bad_credential_with_a_large_body_is_refused_before_it_is_read(
    api_app: FastAPI,
    client: TestClient,
    revoked_key: dict[str, str],
    signed_out_token: dict[str, str],
    credential: str,
    declare_length: bool,
) -> None:
    headers = {
        "invalid token": {"Authorization": "Bearer vt_not-a-token"},
        "invalid key": {"Authorization": "Bearer vk_adm_not-a-key"},
        "revoked key": revoked_key,
        "signed-out token": signed_out_token,
        "cookie": {"Cookie": f"{auth.SESSION_COOKIE}=vt_forged"},
    }[credential]
    answer = call(api_app, "POST", "/api/v1/flags", headers, declare_length=declare_length)
    assert_refused_unread(answer, 401)
    assert answer.headers["www-authenticate"] == 'Bearer realm="verdict"'
    if credential == "revoked key":
        assert "was revoked" in answer.json()["detail"]


def test_a_caller_without_the_permission_is_refused_before_the_body_is_read(
    api_app: FastAPI, client: TestClient, viewer: dict[str, str], admin: dict[str, str]
) -> None:
    answer = call(api_app, "POST", "/api/v1/flags", viewer)
    assert_refused_unread(answer, 403)
    assert "feature_flag:create" in answer.json()["detail"]
    # An SDK key is refused the management API just as early.
    created = client.post(
        "/api/v1/api-keys",
        json={"name": unique("srv"), "kind": "server", "environment": "production"},
        headers=admin,
    )
    server_key = {"Authorization": f"Bearer {created.json()['key']}"}
    assert_refused_unread(call(api_app, "POST", "/api/v1/flags", server_key), 403)


def test_an_authenticated_caller_still_gets_the_body_limit(
    api_app: FastAPI, client: TestClient, admin: dict[str, str]
) -> None:
    chunked = call(api_app, "POST", "/api/v1/flags", admin)
    assert chunked.status == 413
    assert chunked.bytes_read <= MIB + CHUNK  # refused once past the limit
    declared = call(api_app, "POST", "/api/v1/flags", admin, declare_length=True)
    assert (declared.status, declared.receive_calls) == (413, 0)


@pytest.mark.parametrize("kind", ["login token", "admin key"])
def test_an_authenticated_write_works_and_authenticates_once(
    api_app: FastAPI,
    client: TestClient,
    admin: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
) -> None:
    headers = admin if kind == "login token" else admin_key(client, admin)[1]
    calls: list[str] = []
    original = auth.authenticate

    def counting(request: Any, session: Any) -> auth.Principal:
        calls.append(request.url.path)
        return original(request, session)

    monkeypatch.setattr(auth, "authenticate", counting)
    flag = unique("flag")
    body = json.dumps({"key": flag, "name": "F"}).encode()
    answer = call(api_app, "POST", "/api/v1/flags", headers, body=body)
    assert answer.status == 201, answer.body
    assert answer.json()["key"] == flag
    assert calls == ["/api/v1/flags"]
    # A route without a body authenticates in its dependency, once as well.
    calls.clear()
    assert client.get(f"/api/v1/flags/{flag}", headers=headers).status_code == 200
    assert calls == [f"/api/v1/flags/{flag}"]


def test_a_bad_body_from_an_anonymous_caller_gets_401_not_422(client: TestClient) -> None:
    response = client.post(
        "/api/v1/flags", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="verdict"'


def test_public_routes_read_their_body_as_before(api_app: FastAPI, client: TestClient) -> None:
    # Logging in needs no credentials: its body is read, under the limit.
    answer = call(api_app, "POST", "/api/v1/auth/login", {})
    assert answer.status == 413
    assert MIB <= answer.bytes_read <= MIB + CHUNK
