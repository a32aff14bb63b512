"""An independent reference for the bucketing spec, used to build and check the vectors.

Nothing here imports ``verdict`` or ``mmh3``: MurmurHash3 x86_32 is written out from
Austin Appleby's algorithm description, and bucket ranges are computed with exact
fractions instead of the engine's floating-point sums. The vectors in
tests/fixtures/bucketing.json were generated once by running this module
(``python -m tests.unit.engine.bucketing_reference`` from the repository root); the
tests check that the file still equals what this reference computes, and that the
engine agrees with the file.
"""

from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path
from typing import Any

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "bucketing.json"

_MASK = 0xFFFFFFFF
_C1 = 0xCC9E2D51
_C2 = 0x1B873593


def _rotl(value: int, shift: int) -> int:
    return ((value << shift) | (value >> (32 - shift))) & _MASK


def _scramble(k: int) -> int:
    k = (k * _C1) & _MASK
    k = _rotl(k, 15)
    return (k * _C2) & _MASK


def murmur3_x86_32(data: bytes, seed: int = 0) -> int:
    """MurmurHash3_x86_32 of ``data`` as an unsigned 32-bit integer."""
    h = seed & _MASK
    block_count = len(data) // 4
    for index in range(block_count):
        k = int.from_bytes(data[4 * index : 4 * index + 4], "little")
        h ^= _scramble(k)
        h = _rotl(h, 13)
        h = (h * 5 + 0xE6546B64) & _MASK
    tail = data[4 * block_count :]
    if tail:
        k = 0
        for position, byte in enumerate(tail):
            k |= byte << (8 * position)
        h ^= _scramble(k)
    h ^= len(data)
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _MASK
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _MASK
    h ^= h >> 16
    return h


# Published MurmurHash3_x86_32 test vectors (input bytes, seed, expected hash).
PUBLISHED_VECTORS: list[tuple[bytes, int, int]] = [
    (b"", 0, 0x00000000),
    (b"", 1, 0x514E28B7),
    (b"", 0xFFFFFFFF, 0x81F16F39),
    (b"\xff\xff\xff\xff", 0, 0x76293B50),
    (b"\x21\x43\x65\x87", 0, 0xF55B516B),
    (b"\x21\x43\x65\x87", 0x5082EDEE, 0x2362F9DE),
    (b"\x21\x43\x65", 0, 0x7E4A8634),
    (b"\x21\x43", 0, 0xA0F7B07A),
    (b"\x21", 0, 0x72661CF4),
    (b"\x00\x00\x00\x00", 0, 0x2362F9DE),
    (b"\x00\x00\x00", 0, 0x85F0B427),
    (b"\x00\x00", 0, 0x30F4C306),
    (b"\x00", 0, 0x514E28B7),
    (b"aaaa", 0x9747B28C, 0x5A97808A),
    (b"Hello, world!", 0x9747B28C, 0x24884CBA),
    (b"The quick brown fox jumps over the lazy dog", 0x9747B28C, 0x2FA826CD),
]


def reference_bucket(seed: str, unit_id: str) -> int:
    return murmur3_x86_32(f"{seed}:{unit_id}".encode()) % 10_000


def reference_boundaries(weights: list[str]) -> list[int]:
    """Bucket boundaries from decimal weight strings, with exact arithmetic."""
    total = Fraction(0)
    boundaries = []
    for weight in weights:
        total += Fraction(weight)
        boundaries.append(math.floor(total * 10_000 + Fraction(1, 2)))
    boundaries[-1] = 10_000
    return boundaries


def reference_threshold(fraction: str) -> int:
    return math.floor(Fraction(fraction) * 10_000 + Fraction(1, 2))


SEEDS = ["checkout-exp", "new-checkout", "pricing-2024", "", "séed ünïcode", "a:b"]
UNIT_IDS = [
    "user-1",
    "user-2",
    "3f0c1b7e-1c2d-4e5f-8a9b-0c1d2e3f4a5b",
    "",
    "42",
    "alice@example.com",
    "ユーザー",
    "emoji-😀",
    "with:colon",
    "x" * 100,
]
WEIGHT_SETS = [
    ["0.5", "0.5"],
    ["0.34", "0.33", "0.33"],
    ["0.1", "0.2", "0.3", "0.4"],
    ["1"],
    ["0", "0.5", "0.5"],
    ["0.9999", "0.0001"],
]
COVERAGES = ["0", "0.0001", "0.25", "0.5", "0.999", "1"]
ROLLOUTS = ["0.01", "12.34", "50", "100"]


def build_vectors() -> dict[str, Any]:
    vectors = []
    counter = 0
    for seed in SEEDS:
        for unit_id in UNIT_IDS:
            weights = WEIGHT_SETS[counter % len(WEIGHT_SETS)]
            coverage = COVERAGES[(counter // len(WEIGHT_SETS) + 3) % len(COVERAGES)]
            rollout = ROLLOUTS[(counter + 1) % len(ROLLOUTS)]
            counter += 1
            variant_hash_input = f"{seed}:{unit_id}"
            inclusion_hash_input = f"{seed}:inclusion:{unit_id}"
            layer_hash_input = f"{seed}:layer:{unit_id}"
            variant_hash = murmur3_x86_32(variant_hash_input.encode())
            bucket = variant_hash % 10_000
            inclusion_bucket = murmur3_x86_32(inclusion_hash_input.encode()) % 10_000
            boundaries = reference_boundaries(weights)
            variant_index = next(i for i, end in enumerate(boundaries) if bucket < end)
            vectors.append(
                {
                    "seed": seed,
                    "unit_id": unit_id,
                    "hash_input": variant_hash_input,
                    "hash": variant_hash,
                    "bucket": bucket,
                    "inclusion_hash_input": inclusion_hash_input,
                    "inclusion_bucket": inclusion_bucket,
                    "layer_hash_input": layer_hash_input,
                    "layer_bucket": murmur3_x86_32(layer_hash_input.encode()) % 10_000,
                    "weights": [float(w) for w in weights],
                    "boundaries": boundaries,
                    "variant_index": variant_index,
                    "coverage": float(coverage),
                    "in_coverage": inclusion_bucket < reference_threshold(coverage),
                    "rollout_percentage": float(rollout),
                    "in_rollout": inclusion_bucket
                    < reference_threshold(str(Fraction(rollout) / 100)),
                }
            )
    return {
        "description": (
            "Verdict bucketing test vectors (see docs/bucketing.md). hash = "
            "MurmurHash3_x86_32(utf8(hash_input), seed=0) unsigned; bucket = hash % 10000. "
            "Variant hash input is '{seed}:{unit_id}', inclusion (coverage, rollout) "
            "'{seed}:inclusion:{unit_id}', layer '{layer_seed}:layer:{unit_id}' (here the "
            "vector's seed is used as the layer seed). Variant i owns buckets "
            "[boundaries[i-1], boundaries[i]); included when inclusion_bucket < "
            "floor(coverage*10000+0.5), or < floor(rollout_percentage*100+0.5)."
        ),
        "vectors": vectors,
    }


if __name__ == "__main__":
    FIXTURE.write_text(json.dumps(build_vectors(), indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {FIXTURE}")
