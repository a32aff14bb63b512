"""A loopback stand-in for the two SDK routes a client calls, for tests of refreshing.

It serves ``GET /api/v1/sdk/config`` with a strong ETag and ``304`` on a matching
``If-None-Match``, answers ``GET /api/v1/sdk/stream`` with 404 (so clients poll), and
can be told to fail (any status) or to refuse the key. Runs a ``ThreadingHTTPServer``
on 127.0.0.1 in a daemon thread.
"""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from verdict.sdk import MemoryRecorder

__all__ = ["ConfigServer"]


class ConfigServer:
    def __init__(self, document: dict[str, Any], key: str = "vk_test") -> None:
        self.key = key
        self.failure: int | None = None  # answer every request with this status
        self.requests: list[tuple[str, str | None]] = []  # (path, If-None-Match)
        self._lock = threading.Lock()
        self.set_document(document)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                with server._lock:
                    server.requests.append((self.path, self.headers.get("If-None-Match")))
                    body, etag, failure = server._body, server._etag, server.failure
                if failure is not None:
                    self._send(failure, b"")
                elif self.headers.get("Authorization") != f"Bearer {server.key}":
                    self._send(401, b"")
                elif self.path == "/api/v1/sdk/config":
                    if self.headers.get("If-None-Match") == etag:
                        self._send(304, b"", etag)
                    else:
                        self._send(200, body, etag)
                else:
                    self._send(404, b"")

            def _send(self, status: int, body: bytes, etag: str | None = None) -> None:
                self.send_response(status)
                if etag is not None:
                    self.send_header("ETag", etag)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def set_document(self, document: dict[str, Any]) -> None:
        body = json.dumps(document).encode()
        with self._lock:
            self._body = body
            self._etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def versioned_document(version: int) -> dict[str, Any]:
    return {
        "flags": {
            "version": {"type": "integer", "default": version},
            "mirror": {"type": "integer", "default": version},
        }
    }


def polling_options(**overrides: Any) -> dict[str, Any]:
    """Client options that poll the loopback server quickly, recording in memory."""
    return {
        "poll_interval": 0.05,
        "retry_initial": 0.05,
        "retry_max": 0.2,
        "recorder": MemoryRecorder(),
        **overrides,
    }
