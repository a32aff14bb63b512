"""Hand-written GrowthBook export documents, shaped as GrowthBook's documentation and
API schemas describe them (the SDK payload, the REST ``GET /api/v1/features`` answer
and saved groups), shared by the flag importer's unit and integration tests. Each
function returns a fresh document, so a test may change its copy.
"""

from __future__ import annotations

import json
from typing import Any


def growthbook_payload() -> dict[str, Any]:
    """An SDK connection's payload for one environment."""
    return {
        "status": 200,
        "dateUpdated": "2026-11-20T10:00:00.000Z",
        "features": {
            "checkout-v2-backend": {"defaultValue": True},
            "new-checkout": {
                "defaultValue": False,
                "rules": [
                    {
                        "parentConditions": [
                            {
                                "id": "checkout-v2-backend",
                                "condition": {"value": True},
                                "gate": True,
                            }
                        ]
                    },
                    {
                        "id": "fr_staff",
                        "condition": {"email": {"$regex": "@example\\.com$"}},
                        "force": True,
                    },
                    {"id": "fr_beta", "condition": {"id": {"$inGroup": "grp_beta"}}, "force": True},
                    {
                        "id": "fr_ramp",
                        "condition": {"plan": "pro"},
                        "force": True,
                        "coverage": 0.3,
                        "hashAttribute": "id",
                    },
                    {
                        "id": "exp_copy",
                        "key": "checkout-copy-test",
                        "variations": [False, True],
                        "weights": [0.5, 0.5],
                        "coverage": 1,
                        "hashAttribute": "id",
                        "meta": [{"key": "0"}, {"key": "1"}],
                        "phase": "0",
                    },
                ],
            },
            "button-color": {
                "defaultValue": "blue",
                "rules": [
                    {
                        "id": "fr_vip",
                        "condition": {"$savedGroup": {"id": "grp_vip"}},
                        "force": "gold",
                    },
                    {
                        "id": "fr_mobile",
                        "condition": {
                            "$or": [
                                {"device": "ios"},
                                {"device": "android", "app_version": {"$vgte": "5.2.0"}},
                            ]
                        },
                        "force": "green",
                    },
                    {
                        "id": "fr_europe",
                        "condition": {
                            "id": {"$notInGroup": "grp_internal"},
                            "country": {"$in": ["FR", "DE"]},
                        },
                        "force": "red",
                    },
                ],
            },
            "max-cart-items": {
                "defaultValue": 20,
                "rules": [
                    {"condition": {"plan": {"$in": ["pro", "enterprise"]}}, "force": 100},
                    {"condition": {"tags": {"$elemMatch": {"$eq": "wholesale"}}}, "force": 500},
                ],
            },
            "welcome-banner": {
                "defaultValue": {"text": "Welcome", "dismissible": True},
                "rules": [
                    {
                        "condition": {"country": "FR"},
                        "force": {"text": "Bienvenue", "dismissible": True},
                    }
                ],
            },
            "team-rollout": {
                "defaultValue": False,
                "rules": [{"force": True, "coverage": 0.5, "hashAttribute": "company"}],
            },
            "pricing-test": {
                "defaultValue": "monthly",
                "rules": [
                    {
                        "key": "pricing-test",
                        "variations": ["monthly", "yearly"],
                        "weights": [0.5, 0.5],
                        "namespace": ["pricing", 0, 0.5],
                    }
                ],
            },
        },
        "savedGroups": {
            "grp_beta": ["u-beta-1", "u-beta-2"],
            "grp_internal": ["u-staff-1"],
            "grp_vip": {"type": "condition", "condition": {"lifetime_value": {"$gte": 1000}}},
        },
    }


def _definition(default: Any, rules: list[dict[str, Any]] | None = None) -> str:
    definition: dict[str, Any] = {"defaultValue": default}
    if rules:
        definition["rules"] = rules
    return json.dumps(definition)


def growthbook_rest_export() -> dict[str, Any]:
    """``GET /api/v1/features`` with ``GET /api/v1/saved-groups``'s groups added."""
    revision = {"version": 3, "comment": "", "date": "2026-11-01T00:00:00.000Z"}
    return {
        "features": [
            {
                "id": "dark-mode",
                "dateCreated": "2026-10-01T09:00:00.000Z",
                "dateUpdated": "2026-11-01T09:00:00.000Z",
                "archived": False,
                "description": "Dark theme for the web app",
                "owner": "alice@example.com",
                "project": "prj_web",
                "valueType": "boolean",
                "defaultValue": "false",
                "tags": ["ui", "theme"],
                "environments": {
                    "production": {
                        "enabled": True,
                        "defaultValue": "false",
                        "rules": [
                            {
                                "id": "fr_beta",
                                "type": "force",
                                "description": "beta testers",
                                "condition": "",
                                "savedGroupTargeting": [
                                    {"matchType": "all", "savedGroups": ["grp_testers"]}
                                ],
                                "enabled": True,
                                "value": "true",
                            },
                            {
                                "id": "fr_half",
                                "type": "rollout",
                                "description": "",
                                "condition": "",
                                "enabled": True,
                                "value": "true",
                                "coverage": 0.5,
                                "hashAttribute": "id",
                            },
                        ],
                        "definition": _definition(
                            False,
                            [
                                {
                                    "id": "fr_beta",
                                    "condition": {"id": {"$inGroup": "grp_testers"}},
                                    "force": True,
                                },
                                {
                                    "id": "fr_half",
                                    "force": True,
                                    "coverage": 0.5,
                                    "hashAttribute": "id",
                                },
                            ],
                        ),
                    },
                    "staging": {
                        "enabled": True,
                        "defaultValue": "false",
                        "rules": [],
                        "definition": _definition(False, [{"id": "fr_all", "force": True}]),
                    },
                    "dev": {
                        "enabled": False,
                        "defaultValue": "false",
                        "rules": [
                            {
                                "id": "fr_dev",
                                "type": "force",
                                "description": "",
                                "condition": "",
                                "enabled": True,
                                "value": "true",
                            }
                        ],
                        "definition": "null",
                    },
                },
                "prerequisites": [],
                "revision": revision,
            },
            {
                "id": "search-results",
                "dateCreated": "2026-10-02T09:00:00.000Z",
                "dateUpdated": "2026-11-02T09:00:00.000Z",
                "archived": False,
                "description": "",
                "owner": "bob@example.com",
                "project": "",
                "valueType": "number",
                "defaultValue": "10",
                "tags": [],
                "environments": {
                    "production": {
                        "enabled": True,
                        "defaultValue": "10",
                        "rules": [],
                        "definition": _definition(
                            10, [{"condition": {"plan": "pro"}, "force": 50}]
                        ),
                    },
                    "staging": {
                        "enabled": False,
                        "defaultValue": "10",
                        "rules": [],
                        "definition": "null",
                    },
                },
                "revision": revision,
            },
            {
                "id": "old-header",
                "dateCreated": "2025-01-02T09:00:00.000Z",
                "dateUpdated": "2025-03-02T09:00:00.000Z",
                "archived": True,
                "description": "",
                "owner": "",
                "project": "",
                "valueType": "boolean",
                "defaultValue": "true",
                "tags": [],
                "environments": {},
                "revision": revision,
            },
        ],
        "limit": 10,
        "offset": 0,
        "count": 3,
        "total": 3,
        "hasMore": False,
        "nextOffset": None,
        "savedGroups": [
            {
                "id": "grp_testers",
                "type": "list",
                "dateCreated": "2026-09-01T00:00:00.000Z",
                "dateUpdated": "2026-09-01T00:00:00.000Z",
                "name": "Beta testers",
                "owner": "",
                "attributeKey": "id",
                "values": ["u-1", "u-2", "u-3"],
            }
        ],
    }
