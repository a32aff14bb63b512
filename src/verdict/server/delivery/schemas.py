"""Request and response bodies of the SDK hot paths: evaluation, OFREP and assignment."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from verdict.server.api.schemas import RequestModel

__all__ = [
    "AssignRequest",
    "AssignResponse",
    "Assignment",
    "EvaluateRequest",
    "EvaluateResponse",
    "FlagEvaluation",
    "OfrepBulkFailure",
    "OfrepBulkResponse",
    "OfrepConfiguration",
    "OfrepFailure",
    "OfrepRequest",
    "OfrepSuccess",
]

_UNIT = Field(min_length=1, max_length=255)


class EvaluateRequest(RequestModel):
    targeting_key: str | None = Field(
        default=None,
        max_length=255,
        description="The unit id hashed for rollouts and splits (a user, device or account id)",
    )
    attributes: dict[str, Any] = Field(
        default_factory=dict, description="What targeting conditions read"
    )
    flags: list[str] | None = Field(
        default=None,
        max_length=1000,
        description="Flag keys to evaluate; null: every flag of the key's environment",
    )


class FlagEvaluation(BaseModel):
    value: Any = Field(description="The value; null on an ERROR (there is no caller default)")
    variant: str | None = Field(description="The named variant served, when the value is one")
    reason: str = Field(description="OpenFeature reason: STATIC, TARGETING_MATCH, SPLIT, …")
    error_code: str | None = Field(
        default=None, description="OpenFeature error code when reason is ERROR"
    )
    error_message: str | None = None
    rule: str | None = Field(
        default=None, description="What decided: a rule id, override, prerequisite:<flag>"
    )
    experiment: str | None = Field(
        default=None, description="The experiment whose rule served the value"
    )


class EvaluateResponse(BaseModel):
    environment: str
    flags: dict[str, FlagEvaluation] = Field(description="Results by flag key")


class OfrepRequest(BaseModel):
    """Documentation only: OFREP bodies are parsed by hand so that malformed ones get
    OFREP's own 400 answers instead of the API's 422 problem documents."""

    context: dict[str, Any] = Field(
        default_factory=dict, description="targetingKey plus any attributes"
    )


class OfrepSuccess(BaseModel):
    key: str
    value: Any
    reason: str
    variant: str = Field(
        description="The named variant served; for an unnamed value the rule id that "
        "served it, `override`, or `default` (the flag's default value)"
    )
    metadata: dict[str, str | int | float | bool] = Field(default_factory=dict)


class OfrepFailure(BaseModel):
    key: str
    errorCode: str  # noqa: N815  (the protocol's spelling)
    errorDetails: str  # noqa: N815


class OfrepBulkResponse(BaseModel):
    flags: list[OfrepSuccess | OfrepFailure]


class OfrepBulkFailure(BaseModel):
    errorCode: str  # noqa: N815
    errorDetails: str  # noqa: N815


class OfrepPolling(BaseModel):
    enabled: bool
    minPollingIntervalMs: int  # noqa: N815


class OfrepCacheInvalidation(BaseModel):
    polling: OfrepPolling


class OfrepFlagEvaluation(BaseModel):
    supportedTypes: list[str]  # noqa: N815


class OfrepCapabilities(BaseModel):
    cacheInvalidation: OfrepCacheInvalidation  # noqa: N815
    flagEvaluation: OfrepFlagEvaluation  # noqa: N815


class OfrepConfiguration(BaseModel):
    """What older OFREP providers ask before evaluating: who answers and how to poll (a
    Verdict extension since the protocol removed it)."""

    name: str
    capabilities: OfrepCapabilities


class AssignRequest(RequestModel):
    unit_id: str = _UNIT
    attributes: dict[str, Any] = Field(default_factory=dict)
    device_id: str | None = Field(default=None, max_length=255)
    session_id: str | None = Field(default=None, max_length=255)
    experiments: list[str] | None = Field(
        default=None,
        max_length=1000,
        description="Experiment keys; null: every running experiment the unit is in",
    )


class Assignment(BaseModel):
    experiment: str
    variant: str | None
    in_experiment: bool
    reason: str = Field(
        description="forced, sticky, bucketed, or why the unit is not in: not_running, "
        "not_targeted, not_in_coverage, holdout, not_in_layer_range, not_found, …"
    )
    payload: dict[str, Any] | None = Field(
        description="The variant's configuration, response_template, system_prompt and "
        "config_overrides; null when not in the experiment"
    )
    url: str | None = Field(description="The variant's URL (split-URL tests)")
    bucket: int | None = Field(description="The unit's variant bucket, 0..9999, when bucketed")


class AssignResponse(BaseModel):
    unit_id: str
    assignments: list[Assignment]
