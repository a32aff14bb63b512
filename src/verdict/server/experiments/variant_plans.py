"""How an edited variant list maps onto the stored variants.

A PATCH sends the whole list. Each item continues the stored variant with its ``id``
(when given) or else its ``key``, and keeps the stored value of every field it leaves
out; stored variants no item continues are removed. While an experiment runs, no
variant may be removed and no key or control may change.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from verdict.server.experiments.models import Experiment, ExperimentStatus, Variant
from verdict.server.experiments.rules import FieldProblems
from verdict.server.experiments.schemas import VariantIn
from verdict.server.experiments.service import fill_weights, new_variant

__all__ = [
    "VariantPlan",
    "apply_variants",
    "live_variant_problems",
    "plan_variants",
    "variant_values",
]

_VARIANT_FIELDS = (
    "key",
    "label",
    "description",
    "is_control",
    "weight",
    "configuration",
    "url",
    "response_template",
    "system_prompt",
    "config_overrides",
)


@dataclass
class VariantPlan:
    """One variant of the edited list: the stored one it continues (if any) and its values."""

    stored: Variant | None
    values: dict[str, Any] = field(default_factory=dict)
    weight_unset: bool = False

    @property
    def key(self) -> str:
        return str(self.values["key"])

    @property
    def is_control(self) -> bool:
        return bool(self.values["is_control"])


def variant_values(variant: Variant) -> dict[str, Any]:
    return {name: getattr(variant, name) for name in _VARIANT_FIELDS}


def plan_variants(
    stored: Sequence[Variant], items: Sequence[VariantIn], problems: FieldProblems
) -> list[VariantPlan]:
    by_id = {v.id: v for v in stored}
    matched: dict[uuid.UUID, int] = {}
    targets: list[Variant | None] = [None] * len(items)
    for index, item in enumerate(items):  # explicit ids first, so keys can be swapped
        if item.id is None:
            continue
        found = by_id.get(item.id)
        if found is None:
            problems.append((f"body.variants.{index}.id", "no variant with this id here"))
        elif found.id in matched:
            problems.append((f"body.variants.{index}.id", "the same variant is listed twice"))
        else:
            matched[found.id] = index
            targets[index] = found
    unmatched_by_key = {v.key: v for v in stored if v.id not in matched}
    for index, item in enumerate(items):
        if item.id is None and item.key in unmatched_by_key:
            found = unmatched_by_key.pop(item.key)
            matched[found.id] = index
            targets[index] = found
    plans = []
    for item, target in zip(items, targets, strict=True):
        sent = item.model_dump(include=set(_VARIANT_FIELDS) & item.model_fields_set)
        if target is None:
            values = item.model_dump(include=set(_VARIANT_FIELDS))
            plans.append(VariantPlan(None, values, weight_unset=item.weight is None))
        else:
            values = variant_values(target)
            values.update({k: v for k, v in sent.items() if not (k == "weight" and v is None)})
            plans.append(VariantPlan(target, values))
    return plans


def live_variant_problems(
    stored: Sequence[Variant], plans: Sequence[VariantPlan], status: ExperimentStatus
) -> FieldProblems:
    """Running or paused: no variant removed, no key or control changed."""
    kept = {p.stored.id for p in plans if p.stored is not None}
    removed = [v.key for v in stored if v.id not in kept]
    problems: FieldProblems = []
    if removed:
        problems.append(
            (
                "body.variants",
                f"cannot remove variant(s) {', '.join(removed)} from a {status.value} "
                "experiment; set a weight of 0 instead",
            )
        )
    for index, plan in enumerate(plans):
        if plan.stored is None:
            continue
        if plan.key != plan.stored.key:
            problems.append(
                (
                    f"body.variants.{index}.key",
                    f"cannot change a variant key of a {status.value} experiment",
                )
            )
        if plan.is_control != plan.stored.is_control:
            problems.append(
                (
                    f"body.variants.{index}.is_control",
                    f"cannot change the control of a {status.value} experiment",
                )
            )
    return problems


def apply_variants(experiment: Experiment, plans: list[VariantPlan]) -> None:
    variants: list[Variant] = []
    unset: list[Variant] = []
    for position, plan in enumerate(plans):
        if plan.stored is None:
            variant = new_variant(VariantIn(**plan.values), position)
            if plan.weight_unset:
                unset.append(variant)
        else:
            variant = plan.stored
            for name, value in plan.values.items():
                setattr(variant, name, value)
            variant.position = position
        variants.append(variant)
    fill_weights(variants, unset)
    experiment.variants = variants
