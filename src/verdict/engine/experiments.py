"""Who is in an experiment and which variant they see.

The decision order for one unit (the first step that decides wins):

1. ``forced``: a QA override for this unit id, honoured whatever the status;
2. ``not_running``: the experiment's status is not ``running``;
3. ``targeting_key_missing``: there is nothing to hash: no unit id or, for an
   experiment with a ``hash_attribute``, no usable value of that attribute;
4. ``not_targeted``: the targeting condition (and segment) does not match;
5. ``sticky``: the sticky-assignment lookup returns a variant the experiment still
   has, so the unit keeps it whatever the weights, coverage or layer say now;
6. ``holdout``: the unit's layer bucket falls in the layer's holdout range;
7. ``not_in_layer_range``: the layer bucket is outside this experiment's range;
8. ``not_in_coverage``: the inclusion bucket is at or above the coverage threshold;
9. ``bucketed``: the variant bucket picks a variant from the weight ranges (the
   configured weights, or bandit weights supplied with the decision).

Layer, inclusion and variant buckets come from three separately seeded hashes (see
:mod:`verdict.engine.hashing`), so layer membership, coverage and variant are
mutually independent, and a coverage change never moves a unit between variants.

What is hashed is the unit id, unless the experiment names a ``hash_attribute`` (say
``company_id``): then every unit with the same value of that attribute lands in the
same variant (randomisation by company, not by user). Forced variants and sticky
assignments stay keyed by the unit id.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import mmh3

from verdict.engine.conditions import SegmentTable, compile_condition
from verdict.engine.errors import ConfigError, ConfigIssue, child_path, index_path
from verdict.engine.hashing import (
    BUCKETS,
    fraction_threshold,
    inclusion_seed,
    layer_seed,
    validate_weights,
    weight_boundaries,
)
from verdict.engine.operators import ValuePredicate, all_of
from verdict.engine.types import (
    Attributes,
    ExperimentReason,
    ExperimentResult,
    StickyAssignments,
)
from verdict.engine.validation import (
    field,
    read_bool,
    read_bucket_range,
    read_list,
    read_mapping,
    read_number,
    read_str,
)

__all__ = [
    "UNIT_ID_ATTRIBUTES",
    "CompiledExperiment",
    "Layer",
    "compile_experiment",
    "compile_layers",
    "hash_value",
    "layer_overlap_issues",
    "targeting_condition",
]

_hash = mmh3.hash
_RUNNING = "running"


@dataclass(frozen=True, slots=True)
class Layer:
    """A mutual-exclusion layer: experiments in it own disjoint ranges of its hash."""

    key: str
    seed: str
    holdout: tuple[int, int] | None


class CompiledExperiment:
    """One validated experiment, ready to decide. Immutable after compilation."""

    __slots__ = (
        "_boundaries",
        "_condition",
        "_coverage_threshold",
        "_fixed",
        "_forced",
        "_hash_attribute",
        "_holdout",
        "_inclusion_prefix",
        "_layer_prefix",
        "_layer_range",
        "_sticky",
        "_variant_prefix",
        "_variant_set",
        "key",
        "layer",
        "layer_range",
        "running",
        "variants",
        "weights",
    )

    def __init__(
        self,
        key: str,
        *,
        running: bool,
        seed: str,
        condition: ValuePredicate | None,
        coverage: float,
        variants: Sequence[str],
        weights: Sequence[float],
        layer: Layer | None,
        layer_range: tuple[int, int] | None,
        forced: Mapping[str, str],
        sticky: bool,
        hash_attribute: str | None = None,
    ) -> None:
        self.key = key
        self.running = running
        self.variants: tuple[str, ...] = tuple(variants)
        self.weights: tuple[float, ...] = tuple(weights)
        self.layer = layer
        self.layer_range = layer_range
        self._variant_set = frozenset(self.variants)
        self._condition = condition
        self._coverage_threshold = fraction_threshold(coverage)
        self._boundaries = weight_boundaries(weights)
        self._variant_prefix = seed + ":"
        self._inclusion_prefix = inclusion_seed(seed) + ":"
        self._layer_prefix = None if layer is None else layer_seed(layer.seed) + ":"
        self._holdout = None if layer is None else layer.holdout
        self._layer_range = layer_range or (0, BUCKETS)
        self._forced: Mapping[str, str] = MappingProxyType(dict(forced))
        self._sticky = sticky
        self._hash_attribute = hash_attribute
        # Assigned last: once it exists the object refuses further assignments.
        self._fixed = {
            reason: ExperimentResult(key, False, None, None, reason) for reason in ExperimentReason
        }

    def __setattr__(self, name: str, value: Any) -> None:
        if hasattr(self, "_fixed"):
            raise AttributeError("a CompiledExperiment is immutable")
        object.__setattr__(self, name, value)

    def decide(
        self,
        targeting_key: str | None,
        attributes: Attributes,
        weights: Sequence[float] | None = None,
        sticky: StickyAssignments | None = None,
    ) -> ExperimentResult:
        """Decide whether and how the unit takes part (see the module docstring for the order).

        ``weights`` replaces the configured weights for this decision (bandits); it
        must have one weight per variant, in variant order, summing to 1, else
        ValueError is raised.
        """
        fixed = self._fixed
        if targeting_key and self._forced:
            forced = self._forced.get(targeting_key)
            if forced is not None:
                return ExperimentResult(self.key, True, forced, None, ExperimentReason.FORCED)
        if not self.running:
            return fixed[ExperimentReason.NOT_RUNNING]
        hashed = (
            targeting_key
            if self._hash_attribute is None
            else hash_value(attributes.get(self._hash_attribute))
        )
        if not hashed:
            return fixed[ExperimentReason.TARGETING_KEY_MISSING]
        if self._condition is not None and not self._condition(attributes):
            return fixed[ExperimentReason.NOT_TARGETED]
        if sticky is not None and self._sticky and targeting_key:
            stored = sticky.get_variant(self.key, targeting_key)
            if stored is not None and stored in self._variant_set:
                return ExperimentResult(self.key, True, stored, None, ExperimentReason.STICKY)
        if self._layer_prefix is not None:
            layer_bucket = _hash(self._layer_prefix + hashed, 0, False) % BUCKETS
            holdout = self._holdout
            if holdout is not None and holdout[0] <= layer_bucket < holdout[1]:
                return fixed[ExperimentReason.HOLDOUT]
            start, end = self._layer_range
            if not start <= layer_bucket < end:
                return fixed[ExperimentReason.NOT_IN_LAYER_RANGE]
        threshold = self._coverage_threshold
        if (
            threshold < BUCKETS
            and _hash(self._inclusion_prefix + hashed, 0, False) % BUCKETS >= threshold
        ):
            return fixed[ExperimentReason.NOT_IN_COVERAGE]
        boundaries = self._boundaries
        if weights is not None:
            if len(weights) != len(self.variants):
                raise ValueError(
                    f"experiment {self.key!r} has {len(self.variants)} variants, "
                    f"got {len(weights)} weights"
                )
            boundaries = weight_boundaries(weights)
        variant_bucket: int = _hash(self._variant_prefix + hashed, 0, False) % BUCKETS
        return ExperimentResult(
            self.key,
            True,
            self.variants[bisect_right(boundaries, variant_bucket)],
            variant_bucket,
            ExperimentReason.BUCKETED,
        )


# The names that mean "the unit id itself" (``id`` is the data model's default).
UNIT_ID_ATTRIBUTES = frozenset({"id", "unit_id", "targetingKey"})


def hash_value(value: Any) -> str | None:
    """The string an attribute value is hashed as: a string as it is, an integer in
    decimal; anything else (missing, boolean, fractional, structured) cannot place a
    unit and gives None."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def compile_layers(raw: Any, path: str) -> tuple[dict[str, Layer], list[ConfigIssue]]:
    """The layers of ``raw`` (``{key: {"seed"?, "holdout"?}}``), and issues with any."""
    layers: dict[str, Layer] = {}
    issues: list[ConfigIssue] = []
    for key, spec in read_mapping(raw, path).items():
        layer_path = child_path(path, key)
        try:
            spec = read_mapping(spec, layer_path)
            seed = read_str(field(spec, "seed", layer_path, key), child_path(layer_path, "seed"))
            holdout_raw = spec.get("holdout")
            holdout = (
                None
                if holdout_raw is None
                else read_bucket_range(holdout_raw, child_path(layer_path, "holdout"))
            )
            layers[key] = Layer(key, seed, holdout)
        except ConfigError as exc:
            issues.extend(exc.issues)
    return layers, issues


def targeting_condition(
    raw: Mapping[str, Any], path: str, segments: SegmentTable
) -> ValuePredicate | None:
    """The compiled ``condition`` and ``segment`` of a rule or experiment (both must hold)."""
    parts: list[ValuePredicate] = []
    if raw.get("condition") is not None:
        condition_path = child_path(path, "condition")
        condition = read_mapping(raw["condition"], condition_path)
        parts.append(compile_condition(condition, segments, path=condition_path))
    if raw.get("segment") is not None:
        segment_path = child_path(path, "segment")
        segment_key = read_str(raw["segment"], segment_path)
        parts.append(segments.resolve(segment_key, segment_path, on_mapping=True))
    return all_of(parts) if parts else None


def compile_experiment(
    key: str, raw: Any, path: str, segments: SegmentTable, layers: Mapping[str, Layer]
) -> CompiledExperiment:
    """Validate and compile one experiment; raises ConfigError naming the bad field."""
    spec = read_mapping(raw, path)
    status = read_str(field(spec, "status", path, _RUNNING), child_path(path, "status"))
    seed = read_str(field(spec, "seed", path, key), child_path(path, "seed"))
    coverage = read_number(field(spec, "coverage", path, 1.0), child_path(path, "coverage"), 0, 1)
    variants_path = child_path(path, "variants")
    variant_keys: list[str] = []
    weights: list[float] = []
    for index, item in enumerate(read_list(field(spec, "variants", path), variants_path)):
        item_path = index_path(variants_path, index)
        item = read_mapping(item, item_path)
        variant_key = read_str(field(item, "key", item_path), child_path(item_path, "key"))
        if variant_key in variant_keys:
            raise ConfigError.at(child_path(item_path, "key"), f"duplicate variant {variant_key!r}")
        variant_keys.append(variant_key)
        weight = field(item, "weight", item_path)
        weights.append(read_number(weight, child_path(item_path, "weight"), 0, 1))
    problem = validate_weights(weights)
    if problem is not None:
        raise ConfigError.at(variants_path, problem)
    layer: Layer | None = None
    layer_range: tuple[int, int] | None = None
    if spec.get("layer") is not None:
        layer_key = read_str(spec["layer"], child_path(path, "layer"))
        if layer_key not in layers:
            raise ConfigError.at(child_path(path, "layer"), f"unknown layer {layer_key!r}")
        layer = layers[layer_key]
        layer_range = read_bucket_range(
            field(spec, "layer_range", path), child_path(path, "layer_range")
        )
    hash_attribute = read_str(
        field(spec, "hash_attribute", path, "id"), child_path(path, "hash_attribute")
    )
    forced_path = child_path(path, "forced")
    forced = read_mapping(field(spec, "forced", path, {}), forced_path)
    for unit_id, variant_key in forced.items():
        if variant_key not in variant_keys:
            raise ConfigError.at(
                child_path(forced_path, unit_id), f"unknown variant {variant_key!r}"
            )
    return CompiledExperiment(
        key,
        running=status == _RUNNING,
        seed=seed,
        condition=targeting_condition(spec, path, segments),
        coverage=coverage,
        variants=variant_keys,
        weights=weights,
        layer=layer,
        layer_range=layer_range,
        forced=forced,
        sticky=read_bool(field(spec, "sticky", path, True), child_path(path, "sticky")),
        hash_attribute=None if hash_attribute in UNIT_ID_ATTRIBUTES else hash_attribute,
    )


def layer_overlap_issues(
    experiments: Mapping[str, CompiledExperiment], path: str
) -> dict[str, ConfigIssue]:
    """Experiments whose layer range overlaps an earlier one in the same layer."""
    by_layer: dict[str, list[CompiledExperiment]] = {}
    for experiment in experiments.values():
        if experiment.layer is not None:
            by_layer.setdefault(experiment.layer.key, []).append(experiment)
    issues: dict[str, ConfigIssue] = {}
    for layer_key, members in by_layer.items():
        claimed: list[CompiledExperiment] = []
        for experiment in members:
            assert experiment.layer_range is not None
            start, end = experiment.layer_range
            for other in claimed:
                assert other.layer_range is not None
                other_start, other_end = other.layer_range
                if start < other_end and other_start < end:
                    issues[experiment.key] = ConfigIssue(
                        child_path(child_path(path, experiment.key), "layer_range"),
                        f"[{start}, {end}) overlaps [{other_start}, {other_end}) of experiment "
                        f"{other.key!r} in layer {layer_key!r}",
                    )
                    break
            else:
                claimed.append(experiment)
    return issues
