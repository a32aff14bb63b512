"""The OpenFeature Remote Evaluation Protocol (OFREP) over the compiled snapshot.

OFREP (``service/openapi.yaml`` of github.com/open-feature/protocol) prescribes its own
answers, so they are decided here rather than in ``problems.py`` (which speaks RFC 9457
for Verdict's own API):

- single flag: 200 ``{key, value, reason, variant, metadata}``; 404 ``{key, errorCode:
  FLAG_NOT_FOUND, errorDetails}`` for every key no flag has, including keys no flag can
  have (empty, longer than 100 characters, holding ``/`` or control characters); 400
  ``{key, errorCode, errorDetails}`` for PARSE_ERROR (malformed body, or a flag whose
  configuration does not compile), INVALID_CONTEXT, TARGETING_KEY_MISSING and GENERAL;
- bulk: 200 ``{flags: [...]}`` where each entry is a success or a per-flag failure,
  with an ``ETag``; 304 when ``If-None-Match`` names it; 400 ``{errorCode,
  errorDetails}`` for a malformed body or context (the protocol's bulk failure).

Every success names a ``variant``, since providers read it (the Python one
unconditionally): the flag's named variant when the value is one, else where the value
came from: the rule's id for a value a rule serves, ``override`` for a per-unit
override, ``default`` for the flag's default value.

A context holding a NUL character anywhere (a key or a string, however deep) is an
INVALID_CONTEXT. JSON text cannot carry a raw NUL inside a string, only the escape
``\\u0000``, so the decoded context is walked only when the body holds that escape:
the common request is parsed once and never walked.

The bulk ETag covers the configuration's ETag *and* the context, because the same
configuration evaluates differently for another user: a poller gets 304 exactly when
its answer would be byte-for-byte what it already holds.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import orjson

from verdict.engine import ErrorCode, EvaluationContext, FlagResult, Reason
from verdict.engine.errors import child_path, index_path
from verdict.server.api.versioning import etag_matches
from verdict.server.db.keys import KEY_MAX_LENGTH, KEY_PATTERN
from verdict.server.delivery.snapshots import EnvironmentSnapshot

__all__ = ["DEFAULT_VARIANT", "OfrepAnswer", "evaluate_bulk", "evaluate_flag"]

DEFAULT_VARIANT = "default"
"""The variant of a flag's default value when no named variant holds it."""

_TARGETING_KEY = "targetingKey"
_INVALID_CONTEXT = "INVALID_CONTEXT"
_FLAG_NOT_FOUND = ErrorCode.FLAG_NOT_FOUND.value
_NUL_ESCAPE = b"\\u0000"


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


def _nul_path(context: dict[str, Any]) -> str | None:
    """Where the first NUL character of the context is (a key or a string), or None."""
    stack: list[tuple[str, Any]] = [("context", context)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return path
        elif isinstance(value, dict):
            for key, item in value.items():
                if "\x00" in key:
                    return f"a key of {path}"
                stack.append((child_path(path, key), item))
        elif isinstance(value, list):
            stack.extend((index_path(path, index), item) for index, item in enumerate(value))
    return None


def _parse(raw: bytes) -> tuple[dict[str, Any], EvaluationContext]:
    """The request's context, and the evaluation context built from it."""
    if raw.strip():
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise _BadRequestError(
                ErrorCode.PARSE_ERROR.value, f"the body is not JSON: {exc}"
            ) from exc
    else:
        body = {}
    if not isinstance(body, dict):
        raise _BadRequestError(ErrorCode.PARSE_ERROR.value, "the body must be a JSON object")
    context = body.get("context")
    if context is None:
        context = {}
    if not isinstance(context, dict):
        raise _BadRequestError(_INVALID_CONTEXT, "context must be an object")
    if _NUL_ESCAPE in raw:
        where = _nul_path(context)
        if where is not None:
            raise _BadRequestError(_INVALID_CONTEXT, f"{where} contains a NUL character")
    targeting_key = context.get(_TARGETING_KEY)
    if targeting_key is not None and not isinstance(targeting_key, str):
        raise _BadRequestError(_INVALID_CONTEXT, "targetingKey must be a string")
    attributes = {key: value for key, value in context.items() if key != _TARGETING_KEY}
    return context, EvaluationContext(targeting_key or None, attributes)


# Enum members' ``.value`` is a descriptor call; the bulk answer reads one per flag.
_REASONS = {reason: reason.value for reason in Reason}
_SERVED_BY_A_RULE = frozenset({Reason.TARGETING_MATCH, Reason.SPLIT})


def _variant(result: FlagResult) -> str:
    if result.variant is not None:
        return result.variant
    # A rule's own value (the rule id), an override's ("override"), else the default.
    if result.rule is not None and result.reason in _SERVED_BY_A_RULE:
        return result.rule
    return DEFAULT_VARIANT


def _success(result: FlagResult) -> dict[str, Any]:
    metadata: dict[str, Any] = {}
    if result.rule is not None:
        metadata["rule"] = result.rule
    if result.experiment is not None:
        metadata["experiment"] = result.experiment
    return {
        "key": result.flag_key,
        "value": result.value,
        "reason": _REASONS[result.reason],
        "variant": _variant(result),
        "metadata": metadata,
    }


def _failure(result: FlagResult) -> dict[str, Any]:
    code = result.error_code or ErrorCode.GENERAL
    return {
        "key": result.flag_key,
        "errorCode": code.value,
        "errorDetails": result.error_message or code.value,
    }


def _why_not_found(key: str) -> str:
    """Why no flag has ``key``: what makes it no key at all, or that none has it."""
    if not key:
        return "the flag key is empty"
    if len(key) > KEY_MAX_LENGTH:
        return f"a flag key has at most {KEY_MAX_LENGTH} characters, this one {len(key)}"
    if "/" in key:
        return "a flag key holds no '/' (this path, decoded, holds more than one segment)"
    if any(ord(character) < 0x20 or ord(character) == 0x7F for character in key):
        return "a flag key holds no control characters"
    if KEY_PATTERN.fullmatch(key) is None:
        return "a flag key starts with a letter and holds only letters, digits, '_', '-' and '.'"
    return f"flag {key!r} is not in this environment's configuration"


def evaluate_flag(*, environment: EnvironmentSnapshot, flag_key: str, raw: bytes) -> OfrepAnswer:
    """``POST /ofrep/v1/evaluate/flags/{key}``."""
    if flag_key not in environment.snapshot.flags:
        details = _why_not_found(flag_key)
        return OfrepAnswer(
            404, {"key": flag_key, "errorCode": _FLAG_NOT_FOUND, "errorDetails": details}
        )
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
    canonical = orjson.dumps(context_document, option=orjson.OPT_SORT_KEYS)
    digest = hashlib.sha256(environment.etag.encode() + b"\n" + canonical).hexdigest()
    etag = f'"{digest[:32]}"'
    if etag_matches(if_none_match, etag):
        return OfrepAnswer(304, None, {"ETag": etag})
    flags = [
        _failure(result) if result.reason is Reason.ERROR else _success(result)
        for result in environment.snapshot.evaluate_all(context).values()
    ]
    return OfrepAnswer(200, {"flags": flags}, {"ETag": etag})
