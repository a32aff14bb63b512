"""The API the demo's traffic goes through: the real app, served by uvicorn in a thread.

The simulated users reach Verdict the way a deployment's would, over HTTP on
127.0.0.1: the SDK downloads the configuration and follows the change stream, and
exposures and events go through the same routes, validation and writers. Serving in a
thread of this process (rather than a child process) keeps the demo one command with
nothing left behind: leaving the block stops the server and waits for it.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from verdict.server.app import create_app
from verdict.server.config import Settings

__all__ = ["local_server"]

_START_TIMEOUT = 60.0


@contextmanager
def local_server(settings: Settings) -> Iterator[str]:
    """Serve the app built from ``settings`` on a free port of 127.0.0.1 and yield its
    base URL; the server stops when the block ends."""
    # The socket is bound here and handed to uvicorn, so no other process can take the
    # port between choosing it and listening on it.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    config = uvicorn.Config(
        create_app(settings),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    # uvicorn installs signal handlers only in the main thread: Ctrl-C stays ours.
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="verdict-demo-server", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + _START_TIMEOUT
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the demo's API server stopped while starting")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"the demo's API server did not start in {_START_TIMEOUT:.0f} s")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
