"""The OpenFeature Remote Evaluation Protocol (OFREP) over the compiled snapshot.

OFREP prescribes its own answers, so they are decided here rather than in
``problems.py`` (which speaks RFC 9457 for Verdict's own API):

- single flag: 200 ``{key, value, reason, variant, metadata}``; 404
  ``{key, errorCode: FLAG_NOT_FOUND, errorDetails}``; 400 ``{key, errorCode,
  errorDetails}`` for PARSE_ERROR (malformed body, or a flag whose configuration does
  not compile), INVALID_CONTEXT, TARGETING_KEY_MISSING and GENERAL;
- bulk: 200 ``{flags: [...]}`` where each entry is a success or a per-flag failure,
  with an ``ETag``; 304 when ``If-None-Match`` names it; 400 ``{errorCode,
  errorDetails}`` for a malformed body or context.

The bulk ETag covers the configuration's ETag *and* the context, because the same
configuration evaluates differently for another user: a poller gets 304 exactly when
its answer would be byte-for-byte what it already holds.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from verdict.engine import ErrorCode, EvaluationContext, FlagResult, Reason
from verdict.server.api.versioning import etag_matches
from verdict.server.delivery.snapshots import EnvironmentSnapshot

__all__ = ["OfrepAnswer", "evaluate_bulk", "evaluate_flag"]

_TARGETING_KEY = "targetingKey"


@dataclass(frozen=True)
class OfrepAnswer:
    status: int
    body: dict[str, Any] | None
    headers: dict[str, str] = field(default_factory=dict)


class _BadRequestError(Exception):
    def __init__(self, code: str, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


def _parse(raw: bytes) -> tuple[dict[str, Any], EvaluationContext]:
    """The request's context, and the evaluation context built from it."""
    if raw.strip():
        try:
            body = json.loads(raw)
        except ValueError as exc:
            raise _BadRequestError(
                ErrorCode.PARSE_ERROR.value, f"the body is not JSON: {exc}"
            ) from exc
    else:
        body = {}
    if not isinstance(body, dict):
        raise _BadRequestError(ErrorCode.PARSE_ERROR.value, "the body must be a JSON object")
    context = body.get("context", {})
    if context is None:
        context = {}
    if not isinstance(context, dict):
        raise _BadRequestError("INVALID_CONTEXT", "context must be an object")
    if "\x00" in json.dumps(context):
        raise _BadRequestError("INVALID_CONTEXT", "context contains a NUL character")
    targeting_key = context.get(_TARGETING_KEY)
    if targeting_key is not None and not isinstance(targeting_key, str):
        raise _BadRequestError("INVALID_CONTEXT", "targetingKey must be a string")
    attributes = {key: value for key, value in context.items() if key != _TARGETING_KEY}
    return context, EvaluationContext(targeting_key or None, attributes)


# Enum members' ``.value`` is a descriptor call; the bulk answer reads one per flag.
_REASONS = {reason: reason.value for reason in Reason}


def _success(result: FlagResult) -> dict[str, Any]:
    body: dict[str, Any] = {
        "key": result.flag_key,
        "value": result.value,
        "reason": _REASONS[result.reason],
    }
    # The protocol types variant as a string: an unnamed value has none to report.
    if result.variant is not None:
        body["variant"] = result.variant
    metadata: dict[str, Any] = {}
    if result.rule is not None:
        metadata["rule"] = result.rule
    if result.experiment is not None:
        metadata["experiment"] = result.experiment
    body["metadata"] = metadata
    return body


def _failure(result: FlagResult) -> dict[str, Any]:
    code = result.error_code or ErrorCode.GENERAL
    return {
        "key": result.flag_key,
        "errorCode": code.value,
        "errorDetails": result.error_message or code.value,
    }


def evaluate_flag(*, environment: EnvironmentSnapshot, flag_key: str, raw: bytes) -> OfrepAnswer:
    """``POST /ofrep/v1/evaluate/flags/{key}``."""
    try:
        _, context = _parse(raw)
    except _BadRequestError as exc:
        return OfrepAnswer(
            400, {"key": flag_key, "errorCode": exc.code, "errorDetails": exc.details}
        )
    result = environment.snapshot.evaluate(flag_key, context)
    if result.reason is not Reason.ERROR:
        return OfrepAnswer(200, _success(result))
    status = 404 if result.error_code is ErrorCode.FLAG_NOT_FOUND else 400
    return OfrepAnswer(status, _failure(result))


def evaluate_bulk(
    *, environment: EnvironmentSnapshot, raw: bytes, if_none_match: str | None
) -> OfrepAnswer:
    """``POST /ofrep/v1/evaluate/flags``: every flag of the environment."""
    try:
        context_document, context = _parse(raw)
    except _BadRequestError as exc:
        return OfrepAnswer(400, {"errorCode": exc.code, "errorDetails": exc.details})
    canonical = json.dumps(context_document, sort_keys=True, separators=(",", ":"), default=str)
    digest = hashlib.sha256(f"{environment.etag}\n{canonical}".encode()).hexdigest()
    etag = f'"{digest[:32]}"'
    if etag_matches(if_none_match, etag):
        return OfrepAnswer(304, None, {"ETag": etag})
    flags = [
        _failure(result) if result.reason is Reason.ERROR else _success(result)
        for result in environment.snapshot.evaluate_all(context).values()
    ]
    return OfrepAnswer(200, {"flags": flags}, {"ETag": etag})
