"""get_variant hands back what the variant carries: its payload and, in a split-URL
test, where to send the visitor."""

from __future__ import annotations

from typing import Any

import pytest

from verdict.sdk import Client, ExperimentReason, MemoryRecorder, VariantDetails

PAYLOAD = {
    "configuration": {"button": "green", "steps": 2},
    "response_template": None,
    "system_prompt": "Answer briefly",
    "config_overrides": {"temperature": 0.2},
}

CONFIG: dict[str, Any] = {
    "experiments": {
        "landing": {
            "variants": [
                {"key": "control", "weight": 0.5, "url": "https://shop.test/landing"},
                {"key": "new", "weight": 0.5, "payload": PAYLOAD, "url": "/landing-v2?src=exp"},
            ],
            "forced": {"qa-old": "control", "qa-new": "new"},
            "condition": {"country": "NL"},
        },
        "odd": {
            "variants": [{"key": "a", "weight": 1, "payload": ["not", "an", "object"], "url": 7}],
        },
    },
}


@pytest.fixture
def client() -> Client:
    return Client("vk_offline", None, bootstrap=CONFIG, recorder=MemoryRecorder())


def test_the_variant_comes_with_its_payload_and_url(client: Client) -> None:
    new = client.get_variant("landing", "qa-new")
    assert (new.variant, new.payload, new.url) == ("new", PAYLOAD, "/landing-v2?src=exp")
    control = client.get_variant("landing", "qa-old")
    assert (control.payload, control.url) == (None, "https://shop.test/landing")


def test_a_unit_outside_the_experiment_gets_no_payload_and_no_redirect(client: Client) -> None:
    outside = client.get_variant(
        "landing", {"targeting_key": "u1", "attributes": {"country": "FR"}}
    )
    assert outside.reason is ExperimentReason.NOT_TARGETED
    assert (outside.payload, outside.url) == (None, None)
    assert outside.redirect("https://shop.test/landing") is None


def test_fields_of_the_wrong_shape_are_left_out(client: Client) -> None:
    odd = client.get_variant("odd", "u1")
    assert (odd.in_experiment, odd.variant, odd.payload, odd.url) == (True, "a", None, None)


@pytest.mark.parametrize(
    ("current", "variant_url", "expected"),
    [
        # relative URL resolved against the page; the visitor's query kept after the variant's
        (
            "https://shop.test/landing?utm=mail",
            "/landing-v2?src=exp",
            "https://shop.test/landing-v2?src=exp&utm=mail",
        ),
        # the variant's own parameter wins over the visitor's of the same name
        (
            "https://shop.test/landing?src=ad&x=1#top",
            "https://cdn.test/v2?src=exp",
            "https://cdn.test/v2?src=exp&x=1#top",
        ),
        # already there (trailing slash, host case and parameter order do not matter)
        ("https://Shop.test/landing/?b=2&a=1", "https://shop.test/landing?a=1&b=2", None),
        ("https://shop.test/landing", "https://shop.test/landing", None),
        # the variant's fragment wins
        ("https://shop.test/a#x", "/b#y", "https://shop.test/b#y"),
    ],
)
def test_redirect_says_where_to_send_the_visitor(
    current: str, variant_url: str, expected: str | None
) -> None:
    details = VariantDetails("landing", True, "new", ExperimentReason.BUCKETED, url=variant_url)
    assert details.redirect(current) == expected


def test_the_control_page_sends_only_the_other_variant_away(client: Client) -> None:
    page = "https://shop.test/landing?utm=mail"
    assert client.get_variant("landing", "qa-old").redirect(page) is None
    assert client.get_variant("landing", "qa-new").redirect(page) == (
        "https://shop.test/landing-v2?src=exp&utm=mail"
    )
