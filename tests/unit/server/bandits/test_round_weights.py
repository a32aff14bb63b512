"""Bandit weights as stored: whole steps of 1/10,000 that sum to exactly 1, none below
the floor, each within a step of what Thompson sampling asked for."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from verdict.server.bandits.service import RESOLUTION, round_weights
from verdict.stats.bandits import apply_floor


@pytest.mark.parametrize("seed", range(20))
def test_rounded_weights_are_whole_steps_summing_to_one_above_the_floor(seed: int) -> None:
    rng = np.random.default_rng(seed)
    arms = int(rng.integers(2, 7))
    floor = float(rng.choice([0.0001, 0.01, 0.02, 1 / 30]))
    raw = apply_floor(rng.dirichlet(np.full(arms, 0.3)), floor)  # as Thompson sampling gives
    rounded = round_weights(list(raw), floor)
    steps = [Fraction(w).limit_denominator(RESOLUTION) * RESOLUTION for w in rounded]
    assert all(step.denominator == 1 for step in steps)
    assert sum(steps) == RESOLUTION
    least = np.ceil(floor * RESOLUTION - 1e-9)
    assert all(step >= least for step in steps)
    # Largest remainders move each weight by less than one step; where a floor that is
    # not a whole step is rounded up, the largest arm gives back at most a step per arm.
    assert np.max(np.abs(np.array(rounded) - raw)) <= arms / RESOLUTION


def test_weights_that_are_already_steps_are_kept() -> None:
    assert round_weights([0.25, 0.25, 0.5], 0.01) == [0.25, 0.25, 0.5]
    assert round_weights([0.98, 0.01, 0.01], 0.01) == [0.98, 0.01, 0.01]


def test_a_third_each_rounds_to_steps_that_still_add_up() -> None:
    rounded = round_weights([1 / 3, 1 / 3, 1 / 3], 0.01)
    assert sorted(round(w * RESOLUTION) for w in rounded) == [3333, 3333, 3334]
