"""The error statuses and required headers of each operation, added to the spec centrally.

FastAPI documents what a route declares; the statuses that come from shared plumbing
(versions, paths, paging, limits, the database) are added here from what each
operation already shows, so no router has to repeat them and none can forget:

- an ``If-Match`` header parameter is required (``check_version`` refuses an edit
  without it), and the edit can answer 412 (stale) and 428 (missing); one marked
  optional (``OptionalIfMatch``: the flag toggles) stays optional and answers 412 only;
- a path parameter names a resource that may not exist: 404;
- a management ``POST`` / ``PUT`` / ``PATCH`` / ``DELETE`` can clash with what is
  stored (a duplicate key, a resource in use, an illegal transition): 409;
- a ``cursor`` parameter can be refused: 400;
- a request body can be too large: 413;
- any operation that reaches the database can find it unavailable: 503;
- the OFREP routes never answer 422 (bad input gets OFREP's error documents), so the
  validation status every route is given is taken off them.

A status an operation already documents keeps its own description and model.

The spec also says what every request model enforces and JSON Schema cannot infer
from the types: no NUL character in any string (``RequestModel`` refuses them, and so
does the query-string check of :mod:`verdict.server.api.limits`), as a pattern on each
string of a request body, a query or a path that has no pattern, format or enum of its
own. Strings inside free-form objects cannot carry it; they are still refused.
"""

from __future__ import annotations

from typing import Any

from verdict.server.api.versioning import OPTIONAL_IF_MATCH
from verdict.server.problems import PROBLEM_MEDIA_TYPE

__all__ = ["NO_NUL", "complete_spec"]

_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_EDITS = ("post", "put", "patch", "delete")
_PROBLEM = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}

NO_NUL = "^[^\\u0000]*$"
OFREP_PREFIX = "/ofrep/"
_SUBSCHEMAS = ("items", "additionalProperties", "not")
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")

_DESCRIPTIONS = {
    "400": "The `cursor` is not one this API issued",
    "404": "No such resource",
    "409": "Conflicts with what is stored (a duplicate key, a resource in use, a state "
    "that does not allow the change)",
    "412": "`If-Match` names a version that is no longer current",
    "413": "The request body is larger than the route accepts",
    "428": "`If-Match` is missing: edits must name the version they change",
    "503": "The database is unavailable; retry later",
}


def _add(operation: dict[str, Any], status: str) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    responses.setdefault(status, {"description": _DESCRIPTIONS[status], "content": _PROBLEM})


def _forbid_nul(schema: Any, components: dict[str, Any], seen: set[str]) -> None:
    """Add the ``NO_NUL`` pattern to every plain string of ``schema`` (in place),
    following references into ``components`` once each."""
    if not isinstance(schema, dict):
        return
    reference = schema.get("$ref")
    if isinstance(reference, str) and reference.startswith("#/components/schemas/"):
        name = reference.rsplit("/", 1)[1]
        if name not in seen:
            seen.add(name)
            _forbid_nul(components.get(name), components, seen)
        return
    if schema.get("type") == "string" and not {"pattern", "format", "enum", "const"} & set(schema):
        schema["pattern"] = NO_NUL
    for key in _SUBSCHEMAS:
        _forbid_nul(schema.get(key), components, seen)
    for key in _SCHEMA_LISTS:
        for item in schema.get(key, ()):
            _forbid_nul(item, components, seen)
    for item in schema.get("properties", {}).values():
        _forbid_nul(item, components, seen)


def complete_spec(schema: dict[str, Any], *, sdk_paths: frozenset[str]) -> dict[str, Any]:
    """Add the statuses and requirements above to ``schema`` (in place) and return it.
    ``sdk_paths`` are the SDK routes' paths as the spec spells them (no 409 there)."""
    components: dict[str, Any] = schema.get("components", {}).get("schemas", {})
    seen: set[str] = set()
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            if method not in _METHODS:
                continue
            parameters: list[dict[str, Any]] = operation.get("parameters", [])
            for content in operation.get("requestBody", {}).get("content", {}).values():
                _forbid_nul(content.get("schema"), components, seen)
            for parameter in parameters:
                if parameter.get("in") in ("query", "path"):
                    _forbid_nul(parameter.get("schema"), components, seen)
                if parameter.get("in") == "header" and parameter["name"].lower() == "if-match":
                    if parameter.get("schema", {}).pop(OPTIONAL_IF_MATCH, False):
                        _add(operation, "412")  # checked only when sent: never 428
                    else:
                        parameter["required"] = True
                        _add(operation, "412")
                        _add(operation, "428")
                if parameter.get("in") == "query" and parameter["name"] == "cursor":
                    _add(operation, "400")
            if any(parameter.get("in") == "path" for parameter in parameters):
                _add(operation, "404")
            if method in _EDITS and path not in sdk_paths:
                _add(operation, "409")
            if "requestBody" in operation:
                _add(operation, "413")
            _add(operation, "503")
            if path.startswith(OFREP_PREFIX):
                # OFREP answers bad input with its own error documents (400, 404),
                # never with a validation problem.
                operation["responses"].pop("422", None)
    return schema
