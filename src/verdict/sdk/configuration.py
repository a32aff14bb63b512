"""The configuration a client decides from: compiled once, with its lookup tables.

A :class:`CompiledConfiguration` is built off the read path each time a document
arrives (from the server or a bootstrap) and never changes afterwards, so a client can
swap the one it holds with a single assignment and reads need no lock.
:func:`load_bootstrap` reads a bootstrap document, :func:`bounded` checks the client's
numeric arguments.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from typing import Any

from verdict.engine import FlagType, Snapshot, compile_config
from verdict.engine.rules import Decider

__all__ = ["NO_CONFIGURATION", "CompiledConfiguration", "bounded", "load_bootstrap"]


class CompiledConfiguration:
    """One compiled configuration and the per-flag lookups reads need."""

    __slots__ = ("by_type", "deciders", "document", "etag", "snapshot", "variants")

    def __init__(self, snapshot: Snapshot, document: Mapping[str, Any], etag: str | None):
        self.snapshot = snapshot
        self.document = document
        self.etag = etag
        self.deciders: dict[str, Decider] = {k: f.decide for k, f in snapshot.flags.items()}
        # One table per flag type: a typed read finds its decider and checks the type
        # with a single lookup; a miss (unknown flag or another type) takes the slow path.
        self.by_type: dict[FlagType, dict[str, Decider]] = {t: {} for t in FlagType}
        for key, flag in snapshot.flags.items():
            self.by_type[flag.type][key] = flag.decide
        self.variants = _variant_extras(snapshot, document)


def _variant_extras(
    snapshot: Snapshot, document: Mapping[str, Any]
) -> dict[tuple[str, str], tuple[Mapping[str, Any] | None, str | None]]:
    """Each compiled experiment's variant payloads and URLs by (experiment, variant).

    The engine ignores these fields, so they are read here, leniently: a payload that is
    no object or a URL that is no string is left out rather than failing the document.
    """
    extras: dict[tuple[str, str], tuple[Mapping[str, Any] | None, str | None]] = {}
    experiments = document.get("experiments")
    if not isinstance(experiments, Mapping):
        return extras
    for key in snapshot.experiments:
        spec = experiments.get(key)
        variants = spec.get("variants") if isinstance(spec, Mapping) else None
        for variant in variants if isinstance(variants, list) else ():
            if not isinstance(variant, Mapping) or not isinstance(variant.get("key"), str):
                continue
            payload = variant.get("payload")
            url = variant.get("url")
            extras[(key, variant["key"])] = (
                payload if isinstance(payload, Mapping) else None,
                url if isinstance(url, str) else None,
            )
    return extras


NO_CONFIGURATION = CompiledConfiguration(compile_config({}), {}, None)


def bounded(name: str, value: Any, low: float, high: float) -> float:
    """``value`` as a float, or a ValueError naming ``name`` when it is no number in range."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name}: must be a number, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name}: must be between {low} and {high}, got {value!r}")
    return float(value)


def load_bootstrap(bootstrap: Mapping[str, Any] | str | PathLike[str]) -> Mapping[str, Any]:
    """The bootstrap document: given as is, or read from a JSON file (ValueError naming
    ``bootstrap`` when it cannot be read or holds no JSON object)."""
    if isinstance(bootstrap, Mapping):
        return bootstrap
    if not isinstance(bootstrap, str | PathLike):
        raise ValueError("bootstrap: expected a configuration document or a file path")
    path = Path(bootstrap)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"bootstrap: cannot read {path}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise ValueError(f"bootstrap: {path} is not JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise ValueError(f"bootstrap: {path} does not hold a JSON object")
    return document
