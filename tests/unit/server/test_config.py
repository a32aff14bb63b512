"""Settings refuse a value they cannot use, naming the setting."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from verdict.server.config import Settings


def test_login_limits_take_the_limits_notation() -> None:
    settings = Settings(login_limit_per_account="3/minute;20/day")
    assert settings.login_limit_per_account == "3/minute;20/day"
    assert Settings().login_limit_per_address == "60/minute;600/hour"


@pytest.mark.parametrize("value", ["lots", "", "5 per fortnight"])
def test_a_login_limit_that_is_not_a_rate_is_refused_by_name(value: str) -> None:
    with pytest.raises(ValidationError) as raised:
        Settings(login_limit_per_address=value)
    (error,) = raised.value.errors()
    assert error["loc"] == ("login_limit_per_address",)
    assert "rate limit" in error["msg"] or "limit" in error["msg"]
