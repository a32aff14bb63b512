"""The bucketing spec: hash, buckets, thresholds and weight ranges, checked against an
independent pure-Python MurmurHash3 and the shared vectors in tests/fixtures."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from verdict.engine import hashing
from verdict.engine.hashing import (
    BUCKETS,
    bucket,
    fraction_threshold,
    inclusion_bucket,
    layer_bucket,
    percentage_threshold,
    variant_index,
    weight_boundaries,
)

from .bucketing_reference import (
    FIXTURE,
    PUBLISHED_VECTORS,
    build_vectors,
    murmur3_x86_32,
    reference_bucket,
)

VECTORS: list[dict[str, Any]] = json.loads(FIXTURE.read_text(encoding="utf-8"))["vectors"]

unit_ids = st.text(max_size=40)
seeds = st.text(max_size=20)


@pytest.mark.parametrize(("data", "seed", "expected"), PUBLISHED_VECTORS)
def test_reference_murmur3_matches_published_vectors(data: bytes, seed: int, expected: int) -> None:
    assert murmur3_x86_32(data, seed) == expected


def test_fixture_file_equals_what_the_independent_reference_computes() -> None:
    assert json.loads(FIXTURE.read_text(encoding="utf-8")) == build_vectors()


def test_fixture_covers_unicode_empty_and_colon_ids() -> None:
    ids = {vector["unit_id"] for vector in VECTORS}
    assert {"", "with:colon", "ユーザー", "emoji-😀"} <= ids
    assert len(VECTORS) >= 50


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: f"{v['seed']}|{v['unit_id'][:12]}")
def test_engine_reproduces_every_fixture_vector(vector: dict[str, Any]) -> None:
    seed, unit_id = vector["seed"], vector["unit_id"]
    assert hashing.hash_input(seed, unit_id) == vector["hash_input"]
    assert hashing.unsigned_hash(seed, unit_id) == vector["hash"]
    assert bucket(seed, unit_id) == vector["bucket"]
    assert inclusion_bucket(seed, unit_id) == vector["inclusion_bucket"]
    assert layer_bucket(seed, unit_id) == vector["layer_bucket"]
    boundaries = weight_boundaries(vector["weights"])
    assert list(boundaries) == vector["boundaries"]
    assert variant_index(vector["bucket"], boundaries) == vector["variant_index"]
    included = vector["inclusion_bucket"] < fraction_threshold(vector["coverage"])
    assert included == vector["in_coverage"]
    in_rollout = vector["inclusion_bucket"] < percentage_threshold(vector["rollout_percentage"])
    assert in_rollout == vector["in_rollout"]


@settings(max_examples=200)
@given(seed=seeds, unit_id=unit_ids)
def test_bucket_is_deterministic_and_matches_the_reference(seed: str, unit_id: str) -> None:
    first = bucket(seed, unit_id)
    assert first == bucket(seed, unit_id)
    assert first == reference_bucket(seed, unit_id)
    assert 0 <= first < BUCKETS


def test_buckets_are_uniform_over_100k_ids() -> None:
    counts = np.bincount(
        [bucket("uniformity", f"user-{i}") for i in range(100_000)], minlength=BUCKETS
    )
    assert counts.sum() == 100_000
    assert stats.chisquare(counts).pvalue > 0.001


def test_inclusion_and_variant_buckets_of_one_seed_are_independent() -> None:
    ids = [f"unit-{i}" for i in range(100_000)]
    included = np.array([inclusion_bucket("exp", u) < 5000 for u in ids])
    arm = np.array([bucket("exp", u) * 3 // BUCKETS for u in ids])
    table = np.array([[np.sum(included & (arm == a)) for a in range(3)], [0, 0, 0]])
    table[1] = [np.sum(~included & (arm == a)) for a in range(3)]
    assert stats.chi2_contingency(table).pvalue > 0.001


@pytest.mark.parametrize(
    ("weights", "expected"),
    [
        ([0.5, 0.5], (5000, 10000)),
        ([0.34, 0.33, 0.33], (3400, 6700, 10000)),
        ([1 / 3, 1 / 3, 1 / 3], (3333, 6667, 10000)),
        ([0.0, 1.0], (0, 10000)),
        ([1.0, 0.0], (10000, 10000)),
        ([0.00005, 0.99995], (1, 10000)),
        ([0.1] * 10, (1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 9000, 10000)),
    ],
)
def test_weights_become_cumulative_rounded_ranges_ending_at_10000(
    weights: list[float], expected: tuple[int, ...]
) -> None:
    assert weight_boundaries(weights) == expected


@pytest.mark.parametrize(
    "weights", [[], [0.5], [0.6, 0.6], [-0.1, 1.1], [float("nan"), 1.0], [True, False]]
)
def test_invalid_weight_vectors_are_rejected(weights: list[float]) -> None:
    with pytest.raises(ValueError, match="weight"):
        weight_boundaries(weights)


def test_zero_weight_variants_own_no_bucket() -> None:
    boundaries = weight_boundaries([0.0, 0.5, 0.0, 0.5])
    chosen = {variant_index(b, boundaries) for b in range(BUCKETS)}
    assert chosen == {1, 3}


@pytest.mark.parametrize(
    ("percentage", "threshold"),
    [(0, 0), (0.01, 1), (0.5, 50), (12.34, 1234), (33.333, 3333), (50, 5000), (100, 10000)],
)
def test_percentages_become_thresholds_in_hundredths(percentage: float, threshold: int) -> None:
    assert percentage_threshold(percentage) == threshold


@pytest.mark.parametrize(
    ("fraction", "threshold"), [(0, 0), (0.0001, 1), (0.29, 2900), (0.5, 5000), (1, 10000)]
)
def test_fractions_become_thresholds_in_ten_thousandths(fraction: float, threshold: int) -> None:
    assert fraction_threshold(fraction) == threshold


@pytest.mark.parametrize("bad", [-0.01, 100.01])
def test_percentages_outside_0_to_100_are_rejected(bad: float) -> None:
    with pytest.raises(ValueError, match="percentage"):
        percentage_threshold(bad)


@given(
    low=st.floats(min_value=0, max_value=100),
    high=st.floats(min_value=0, max_value=100),
    unit_id=unit_ids,
)
def test_raising_a_percentage_never_removes_a_bucket(low: float, high: float, unit_id: str) -> None:
    low, high = sorted((low, high))
    included_bucket = inclusion_bucket("monotone", unit_id)
    if included_bucket < percentage_threshold(low):
        assert included_bucket < percentage_threshold(high)
