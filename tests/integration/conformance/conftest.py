"""One live ``verdict serve`` per test session, its flags, and the providers pointed at it.

The server runs on its own SQLite database (migrated, with an administrator) on a free
127.0.0.1 port, and is stopped at the end. Everything the suite
evaluates is created through its management API (see :mod:`.flags`). The Node
providers are installed and started only when a test asks for them, so the Python
cases never wait for npm.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.conformance.flags import create_flags
from tests.integration.conformance.providers import NodeDriver, Provider, PythonProviders
from tests.integration.conformance.server import Verdict, prepare_database, sdk_key
from tests.integration.delivery.test_stream import admin_headers, start_server
from tests.npm_packages import NodeSetupError, install


@pytest.fixture(scope="session")
def verdict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Verdict]:
    directory = tmp_path_factory.mktemp("conformance")
    url = f"sqlite:///{directory / 'verdict.db'}"
    prepare_database(url)
    server = start_server(url)
    try:
        admin = admin_headers(server.base)
        keys = {kind: sdk_key(server.base, admin, kind) for kind in ("server", "client")}
        unavailable = create_flags(server.base, admin, url)
        yield Verdict(server, admin, keys, unavailable)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def node_drivers(
    verdict: Verdict, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[str], NodeDriver]]:
    """Starts (once) and answers the Node driver of ``server`` or ``web``."""
    drivers: dict[str, NodeDriver] = {}
    logs = tmp_path_factory.mktemp("node")
    installed: list[tuple[str, Path]] = []
    setup_errors: list[str] = []  # one failed install fails every later test at once

    def driver(kind: str) -> NodeDriver:
        if kind not in drivers:
            if not installed and not setup_errors:
                try:
                    installed.append(install())
                except NodeSetupError as exc:
                    setup_errors.append(str(exc))
            if setup_errors:
                pytest.fail(setup_errors[0], pytrace=False)
            node, script = installed[0]
            drivers[kind] = NodeDriver(node, script, kind, verdict.base, logs / f"{kind}.log")
        return drivers[kind]

    try:
        yield driver
    finally:
        for started in drivers.values():
            started.close()


@pytest.fixture(scope="session")
def providers(
    verdict: Verdict, node_drivers: Callable[[str], NodeDriver]
) -> Callable[[str], Provider]:
    python = PythonProviders(verdict.base)

    def provider(name: str) -> Provider:
        if name == "python":
            return python
        return node_drivers(name.removeprefix("js-"))

    return provider
