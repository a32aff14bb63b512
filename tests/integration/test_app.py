"""The application factory, the health endpoint, problem details and the DB dependency."""

from __future__ import annotations

from typing import Annotated

import pytest
from fastapi import Depends
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import DatabaseFactory
from verdict.server.app import create_app
from verdict.server.config import DEFAULT_DATABASE_URL, get_settings
from verdict.server.db import get_db, session_scope
from verdict.server.models import Environment

STANDARD = ("development", "staging", "production")


def test_healthz_reports_reachable_database_and_revision(migrated_url: str) -> None:
    with TestClient(create_app(get_settings(database_url=migrated_url))) as client:
        response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["reachable"] is True
    assert body["database"]["revision"] == body["database"]["head"] is not None


def test_healthz_is_degraded_on_an_unmigrated_database(
    database_factory: DatabaseFactory, backend: str
) -> None:
    url = database_factory.new_url(backend)
    with TestClient(create_app(get_settings(database_url=url))) as client:
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"]["up_to_date"] is False


def test_healthz_is_degraded_when_the_database_is_unreachable() -> None:
    settings = get_settings(database_url="postgresql+psycopg://nobody@127.0.0.1:1/none")
    with TestClient(create_app(settings)) as client:
        response = client.get("/healthz")
    assert response.status_code == 503
    database = response.json()["database"]
    assert database["reachable"] is False
    assert database["error"]


def test_openapi_spec_and_docs_are_served(migrated_url: str) -> None:
    with TestClient(create_app(get_settings(database_url=migrated_url))) as client:
        spec = client.get("/openapi.json")
        docs = client.get("/docs")
    assert spec.status_code == 200
    assert "/healthz" in spec.json()["paths"]
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()


def test_unknown_route_is_a_problem_document(migrated_url: str) -> None:
    with TestClient(create_app(get_settings(database_url=migrated_url))) as client:
        response = client.get("/api/v1/nope")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 404


def test_validation_error_names_the_field(migrated_url: str) -> None:
    app = create_app(get_settings(database_url=migrated_url))

    @app.get("/echo")
    def echo(limit: int) -> dict[str, int]:
        return {"limit": limit}

    with TestClient(app) as client:
        response = client.get("/echo", params={"limit": "many"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["field"] == "query.limit"


def test_get_db_dependency_hands_out_a_session_of_the_app_database(migrated_url: str) -> None:
    app = create_app(get_settings(database_url=migrated_url))

    @app.get("/environment-keys")
    def keys(db: Annotated[Session, Depends(get_db)]) -> list[str]:
        query = select(Environment.key).where(Environment.key.in_(STANDARD))
        return list(db.scalars(query.order_by(Environment.sort_order)))

    with TestClient(app) as client:
        response = client.get("/environment-keys")
    assert response.json() == list(STANDARD)


def test_session_scope_rolls_back_on_error(migrated_url: str) -> None:
    app = create_app(get_settings(database_url=migrated_url))
    factory = app.state.session_factory
    with pytest.raises(RuntimeError), session_scope(factory) as session:
        session.add(Environment(key="doomed", name="Doomed"))
        session.flush()
        raise RuntimeError("boom")
    with session_scope(factory) as session:
        assert (
            session.scalars(select(Environment).where(Environment.key == "doomed")).first() is None
        )


def test_settings_default_to_embedded_sqlite(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VERDICT_DATABASE_URL", raising=False)
    assert get_settings().database_url == DEFAULT_DATABASE_URL == "sqlite:///./verdict.db"


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VERDICT_DATABASE_URL", "postgresql+psycopg://u@h/db")
    monkeypatch.setenv("VERDICT_PORT", "9001")
    settings = get_settings()
    assert settings.database_url == "postgresql+psycopg://u@h/db"
    assert settings.port == 9001
