"""Sticky assignments in the client with the in-memory store.

The configurations put every unit in one variant by weight alone (a weight of 1), so
each expected variant follows from the configuration by hand, with no hashing: after
the weights move every unit to the other variant, a unit seen before must keep its
first variant and a new unit must follow the new weights.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection
from typing import Any

import pytest

from verdict.sdk import (
    Client,
    EvaluationContext,
    ExperimentReason,
    MemoryRecorder,
    MemoryStickyStore,
)
from verdict.sdk.sticky import StickyStore, sticky_plan


def config(
    weights: dict[str, float],
    *,
    sticky: bool = True,
    forced: dict[str, str] | None = None,
    hash_attribute: str | None = None,
) -> dict[str, Any]:
    experiment: dict[str, Any] = {
        "status": "running",
        "variants": [{"key": key, "weight": weight} for key, weight in weights.items()],
        "sticky": sticky,
        "forced": forced or {},
    }
    if hash_attribute is not None:
        experiment["hash_attribute"] = hash_attribute
    return {
        "experiments": {"exp": experiment},
        "flags": {
            "copy": {
                "type": "string",
                "default": "none",
                "variants": [
                    {"key": "control", "value": "old"},
                    {"key": "treatment", "value": "new"},
                    {"key": "third", "value": "third"},
                ],
                "rules": [{"id": "e", "type": "experiment", "experiment": "exp"}],
            },
            "gate": {
                "type": "boolean",
                "default": False,
                "prerequisites": [{"flag": "copy", "value": "new"}],
                "rules": [{"id": "on", "type": "force", "value": True}],
            },
            "plain": {"type": "boolean", "default": True},
        },
    }


ALL_CONTROL = {"control": 1.0, "treatment": 0.0}
ALL_TREATMENT = {"control": 0.0, "treatment": 1.0}


def make_client(document: dict[str, Any], store: StickyStore | None) -> Client:
    return Client(
        "offline", None, bootstrap=document, recorder=MemoryRecorder(), sticky_store=store
    )


def test_a_unit_keeps_its_variant_after_the_weights_change() -> None:
    store = MemoryStickyStore()
    client = make_client(config(ALL_TREATMENT), store)
    seen = [f"user-{i}" for i in range(20)]
    for unit in seen:
        assert client.get_variant("exp", unit).variant == "treatment"

    client._install(config(ALL_CONTROL), '"2"')  # what a refresh does
    for unit in seen:
        details = client.get_variant("exp", unit)
        assert (details.variant, details.reason) == ("treatment", ExperimentReason.STICKY)
        assert client.get_string("copy", "?", unit) == "new"
        assert client.get_string_details("copy", "?", unit).variant == "treatment"
    fresh = client.get_variant("exp", "newcomer")
    assert (fresh.variant, fresh.reason) == ("control", ExperimentReason.BUCKETED)


def test_without_a_store_the_new_weights_move_everyone() -> None:
    client = make_client(config(ALL_TREATMENT), None)
    assert client.get_variant("exp", "user-1").variant == "treatment"
    client._install(config(ALL_CONTROL), '"2"')
    assert client.get_variant("exp", "user-1").variant == "control"


def test_a_flag_read_stores_the_decision_behind_its_value() -> None:
    store = MemoryStickyStore()
    client = make_client(config(ALL_TREATMENT), store)
    assert client.get_string("copy", "?", EvaluationContext("u-1", {"plan": "pro"})) == "new"
    assert client.is_enabled("gate", "u-2") is True  # through the prerequisite: not stored
    assert store.get_assignments("u-1", ["exp"]) == {"exp": "treatment"}

    client._install(config(ALL_CONTROL), '"2"')
    assert client.get_string("copy", "?", "u-1") == "new"
    assert client.get_variant("exp", "u-1").reason is ExperimentReason.STICKY
    # The prerequisite consults the store too: u-1 still passes the gate.
    assert client.is_enabled("gate", "u-1") is True
    assert client.is_enabled("gate", "u-3") is False


def test_a_removed_variant_is_bucketed_again_and_the_new_one_kept() -> None:
    store = MemoryStickyStore()
    client = make_client(config({"control": 1.0, "third": 0.0}), store)
    assert client.get_variant("exp", "u-1").variant == "control"

    # "control" is gone: the stored variant is ignored and the unit bucketed again.
    client._install(config({"treatment": 0.0, "third": 1.0}), '"2"')
    details = client.get_variant("exp", "u-1")
    assert (details.variant, details.reason) == ("third", ExperimentReason.BUCKETED)
    assert store.get_assignments("u-1", ["exp"]) == {"exp": "third"}

    # ... and from then on it keeps the new one.
    client._install(config({"treatment": 1.0, "third": 0.0}), '"3"')
    details = client.get_variant("exp", "u-1")
    assert (details.variant, details.reason) == ("third", ExperimentReason.STICKY)


def test_a_removed_variant_read_through_a_flag_is_replaced_too() -> None:
    store = MemoryStickyStore()
    store.save_assignment("u-1", "exp", "control")
    client = make_client(config({"treatment": 0.0, "third": 1.0}), store)
    assert client.get_string("copy", "?", "u-1") == "third"
    assert store.get_assignments("u-1", ["exp"]) == {"exp": "third"}


def test_an_experiment_that_is_not_sticky_ignores_the_store() -> None:
    store = MemoryStickyStore()
    store.save_assignment("u-1", "exp", "treatment")
    client = make_client(config(ALL_CONTROL, sticky=False), store)
    details = client.get_variant("exp", "u-1")
    assert (details.variant, details.reason) == ("control", ExperimentReason.BUCKETED)
    assert client.get_string("copy", "?", "u-2") == "old"
    assert store.get_assignments("u-2", ["exp"]) == {}
    assert store.get_assignments("u-1", ["exp"]) == {"exp": "treatment"}


def test_a_forced_variant_is_kept_only_as_a_first_assignment() -> None:
    store = MemoryStickyStore()
    store.save_assignment("qa-old", "exp", "control")
    client = make_client(
        config(ALL_CONTROL, forced={"qa-new": "treatment", "qa-old": "treatment"}), store
    )
    assert client.get_variant("exp", "qa-new").reason is ExperimentReason.FORCED
    assert client.get_variant("exp", "qa-old").variant == "treatment"  # forced wins
    assert store.get_assignments("qa-new", ["exp"]) == {"exp": "treatment"}
    assert store.get_assignments("qa-old", ["exp"]) == {"exp": "control"}  # not replaced


def test_sticky_assignments_stay_keyed_by_the_unit_id_with_a_hash_attribute() -> None:
    store = MemoryStickyStore()
    client = make_client(config(ALL_TREATMENT, hash_attribute="company"), store)
    ctx = EvaluationContext("u-1", {"company": "acme"})
    assert client.get_variant("exp", ctx).variant == "treatment"
    assert store.get_assignments("u-1", ["exp"]) == {"exp": "treatment"}
    client._install(config(ALL_CONTROL, hash_attribute="company"), '"2"')
    assert client.get_variant("exp", ctx).reason is ExperimentReason.STICKY
    other = EvaluationContext("u-2", {"company": "acme"})
    assert client.get_variant("exp", other).variant == "control"


def test_evaluate_all_reads_the_store_but_saves_nothing() -> None:
    store = MemoryStickyStore()
    store.save_assignment("u-1", "exp", "treatment")
    client = make_client(config(ALL_CONTROL), store)
    results = client.evaluate_all("u-1")
    assert results["copy"].value == "new"
    assert results["gate"].value is True
    assert client.evaluate_all("u-2")["copy"].value == "old"
    assert store.get_assignments("u-2", ["exp"]) == {}


def test_reads_without_a_unit_or_an_experiment_never_touch_the_store() -> None:
    class Counting(MemoryStickyStore):
        calls = 0

        def get_assignments(self, unit_id: str, experiment_keys: Collection[str]) -> dict[str, str]:
            Counting.calls += 1
            return super().get_assignments(unit_id, experiment_keys)

    client = make_client(config(ALL_CONTROL), Counting())
    assert client.get_bool("plain", False, "u-1") is True
    assert client.get_variant("nope", "u-1").reason is ExperimentReason.NOT_FOUND
    assert client.get_variant("exp", None).reason is ExperimentReason.TARGETING_KEY_MISSING
    assert Counting.calls == 0
    client.get_variant("exp", "u-1")
    assert Counting.calls == 1  # one read for the experiment, none again to save


class Broken:
    """A store that always fails, like a Redis that is down."""

    calls = 0

    def get_assignments(self, unit_id: str, experiment_keys: Collection[str]) -> dict[str, str]:
        Broken.calls += 1
        raise ConnectionError("store down")

    def save_assignment(self, unit_id: str, experiment_key: str, variant: str) -> None:
        Broken.calls += 1
        raise ConnectionError("store down")


def test_a_failing_store_never_raises_buckets_normally_and_logs_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="verdict.sdk")
    client = make_client(config(ALL_TREATMENT), Broken())
    for i in range(50):
        details = client.get_variant("exp", f"u-{i}")
        assert (details.variant, details.reason) == ("treatment", ExperimentReason.BUCKETED)
        assert client.get_string("copy", "?", f"u-{i}") == "new"
        assert client.is_enabled("gate", f"u-{i}") is True
    assert len([r for r in caplog.records if "sticky store failed" in r.message]) == 1
    # After a failure the store is left alone for a moment rather than asked per read.
    assert Broken.calls == 1


def test_the_memory_store_forgets_the_least_recently_used_unit() -> None:
    store = MemoryStickyStore(max_units=2)
    store.save_assignment("a", "exp", "control")
    store.save_assignment("b", "exp", "control")
    assert store.get_assignments("a", ["exp"]) == {"exp": "control"}  # a is now recent
    store.save_assignment("c", "exp", "treatment")
    assert len(store) == 2
    assert store.get_assignments("b", ["exp"]) == {}
    assert store.get_assignments("a", ["exp", "other"]) == {"exp": "control"}


def test_the_memory_store_is_safe_across_threads() -> None:
    roomy = MemoryStickyStore(max_units=1_000)  # holds every unit: nothing may be lost
    tight = MemoryStickyStore(max_units=500)  # must stay within its bound

    def work(worker: int) -> None:
        for i in range(2_000):
            for store in (roomy, tight):
                store.save_assignment(f"u-{i % 700}", f"exp-{worker}", "v")
                store.get_assignments(f"u-{(i * 7) % 700}", [f"exp-{worker}"])

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(tight) == 500
    assert len(roomy) == 700
    every = {f"exp-{n}": "v" for n in range(4)}
    assert all(roomy.get_assignments(f"u-{i}", list(every)) == every for i in range(700))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"max_units": 0}, "max_units"), ({"max_units": True}, "max_units")],
)
def test_bad_memory_store_arguments_are_refused_naming_the_field(
    kwargs: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValueError, match=f"^{field}: "):
        MemoryStickyStore(**kwargs)


def test_a_unit_id_the_server_would_refuse_is_not_saved() -> None:
    with pytest.raises(ValueError, match=r"^unit_id: "):
        MemoryStickyStore().save_assignment("x" * 256, "exp", "v")


def test_the_plan_follows_rules_and_prerequisites_and_skips_unsticky_experiments() -> None:
    document = config(ALL_CONTROL)
    document["experiments"]["loose"] = {
        "variants": [{"key": "control", "weight": 1}],
        "sticky": False,
    }
    document["flags"]["loose-flag"] = {
        "type": "string",
        "default": "x",
        "variants": [{"key": "control", "value": "c"}],
        "rules": [{"id": "l", "type": "experiment", "experiment": "loose"}],
        "prerequisites": [{"flag": "gate", "value": True}],
    }
    plan = sticky_plan(document)
    assert plan.experiments == {"exp"}
    assert plan.flags == {
        "copy": {"exp"},
        "gate": {"exp"},
        "plain": set(),
        "loose-flag": {"exp"},
    }


def test_the_exposure_names_the_kept_variant_not_the_new_weights() -> None:
    recorder = MemoryRecorder()
    store = MemoryStickyStore()
    client = Client(
        "offline", None, bootstrap=config(ALL_TREATMENT), recorder=recorder, sticky_store=store
    )
    client.get_variant("exp", "u-1")
    client._install(config(ALL_CONTROL), '"2"')
    client.get_variant("exp", "u-1")
    assert client.get_string("copy", "?", "u-1") == "new"
    assert {(e.unit_id, e.variant_key) for e in recorder.exposures} == {("u-1", "treatment")}
