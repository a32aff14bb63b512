"""The bucketing spec: how a unit id becomes a bucket, and buckets become decisions.

Every SDK must reproduce these functions bit for bit (see docs/bucketing.md and the
vectors in tests/fixtures/bucketing.json):

* ``hash = MurmurHash3_x86_32(utf8(seed + ":" + unit_id), seed=0)`` read as unsigned;
  ``bucket = hash % 10000``, so decisions move in steps of 0.01 %.
* Each purpose hashes with its own derived seed so the decisions are uncorrelated:
  the *variant* hash uses ``seed`` itself, the *inclusion* hash (coverage, rollout)
  uses ``seed + ":inclusion"``, the *layer* hash uses ``layer_seed + ":layer"``.
* A fraction ``f`` in [0, 1] includes buckets ``[0, floor(f * 10000 + 0.5))``; a
  percentage ``p`` in [0, 100] includes ``[0, floor(p * 100 + 0.5))``. Thresholds grow
  with ``f``, so raising a rollout never removes a unit and lowering never adds one.
* Weights ``w_1..w_n`` (fractions summing to 1) become boundaries
  ``B_i = floor(C_i * 10000 + 0.5)`` over the running sums ``C_i`` in IEEE-754 double
  precision, with ``B_n`` forced to 10000; variant ``i`` owns ``[B_(i-1), B_i)``.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence

import mmh3

__all__ = [
    "BUCKETS",
    "WEIGHT_SUM_TOLERANCE",
    "bucket",
    "fraction_threshold",
    "hash_input",
    "inclusion_bucket",
    "inclusion_seed",
    "layer_bucket",
    "layer_seed",
    "percentage_threshold",
    "unsigned_hash",
    "validate_weights",
    "variant_index",
    "weight_boundaries",
]

BUCKETS = 10_000
"""Number of buckets every hash is reduced to (0.01 % resolution)."""

WEIGHT_SUM_TOLERANCE = 1e-6
"""How far the sum of a weight vector may stray from 1."""

_INCLUSION_SUFFIX = ":inclusion"
_LAYER_SUFFIX = ":layer"


def hash_input(seed: str, unit_id: str) -> str:
    """The exact string that is UTF-8 encoded and hashed: ``seed:unit_id``."""
    return f"{seed}:{unit_id}"


def unsigned_hash(seed: str, unit_id: str) -> int:
    """MurmurHash3 x86_32 (hash seed 0) of ``utf8(seed:unit_id)``, as an unsigned int."""
    result: int = mmh3.hash(f"{seed}:{unit_id}", 0, False)
    return result


def bucket(seed: str, unit_id: str) -> int:
    """The unit's bucket in [0, 10000) for ``seed`` (the variant hash)."""
    result: int = mmh3.hash(f"{seed}:{unit_id}", 0, False) % BUCKETS
    return result


def inclusion_seed(seed: str) -> str:
    """The derived seed of the inclusion hash used for coverage and rollouts."""
    return seed + _INCLUSION_SUFFIX


def layer_seed(seed: str) -> str:
    """The derived seed of a mutual-exclusion layer's hash."""
    return seed + _LAYER_SUFFIX


def inclusion_bucket(seed: str, unit_id: str) -> int:
    """The unit's bucket on the inclusion hash of ``seed``."""
    return bucket(inclusion_seed(seed), unit_id)


def layer_bucket(seed: str, unit_id: str) -> int:
    """The unit's bucket on the layer hash of layer seed ``seed``."""
    return bucket(layer_seed(seed), unit_id)


def fraction_threshold(fraction: float) -> int:
    """Buckets below this are included at ``fraction`` (0..1) coverage."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be within [0, 1], got {fraction!r}")
    return math.floor(fraction * BUCKETS + 0.5)


def percentage_threshold(percentage: float) -> int:
    """Buckets below this are included in a ``percentage`` (0..100) rollout."""
    if not 0.0 <= percentage <= 100.0:
        raise ValueError(f"percentage must be within [0, 100], got {percentage!r}")
    return math.floor(percentage * (BUCKETS // 100) + 0.5)


def validate_weights(weights: Sequence[float]) -> str | None:
    """Why ``weights`` is not a valid weight vector, or ``None`` if it is."""
    if len(weights) == 0:
        return "needs at least one weight"
    total = 0.0
    for weight in weights:
        if isinstance(weight, bool) or not isinstance(weight, int | float):
            return f"weight {weight!r} is not a number"
        if not math.isfinite(weight) or not 0.0 <= weight <= 1.0:
            return f"weight {weight!r} is not within [0, 1]"
        total += weight
    if abs(total - 1.0) > WEIGHT_SUM_TOLERANCE:
        return f"weights sum to {total!r}, not 1"
    return None


def weight_boundaries(weights: Sequence[float]) -> tuple[int, ...]:
    """Upper bucket boundaries of the variant ranges, the last one always 10000.

    Variant ``i`` owns buckets ``[boundaries[i-1], boundaries[i])`` (the first starts
    at 0). Raises ValueError for an invalid weight vector.
    """
    problem = validate_weights(weights)
    if problem is not None:
        raise ValueError(problem)
    boundaries: list[int] = []
    cumulative = 0.0
    for weight in weights:
        cumulative += weight
        boundaries.append(min(BUCKETS, math.floor(cumulative * BUCKETS + 0.5)))
    boundaries[-1] = BUCKETS
    return tuple(boundaries)


def variant_index(bucket_value: int, boundaries: Sequence[int]) -> int:
    """Index of the variant whose range holds ``bucket_value``."""
    return bisect_right(boundaries, bucket_value)
