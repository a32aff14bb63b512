"""The evaluation context and the result types every decision is reported in.

A decision starts from an :class:`EvaluationContext` (the unit id used for hashing,
the *targeting key*, plus an attribute document) and ends in a :class:`FlagResult`
or an :class:`ExperimentResult`. Reasons and error codes for flags follow
OpenFeature's vocabulary so the OpenFeature provider can pass them through as is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any, NamedTuple, Protocol

__all__ = [
    "Attributes",
    "ErrorCode",
    "EvaluationContext",
    "ExperimentReason",
    "ExperimentResult",
    "FlagResult",
    "FlagType",
    "Reason",
    "StickyAssignments",
]

Attributes = Mapping[str, Any]

_NO_ATTRIBUTES: Attributes = MappingProxyType({})


class EvaluationContext(NamedTuple):
    """Who is being evaluated: the unit id hashed for bucketing and their attributes.

    A named tuple rather than a dataclass because it is built once per request on the
    hot path and a tuple is the cheapest immutable object CPython can build.
    """

    targeting_key: str | None
    attributes: Attributes = _NO_ATTRIBUTES


class FlagType(StrEnum):
    """The type every value of a flag must have.

    ``integer`` values are whole numbers and are served as integers; ``number`` values
    are served as floating-point numbers, however they were written (``10`` is served
    as ``10.0``), so a caller reading an integer or a float always gets one; ``json``
    values are JSON objects (OpenFeature's structures).
    """

    BOOLEAN = "boolean"
    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    JSON = "json"


class Reason(StrEnum):
    """Why a flag resolved to its value (OpenFeature resolution reasons)."""

    STATIC = "STATIC"
    TARGETING_MATCH = "TARGETING_MATCH"
    SPLIT = "SPLIT"
    DISABLED = "DISABLED"
    DEFAULT = "DEFAULT"
    ERROR = "ERROR"


class ErrorCode(StrEnum):
    """What went wrong when a flag resolved with reason ERROR (OpenFeature codes)."""

    FLAG_NOT_FOUND = "FLAG_NOT_FOUND"
    TYPE_MISMATCH = "TYPE_MISMATCH"
    TARGETING_KEY_MISSING = "TARGETING_KEY_MISSING"
    PARSE_ERROR = "PARSE_ERROR"
    GENERAL = "GENERAL"


@dataclass(frozen=True, slots=True)
class FlagResult:
    """The outcome of evaluating one flag for one context.

    ``rule`` names what decided: a rule id, ``"override"``, ``"prerequisite:<flag>"``,
    or ``None`` for the default, a disabled flag and most errors. ``experiment`` is
    the experiment key when an experiment rule served the value (for exposure
    logging), else ``None``. ``error_message`` explains an ERROR result.
    """

    flag_key: str
    value: Any
    variant: str | None
    reason: Reason
    error_code: ErrorCode | None = None
    rule: str | None = None
    experiment: str | None = None
    error_message: str | None = None


class ExperimentReason(StrEnum):
    """Why a unit is, or is not, in an experiment, in decision order."""

    NOT_FOUND = "not_found"
    CONFIG_ERROR = "config_error"
    FORCED = "forced"
    NOT_RUNNING = "not_running"
    TARGETING_KEY_MISSING = "targeting_key_missing"
    NOT_TARGETED = "not_targeted"
    STICKY = "sticky"
    HOLDOUT = "holdout"
    NOT_IN_LAYER_RANGE = "not_in_layer_range"
    NOT_IN_COVERAGE = "not_in_coverage"
    BUCKETED = "bucketed"


@dataclass(frozen=True, slots=True)
class ExperimentResult:
    """The outcome of deciding one experiment for one context.

    ``bucket`` is the unit's variant-hash bucket (0..9999) when the decision was made
    by bucketing, else ``None``. A caller keeping sticky assignments stores
    ``variant`` whenever ``reason`` is ``bucketed``.
    """

    experiment_key: str
    in_experiment: bool
    variant: str | None
    bucket: int | None
    reason: ExperimentReason


class StickyAssignments(Protocol):
    """Where previously given variants are looked up (sticky bucketing).

    Consulted after targeting and before layers, coverage and weights, so a unit
    keeps the variant it first got when weights, coverage or layer ranges change.
    Return ``None`` when the unit has no stored variant for the experiment.
    """

    def get_variant(self, experiment_key: str, unit_id: str) -> str | None: ...
