"""The examples in docs/targeting.md and docs/bucketing.md stay true."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

from verdict.engine import EvaluationContext, ExperimentReason, Reason, compile_config

from .bucketing_reference import FIXTURE

DOCS = Path(__file__).resolve().parents[3] / "docs"


def _json_blocks(markdown: str) -> list[str]:
    return re.findall(r"```json\n(.*?)```", markdown, flags=re.DOTALL)


def test_the_configuration_example_compiles_and_decides_as_described() -> None:
    blocks = _json_blocks((DOCS / "targeting.md").read_text(encoding="utf-8"))
    config = next(json.loads(block) for block in blocks if '"flags"' in block)
    snapshot = compile_config(config)
    staff = snapshot.evaluate("new-checkout", EvaluationContext("u1", {"email": "a@example.com"}))
    assert (staff.value, staff.variant, staff.rule) == (True, "on", "staff")
    before_expiry = datetime(2029, 12, 31, tzinfo=UTC)
    override = snapshot.evaluate("new-checkout", EvaluationContext("user-7"), now=before_expiry)
    assert (override.value, override.rule) == (True, "override")
    forced = snapshot.decide("checkout-exp", EvaluationContext("qa-user-1"))
    assert (forced.variant, forced.reason) == ("B", ExperimentReason.FORCED)
    copy = snapshot.evaluate("checkout-copy", EvaluationContext("u1", {"country": "GB"}))
    assert (copy.rule, copy.reason) == ("even-split", Reason.SPLIT)


def test_the_worked_example_quotes_the_fixture_vectors() -> None:
    text = (DOCS / "bucketing.md").read_text(encoding="utf-8")
    first, second = json.loads(FIXTURE.read_text(encoding="utf-8"))["vectors"][:2]
    assert first["unit_id"] == "user-1"
    for number in (
        first["hash"],
        first["bucket"],
        first["inclusion_bucket"],
        first["layer_bucket"],
    ):
        assert f"{number}" in text
    assert f"{second['bucket']} (hash {second['hash']})" in text
    assert f"inclusion bucket {second['inclusion_bucket']}" in text
