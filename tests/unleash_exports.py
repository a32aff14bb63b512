"""Hand-written Unleash export documents, shaped as Unleash's documentation and API
schemas describe them (client features, the version-4 state export, the export of
Unleash 5+), shared by the flag importer's unit and integration tests. Each function
returns a fresh document, so a test may change its copy.

The ``*_client_features`` helpers turn an export into the client features an SDK would
fetch for one environment (what Unleash's server does: strategies of that environment
by sort order, disabled ones left out, segments with their constraints), which is what
Unleash's own engine (yggdrasil) evaluates in the tests.
"""

from __future__ import annotations

from typing import Any


def _strategy(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "parameters": {}, "constraints": [], **fields}


def unleash_client_features() -> dict[str, Any]:
    """What ``GET /api/client/features`` returns for one environment."""
    return {
        "version": 2,
        "features": [
            {
                "name": "new-navigation",
                "type": "release",
                "description": "The redesigned navigation bar",
                "project": "default",
                "enabled": True,
                "stale": False,
                "impressionData": False,
                "strategies": [
                    _strategy(
                        "default",
                        constraints=[
                            {"contextName": "country", "operator": "IN", "values": ["NO", "SE"]},
                            {
                                "contextName": "email",
                                "operator": "STR_ENDS_WITH",
                                "values": ["@example.com", "@example.org"],
                                "caseInsensitive": True,
                            },
                        ],
                    ),
                    _strategy("userWithId", parameters={"userIds": "user-7, user-9"}),
                    _strategy(
                        "flexibleRollout",
                        parameters={"rollout": "40", "stickiness": "default", "groupId": "nav"},
                        constraints=[
                            {
                                "contextName": "appVersion",
                                "operator": "SEMVER_GT",
                                "value": "2.3.0",
                            }
                        ],
                    ),
                ],
                "variants": [],
            },
            {
                "name": "premium-export",
                "type": "permission",
                "enabled": True,
                "strategies": [
                    _strategy(
                        "default",
                        constraints=[
                            {"contextName": "seats", "operator": "NUM_GTE", "value": "10"},
                            {
                                "contextName": "plan",
                                "operator": "NOT_IN",
                                "values": ["free"],
                            },
                            {
                                "contextName": "company",
                                "operator": "STR_CONTAINS",
                                "values": ["test"],
                                "inverted": True,
                            },
                        ],
                        segments=[1],
                    ),
                    _strategy("remoteAddress", parameters={"IPs": "10.1.2.3, 192.168.0.0/16"}),
                ],
                "variants": [],
            },
            {
                "name": "checkout-theme",
                "type": "experiment",
                "enabled": True,
                "strategies": [
                    _strategy(
                        "flexibleRollout",
                        parameters={"rollout": "100", "stickiness": "default", "groupId": "theme"},
                    )
                ],
                "variants": [
                    {
                        "name": "light",
                        "weight": 500,
                        "weightType": "variable",
                        "stickiness": "default",
                        "payload": {"type": "string", "value": "#ffffff"},
                        "overrides": [{"contextName": "userId", "values": ["user-3"]}],
                    },
                    {
                        "name": "dark",
                        "weight": 500,
                        "weightType": "variable",
                        "stickiness": "default",
                        "payload": {"type": "string", "value": "#000000"},
                        "overrides": [],
                    },
                ],
            },
            {
                "name": "launch-date-banner",
                "type": "release",
                "enabled": True,
                "strategies": [
                    _strategy(
                        "default",
                        constraints=[
                            {
                                "contextName": "currentTime",
                                "operator": "DATE_AFTER",
                                "value": "2026-12-01T00:00:00.000Z",
                            }
                        ],
                    ),
                    _strategy(
                        "flexibleRollout",
                        parameters={"rollout": "10", "stickiness": "sessionId", "groupId": "b"},
                    ),
                ],
                "variants": [],
            },
            {
                "name": "kill-switch-search",
                "type": "kill-switch",
                "enabled": False,
                "strategies": [_strategy("default")],
                "variants": [],
            },
            {
                "name": "everyone-on",
                "type": "operational",
                "enabled": True,
                "strategies": [],
                "variants": [],
            },
            {
                "name": "new-navigation-tooltip",
                "type": "release",
                "enabled": True,
                "strategies": [_strategy("default")],
                "variants": [],
                "dependencies": [{"feature": "new-navigation", "enabled": True}],
            },
        ],
        "segments": [
            {
                "id": 1,
                "name": "Paying Europeans",
                "constraints": [
                    {"contextName": "region", "operator": "IN", "values": ["eu-west", "eu-north"]}
                ],
            }
        ],
    }


def unleash_state_export() -> dict[str, Any]:
    """``GET /api/admin/state/export`` of Unleash 4 (version 4): two environments."""
    return {
        "version": 4,
        "features": [
            {
                "name": "search-v2",
                "description": "New search backend",
                "type": "release",
                "project": "default",
                "stale": False,
                "variants": [],
                "impressionData": True,
            },
            {
                "name": "promo-popup",
                "description": "",
                "type": "experiment",
                "project": "default",
                "stale": False,
                "variants": [],
                "impressionData": False,
            },
        ],
        "strategies": [
            {
                "name": "default",
                "description": "Default on/off strategy.",
                "parameters": [],
                "editable": False,
                "deprecated": False,
            },
        ],
        "projects": [{"id": "default", "name": "Default", "description": "Default project"}],
        "tagTypes": [{"name": "simple", "description": "Used to simplify filtering", "icon": "#"}],
        "tags": [{"type": "simple", "value": "search"}],
        "featureTags": [{"featureName": "search-v2", "tagType": "simple", "tagValue": "search"}],
        "featureStrategies": [
            {
                "id": "0d1f",
                "featureName": "search-v2",
                "projectId": "default",
                "environment": "production",
                "strategyName": "flexibleRollout",
                "parameters": {"rollout": "25", "stickiness": "userId", "groupId": "search-v2"},
                "constraints": [],
                "sortOrder": 1,
                "createdAt": "2023-01-01T00:00:00.000Z",
            },
            {
                "id": "6a2b",
                "featureName": "search-v2",
                "projectId": "default",
                "environment": "production",
                "strategyName": "default",
                "parameters": {},
                "constraints": [],
                "sortOrder": 0,
                "createdAt": "2023-01-01T00:00:00.000Z",
            },
            {
                "id": "9c3d",
                "featureName": "search-v2",
                "projectId": "default",
                "environment": "development",
                "strategyName": "default",
                "parameters": {},
                "constraints": [],
                "sortOrder": 0,
                "createdAt": "2023-01-01T00:00:00.000Z",
            },
            {
                "id": "77aa",
                "featureName": "promo-popup",
                "projectId": "default",
                "environment": "production",
                "strategyName": "default",
                "parameters": {},
                "constraints": [
                    {
                        "contextName": "appName",
                        "operator": "IN",
                        "values": ["webshop"],
                        "caseInsensitive": False,
                        "inverted": False,
                    }
                ],
                "sortOrder": 0,
                "createdAt": "2023-01-01T00:00:00.000Z",
            },
        ],
        "environments": [
            {
                "name": "development",
                "type": "development",
                "sortOrder": 100,
                "enabled": True,
                "protected": False,
            },
            {
                "name": "production",
                "type": "production",
                "sortOrder": 200,
                "enabled": True,
                "protected": False,
            },
        ],
        "featureEnvironments": [
            {
                "enabled": True,
                "featureName": "search-v2",
                "environment": "production",
                "variants": [],
            },
            {
                "enabled": True,
                "featureName": "search-v2",
                "environment": "development",
                "variants": [],
            },
            {
                "enabled": True,
                "featureName": "promo-popup",
                "environment": "production",
                "variants": [
                    {
                        "name": "ten-percent",
                        "weight": 700,
                        "weightType": "variable",
                        "stickiness": "default",
                        "overrides": [],
                        "payload": {"type": "json", "value": '{"discount": 10}'},
                    },
                    {
                        "name": "free-shipping",
                        "weight": 300,
                        "weightType": "fix",
                        "stickiness": "default",
                        "overrides": [],
                        "payload": {"type": "json", "value": '{"discount": 0, "shipping": 0}'},
                    },
                ],
            },
            {
                "enabled": False,
                "featureName": "promo-popup",
                "environment": "development",
                "variants": [],
            },
        ],
        "segments": [
            {
                "id": 4,
                "name": "beta",
                "description": "",
                "project": None,
                "constraints": [
                    {"contextName": "userId", "operator": "IN", "values": ["b-1", "b-2"]}
                ],
                "createdBy": "admin",
                "createdAt": "2023-01-01T00:00:00.000Z",
            },
        ],
        "featureStrategySegments": [{"featureStrategyId": "6a2b", "segmentId": 4}],
    }


def unleash_export() -> dict[str, Any]:
    """The export of Unleash 5+ (``POST /api/admin/features-batch/export``)."""
    return {
        "features": [
            {
                "name": "fast-checkout",
                "type": "release",
                "description": "One-page checkout",
                "project": "shop",
                "stale": False,
                "impressionData": False,
                "archived": False,
            },
            {
                "name": "fast-checkout-banner",
                "type": "release",
                "description": None,
                "project": "shop",
                "stale": False,
                "impressionData": False,
                "archived": False,
            },
        ],
        "featureStrategies": [
            {
                "name": "flexibleRollout",
                "id": "f1",
                "featureName": "fast-checkout",
                "title": "Beta users",
                "parameters": {
                    "groupId": "fast-checkout",
                    "rollout": "100",
                    "stickiness": "default",
                },
                "constraints": [],
                "segments": [12],
                "disabled": False,
                "sortOrder": 0,
            },
            {
                "name": "flexibleRollout",
                "id": "f2",
                "featureName": "fast-checkout",
                "title": "Everyone else",
                "parameters": {
                    "groupId": "fast-checkout",
                    "rollout": "20",
                    "stickiness": "default",
                },
                "constraints": [],
                "segments": [],
                "disabled": False,
                "sortOrder": 1,
            },
            {
                "name": "default",
                "id": "f3",
                "featureName": "fast-checkout",
                "title": "Old canary",
                "parameters": {},
                "constraints": [],
                "segments": [],
                "disabled": True,
                "sortOrder": 2,
            },
            {
                "name": "default",
                "id": "f4",
                "featureName": "fast-checkout-banner",
                "title": None,
                "parameters": {},
                "constraints": [],
                "segments": [],
                "disabled": False,
                "sortOrder": 0,
            },
        ],
        "featureEnvironments": [
            {
                "enabled": True,
                "featureName": "fast-checkout",
                "environment": "production",
                "variants": [],
                "name": "fast-checkout",
            },
            {
                "enabled": True,
                "featureName": "fast-checkout-banner",
                "environment": "production",
                "variants": [],
                "name": "fast-checkout-banner",
            },
        ],
        "contextFields": [],
        "featureTags": [
            {"featureName": "fast-checkout", "tagType": "simple", "tagValue": "checkout"}
        ],
        "segments": [{"id": 12, "name": "shop-beta"}],
        "tagTypes": [{"name": "simple", "description": "Used to simplify filtering", "icon": "#"}],
        "dependencies": [
            {
                "feature": "fast-checkout-banner",
                "dependencies": [{"feature": "fast-checkout", "enabled": True}],
            }
        ],
        "links": [],
    }


SHOP_BETA_CONSTRAINTS = [{"contextName": "userId", "operator": "IN", "values": ["s-1", "s-2"]}]
"""The constraints of ``shop-beta`` in the Unleash that made :func:`unleash_export`
(the export names the segment only)."""


def state_client_features(document: dict[str, Any], environment: str) -> dict[str, Any]:
    """Client features of one environment of a version-4 state export."""
    segments_of: dict[str, list[int]] = {}
    for link in document.get("featureStrategySegments", []):
        segments_of.setdefault(link["featureStrategyId"], []).append(link["segmentId"])
    features = []
    for feature in document["features"]:
        settings = next(
            (
                item
                for item in document["featureEnvironments"]
                if item["featureName"] == feature["name"] and item["environment"] == environment
            ),
            None,
        )
        strategies = sorted(
            (
                item
                for item in document["featureStrategies"]
                if item["featureName"] == feature["name"] and item["environment"] == environment
            ),
            key=lambda item: item["sortOrder"],
        )
        features.append(
            {
                "name": feature["name"],
                "enabled": bool(settings and settings["enabled"]),
                "strategies": [
                    {
                        "name": item["strategyName"],
                        "parameters": item["parameters"],
                        "constraints": item["constraints"],
                        "segments": segments_of.get(item["id"], []),
                    }
                    for item in strategies
                ],
                "variants": (settings or {}).get("variants") or [],
            }
        )
    segments = [{"id": s["id"], "constraints": s["constraints"]} for s in document["segments"]]
    return {"version": 2, "features": features, "segments": segments}


def export_client_features(
    document: dict[str, Any], segment_constraints: dict[int, list[dict[str, Any]]]
) -> dict[str, Any]:
    """Client features of an Unleash 5+ export, given the segments' constraints."""
    features = []
    for feature in document["features"]:
        settings = next(
            item
            for item in document["featureEnvironments"]
            if item["featureName"] == feature["name"]
        )
        strategies = sorted(
            (
                item
                for item in document["featureStrategies"]
                if item["featureName"] == feature["name"] and not item.get("disabled")
            ),
            key=lambda item: item["sortOrder"],
        )
        dependencies = next(
            (
                item["dependencies"]
                for item in document.get("dependencies", [])
                if item["feature"] == feature["name"]
            ),
            [],
        )
        features.append(
            {
                "name": feature["name"],
                "enabled": settings["enabled"],
                "strategies": [
                    {
                        "name": item["name"],
                        "parameters": item["parameters"],
                        "constraints": item["constraints"],
                        "segments": item["segments"],
                    }
                    for item in strategies
                ],
                "variants": settings.get("variants") or [],
                "dependencies": dependencies,
            }
        )
    segments = [{"id": key, "constraints": value} for key, value in segment_constraints.items()]
    return {"version": 2, "features": features, "segments": segments}
