"""Fixtures of the flag import tests: a fresh migrated database per backend for this
package (imports create fixed keys, so they do not share the suite's database), the
``verdict`` command run in-process, and Verdict's decision for the imported flags."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tests.conftest import DatabaseFactory, new_migrated_url
from verdict.cli import app
from verdict.engine import EvaluationContext, FlagResult, Snapshot, compile_config
from verdict.server.config import get_settings
from verdict.server.db import create_db_engine
from verdict.server.flags.config import environment_config

Run = Callable[..., Result]


@pytest.fixture(scope="package")
def import_url(database_factory: DatabaseFactory, backend: str) -> str:
    return new_migrated_url(database_factory, backend)


@pytest.fixture(scope="package")
def import_engine(import_url: str) -> Any:
    engine = create_db_engine(get_settings(database_url=import_url))
    yield engine
    engine.dispose()


@pytest.fixture
def run_import(import_url: str, tmp_path: Path) -> Run:
    """``verdict flags import`` on a document (written to a file) or a path."""
    runner = CliRunner()

    def run(
        document: Any, *options: str, source: str = "growthbook", stdin: str | None = None
    ) -> Result:
        if isinstance(document, Path | str):
            path = Path(document)
        else:
            path = tmp_path / f"export-{len(list(tmp_path.iterdir()))}.json"
            path.write_text(json.dumps(document))
        arguments = ["flags", "import", "--from", source, str(path), *options]
        return runner.invoke(app, [*arguments, "--database-url", import_url], input=stdin)

    return run


def snapshot(engine: Engine, environment: str) -> Snapshot:
    """What SDKs of ``environment`` are served, compiled strictly."""
    import verdict.server.models  # noqa: F401

    with Session(engine) as session:
        return compile_config(environment_config(session, environment), strict=True)


def decide(snap: Snapshot, key: str, unit: str | None, attributes: dict[str, Any]) -> FlagResult:
    return snap.evaluate(key, EvaluationContext(unit, attributes))
