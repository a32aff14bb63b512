"""The OpenFeature provider through ``openfeature-sdk``'s own client: every resolve
method (sync and async), type mismatches, missing flags, reasons and error codes,
context merging with hooks, tracking, and provider events.

Expected values are read off :data:`tests.unit.sdk.test_client_reads.CONFIG` by hand;
the OpenFeature SDK (its client, merging, hooks and event registry) is the peer the
provider is driven through, never bypassed. Events come from a client refreshing
against the loopback stand-in server of tests/unit/sdk/config_server.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import re
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from openfeature import api
from openfeature.client import OpenFeatureClient
from openfeature.evaluation_context import EvaluationContext as OFContext
from openfeature.event import EventDetails, ProviderEvent
from openfeature.exception import ErrorCode as OFErrorCode
from openfeature.flag_evaluation import FlagEvaluationDetails
from openfeature.flag_evaluation import Reason as OFReason
from openfeature.hook import Hook, HookContext, HookHints
from openfeature.provider import ProviderStatus
from openfeature.track import TrackingEventDetails

from tests.unit.sdk.config_server import ConfigServer
from tests.unit.sdk.test_client_reads import CONFIG
from verdict.sdk import Client, EvaluationContext, MemoryRecorder, Reason, TrackedEvent
from verdict.sdk.openfeature import VerdictProvider, verdict_context

WAIT = 10.0  # generous: the suite never asserts timings, only that things happen
_domains = itertools.count()


def eventually(condition: Callable[[], bool], timeout: float = WAIT) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


@pytest.fixture(autouse=True)
def _clean_openfeature() -> Iterator[None]:
    yield
    api.clear_providers()
    api.clear_hooks()
    api.clear_evaluation_context()


@pytest.fixture
def recorder() -> MemoryRecorder:
    return MemoryRecorder()


@pytest.fixture
def flags(recorder: MemoryRecorder) -> OpenFeatureClient:
    """An OpenFeature client of a fresh domain, on a provider over a bootstrapped client."""
    domain = f"verdict-{next(_domains)}"
    client = Client("offline", None, bootstrap=CONFIG, recorder=recorder)
    api.set_provider_and_wait(VerdictProvider(client), domain)
    return api.get_client(domain)


NL_PRO_BETA = OFContext("u-1", {"country": "NL", "plan": "pro", "beta": True})


def _summary(details: FlagEvaluationDetails[Any]) -> tuple[Any, ...]:
    return (details.value, details.variant, details.reason, details.error_code)


# ------------------------------------------------------------------ resolution
def test_every_resolve_method_answers_the_flag_of_its_type(flags: OpenFeatureClient) -> None:
    ctx = NL_PRO_BETA
    assert flags.get_provider_status() is ProviderStatus.READY
    assert flags.get_boolean_value("beta-banner", False, ctx) is True
    assert flags.get_string_value("theme", "light", ctx) == "dark"
    assert flags.get_integer_value("page-size", 0, ctx) == 50
    ratio = flags.get_float_value("ratio", 0.0, ctx)
    assert (ratio, type(ratio)) == (2.0, float)
    assert flags.get_object_value("limits", {}, ctx) == {"max": 3}

    assert _summary(flags.get_boolean_details("beta-banner", False, ctx)) == (
        True,
        None,
        OFReason.TARGETING_MATCH,
        None,
    )
    theme = flags.get_string_details("theme", "light", ctx)
    assert _summary(theme) == ("dark", "dark", OFReason.TARGETING_MATCH, None)
    assert theme.flag_metadata == {"rule": "nl"}
    size = flags.get_integer_details("page-size", 0, ctx)
    assert (size.value, size.reason, size.flag_metadata) == (
        50,
        OFReason.TARGETING_MATCH,
        {"rule": "pro"},
    )
    assert _summary(flags.get_float_details("ratio", 0.0, ctx)) == (
        2.0,
        None,
        OFReason.STATIC,
        None,
    )
    limits = flags.get_object_details("limits", {}, ctx)
    assert (limits.value, limits.reason, limits.flag_metadata) == ({"max": 3}, OFReason.STATIC, {})


def test_the_async_resolve_methods_answer_as_the_sync_ones(flags: OpenFeatureClient) -> None:
    ctx = NL_PRO_BETA

    async def read_all() -> list[Any]:
        return [
            await flags.get_boolean_details_async("beta-banner", False, ctx),
            await flags.get_string_details_async("theme", "light", ctx),
            await flags.get_integer_details_async("page-size", 0, ctx),
            await flags.get_float_details_async("ratio", 0.0, ctx),
            await flags.get_object_details_async("limits", {}, ctx),
            await flags.get_string_details_async("page-size", "x", ctx),
        ]

    got = [_summary(details) for details in asyncio.run(read_all())]
    assert got == [
        (True, None, OFReason.TARGETING_MATCH, None),
        ("dark", "dark", OFReason.TARGETING_MATCH, None),
        (50, None, OFReason.TARGETING_MATCH, None),
        (2.0, None, OFReason.STATIC, None),
        ({"max": 3}, None, OFReason.STATIC, None),
        ("x", None, OFReason.ERROR, OFErrorCode.TYPE_MISMATCH),
    ]


@pytest.mark.parametrize(
    ("method", "flag", "default"),
    [
        ("get_string_details", "page-size", "x"),  # an integer flag read as a string
        ("get_float_details", "page-size", 1.5),  # integer flags are not floats
        ("get_integer_details", "ratio", 7),  # number flags are not integers
        ("get_integer_details", "beta-banner", 7),  # a bool is no integer here
        ("get_boolean_details", "theme", True),
        ("get_object_details", "ratio", {"d": 1}),
    ],
)
def test_a_flag_of_another_type_answers_the_default_with_type_mismatch(
    flags: OpenFeatureClient, method: str, flag: str, default: Any
) -> None:
    details = getattr(flags, method)(flag, default, NL_PRO_BETA)
    assert _summary(details) == (default, None, OFReason.ERROR, OFErrorCode.TYPE_MISMATCH)
    assert flag in (details.error_message or "")


def test_a_missing_flag_answers_the_default_with_flag_not_found(
    flags: OpenFeatureClient,
) -> None:
    details = flags.get_boolean_details("no-such-flag", True, NL_PRO_BETA)
    assert _summary(details) == (True, None, OFReason.ERROR, OFErrorCode.FLAG_NOT_FOUND)
    assert flags.get_object_value("no-such-flag", {"fallback": 1}) == {"fallback": 1}


def test_reasons_map_to_openfeature_reasons(flags: OpenFeatureClient) -> None:
    plain = OFContext("u-2", {"country": "US", "plan": "free"})
    assert flags.get_boolean_details("killed", True, plain).reason is OFReason.DISABLED
    assert flags.get_string_details("theme", "x", plain).reason is OFReason.DEFAULT
    assert flags.get_string_details("static-color", "x", plain).reason is OFReason.STATIC
    # The rollout serves some units by the split (SPLIT) and leaves the rest on the
    # default (DEFAULT); which is which is the engine's to say, the reason is ours.
    reasons = {
        flags.get_boolean_details("half", False, OFContext(f"unit-{i}")).reason for i in range(64)
    }
    assert reasons == {OFReason.SPLIT, OFReason.DEFAULT}
    missing_key = flags.get_boolean_details("half", True, OFContext(None, {"plan": "pro"}))
    assert _summary(missing_key) == (
        True,
        None,
        OFReason.ERROR,
        OFErrorCode.TARGETING_KEY_MISSING,
    )


def test_every_verdict_reason_and_error_code_has_an_openfeature_twin() -> None:
    from verdict.sdk import ErrorCode

    assert {reason.value for reason in Reason} <= {reason.value for reason in OFReason}
    assert {code.value for code in ErrorCode} <= {code.value for code in OFErrorCode}


def test_a_context_verdict_cannot_read_is_invalid_context(flags: OpenFeatureClient) -> None:
    too_long = flags.get_boolean_details("beta-banner", True, OFContext("u" * 256))
    assert _summary(too_long) == (True, None, OFReason.ERROR, OFErrorCode.INVALID_CONTEXT)
    assert "targeting_key" in (too_long.error_message or "")
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(40):
        node["next"] = {}
        node = node["next"]
    nested = flags.get_boolean_details("beta-banner", True, OFContext("u", {"deep": deep}))
    assert (nested.error_code, nested.value) == (OFErrorCode.INVALID_CONTEXT, True)


def test_a_client_without_configuration_is_not_ready() -> None:
    client = Client("vk", "http://127.0.0.1:9", start=False, recorder=MemoryRecorder())
    provider = VerdictProvider(client)
    details = provider.resolve_boolean_details("beta-banner", True, OFContext("u"))
    assert (details.value, details.reason, details.error_code) == (
        True,
        OFReason.ERROR,
        OFErrorCode.PROVIDER_NOT_READY,
    )
    client.close()


def test_object_values_are_copies_a_caller_may_change(flags: OpenFeatureClient) -> None:
    first = flags.get_object_value("limits", {})
    assert isinstance(first, dict)
    first["max"] = 99
    assert flags.get_object_value("limits", {}) == {"max": 3}


def test_dates_in_the_context_are_matched_as_iso_8601_strings(recorder: MemoryRecorder) -> None:
    config = {
        "flags": {
            "early": {
                "type": "boolean",
                "default": False,
                "rules": [
                    {
                        "id": "d",
                        "type": "force",
                        "condition": {"signup": "2024-05-01T12:00:00+00:00"},
                        "value": True,
                    }
                ],
            }
        }
    }
    client = Client("offline", None, bootstrap=config, recorder=recorder)
    api.set_provider_and_wait(VerdictProvider(client), "dates")
    flags = api.get_client("dates")
    signup = datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert flags.get_boolean_value("early", False, OFContext("u", {"signup": signup})) is True
    assert verdict_context(OFContext("u", {"when": [signup], "n": 1})) == EvaluationContext(
        "u", {"when": ["2024-05-01T12:00:00+00:00"], "n": 1}
    )
    # An empty targeting key is no key, as OpenFeature's merge has it.
    assert verdict_context(OFContext("", {})) == EvaluationContext(None)


# ------------------------------------------------------ merging and hooks
class _RecordingHook(Hook):
    def __init__(self, adds: dict[str, Any]) -> None:
        self.adds = adds
        self.seen: list[tuple[str, str]] = []

    def before(self, hook_context: HookContext, hints: HookHints) -> OFContext:
        self.seen.append(("before", hook_context.flag_key))
        return OFContext(attributes=self.adds)

    def after(
        self, hook_context: HookContext, details: FlagEvaluationDetails[Any], hints: HookHints
    ) -> None:
        self.seen.append(("after", str(details.reason)))

    def error(self, hook_context: HookContext, exception: Exception, hints: HookHints) -> None:
        self.seen.append(("error", type(exception).__name__))


def test_api_client_invocation_and_hook_contexts_merge_before_the_provider_decides(
    flags: OpenFeatureClient,
) -> None:
    api.set_evaluation_context(OFContext("api-unit", {"country": "NL"}))
    flags.context = OFContext(attributes={"plan": "pro"})
    hook = _RecordingHook({"beta": True})
    flags.add_hooks([hook])

    # Each level contributes: NL from the API, pro from the client, beta from the hook.
    assert flags.get_string_value("theme", "light") == "dark"
    assert flags.get_integer_value("page-size", 0) == 50
    assert flags.get_boolean_value("beta-banner", False) is True
    # The invocation context overrides the API's attribute (and the hook's stays).
    assert flags.get_string_value("theme", "light", OFContext(attributes={"country": "US"})) == (
        "light"
    )
    assert hook.seen[:2] == [("before", "theme"), ("after", "TARGETING_MATCH")]

    hook.seen.clear()
    flags.get_boolean_value("no-such-flag", False)
    assert [kind for kind, _ in hook.seen] == ["before", "error"]


def test_the_merged_targeting_key_is_the_unit_of_exposures_and_the_experiment_is_named(
    flags: OpenFeatureClient, recorder: MemoryRecorder
) -> None:
    api.set_evaluation_context(OFContext("qa-1"))
    served = flags.get_string_details("checkout", "old")  # qa-1 is forced to treatment
    assert (served.value, served.variant) == ("new", "treatment")
    assert served.flag_metadata == {"rule": "exp", "experiment": "checkout-exp"}
    assert [(e.unit_id, e.experiment_key, e.variant_key) for e in recorder.exposures] == [
        ("qa-1", "checkout-exp", "treatment")
    ]


# ----------------------------------------------------------------- tracking
def test_track_records_the_event_for_the_merged_unit(
    flags: OpenFeatureClient, recorder: MemoryRecorder
) -> None:
    api.set_evaluation_context(OFContext("u-7", {"plan": "pro"}))
    flags.track("purchase", tracking_event_details=TrackingEventDetails(9.5, {"sku": "A-1"}))
    flags.track("signup")
    flags.track("visit", OFContext("u-8"))
    assert recorder.events == [
        TrackedEvent("u-7", "purchase", 9.5, {"sku": "A-1"}),
        TrackedEvent("u-7", "signup", None, None),
        TrackedEvent("u-8", "visit", None, None),
    ]


def test_track_without_a_unit_or_with_a_bad_value_records_nothing(
    flags: OpenFeatureClient, recorder: MemoryRecorder
) -> None:
    flags.track("purchase")  # no targeting key anywhere
    flags.track("purchase", OFContext("u"), TrackingEventDetails(float("nan")))
    flags.track("", OFContext("u"))
    flags.track("purchase", OFContext("u" * 300))
    assert recorder.events == []


# ------------------------------------------------------------------- events
def _document(version: int) -> dict[str, Any]:
    return {
        "flags": {
            "version": {"type": "integer", "default": version},
            "steady": {"type": "boolean", "default": True},
            "follows": {
                "type": "boolean",
                "default": False,
                "prerequisites": [{"flag": "version", "value": 2}],
                "rules": [{"id": "on", "type": "force", "value": True}],
            },
        }
    }


@pytest.fixture
def server() -> Iterator[ConfigServer]:
    server = ConfigServer(_document(1))
    yield server
    server.stop()


def _polling_client(server: ConfigServer, key: str | None = None, start: bool = True) -> Client:
    return Client(
        key or server.key,
        server.base,
        poll_interval=0.05,
        retry_initial=0.05,
        retry_max=0.2,
        recorder=MemoryRecorder(),
        start=start,
    )


class _Events:
    def __init__(self, client: OpenFeatureClient) -> None:
        self.seen: list[tuple[ProviderEvent, EventDetails]] = []
        self._lock = threading.Lock()
        for event in ProviderEvent:
            client.add_handler(event, lambda details, event=event: self._add(event, details))

    def _add(self, event: ProviderEvent, details: EventDetails) -> None:
        with self._lock:
            self.seen.append((event, details))

    def errors(self) -> list[OFErrorCode | None]:
        with self._lock:
            return [d.error_code for e, d in self.seen if e is ProviderEvent.PROVIDER_ERROR]

    def kinds(self) -> list[ProviderEvent]:
        with self._lock:
            return [event for event, _ in self.seen]


def test_client_events_become_provider_events(server: ConfigServer) -> None:
    provider = VerdictProvider(_polling_client(server))
    api.set_provider_and_wait(provider, "events")
    flags = api.get_client("events")
    events = _Events(flags)
    assert flags.get_provider_status() is ProviderStatus.READY
    # A handler added to a ready provider gets READY (from the SDK's event thread, so
    # it may come a moment later).
    assert eventually(lambda: events.kinds() == [ProviderEvent.PROVIDER_READY])

    server.set_document(_document(2))
    assert eventually(lambda: ProviderEvent.PROVIDER_CONFIGURATION_CHANGED in events.kinds())
    changed = next(d for e, d in events.seen if e is ProviderEvent.PROVIDER_CONFIGURATION_CHANGED)
    assert changed.flags_changed == ["follows", "version"]  # follows depends on version
    assert flags.get_integer_value("version", 0) == 2
    assert flags.get_boolean_value("follows", False) is True

    server.failure = 503
    assert eventually(lambda: flags.get_provider_status() is ProviderStatus.STALE)
    # The SDK sets the status before it runs the handlers: wait for the handler too.
    assert eventually(lambda: ProviderEvent.PROVIDER_STALE in events.kinds())
    assert flags.get_integer_value("version", 0) == 2  # the last configuration serves

    server.failure = None
    assert eventually(lambda: flags.get_provider_status() is ProviderStatus.READY)
    assert eventually(lambda: events.kinds()[-1] is ProviderEvent.PROVIDER_READY)
    kinds = events.kinds()
    assert kinds.count(ProviderEvent.PROVIDER_STALE) == 1  # once per failure streak
    assert kinds.index(ProviderEvent.PROVIDER_STALE) < len(kinds) - 1


def test_a_provider_without_configuration_reports_error_then_ready(server: ConfigServer) -> None:
    server.failure = 503
    client = _polling_client(server, start=False)  # refreshing starts after initialize
    with pytest.raises(Exception, match="no configuration within"):
        api.set_provider_and_wait(VerdictProvider(client, ready_timeout=0), "late")
    flags = api.get_client("late")
    events = _Events(flags)
    assert flags.get_provider_status() is ProviderStatus.ERROR
    late = flags.get_integer_details("version", -1)
    assert (late.value, late.error_code) == (-1, OFErrorCode.PROVIDER_NOT_READY)

    client._start_refresher()  # the client's ERROR event now reaches OpenFeature
    # (A handler added while the provider is in ERROR runs at once with empty details.)
    assert eventually(lambda: events.errors() == [None, OFErrorCode.GENERAL])
    assert flags.get_provider_status() is ProviderStatus.ERROR

    server.failure = None
    assert eventually(lambda: flags.get_provider_status() is ProviderStatus.READY)
    assert flags.get_integer_value("version", -1) == 1


def test_a_refused_key_is_fatal(server: ConfigServer) -> None:
    provider = VerdictProvider(_polling_client(server, key="vk_wrong"), ready_timeout=0.5)
    with pytest.raises(Exception, match="refused the SDK key"):
        api.set_provider_and_wait(provider, "refused")
    flags = api.get_client("refused")
    assert flags.get_provider_status() is ProviderStatus.FATAL
    details = flags.get_boolean_details("steady", False)
    assert (details.value, details.error_code) == (False, OFErrorCode.PROVIDER_FATAL)


def test_a_key_refused_after_initialize_makes_the_provider_fatal(server: ConfigServer) -> None:
    client = _polling_client(server, key="vk_wrong", start=False)
    with pytest.raises(Exception, match="no configuration within"):
        api.set_provider_and_wait(VerdictProvider(client, ready_timeout=0), "refused-later")
    flags = api.get_client("refused-later")
    events = _Events(flags)
    client._start_refresher()
    assert eventually(lambda: flags.get_provider_status() is ProviderStatus.FATAL)
    # (A handler added while the provider is in ERROR runs at once with empty details.)
    assert eventually(lambda: events.errors() == [None, OFErrorCode.PROVIDER_FATAL])


def _polls_continue(server: ConfigServer) -> bool:
    """Whether a client still polls ``server`` (its requests keep coming)."""
    seen = len(server.requests)
    return eventually(lambda: len(server.requests) > seen, timeout=1.0)


def test_shutdown_closes_the_client_unless_told_not_to(server: ConfigServer) -> None:
    kept = _polling_client(server)
    api.set_provider_and_wait(VerdictProvider(kept, close_client=False), "kept")
    api.shutdown()
    assert _polls_continue(server)
    assert kept.get_integer("version", 0) == 1
    kept.close()
    assert not _polls_continue(server)

    provider = VerdictProvider(_polling_client(server))
    api.set_provider_and_wait(provider, "owned")
    assert _polls_continue(server)
    api.shutdown()
    assert not _polls_continue(server)
    with pytest.raises(Exception, match="shut down"):
        provider.initialize(OFContext())


def test_bad_provider_arguments_name_the_field() -> None:
    client = Client("offline", None, bootstrap=CONFIG, recorder=MemoryRecorder())
    with pytest.raises(ValueError, match="ready_timeout"):
        VerdictProvider(client, ready_timeout=-1)
    with pytest.raises(TypeError, match="client"):
        VerdictProvider("not a client")  # type: ignore[arg-type]


# -------------------------------------------------------------------- docs
def test_the_openfeature_example_of_the_guide_prints_what_it_says() -> None:
    guide = Path(__file__).resolve().parents[3] / "docs" / "sdk.md"
    blocks = re.findall(r"```python\n(.*?)```", guide.read_text(encoding="utf-8"), re.DOTALL)
    example = next(block for block in blocks if "VerdictProvider(" in block)
    expected = [line.strip()[len("# -> ") :] for line in example.splitlines() if "# -> " in line]
    assert len(expected) == 4, "the example lost its # -> lines"
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        exec(compile(example, str(guide), "exec"), {})
    assert output.getvalue().splitlines() == expected
