"""The permission catalogue (resource x action) and the built-in roles.

Every API route needs exactly one permission. Built-in roles are created by migration
``0002`` from the same lists (copied there, since a migration must not change when this
module does) and cannot be edited; custom roles combine any permissions.
"""

from __future__ import annotations

__all__ = [
    "ACTIONS",
    "BUILTIN_ROLES",
    "RESOURCES",
    "all_permissions",
    "permission_name",
]

RESOURCES = (
    "experiment",
    "feature_flag",
    "segment",
    "metric",
    "environment",
    "user",
    "role",
    "api_key",
    "audit_log",
    "data_source",
)
ACTIONS = ("read", "create", "update", "delete")

_AUTHORING = ("experiment", "feature_flag", "segment", "metric")


def permission_name(resource: str, action: str) -> str:
    return f"{resource}:{action}"


def all_permissions() -> list[tuple[str, str]]:
    return [(resource, action) for resource in RESOURCES for action in ACTIONS]


BUILTIN_ROLES: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "admin": ("Everything, including users, roles and API keys.", all_permissions()),
    "experimenter": (
        "Creates and runs experiments, flags, segments and metrics; reads the rest.",
        [(r, a) for r in _AUTHORING for a in ACTIONS]
        + [(r, "read") for r in ("environment", "user", "role", "audit_log", "data_source")],
    ),
    "viewer": (
        "Reads experiments, flags, segments, metrics, environments and the audit log.",
        [(r, "read") for r in (*_AUTHORING, "environment", "user", "audit_log", "data_source")],
    ),
}
