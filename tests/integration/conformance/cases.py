"""The conformance table: what every OFREP provider must answer for each case.

A case is one evaluation a caller makes (flag key, OpenFeature type, the caller's
default, the evaluation context, which credentials the provider sends). Its expected
outcome is read off the flag definitions in :mod:`.flags` and the OFREP specification
(``service/openapi.yaml`` of open-feature/protocol), so the table holds for any
conforming server.

Providers come in OpenFeature's two paradigms and differ only where the protocol lets
them: a *dynamic-context* provider (Python, JavaScript server) makes one request per
evaluation and reports a failed request as that evaluation's error; a *static-context*
provider (JavaScript web) fetches every flag once per context (bulk) and evaluates
from that cache, so a request that fails as a whole fails its initialisation instead:
401/403 put it in the fatal state (OFREP's client-provider guideline), and an invalid
context leaves it without flags. :meth:`Case.expected_for` states those differences;
everything else is the same for every provider.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

from tests.integration.conformance.flags import (
    BOOLEAN,
    BOOLEAN_ROLLOUT,
    BROKEN,
    CHILD,
    DISABLED,
    EXPERIMENT,
    EXPERIMENT_FLAG,
    FLAGS,
    FLOAT,
    FORCED_UNIT,
    INTEGER,
    OBJECT_SPLIT,
    OVERRIDDEN,
    OVERRIDE_UNIT,
    STRING_RAW,
    STRING_STATIC,
)

__all__ = [
    "CASES",
    "DEFAULT_VARIANT",
    "OVERRIDE_VARIANT",
    "Case",
    "Credentials",
    "Failure",
    "Outcome",
    "Paradigm",
    "same_value",
]

# OFREP types ``variant`` as a string and the published providers read it, so every
# success carries one. For a value that is not one of the flag's named variants Verdict
# names where it came from (docs/sdk-api.md, OFREP): the id of the rule that served it,
# ``override`` for a per-unit override, ``default`` for the flag's default value.
DEFAULT_VARIANT = "default"
OVERRIDE_VARIANT = "override"


class Paradigm(Enum):
    DYNAMIC = "dynamic-context"
    STATIC = "static-context"


class Credentials(Enum):
    SDK_BEARER = "an SDK key as a bearer token"
    SDK_X_API_KEY = "an SDK key in X-API-Key"
    NONE = "no credentials"
    UNKNOWN_KEY = "a key the server never issued"
    NOT_AN_SDK_KEY = "an administrator's session token"


class Failure(Enum):
    """Why a whole request fails before any flag is evaluated."""

    UNAUTHENTICATED = 401
    FORBIDDEN = 403
    INVALID_CONTEXT = 400


@dataclass(frozen=True)
class Outcome:
    value: Any
    reason: str
    variant: str | None = None
    # Compared on successes only: providers differ in what they attach to an error.
    metadata: Mapping[str, Any] = field(default_factory=dict)
    # ``None`` on an ERROR outcome: the provider may report any code (see expected_for).
    error_code: str | None = None


@dataclass(frozen=True)
class Case:
    id: str
    key: str
    type: str  # boolean, string, integer, float or object (OpenFeature's types)
    default: Any
    context: Mapping[str, Any]
    expected: Outcome
    credentials: Credentials = Credentials.SDK_BEARER
    failure: Failure | None = None

    def expected_for(self, paradigm: Paradigm) -> Outcome:
        if self.failure is None:
            return self.expected
        if paradigm is Paradigm.DYNAMIC:
            if self.failure is Failure.INVALID_CONTEXT:
                return self.expected
            return replace(self.expected, error_code="GENERAL")
        if self.failure is Failure.INVALID_CONTEXT:
            # Initialisation failed; which code the empty provider then reports is its
            # own business. The failed bulk request itself is checked separately.
            return replace(self.expected, error_code=None)
        return replace(self.expected, error_code="PROVIDER_FATAL")


def same_value(actual: Any, expected: Any) -> bool:
    """JSON equality where booleans are not numbers (``True == 1`` in Python) and an
    integer equals the float of the same value (JavaScript has one number type)."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(actual) is type(expected) and actual == expected
    if isinstance(expected, dict):
        return (
            isinstance(actual, dict)
            and actual.keys() == expected.keys()
            and all(same_value(actual[k], expected[k]) for k in expected)
        )
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(same_value(a, e) for a, e in zip(actual, expected, strict=True))
        )
    return bool(actual == expected)


def _error(value: Any, code: str | None) -> Outcome:
    return Outcome(value, "ERROR", error_code=code)


_USER = {"targetingKey": "user-1"}
_boolean = FLAGS[BOOLEAN]
_rollout = FLAGS[BOOLEAN_ROLLOUT]
_static = FLAGS[STRING_STATIC]
_raw = FLAGS[STRING_RAW]
_overridden = FLAGS[OVERRIDDEN]
_integer = FLAGS[INTEGER]
_float = FLAGS[FLOAT]
_split = FLAGS[OBJECT_SPLIT]
_disabled = FLAGS[DISABLED]
_experiment = FLAGS[EXPERIMENT_FLAG]
_child = FLAGS[CHILD]

CASES: tuple[Case, ...] = (
    # --- every type, named variants and unnamed values, every reason -------------------
    Case(
        "boolean-force-rule-serves-a-named-variant",
        BOOLEAN,
        "boolean",
        True,
        {**_USER, "beta": True},
        Outcome(_boolean.variant("on"), "TARGETING_MATCH", "on", {"rule": "beta"}),
    ),
    Case(
        "boolean-no-rule-applies-default-variant",
        BOOLEAN,
        "boolean",
        True,
        {**_USER, "beta": False},
        Outcome(_boolean.default, "DEFAULT", "off"),
    ),
    Case(
        "boolean-with-the-key-in-x-api-key",
        BOOLEAN,
        "boolean",
        True,
        {**_USER, "beta": True},
        Outcome(_boolean.variant("on"), "TARGETING_MATCH", "on", {"rule": "beta"}),
        credentials=Credentials.SDK_X_API_KEY,
    ),
    Case(
        "boolean-rollout-rule-serves-an-unnamed-value",
        BOOLEAN_ROLLOUT,
        "boolean",
        False,
        _USER,
        Outcome(_rollout.rule("everyone")["value"], "SPLIT", "everyone", {"rule": "everyone"}),
    ),
    Case(
        "string-without-rules-is-static",
        STRING_STATIC,
        "string",
        "red",
        _USER,
        Outcome(_static.default, "STATIC", "blue"),
    ),
    Case(
        "string-force-rule-serves-an-unnamed-value",
        STRING_RAW,
        "string",
        "red",
        {**_USER, "country": "NL"},
        Outcome(_raw.rule("dutch")["value"], "TARGETING_MATCH", "dutch", {"rule": "dutch"}),
    ),
    Case(
        "string-unnamed-default",
        STRING_RAW,
        "string",
        "red",
        {**_USER, "country": "BE"},
        Outcome(_raw.default, "DEFAULT", DEFAULT_VARIANT),
    ),
    Case(
        "string-override-serves-an-unnamed-value",
        STRING_RAW,
        "string",
        "red",
        {"targetingKey": OVERRIDE_UNIT, "country": "NL"},
        Outcome(
            _raw.overrides[OVERRIDE_UNIT]["value"],
            "TARGETING_MATCH",
            OVERRIDE_VARIANT,
            {"rule": "override"},
        ),
    ),
    Case(
        "string-override-for-one-unit",
        OVERRIDDEN,
        "string",
        "red",
        {"targetingKey": OVERRIDE_UNIT},
        Outcome(_overridden.variant("green"), "TARGETING_MATCH", "green", {"rule": "override"}),
    ),
    Case(
        "string-override-for-another-unit-leaves-the-default",
        OVERRIDDEN,
        "string",
        "red",
        _USER,
        Outcome(_overridden.default, "DEFAULT", "blue"),
    ),
    Case(
        "string-experiment-rule-serves-the-units-variant",
        EXPERIMENT_FLAG,
        "string",
        "z",
        {"targetingKey": FORCED_UNIT},
        Outcome(
            _experiment.variant("treatment"),
            "SPLIT",
            "treatment",
            {"rule": "exp", "experiment": EXPERIMENT},
        ),
    ),
    Case(
        "integer-force-rule-serves-an-integer",
        INTEGER,
        "integer",
        0,
        {**_USER, "plan": "pro"},
        Outcome(_integer.rule("pro")["value"], "TARGETING_MATCH", "pro", {"rule": "pro"}),
    ),
    Case(
        "integer-default",
        INTEGER,
        "integer",
        0,
        {**_USER, "plan": "free"},
        Outcome(_integer.default, "DEFAULT", DEFAULT_VARIANT),
    ),
    Case(
        "float-force-rule-serves-a-named-variant",
        FLOAT,
        "float",
        0.5,
        {**_USER, "plan": "pro"},
        Outcome(_float.variant("high"), "TARGETING_MATCH", "high", {"rule": "pro"}),
    ),
    Case(
        "float-written-as-a-whole-number-is-served-as-a-float",
        FLOAT,
        "float",
        0.5,
        {**_USER, "plan": "free"},
        Outcome(float(_float.default), "DEFAULT", "low"),
    ),
    Case(
        "object-split-rule",
        OBJECT_SPLIT,
        "object",
        {},
        _USER,
        Outcome(_split.variant("large"), "SPLIT", "large", {"rule": "all-large"}),
    ),
    Case(
        "object-disabled-flag-serves-its-default",
        DISABLED,
        "object",
        {},
        _USER,
        Outcome(_disabled.default, "DISABLED", "dark"),
    ),
    Case(
        "prerequisite-met",
        CHILD,
        "boolean",
        False,
        {**_USER, "beta": True},
        Outcome(_child.variant("on"), "TARGETING_MATCH", "on", {"rule": "all"}),
    ),
    Case(
        "prerequisite-not-met",
        CHILD,
        "boolean",
        True,
        {**_USER, "beta": False},
        Outcome(_child.default, "DEFAULT", "off", {"rule": f"prerequisite:{BOOLEAN}"}),
    ),
    # --- per-flag errors ------------------------------------------------------------------
    Case(
        "split-without-targeting-key",
        OBJECT_SPLIT,
        "object",
        {"fallback": True},
        {"plan": "free"},
        _error({"fallback": True}, "TARGETING_KEY_MISSING"),
    ),
    Case(
        "rollout-without-targeting-key",
        BOOLEAN_ROLLOUT,
        "boolean",
        False,
        {"plan": "free"},
        _error(False, "TARGETING_KEY_MISSING"),
    ),
    Case(
        "flag-whose-configuration-does-not-compile",
        BROKEN,
        "boolean",
        True,
        _USER,
        _error(True, "PARSE_ERROR"),
    ),
    Case(
        "unknown-flag", "conf-no-such-flag", "boolean", True, _USER, _error(True, "FLAG_NOT_FOUND")
    ),
    Case(
        "key-longer-than-any-flag-key",
        "k" * 300,
        "boolean",
        True,
        _USER,
        _error(True, "FLAG_NOT_FOUND"),
    ),
    Case(
        "key-with-an-encoded-slash",
        "a%2Fb",
        "boolean",
        True,
        _USER,
        _error(True, "FLAG_NOT_FOUND"),
    ),
    Case(
        "boolean-flag-read-as-a-string",
        BOOLEAN,
        "string",
        "fallback",
        _USER,
        _error("fallback", "TYPE_MISMATCH"),
    ),
    Case(
        "object-flag-read-as-a-number",
        OBJECT_SPLIT,
        "float",
        1.5,
        _USER,
        _error(1.5, "TYPE_MISMATCH"),
    ),
    # --- the whole request fails ----------------------------------------------------------
    Case(
        "context-with-a-nul-character",
        BOOLEAN,
        "boolean",
        True,
        {**_USER, "note": "a\x00b"},
        _error(True, "INVALID_CONTEXT"),
        failure=Failure.INVALID_CONTEXT,
    ),
    Case(
        "no-credentials",
        BOOLEAN,
        "boolean",
        True,
        {"targetingKey": "user-no-credentials"},
        _error(True, None),
        credentials=Credentials.NONE,
        failure=Failure.UNAUTHENTICATED,
    ),
    Case(
        "unknown-key",
        BOOLEAN,
        "boolean",
        True,
        {"targetingKey": "user-unknown-key"},
        _error(True, None),
        credentials=Credentials.UNKNOWN_KEY,
        failure=Failure.UNAUTHENTICATED,
    ),
    Case(
        "not-an-sdk-key",
        BOOLEAN,
        "boolean",
        True,
        {"targetingKey": "user-not-sdk"},
        _error(True, None),
        credentials=Credentials.NOT_AN_SDK_KEY,
        failure=Failure.FORBIDDEN,
    ),
)
