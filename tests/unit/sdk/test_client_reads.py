"""Client reads from a bootstrapped configuration: typed getters, details, errors,
exposures and events. Every expected value is read off :data:`CONFIG` by hand."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import pytest

from verdict.sdk import (
    Client,
    ClientStatus,
    ErrorCode,
    EvaluationContext,
    EvaluationDetails,
    ExperimentReason,
    MemoryRecorder,
    Reason,
)

CONFIG: dict[str, Any] = {
    "experiments": {
        "checkout-exp": {
            "status": "running",
            "variants": [{"key": "control", "weight": 0.5}, {"key": "treatment", "weight": 0.5}],
            "forced": {"qa-1": "treatment"},
        },
        "paused-exp": {
            "status": "draft",
            "variants": [{"key": "a", "weight": 1}],
        },
    },
    "flags": {
        "beta-banner": {
            "type": "boolean",
            "default": False,
            "rules": [{"id": "beta", "type": "force", "condition": {"beta": True}, "value": True}],
        },
        "theme": {
            "type": "string",
            "default": "light",
            "variants": [{"key": "light", "value": "light"}, {"key": "dark", "value": "dark"}],
            "rules": [
                {"id": "nl", "type": "force", "condition": {"country": "NL"}, "variant": "dark"}
            ],
        },
        "static-color": {"type": "string", "default": "blue"},
        "page-size": {
            "type": "integer",
            "default": 10,
            "rules": [{"id": "pro", "type": "force", "condition": {"plan": "pro"}, "value": 50}],
        },
        "ratio": {"type": "number", "default": 2},
        "limits": {"type": "json", "default": {"max": 3}},
        "killed": {
            "type": "boolean",
            "default": False,
            "enabled": False,
            "rules": [{"id": "all", "type": "force", "value": True}],
        },
        "half": {
            "type": "boolean",
            "default": False,
            "rules": [{"id": "half", "type": "rollout", "percentage": 50, "value": True}],
        },
        "checkout": {
            "type": "string",
            "default": "old",
            "variants": [{"key": "control", "value": "old"}, {"key": "treatment", "value": "new"}],
            "rules": [{"id": "exp", "type": "experiment", "experiment": "checkout-exp"}],
        },
    },
}

GARBAGE_CONTEXTS: list[Any] = [
    object(),
    42,
    ["user-1"],
    {"targeting_key": 5},
    {"targeting_key": "u", "attributes": "not-an-object"},
    {"user": "u"},
    "x" * 256,
    EvaluationContext(123, "nope"),  # type: ignore[arg-type]
]


@pytest.fixture
def recorder() -> MemoryRecorder:
    return MemoryRecorder()


@pytest.fixture
def client(recorder: MemoryRecorder) -> Client:
    return Client("vk_offline", None, bootstrap=CONFIG, recorder=recorder)


def test_a_bootstrapped_client_is_ready_at_once(client: Client) -> None:
    assert client.status is ClientStatus.READY
    assert client.wait_until_ready(0) is True


def test_an_offline_client_never_goes_stale() -> None:
    client = Client("vk_offline", None, bootstrap=CONFIG, stale_after=0.05)
    time.sleep(0.1)
    assert client.status is ClientStatus.READY


def test_a_bootstrap_file_is_read(tmp_path: Path, recorder: MemoryRecorder) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(CONFIG))
    with Client("vk_offline", None, bootstrap=path, recorder=recorder) as client:
        assert client.get_string("theme", "x", {"attributes": {"country": "NL"}}) == "dark"
    with Client("vk_offline", None, bootstrap=str(path), recorder=recorder) as client:
        assert client.get_integer("page-size", 0) == 10


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read"),
        ("{not json", "is not JSON"),
        ("[1, 2]", "does not hold a JSON object"),
    ],
)
def test_an_unusable_bootstrap_file_is_refused_naming_it(
    tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "config.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ValueError, match=f"^bootstrap: .*{message}"):
        Client("vk_offline", None, bootstrap=path)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"sdk_key": ""}, "sdk_key"),
        ({"base_url": "ftp://x"}, "base_url"),
        ({"base_url": None, "bootstrap": None}, "bootstrap"),
        ({"timeout": -1}, "timeout"),
        ({"timeout": float("nan")}, "timeout"),
        ({"poll_interval": True}, "poll_interval"),
        ({"retry_initial": 5, "retry_max": 1}, "retry_max"),
    ],
)
def test_bad_arguments_are_refused_naming_the_field(kwargs: dict[str, Any], field: str) -> None:
    arguments: dict[str, Any] = {
        "sdk_key": "vk_x",
        "base_url": None,
        "bootstrap": CONFIG,
        "start": False,
        **kwargs,
    }
    with pytest.raises(ValueError, match=f"^{field}:"):
        Client(arguments.pop("sdk_key"), arguments.pop("base_url"), **arguments)


def test_typed_getters_answer_the_rule_that_matches(client: Client) -> None:
    assert client.is_enabled("beta-banner", {"attributes": {"beta": True}}) is True
    assert client.is_enabled("beta-banner", EvaluationContext("u", {"beta": False})) is False
    assert client.get_bool("beta-banner", False, EvaluationContext("u", {"beta": True})) is True
    assert client.get_string("theme", "x", EvaluationContext("u", {"country": "NL"})) == "dark"
    assert client.get_string("theme", "x", "u") == "light"
    assert client.get_integer("page-size", 0, EvaluationContext("u", {"plan": "pro"})) == 50
    ratio = client.get_number("ratio", 0.0)
    assert ratio == 2.0
    assert isinstance(ratio, float)
    assert client.get_json("limits", {}) == {"max": 3}


def test_details_say_why(client: Client) -> None:
    nl = EvaluationContext("u", {"country": "NL"})
    assert client.get_string_details("theme", "x", nl) == EvaluationDetails(
        "theme", "dark", "dark", Reason.TARGETING_MATCH, rule="nl"
    )
    assert client.get_string_details("theme", "x", "u") == EvaluationDetails(
        "theme", "light", "light", Reason.DEFAULT
    )
    assert client.get_string_details("static-color", "x").reason is Reason.STATIC
    killed = client.get_bool_details("killed", True, "u")
    assert (killed.value, killed.reason) == (False, Reason.DISABLED)


def test_a_flag_of_another_type_answers_the_default_with_type_mismatch(client: Client) -> None:
    assert client.get_string("page-size", "fallback") == "fallback"
    details = client.get_bool_details("theme", True, "u")
    assert (details.value, details.reason, details.error_code) == (
        True,
        Reason.ERROR,
        ErrorCode.TYPE_MISMATCH,
    )
    assert client.is_enabled("theme", "u") is False
    assert client.get_integer_details("ratio", 7).error_code is ErrorCode.TYPE_MISMATCH


def test_an_unknown_flag_answers_the_default_with_flag_not_found(client: Client) -> None:
    assert client.get_string("nope", "fallback") == "fallback"
    assert client.is_enabled("nope") is False
    details = client.get_json_details("nope", {"d": 1})
    assert details.value == {"d": 1}
    assert (details.reason, details.error_code) == (Reason.ERROR, ErrorCode.FLAG_NOT_FOUND)


def test_a_split_without_a_unit_answers_targeting_key_missing(client: Client) -> None:
    details = client.get_bool_details("half", True, None)
    assert (details.value, details.error_code) == (True, ErrorCode.TARGETING_KEY_MISSING)


@pytest.mark.parametrize(
    "context",
    GARBAGE_CONTEXTS,
    ids=[type(c).__name__ + str(i) for i, c in enumerate(GARBAGE_CONTEXTS)],
)
def test_garbage_context_never_raises_and_answers_the_default(client: Client, context: Any) -> None:
    assert client.get_string("theme", "fallback", context) == "fallback"
    assert client.get_bool("half", True, context) is True
    assert client.is_enabled("half", context) is False
    details = client.get_string_details("theme", "fallback", context)
    assert (details.value, details.reason, details.error_code) == (
        "fallback",
        Reason.ERROR,
        ErrorCode.GENERAL,
    )
    assert details.error_message
    assert client.evaluate_all(context) == {} or all(
        r.reason is Reason.ERROR
        for r in client.evaluate_all(context).values()
        if r.flag_key in {"theme", "half"}
    )
    assert client.get_variant("checkout-exp", context).in_experiment is False
    assert client.track("purchase", context) is False


def test_a_context_mapping_with_an_unknown_field_names_it(client: Client) -> None:
    details = client.get_string_details("theme", "fallback", {"user": "u"})
    assert details.error_code is ErrorCode.GENERAL
    assert details.error_message is not None
    assert "'user'" in details.error_message


def test_each_kind_of_problem_is_logged_once(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="verdict.sdk"):
        for _ in range(50):
            client.get_string("nope", "x")
            client.get_string("page-size", "x")
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2, messages
    assert any("FLAG_NOT_FOUND" in m for m in messages)
    assert any("TYPE_MISMATCH" in m for m in messages)


def test_a_client_without_configuration_answers_defaults() -> None:
    # Port 9 (discard) on loopback: nothing listens; the refresher is not even started.
    client = Client("vk_x", "http://127.0.0.1:9", start=False, recorder=MemoryRecorder())
    assert client.status is ClientStatus.NOT_READY
    assert client.wait_until_ready(0) is False
    details = client.get_bool_details("beta-banner", True, "u")
    assert (details.value, details.reason, details.error_code) == (
        True,
        Reason.ERROR,
        ErrorCode.GENERAL,
    )
    assert client.is_enabled("beta-banner", "u") is False
    assert client.evaluate_all("u") == {}
    client.close()


def test_evaluate_all_answers_every_flag(client: Client) -> None:
    results = client.evaluate_all(EvaluationContext("u", {"country": "NL", "plan": "pro"}))
    assert set(results) == set(CONFIG["flags"])
    assert results["theme"].value == "dark"
    assert results["page-size"].value == 50
    assert results["killed"].reason is Reason.DISABLED


def test_an_experiment_flag_records_one_exposure_per_read(
    client: Client, recorder: MemoryRecorder
) -> None:
    value = client.get_string("checkout", "x", EvaluationContext("qa-1", {"plan": "pro"}))
    assert value == "new"  # qa-1 is forced into treatment, whose flag value is "new"
    assert [(e.unit_id, e.experiment_key, e.variant_key) for e in recorder.exposures] == [
        ("qa-1", "checkout-exp", "treatment")
    ]
    assert recorder.exposures[0].attributes == {"plan": "pro"}
    client.get_string("theme", "x", "qa-1")  # not an experiment: no exposure
    client.evaluate_all("qa-1")  # evaluate_all records none
    assert len(recorder.exposures) == 1


def test_get_variant_decides_and_records_the_exposure(
    client: Client, recorder: MemoryRecorder
) -> None:
    forced = client.get_variant("checkout-exp", "qa-1")
    assert (forced.in_experiment, forced.variant, forced.reason) == (
        True,
        "treatment",
        ExperimentReason.FORCED,
    )
    bucketed = client.get_variant("checkout-exp", "user-7")
    assert bucketed.reason is ExperimentReason.BUCKETED
    assert bucketed.variant in {"control", "treatment"}
    assert client.get_variant("paused-exp", "u").reason is ExperimentReason.NOT_RUNNING
    assert client.get_variant("missing", "u").reason is ExperimentReason.NOT_FOUND
    assert [(e.unit_id, e.variant_key) for e in recorder.exposures] == [
        ("qa-1", "treatment"),
        ("user-7", bucketed.variant),
    ]


def test_track_hands_valid_events_to_the_recorder(client: Client, recorder: MemoryRecorder) -> None:
    assert client.track("purchase", "u-1", 12, {"sku": "a"}) is True
    assert client.track("signup", EvaluationContext("u-2")) is True
    assert [(e.unit_id, e.event, e.value, e.properties) for e in recorder.events] == [
        ("u-1", "purchase", 12.0, {"sku": "a"}),
        ("u-2", "signup", None, None),
    ]


@pytest.mark.parametrize(
    ("event", "context", "value", "properties"),
    [
        ("", "u", None, None),
        ("e" * 256, "u", None, None),
        ("purchase", None, None, None),
        ("purchase", "u", float("inf"), None),
        ("purchase", "u", True, None),
        ("purchase", "u", None, ["not", "a", "mapping"]),
    ],
)
def test_track_refuses_bad_events_without_raising(
    client: Client, recorder: MemoryRecorder, event: str, context: Any, value: Any, properties: Any
) -> None:
    assert client.track(event, context, value, properties) is False
    assert recorder.events == []


class ExplodingRecorder(MemoryRecorder):
    def exposure(self, **kwargs: Any) -> None:
        raise RuntimeError("boom")

    def track(self, **kwargs: Any) -> None:
        raise RuntimeError("boom")


def test_a_failing_recorder_never_reaches_the_host() -> None:
    client = Client("vk_offline", None, bootstrap=CONFIG, recorder=ExplodingRecorder())
    assert client.get_string("checkout", "x", "qa-1") == "new"
    assert client.get_variant("checkout-exp", "qa-1").variant == "treatment"
    assert client.track("purchase", "u") is False


def test_a_broken_flag_errors_alone() -> None:
    config = {
        "flags": {
            "ok": {"type": "boolean", "default": True},
            "broken": {"type": "boolean", "default": "not-a-bool"},
        }
    }
    client = Client("vk_offline", None, bootstrap=config, recorder=MemoryRecorder())
    assert client.is_enabled("ok") is True
    details = client.get_bool_details("broken", True)
    assert (details.value, details.error_code) == (True, ErrorCode.PARSE_ERROR)


def test_memory_recorder_keeps_at_most_its_limit() -> None:
    recorder = MemoryRecorder(limit=2)
    for i in range(5):
        recorder.track(unit_id=f"u{i}", event="e", value=None, properties=None)
    assert [e.unit_id for e in recorder.events] == ["u3", "u4"]
    assert recorder.dropped == 3
    recorder.close()
    recorder.track(unit_id="late", event="e", value=None, properties=None)
    assert len(recorder.events) == 2
    with pytest.raises(ValueError, match=r"^limit:"):
        MemoryRecorder(limit=0)
