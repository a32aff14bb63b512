"""Version ordering for $v* operators, and JavaScript number formatting."""

from __future__ import annotations

import pytest

from verdict.engine.semver import js_number_to_string, padded_version_string

# The precedence example of the Semantic Versioning 2.0.0 specification (section 11),
# extended with releases around it.
SEMVER_ORDER = [
    "0.9.0",
    "1.0.0-alpha",
    "1.0.0-alpha.1",
    "1.0.0-alpha.beta",
    "1.0.0-beta",
    "1.0.0-beta.2",
    "1.0.0-beta.11",
    "1.0.0-rc.1",
    "1.0.0",
    "1.0.1",
    "1.2.0",
    "1.10.0",
    "2.0.0",
]


def test_padded_versions_sort_in_semantic_version_precedence() -> None:
    padded = [padded_version_string(version) for version in SEMVER_ORDER]
    assert padded == sorted(padded)
    assert len(set(padded)) == len(padded)


@pytest.mark.parametrize(
    ("version", "padded"),
    [
        ("1.2.3", "    1-    2-    3-~"),
        ("v1.2.3-rc.1+build.5", "    1-    2-    3-rc-    1"),
        ("1.2", "    1-    2"),
        ("", "    0"),
        (None, "    0"),
        (2, "    2"),
        (1.5, "    1-    5"),
    ],
)
def test_versions_are_padded_like_growthbook(version: object, padded: str) -> None:
    assert padded_version_string(version) == padded


def test_build_metadata_and_a_leading_v_do_not_change_a_version() -> None:
    assert padded_version_string("v2.0.0+sha.abc") == padded_version_string("2.0.0")


@pytest.mark.parametrize(
    ("number", "text"),
    [
        (0, "0"),
        (-0.0, "0"),
        (1, "1"),
        (1.5, "1.5"),
        (-2.5, "-2.5"),
        (1e20, "100000000000000000000"),
        (1e21, "1e+21"),
        (1e16, "10000000000000000"),
        (2**53, "9007199254740992"),
        (0.000001, "0.000001"),
        (1e-7, "1e-7"),
        (1.5e-7, "1.5e-7"),
        (0.1 + 0.2, "0.30000000000000004"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (5e-324, "5e-324"),
        (float("nan"), "NaN"),
        (float("-inf"), "-Infinity"),
        (10**400, "Infinity"),
    ],
)
def test_numbers_are_written_as_javascript_writes_them(number: float, text: str) -> None:
    assert js_number_to_string(number) == text
