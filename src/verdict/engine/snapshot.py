"""Configuration in, decisions out: compile a JSON-shaped configuration once into an
immutable :class:`Snapshot`, then evaluate flags and decide experiments against it.

The configuration shape (documented in docs/targeting.md)::

    {"segments":    {key: condition},
     "layers":      {key: {"seed"?, "holdout"?: [start, end]}},
     "experiments": {key: {"status"?, "seed"?, "condition"?, "segment"?, "coverage"?,
                           "variants": [{"key", "weight"}], "layer"?, "layer_range"?,
                           "forced"?, "sticky"?}},
     "flags":       {key: {"type", "default", "enabled"?, "variants"?, "rules"?,
                           "rollout"?, "prerequisites"?, "overrides"?}}}

Compilation validates everything and reports every problem with its JSON path.
``strict=True`` (the server's mode) raises :class:`ConfigError` listing them all;
``strict=False`` (an SDK's mode, which must keep serving) compiles what it can: a
broken flag resolves to ERROR / PARSE_ERROR, a broken experiment to ``config_error``,
and the problems are kept in :attr:`Snapshot.problems`. Prerequisite cycles are
rejected with the cycle spelled out, and so are chains of prerequisites longer than
``MAX_PREREQUISITE_DEPTH`` links (each link nests one more evaluation), since such a
flag could only ever resolve to an error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from verdict.engine.conditions import SegmentTable
from verdict.engine.errors import ConfigError, ConfigIssue, child_path
from verdict.engine.experiments import (
    CompiledExperiment,
    compile_experiment,
    compile_layers,
    layer_overlap_issues,
)
from verdict.engine.flags import CompiledFlag, broken_flag, compile_flag, read_flag_type
from verdict.engine.limits import MAX_PREREQUISITE_DEPTH
from verdict.engine.rules import Decider
from verdict.engine.types import (
    ErrorCode,
    EvaluationContext,
    ExperimentReason,
    ExperimentResult,
    FlagResult,
    FlagType,
    Reason,
    StickyAssignments,
)
from verdict.engine.validation import field, read_mapping

__all__ = ["Snapshot", "compile_config"]


def _epoch(now: datetime | None) -> float | None:
    if now is None:
        return None
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return now.timestamp()


class Snapshot:
    """An immutable, compiled configuration: evaluate flags, decide experiments."""

    __slots__ = ("_deciders", "_defaults", "_experiments", "_flags", "_problems")
    _deciders: dict[str, Decider]
    _defaults: dict[str, Any]
    _experiments: Mapping[str, CompiledExperiment | None]
    _flags: Mapping[str, CompiledFlag]
    _problems: tuple[ConfigIssue, ...]

    def __init__(
        self,
        flags: Mapping[str, CompiledFlag],
        experiments: Mapping[str, CompiledExperiment | None],
        problems: Sequence[ConfigIssue] = (),
    ) -> None:
        set_ = object.__setattr__
        set_(self, "_flags", MappingProxyType(dict(flags)))
        set_(self, "_deciders", {key: flag.decide for key, flag in flags.items()})
        set_(self, "_defaults", {key: flag.default for key, flag in flags.items()})
        set_(self, "_experiments", MappingProxyType(dict(experiments)))
        set_(self, "_problems", tuple(problems))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("a Snapshot is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("a Snapshot is immutable")

    @property
    def flags(self) -> Mapping[str, CompiledFlag]:
        return self._flags

    @property
    def experiments(self) -> Mapping[str, CompiledExperiment | None]:
        """Compiled experiments; ``None`` for one whose configuration is invalid."""
        return self._experiments

    @property
    def problems(self) -> tuple[ConfigIssue, ...]:
        """Problems found while compiling (always empty for a strict compile)."""
        return self._problems

    # ------------------------------------------------------------------ flags
    def value(
        self,
        flag_key: str,
        targeting_key: str | None,
        attributes: Mapping[str, Any],
        default: Any = None,
    ) -> Any:
        """The flag's value for this unit: the fast path, no result object built.

        Same decision as :meth:`evaluate`; returns ``default`` where evaluate
        would report an error (unknown flag, missing targeting key, ...).
        """
        decide: Decider | None = self._deciders.get(flag_key)
        if decide is None:
            return default
        try:
            result = decide(targeting_key, attributes, None, None, 0)
        except Exception:
            return default
        if result.error_code is None:
            return result.value
        return default

    def evaluate(
        self,
        flag_key: str,
        context: EvaluationContext,
        *,
        default: Any = None,
        expected_type: FlagType | None = None,
        now: datetime | None = None,
        sticky: StickyAssignments | None = None,
    ) -> FlagResult:
        """Resolve one flag with details: value, variant, reason, error code, rule.

        ``default`` is the caller's fallback, returned with every ERROR result.
        ``expected_type`` makes a flag of another type resolve to TYPE_MISMATCH.
        ``now`` (default: the current time) decides whether overrides expired.
        """
        decide: Decider | None = self._deciders.get(flag_key)
        if decide is None:
            return FlagResult(
                flag_key,
                default,
                None,
                Reason.ERROR,
                ErrorCode.FLAG_NOT_FOUND,
                error_message=f"flag {flag_key!r} is not in the configuration",
            )
        try:
            result = decide(context[0], context[1], None if now is None else _epoch(now), sticky, 0)
        except Exception as exc:
            return FlagResult(
                flag_key, default, None, Reason.ERROR, ErrorCode.GENERAL, error_message=repr(exc)
            )
        if result.error_code is not None:
            return replace(result, value=default)
        flag_type = self._flags[flag_key].type
        if expected_type is not None and flag_type is not expected_type:
            return FlagResult(
                flag_key,
                default,
                None,
                Reason.ERROR,
                ErrorCode.TYPE_MISMATCH,
                error_message=f"flag {flag_key!r} is {flag_type.value}, not {expected_type.value}",
            )
        return result

    def evaluate_all(
        self,
        context: EvaluationContext,
        *,
        now: datetime | None = None,
        sticky: StickyAssignments | None = None,
    ) -> dict[str, FlagResult]:
        """Every flag resolved for one context, in configuration order.

        ERROR results carry ``None`` as their value (there is no caller default).
        """
        targeting_key, attributes = context
        epoch = _epoch(now)
        results: dict[str, FlagResult] = {}
        for key, decide in self._deciders.items():
            try:
                results[key] = decide(targeting_key, attributes, epoch, sticky, 0)
            except Exception as exc:
                results[key] = FlagResult(
                    key, None, None, Reason.ERROR, ErrorCode.GENERAL, error_message=repr(exc)
                )
        return results

    def values(self, targeting_key: str | None, attributes: Mapping[str, Any]) -> dict[str, Any]:
        """Every flag's value for this unit (a flag that errors gives its default)."""
        defaults = self._defaults
        values: dict[str, Any] = {}
        for key, decide in self._deciders.items():
            try:
                result = decide(targeting_key, attributes, None, None, 0)
            except Exception:
                values[key] = defaults[key]
                continue
            values[key] = result.value if result.error_code is None else defaults[key]
        return values

    # ------------------------------------------------------------ experiments
    def decide(
        self,
        experiment_key: str,
        context: EvaluationContext,
        *,
        weights: Sequence[float] | None = None,
        sticky: StickyAssignments | None = None,
    ) -> ExperimentResult:
        """Whether the unit is in the experiment and which variant it sees.

        ``weights`` (bandits) replaces the configured weights for this decision:
        one per variant, in variant order, summing to 1 (else ValueError).
        """
        if experiment_key not in self._experiments:
            return ExperimentResult(experiment_key, False, None, None, ExperimentReason.NOT_FOUND)
        experiment: CompiledExperiment | None = self._experiments[experiment_key]
        if experiment is None:
            return ExperimentResult(
                experiment_key, False, None, None, ExperimentReason.CONFIG_ERROR
            )
        return experiment.decide(context[0], context[1], weights, sticky)


def _prerequisite_keys(spec: Any) -> list[str]:
    """Prerequisite flag keys, read leniently (compilation reports malformed entries)."""
    if not isinstance(spec, Mapping) or not isinstance(spec.get("prerequisites"), list):
        return []
    return [
        item["flag"]
        for item in spec["prerequisites"]
        if isinstance(item, Mapping) and isinstance(item.get("flag"), str)
    ]


def _prerequisite_cycles(graph: Mapping[str, list[str]]) -> dict[str, str]:
    """Flags on a prerequisite cycle, each with the cycle spelled out (``a -> b -> a``)."""
    on_cycle: dict[str, str] = {}
    state: dict[str, int] = {}  # 1 = on the current path, 2 = finished
    path: list[str] = []

    def visit(key: str) -> None:
        state[key] = 1
        path.append(key)
        for parent in graph.get(key, []):
            if state.get(parent) == 1:
                cycle = [*path[path.index(parent) :], parent]
                spelled = " -> ".join(cycle)
                for member in cycle[:-1]:
                    on_cycle.setdefault(member, spelled)
            elif parent in graph and state.get(parent) is None:
                visit(parent)
        path.pop()
        state[key] = 2

    for key in graph:
        if state.get(key) is None:
            visit(key)
    return on_cycle


_Depth = tuple[int, str | None, str]  # links, the next flag on the chain, its last flag


def _prerequisite_depths(
    graph: Mapping[str, list[str]], broken: Mapping[str, str]
) -> dict[str, _Depth]:
    """Each flag's longest chain of prerequisites: its links, next flag and last flag.

    Flags on a cycle (``broken``) end a chain: they resolve to an error without
    evaluating their prerequisites, and every cycle has one, so what remains is
    acyclic. The walk keeps its own stack, so a chain of any length is measured
    without recursion.
    """
    depths: dict[str, _Depth] = {}
    for start in graph:
        stack = [start]
        while stack:
            key = stack[-1]
            if key in depths:
                stack.pop()
                continue
            parents = [] if key in broken else [p for p in graph.get(key, []) if p in graph]
            pending = [p for p in parents if p not in depths]
            if pending:
                stack.extend(pending)
                continue
            stack.pop()
            deepest = max(parents, key=lambda p: depths[p][0], default=None)
            if deepest is None:
                depths[key] = (0, None, key)
            else:
                depths[key] = (depths[deepest][0] + 1, deepest, depths[deepest][2])
    return depths


def _too_deep(key: str, depths: Mapping[str, _Depth]) -> str:
    links, step, last = depths[key]
    chain = [key]
    while step is not None and len(chain) < 4:
        chain.append(step)
        step = depths[step][1]
    if step is not None:
        chain += ["…", last] if step != last else [last]
    return (
        f"prerequisites nest {links} deep ({' -> '.join(chain)}); "
        f"at most {MAX_PREREQUISITE_DEPTH} links are allowed"
    )


def compile_config(
    config: Mapping[str, Any], *, strict: bool = True, refuse_mistakes: bool = False
) -> Snapshot:
    """Validate and compile a configuration into an immutable :class:`Snapshot`.

    Raises :class:`ConfigError` listing every problem when ``strict``; otherwise
    compiles around broken parts and records the problems on the snapshot.
    ``refuse_mistakes`` (the management API's mode when it saves) also reports
    condition operands GrowthBook answers but that are almost always mistakes (see
    :func:`verdict.engine.compile_condition`); without it they evaluate as in GrowthBook.
    """
    root = read_mapping(config, "$")
    issues: list[ConfigIssue] = []

    segments_path = "$.segments"
    raw_segments = read_mapping(field(root, "segments", "$", {}), segments_path)
    segments = SegmentTable(raw_segments, segments_path, refuse_mistakes=refuse_mistakes)
    for key in raw_segments:
        try:
            segments.resolve(key, child_path(segments_path, key), on_mapping=True)
        except ConfigError as exc:
            issues.extend(exc.issues)

    layers, layer_issues = compile_layers(field(root, "layers", "$", {}), "$.layers")
    issues.extend(layer_issues)

    experiments_path = "$.experiments"
    experiments: dict[str, CompiledExperiment | None] = {}
    for key, spec in read_mapping(field(root, "experiments", "$", {}), experiments_path).items():
        try:
            experiments[key] = compile_experiment(
                key, spec, child_path(experiments_path, key), segments, layers
            )
        except ConfigError as exc:
            issues.extend(exc.issues)
            experiments[key] = None
    compiled = {key: exp for key, exp in experiments.items() if exp is not None}
    for key, issue in layer_overlap_issues(compiled, experiments_path).items():
        issues.append(issue)
        experiments[key] = None
        del compiled[key]

    flags_path = "$.flags"
    raw_flags = read_mapping(field(root, "flags", "$", {}), flags_path)
    flag_types: dict[str, FlagType] = {}
    for key, spec in raw_flags.items():
        try:
            flag_types[key] = read_flag_type(read_mapping(spec, child_path(flags_path, key)), "")
        except ConfigError:
            flag_types[key] = FlagType.JSON  # reported again, with its path, below
    graph = {key: _prerequisite_keys(spec) for key, spec in raw_flags.items()}
    cycles = _prerequisite_cycles(graph)
    depths = _prerequisite_depths(graph, cycles)
    registry: dict[str, CompiledFlag] = {}
    for key, spec in raw_flags.items():
        flag_path = child_path(flags_path, key)
        if key in cycles:
            problem = f"prerequisite cycle: {cycles[key]}"
        elif depths[key][0] > MAX_PREREQUISITE_DEPTH:
            problem = _too_deep(key, depths)
        else:
            problem = None
        if problem is not None:
            issue = ConfigIssue(child_path(flag_path, "prerequisites"), problem)
            issues.append(issue)
            registry[key] = broken_flag(key, flag_types[key], str(issue))
            continue
        try:
            registry[key] = compile_flag(
                key,
                spec,
                flag_path,
                segments=segments,
                experiments=compiled,
                flag_types=flag_types,
                registry=registry,
            )
        except ConfigError as exc:
            issues.extend(exc.issues)
            registry[key] = broken_flag(key, flag_types[key], str(exc))

    if strict and issues:
        raise ConfigError(issues)
    return Snapshot(registry, experiments, issues)
