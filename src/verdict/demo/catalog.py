"""What the demo creates: segments, metrics, experiments and flags, as API request bodies.

The entities come from the documents Verdict grew from (``shared/seeds``): the homepage
button-colour test and its blue/green configurations (seed 002), a reply-style test of a
support bot whose variants carry system prompts, response templates and configuration
overrides (seed 000), and the metric kinds of seed 004 (rates, revenue, durations and a
percentile). Everything is written through the management API (:func:`create_catalog`),
so the demo exercises the same validation, audit log and change publishing a person's
edits do; the bodies below are exactly what a script would send.

:data:`EXPERIMENT_KEYS` is how a later run recognises a database the demo has seeded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import httpx

__all__ = [
    "ADMIN_EMAIL",
    "ADMIN_USERNAME",
    "BANDIT",
    "CHATBOT",
    "CHECKOUT",
    "DRAFT",
    "ENVIRONMENT",
    "EXPERIMENTS",
    "EXPERIMENT_KEYS",
    "FLAGS",
    "HOMEPAGE",
    "HOMEPAGE_FLAG",
    "LANDING",
    "METRICS",
    "RUNNING",
    "SEGMENTS",
    "CatalogError",
    "create_catalog",
]

ADMIN_USERNAME: Final = "admin"
ADMIN_EMAIL: Final = "admin@verdict.example"
ENVIRONMENT: Final = "production"
ENVIRONMENTS: Final = (
    {"key": "development", "name": "Development", "sort_order": 0},
    {"key": "staging", "name": "Staging", "sort_order": 1},
    {"key": "production", "name": "Production", "sort_order": 2},
)

HOMEPAGE: Final = "homepage-button-color"
CHATBOT: Final = "chatbot-reply-style"
CHECKOUT: Final = "checkout-flow"
BANDIT: Final = "promo-headline"
LANDING: Final = "landing-page-redesign"
DRAFT: Final = "pricing-annual-toggle"
HOMEPAGE_FLAG: Final = "homepage-cta-color"

SEGMENTS: Final[tuple[dict[str, Any], ...]] = (
    {
        "key": "mobile-users",
        "name": "Mobile users",
        "description": "Visitors on a phone or a tablet",
        "conditions": {"device": {"$in": ["mobile", "tablet"]}},
        "size_estimate": 28_000,
    },
    {
        "key": "north-america",
        "name": "North America",
        "description": "Visitors from the United States and Canada",
        "conditions": {"country": {"$in": ["US", "CA"]}},
    },
    {
        "key": "pro-plan",
        "name": "Pro plan",
        "description": "Paying customers on the pro plan",
        "conditions": {"plan": "pro"},
    },
    {
        "key": "internal-staff",
        "name": "Internal staff",
        "description": "Employees, excluded from experiments",
        "conditions": {"email": {"$regex": "@verdict\\.example$"}},
    },
)

METRICS: Final[tuple[dict[str, Any], ...]] = (
    {
        "key": "cta-click",
        "name": "Call-to-action click-through",
        "description": "Share of visitors who click the homepage's main button",
        "event_name": "cta_click",
        "type": "conversion",
        "aggregation": "unique",
        "tags": ["homepage"],
    },
    {
        "key": "page-load-p90",
        "name": "Page load time (P90)",
        "description": "90th percentile of the page load time per visitor",
        "event_name": "page_load",
        "type": "duration",
        "aggregation": "percentile",
        "percentile": 0.9,
        "lower_is_better": True,
        "unit": "ms",
        "tags": ["performance"],
    },
    {
        "key": "chat-resolved",
        "name": "Conversation resolved",
        "description": "The user marked the support conversation as solved",
        "event_name": "chat_resolved",
        "type": "conversion",
        "aggregation": "unique",
        "tags": ["support-bot"],
    },
    {
        "key": "chat-rating",
        "name": "Reply rating",
        "description": "Mean rating (1-5) the user gave the bot's replies",
        "event_name": "chat_rating",
        "type": "custom",
        "aggregation": "mean",
        "tags": ["support-bot"],
    },
    {
        "key": "purchase",
        "name": "Purchase",
        "description": "Share of checkout visitors who complete an order",
        "event_name": "purchase",
        "type": "conversion",
        "aggregation": "unique",
        "tags": ["checkout"],
    },
    {
        "key": "revenue",
        "name": "Revenue per visitor",
        "description": "Order value per checkout visitor, capped at the 99th percentile",
        "event_name": "purchase",
        "type": "revenue",
        "aggregation": "sum",
        "unit": "USD",
        "capping": "percentile",
        "cap_value": 0.99,
        "tags": ["checkout"],
    },
    {
        "key": "checkout-latency-p90",
        "name": "Checkout latency (P90)",
        "description": "90th percentile of the time from 'pay' to the confirmation page",
        "event_name": "checkout_latency",
        "type": "duration",
        "aggregation": "percentile",
        "percentile": 0.9,
        "lower_is_better": True,
        "unit": "ms",
        "tags": ["checkout", "performance"],
    },
    {
        "key": "promo-click",
        "name": "Promotion click",
        "description": "Share of deal-page visitors who click the promotion banner",
        "event_name": "promo_click",
        "type": "conversion",
        "aggregation": "unique",
        "tags": ["promotions"],
    },
    {
        "key": "signup",
        "name": "Sign-up",
        "description": "Share of landing-page visitors who create an account",
        "event_name": "signup",
        "type": "conversion",
        "aggregation": "unique",
        "tags": ["acquisition"],
    },
)

_EXCLUDE_STAFF: Final = {"exclude_segments": ["internal-staff"]}

EXPERIMENTS: Final[tuple[dict[str, Any], ...]] = (
    {
        # Seed 002, "Working with Experiments".
        "key": HOMEPAGE,
        "name": "Homepage Button Color Test",
        "description": "Testing different button colors on the homepage",
        "hypothesis": "A green button will have a higher click-through rate than a blue button",
        "type": "a_b",
        "environment": ENVIRONMENT,
        "tags": ["homepage", "seed-002"],
        "owner": ADMIN_USERNAME,
        "minimum_sample_size": 2_000,
        "breakdowns": ["device"],
        "variants": [
            {
                "key": "blue",
                "label": "Control (Blue)",
                "description": "The current blue button",
                "is_control": True,
                "weight": 0.5,
                "configuration": {"color": "blue", "hex": "#0066CC"},
            },
            {
                "key": "green",
                "label": "Treatment (Green)",
                "description": "The new green button",
                "weight": 0.5,
                "configuration": {"color": "green", "hex": "#00CC66"},
            },
        ],
        "metrics": [
            {"metric": "cta-click", "role": "primary"},
            {"metric": "page-load-p90", "role": "guardrail", "non_inferiority_margin": 0.1},
        ],
        **_EXCLUDE_STAFF,
    },
    {
        # Seed 000, ab_experiments / ab_variants: a target bot, prompts and templates.
        "key": CHATBOT,
        "name": "Support bot reply style",
        "description": "Which reply style resolves more support conversations",
        "hypothesis": "A friendlier or a more concise reply resolves more conversations "
        "than the formal one",
        "type": "a_b",
        "target": "support-bot",
        "environment": ENVIRONMENT,
        "tags": ["support-bot", "seed-000"],
        "owner": ADMIN_USERNAME,
        "minimum_sample_size": 1_000,
        "variants": [
            {
                "key": "formal",
                "label": "Formal",
                "description": "The current reply style",
                "is_control": True,
                "system_prompt": "You are the customer support assistant of an online "
                "shop. Answer formally and completely, in full sentences.",
                "response_template": "Dear {customer_name},\n\n{answer}\n\nKind regards,\n"
                "The support team",
                "config_overrides": {"temperature": 0.2, "max_tokens": 400},
            },
            {
                "key": "friendly",
                "label": "Friendly",
                "description": "Warm and personal",
                "system_prompt": "You are the friendly support assistant of an online "
                "shop. Be warm, use the customer's first name, keep it short.",
                "response_template": "Hi {customer_name}! {answer} Anything else I can help with?",
                "config_overrides": {"temperature": 0.7, "max_tokens": 250},
            },
            {
                "key": "concise",
                "label": "Concise steps",
                "description": "Numbered steps, no small talk",
                "system_prompt": "You are the support assistant of an online shop. Answer "
                "with at most five numbered steps and nothing else.",
                "response_template": "{answer}",
                "config_overrides": {"temperature": 0.0, "max_tokens": 150},
            },
        ],
        "metrics": [
            {"metric": "chat-resolved", "role": "primary"},
            {"metric": "chat-rating", "role": "secondary"},
        ],
        **_EXCLUDE_STAFF,
    },
    {
        "key": CHECKOUT,
        "name": "Checkout flow (layout x express pay)",
        "description": "Two factors at once: a one-page checkout and an express-pay button",
        "hypothesis": "A one-page checkout and express pay each raise the purchase rate "
        "without slowing the checkout down",
        "type": "multivariate",
        "environment": ENVIRONMENT,
        "tags": ["checkout"],
        "owner": ADMIN_USERNAME,
        "variants": [
            {
                "key": "control",
                "label": "Three steps, card only",
                "is_control": True,
                "configuration": {"layout": "three-step", "express_pay": False},
            },
            {
                "key": "one-page",
                "label": "One page, card only",
                "configuration": {"layout": "one-page", "express_pay": False},
            },
            {
                "key": "express",
                "label": "Three steps, express pay",
                "configuration": {"layout": "three-step", "express_pay": True},
            },
            {
                "key": "one-page-express",
                "label": "One page, express pay",
                "configuration": {"layout": "one-page", "express_pay": True},
            },
        ],
        "metrics": [
            {"metric": "purchase", "role": "primary"},
            {"metric": "revenue", "role": "secondary"},
            {"metric": "checkout-latency-p90", "role": "guardrail", "non_inferiority_margin": 0.1},
        ],
        **_EXCLUDE_STAFF,
    },
    {
        "key": BANDIT,
        "name": "Deals page promotion headline",
        "description": "A bandit moves traffic towards the headline that gets the most clicks",
        "type": "bandit",
        "environment": ENVIRONMENT,
        "tags": ["promotions"],
        "owner": ADMIN_USERNAME,
        "cuped_days": None,
        "bandit_update_minutes": 1440,
        "bandit_burn_in": 100,
        "bandit_floor": 0.05,
        "variants": [
            {
                "key": "discount",
                "label": "20% off everything",
                "is_control": True,
                "configuration": {"headline": "20% off everything this week"},
            },
            {
                "key": "shipping",
                "label": "Free shipping",
                "configuration": {"headline": "Free shipping on every order"},
            },
            {
                "key": "bundle",
                "label": "Bundle deal",
                "configuration": {"headline": "Buy two, get the third free"},
            },
        ],
        "metrics": [{"metric": "promo-click", "role": "primary"}],
        **_EXCLUDE_STAFF,
    },
    {
        "key": LANDING,
        "name": "Landing page redesign (split URL)",
        "description": "Campaign visitors are sent to the current or the redesigned page",
        "hypothesis": "The redesigned landing page gets more sign-ups",
        "type": "split_url",
        "environment": ENVIRONMENT,
        "tags": ["acquisition"],
        "owner": ADMIN_USERNAME,
        "variants": [
            {
                "key": "current",
                "label": "Current page",
                "is_control": True,
                "url": "https://shop.example/landing",
            },
            {
                "key": "redesign",
                "label": "Redesigned page",
                "url": "https://shop.example/landing-v2",
            },
        ],
        "metrics": [{"metric": "signup", "role": "primary"}],
        **_EXCLUDE_STAFF,
    },
    {
        "key": DRAFT,
        "name": "Annual billing toggle on the pricing page",
        "description": "Planned: show yearly prices first",
        "hypothesis": "Showing yearly prices first raises the share of annual plans",
        "type": "a_b",
        "environment": ENVIRONMENT,
        "tags": ["pricing"],
        "owner": ADMIN_USERNAME,
        "include_segments": ["north-america"],
        "variants": [
            {"key": "monthly-first", "is_control": True, "configuration": {"default": "monthly"}},
            {"key": "yearly-first", "configuration": {"default": "yearly"}},
        ],
        "metrics": [{"metric": "purchase", "role": "primary"}],
    },
)
EXPERIMENT_KEYS: Final = tuple(e["key"] for e in EXPERIMENTS)
# Started by the demo (the draft stays a draft) and analysed once traffic has run.
RUNNING: Final = (HOMEPAGE, CHATBOT, CHECKOUT, BANDIT, LANDING)

# (definition, {environment: state}); a state's first PUT sends If-Match "0".
FLAGS: Final[tuple[tuple[dict[str, Any], dict[str, dict[str, Any]]], ...]] = (
    (
        {
            "key": HOMEPAGE_FLAG,
            "name": "Homepage call-to-action colour",
            "description": "The button colour, decided by the homepage experiment",
            "value_type": "string",
            "default_value": "#0066CC",
            "variants": [{"key": "blue", "value": "#0066CC"}, {"key": "green", "value": "#00CC66"}],
            "tags": ["homepage"],
            "owner": ADMIN_USERNAME,
            "experiment": HOMEPAGE,
        },
        {
            ENVIRONMENT: {
                "enabled": True,
                "rules": [{"id": "button-test", "type": "experiment", "experiment": HOMEPAGE}],
            }
        },
    ),
    (
        {
            "key": "new-checkout",
            "name": "New checkout service",
            "description": "Route orders through the new checkout backend",
            "value_type": "boolean",
            "default_value": False,
            "variants": [{"key": "on", "value": True}, {"key": "off", "value": False}],
            "tags": ["checkout"],
            "owner": ADMIN_USERNAME,
        },
        {
            "staging": {"enabled": True, "rules": [{"type": "force", "value": True}]},
            ENVIRONMENT: {
                "enabled": True,
                "rules": [
                    {"id": "staff", "type": "force", "segment": "internal-staff", "variant": "on"},
                    {
                        "id": "gradual",
                        "type": "rollout",
                        "percentage": 25,
                        "value": True,
                        "segment": "north-america",
                    },
                ],
            },
        },
    ),
    (
        {
            "key": "support-bot-model",
            "name": "Support bot model",
            "description": "Which language model the support bot calls",
            "value_type": "string",
            "default_value": "small",
            "variants": [{"key": "small", "value": "small"}, {"key": "large", "value": "large"}],
            "tags": ["support-bot"],
            "owner": ADMIN_USERNAME,
        },
        {
            ENVIRONMENT: {
                "enabled": True,
                "rules": [
                    {"id": "pro", "type": "force", "segment": "pro-plan", "variant": "large"}
                ],
            }
        },
    ),
    (
        {
            "key": "dark-mode",
            "name": "Dark mode",
            "value_type": "boolean",
            "tags": ["ui"],
            "owner": ADMIN_USERNAME,
        },
        {
            "development": {"enabled": True, "rules": [{"type": "force", "value": True}]},
            ENVIRONMENT: {
                "enabled": True,
                "rules": [
                    {
                        "id": "mobile",
                        "type": "rollout",
                        "segment": "mobile-users",
                        "percentage": 50,
                        "value": True,
                    }
                ],
            },
        },
    ),
    (
        {
            "key": "max-cart-items",
            "name": "Cart size limit",
            "value_type": "integer",
            "default_value": 50,
            "tags": ["checkout"],
            "owner": ADMIN_USERNAME,
        },
        {ENVIRONMENT: {"enabled": True, "rules": []}},
    ),
)


class CatalogError(RuntimeError):
    """The API refused part of the catalogue (a bug in the demo, or a changed API)."""


def _checked(response: httpx.Response, what: str) -> dict[str, Any]:
    if response.status_code >= 400:
        raise CatalogError(f"{what}: {response.status_code} {response.text[:500]}")
    body: dict[str, Any] = response.json()
    return body


def _version(body: dict[str, Any]) -> dict[str, str]:
    return {"If-Match": f'"{body["version"]}"'}


def create_catalog(api: httpx.Client, *, say: Callable[[str], None]) -> None:
    """Create every entity above through the management API (``api`` carries an admin
    credential and the server's base URL), then start the experiments that run."""
    existing = {
        e["key"] for e in _checked(api.get("/api/v1/environments"), "environments")["items"]
    }
    for environment in ENVIRONMENTS:
        if environment["key"] not in existing:
            _checked(api.post("/api/v1/environments", json=environment), "environment")
    for segment in SEGMENTS:
        _checked(api.post("/api/v1/segments", json=segment), f"segment {segment['key']}")
    for metric in METRICS:
        _checked(api.post("/api/v1/metrics", json=metric), f"metric {metric['key']}")
    say(f"created {len(SEGMENTS)} segments and {len(METRICS)} metrics")
    for experiment in EXPERIMENTS:
        body = _checked(
            api.post("/api/v1/experiments", json=experiment), f"experiment {experiment['key']}"
        )
        if experiment["key"] in RUNNING:
            _checked(
                api.post(f"/api/v1/experiments/{experiment['key']}/start", headers=_version(body)),
                f"start {experiment['key']}",
            )
    say(f"created {len(EXPERIMENTS)} experiments ({len(RUNNING)} running, 1 draft)")
    for definition, states in FLAGS:
        key = definition["key"]
        _checked(api.post("/api/v1/flags", json=definition), f"flag {key}")
        for env_key, state in states.items():
            _checked(
                api.put(
                    f"/api/v1/flags/{key}/environments/{env_key}",
                    json=state,
                    headers={"If-Match": '"0"'},
                ),
                f"flag {key} in {env_key}",
            )
    say(f"created {len(FLAGS)} feature flags")
