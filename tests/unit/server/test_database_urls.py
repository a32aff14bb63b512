"""postgres:// and postgresql:// URLs name PostgreSQL through psycopg 3; others pass as
they are."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url

from verdict.server.config import get_settings, normalize_database_url


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@db:5432/verdict", "postgresql+psycopg://u:p@db:5432/verdict"),
        ("postgresql://u@db/verdict", "postgresql+psycopg://u@db/verdict"),
        ("POSTGRES://db/verdict", "postgresql+psycopg://db/verdict"),
        ("postgres+psycopg2://db/verdict", "postgresql+psycopg2://db/verdict"),
        ("postgresql+psycopg://db/verdict", "postgresql+psycopg://db/verdict"),
        ("sqlite:///./verdict.db", "sqlite:///./verdict.db"),
        ("sqlite:////var/lib/verdict.db", "sqlite:////var/lib/verdict.db"),
        ("sqlite://", "sqlite://"),
        ("not a url", "not a url"),
    ],
)
def test_a_database_url_is_normalised_once(given: str, expected: str) -> None:
    assert normalize_database_url(given) == expected
    assert get_settings(database_url=given).database_url == expected


def test_the_environment_variable_is_normalised_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VERDICT_DATABASE_URL", "postgres://verdict@db/verdict")
    url = make_url(get_settings().database_url)
    assert (url.get_backend_name(), url.get_driver_name()) == ("postgresql", "psycopg")
