"""The power calculator endpoint, checked against independent references."""

from __future__ import annotations

import math

import pytest
from fastapi.testclient import TestClient
from scipy.stats import norm
from statsmodels.stats.power import NormalIndPower


def fleiss_n(p1: float, p2: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """Fleiss' per-group size without continuity correction, computed here with scipy."""
    z_a, z_b = norm.ppf(1 - alpha / 2), norm.ppf(power)
    p = (p1 + p2) / 2
    root = z_a * math.sqrt(2 * p * (1 - p)) + z_b * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    return math.ceil(root**2 / (p2 - p1) ** 2)


def test_proportion_sample_size_matches_the_classic_table(
    client: TestClient, viewer: dict[str, str]
) -> None:
    # 10% baseline, +2 points, alpha 0.05 two-sided, 80% power: the textbook 3,841.
    response = client.post(
        "/api/v1/power",
        json={"metric": "proportion", "baseline": 0.10, "mde": 0.02, "daily_units": 1000},
        headers=viewer,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["sample_size_per_variant"] == fleiss_n(0.10, 0.12) == 3841
    assert body["total_sample_size"] == 2 * 3841
    assert body["days"] == pytest.approx(7.7)
    assert body["mde_relative"] == pytest.approx(0.2)


def test_relative_mde_is_read_against_the_baseline(
    client: TestClient, viewer: dict[str, str]
) -> None:
    relative = client.post(
        "/api/v1/power",
        json={"metric": "proportion", "baseline": 0.10, "mde": 0.2, "relative": True},
        headers=viewer,
    ).json()
    assert relative["sample_size_per_variant"] == 3841


def test_mean_sample_size_matches_statsmodels(client: TestClient, viewer: dict[str, str]) -> None:
    # Three variants: the analysis Holm-adjusts across two comparisons, so the plan
    # tests each at alpha / 2.
    expected = NormalIndPower().solve_power(effect_size=0.5 / 4.0, alpha=0.025, power=0.9)
    response = client.post(
        "/api/v1/power",
        json={
            "metric": "mean",
            "baseline": 20.0,
            "std": 4.0,
            "mde": 0.5,
            "power": 0.9,
            "variants": 3,
        },
        headers=viewer,
    ).json()
    assert response["sample_size_per_variant"] == math.ceil(expected)
    assert response["total_sample_size"] == 3 * math.ceil(expected)
    assert response["comparisons"] == 2
    assert response["level"] == pytest.approx(0.025)
    assert "Holm across 2 comparisons" in response["method"]


def test_metrics_and_variants_make_the_holm_family(
    client: TestClient, viewer: dict[str, str]
) -> None:
    body = {"metric": "mean", "baseline": 20.0, "std": 4.0, "mde": 0.5, "variants": 3}
    response = client.post("/api/v1/power", json={**body, "metrics": 2}, headers=viewer).json()
    expected = NormalIndPower().solve_power(effect_size=0.5 / 4.0, alpha=0.05 / 4, power=0.8)
    assert response["comparisons"] == 4
    assert response["sample_size_per_variant"] == math.ceil(expected)


def test_one_sided_plans_are_one_sided(client: TestClient, viewer: dict[str, str]) -> None:
    response = client.post(
        "/api/v1/power",
        json={"metric": "mean", "baseline": 20.0, "std": 4.0, "mde": 0.5, "alternative": "greater"},
        headers=viewer,
    ).json()
    expected = NormalIndPower().solve_power(
        effect_size=0.5 / 4.0, alpha=0.05, power=0.8, alternative="larger"
    )
    assert response["sample_size_per_variant"] == math.ceil(expected)


def test_a_sequential_plan_needs_more_units_than_a_fixed_one(
    client: TestClient, viewer: dict[str, str]
) -> None:
    body = {"metric": "proportion", "baseline": 0.10, "mde": 0.02}
    fixed = client.post("/api/v1/power", json=body, headers=viewer).json()
    sequential = client.post(
        "/api/v1/power", json={**body, "sequential": True}, headers=viewer
    ).json()
    assert sequential["sample_size_per_variant"] > fixed["sample_size_per_variant"]
    assert sequential["method"].startswith("sequential")


def test_an_unreachable_effect_says_why(client: TestClient, viewer: dict[str, str]) -> None:
    response = client.post(
        "/api/v1/power",
        json={"metric": "proportion", "baseline": 0.5, "sample_size_per_variant": 10},
        headers=viewer,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["mde_absolute"] is None
    # Reference: the power of the largest possible change, 50 % -> 100 %, with scipy.
    se0 = math.sqrt(0.75 * 0.25 * 2 / 10)
    se1 = math.sqrt(0.5 * 0.5 / 10)
    best = norm.cdf((0.5 - norm.ppf(0.975) * se0) / se1)
    assert "No effect is detectable with 10 units per variant" in body["note"]
    assert f"{best:.1%}" in body["note"]


@pytest.mark.parametrize("field", ["baseline", "mde", "std", "alpha", "daily_units"])
def test_not_a_number_is_refused_as_not_finite(
    client: TestClient, viewer: dict[str, str], field: str
) -> None:
    body: dict[str, object] = {"metric": "mean", "baseline": 1.0, "std": 1.0, "mde": 0.1}
    body[field] = "NaN"
    response = client.post("/api/v1/power", json=body, headers=viewer)
    assert response.status_code == 422
    error = next(e for e in response.json()["errors"] if e["field"] == f"body.{field}")
    assert "finite" in error["reason"]


def test_mean_mde_for_a_given_size_has_the_requested_power_in_statsmodels(
    client: TestClient, viewer: dict[str, str]
) -> None:
    response = client.post(
        "/api/v1/power",
        json={"metric": "mean", "baseline": 20.0, "std": 4.0, "sample_size_per_variant": 2000},
        headers=viewer,
    ).json()
    achieved = NormalIndPower().power(
        effect_size=response["mde_absolute"] / 4.0, nobs1=2000, alpha=0.05
    )
    assert achieved == pytest.approx(0.8, abs=1e-6)


def test_achieved_power_at_the_table_size_is_eighty_percent(
    client: TestClient, viewer: dict[str, str]
) -> None:
    response = client.post(
        "/api/v1/power",
        json={
            "metric": "proportion",
            "baseline": 0.10,
            "mde": 0.02,
            "sample_size_per_variant": 3841,
        },
        headers=viewer,
    ).json()
    assert response["power"] == pytest.approx(0.80, abs=0.002)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"metric": "proportion", "baseline": 0.1}, "body.mde"),
        ({"metric": "mean", "baseline": 3.0, "mde": 0.1}, "body.std"),
        ({"metric": "proportion", "baseline": 1.5, "mde": 0.1}, "body.baseline"),
        ({"metric": "proportion", "baseline": 0.95, "mde": 0.1}, "body.baseline"),
        ({"metric": "proportion", "baseline": 0.1, "mde": 0.01, "alpha": 1.5}, "body.alpha"),
        ({"metric": "median", "baseline": 0.1, "mde": 0.01}, "body.metric"),
        (
            {
                "metric": "mean",
                "baseline": 1.0,
                "std": 1.0,
                "mde": 0.1,
                "sequential": True,
                "alternative": "less",
            },
            "body.alternative",
        ),
        (
            {"metric": "mean", "baseline": 1.0, "std": 1.0, "mde": -0.1, "alternative": "greater"},
            "body.mde",
        ),
    ],
)
def test_bad_questions_are_refused_naming_the_field(
    client: TestClient, viewer: dict[str, str], body: dict[str, object], field: str
) -> None:
    response = client.post("/api/v1/power", json=body, headers=viewer)
    assert response.status_code == 422
    assert field in [error["field"] for error in response.json()["errors"]]


def test_an_effect_too_small_to_detect_is_a_clear_error(
    client: TestClient, viewer: dict[str, str]
) -> None:
    response = client.post(
        "/api/v1/power",
        json={"metric": "mean", "baseline": 1.0, "std": 1e12, "mde": 1e-12},
        headers=viewer,
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.mde"
