"""The experiment form's data: what its inputs hold, how a posted form becomes the body
of an API request, and which input a refusal's field path names.

Inputs hold text exactly as typed (numbers, JSON and comma-separated lists included),
so a refused form comes back unchanged. :func:`payload_of` turns that text into the
JSON-like body the API's schemas validate: blank optional inputs become null, lists
are split on commas, JSON inputs are parsed (a syntax error is reported here, at the
input), and times without a zone are read as UTC. Rows of variants and metrics left
blank are dropped, so the body's ``variants.1`` may be the form's third row; the form
keeps the mapping to put each error back next to the right input.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from verdict.server.analysis.models import AnalysisMethod, Metric
from verdict.server.api.pagination import MAX_LIMIT, PageRequest
from verdict.server.datasources import service as data_sources_service
from verdict.server.environments import service as environments_service
from verdict.server.experiments.models import BUCKET_COUNT, ExperimentType, MetricRole
from verdict.server.experiments.schemas import ExperimentOut
from verdict.server.segments import service as segments_service

__all__ = [
    "MAX_ROWS",
    "ExperimentForm",
    "blank_form",
    "form_choices",
    "payload_of",
    "read_form",
    "stored_form",
]

MAX_ROWS = 20  # variant rows and metric rows, each
_LONG = 10_000
_JSON = 100_000

# Top-level inputs: name -> (label shown with its errors, longest value accepted).
TOP_INPUTS: dict[str, tuple[str, int]] = {
    "key": ("Key", 100),
    "name": ("Name", 255),
    "hypothesis": ("Hypothesis", _LONG),
    "description": ("Description", _LONG),
    "type": ("Type", 20),
    "owner": ("Owner", 150),
    "tags": ("Tags", 4000),
    "target": ("Target", 255),
    "environment": ("Environment", 100),
    "coverage": ("Coverage", 40),
    "layer": ("Layer", 100),
    "bucket_start": ("First bucket", 20),
    "bucket_end": ("End bucket", 20),
    "hash_attribute": ("Hash attribute", 100),
    "hash_seed": ("Hash seed", 100),
    "include_segments": ("Included segments", 4000),
    "exclude_segments": ("Excluded segments", 4000),
    "targeting": ("Targeting condition", _JSON),
    "forced_variants": ("Forced variants", _JSON),
    "start_at": ("Planned start", 40),
    "end_at": ("Planned end", 40),
    "minimum_sample_size": ("Minimum sample size", 20),
    "confidence_level": ("Confidence level", 40),
    "analysis_method": ("Analysis method", 20),
    "cuped_days": ("CUPED days", 40),
    "data_source": ("Data source", 100),
    "breakdowns": ("Breakdowns", 600),
}
VARIANT_INPUTS: dict[str, tuple[str, int]] = {
    "id": ("id", 40),
    "key": ("key", 100),
    "label": ("label", 255),
    "weight": ("weight", 40),
    "description": ("description", _LONG),
    "configuration": ("configuration", _JSON),
    "system_prompt": ("system prompt", _JSON),
    "response_template": ("response template", _JSON),
    "config_overrides": ("config overrides", _JSON),
    "url": ("URL", 2000),
}
METRIC_INPUTS: dict[str, tuple[str, int]] = {
    "metric": ("metric", 100),
    "role": ("role", 20),
    "non_inferiority_margin": ("non-inferiority margin", 40),
}
_LISTS = frozenset({"tags", "include_segments", "exclude_segments", "breakdowns"})
_OBJECTS = frozenset({"targeting", "forced_variants", "configuration", "config_overrides"})
_MULTILINE = frozenset(
    {"hypothesis", "description", "system_prompt", "response_template", "targeting"}
)
_TIMES = frozenset({"start_at", "end_at"})
_NO_ZONE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?$")
_MAX_DEPTH = 64
# Where each input (or row section) is on the page, top to bottom.
_PAGE_ORDER = (
    "key", "name", "type", "owner", "tags", "target", "hypothesis", "description",
    "variants",
    "environment", "coverage", "layer", "bucket_start", "bucket_end", "hash_attribute",
    "hash_seed", "include_segments", "exclude_segments", "start_at", "end_at", "targeting",
    "forced_variants",
    "metrics",
    "minimum_sample_size", "confidence_level", "analysis_method", "cuped_days",
    "data_source", "breakdowns",
)  # fmt: skip
_INVALID = object()  # a JSON input that did not parse: left out of the body

TYPE_LABELS = {
    ExperimentType.A_B: "A/B test",
    ExperimentType.MULTIVARIATE: "Multivariate",
    ExperimentType.SPLIT_URL: "Split URL",
    ExperimentType.BANDIT: "Multi-armed bandit",
    ExperimentType.FEATURE: "Feature (served by a flag)",
}
METHOD_LABELS = {
    AnalysisMethod.FREQUENTIST: "Frequentist (fixed horizon)",
    AnalysisMethod.SEQUENTIAL: "Sequential (always valid)",
    AnalysisMethod.BAYESIAN: "Bayesian (chance to win)",
}


@dataclass
class ExperimentForm:
    """The form's inputs as text, and the problems to show next to them."""

    values: dict[str, str]
    variants: list[dict[str, str]]
    control: str  # the row index of the control variant; "" for none
    metrics: list[dict[str, str]]
    errors: dict[str, list[str]] = field(default_factory=dict)  # input id -> reasons
    summary: list[tuple[str | None, str]] = field(default_factory=list)  # (input id, text)
    stale: bool = False  # refused because someone else saved the experiment meanwhile
    editing: bool = False
    variant_rows: list[int] = field(default_factory=list)  # body index -> form row
    metric_rows: list[int] = field(default_factory=list)

    def has_errors(self) -> bool:
        return bool(self.summary)

    def ordered_summary(self) -> list[tuple[str | None, str]]:
        """The problems in the order their inputs appear on the page."""

        def place(item: tuple[str | None, str]) -> tuple[int, int]:
            input_id = item[0]
            if input_id is None:
                return (len(_PAGE_ORDER), 0)
            head, _, rest = input_id.partition("-")
            if head in ("variant", "metric"):
                return (_PAGE_ORDER.index(head + "s"), int(rest.split("-")[0]) + 1)
            return (_PAGE_ORDER.index(input_id), 0) if input_id in _PAGE_ORDER else (0, 0)

        return sorted(self.summary, key=place)

    def problem(self, input_id: str) -> str:
        return "; ".join(self.errors.get(input_id, []))

    def add_variant_row(self) -> None:
        if len(self.variants) < MAX_ROWS:
            self.variants.append(_blank_row(VARIANT_INPUTS))

    def add_metric_row(self) -> None:
        if len(self.metrics) < MAX_ROWS:
            self.metrics.append(_blank_row(METRIC_INPUTS) | {"role": MetricRole.SECONDARY.value})

    def note(self, input_id: str | None, reason: str, field_path: str | None = None) -> None:
        if input_id is None:
            self.summary.append((None, f"{field_path}: {reason}" if field_path else reason))
            return
        self.errors.setdefault(input_id, []).append(reason)
        self.summary.append((input_id, f"{self._label(input_id)}: {reason}"))

    def report(self, problems: Iterable[tuple[str | None, str]]) -> None:
        """Put each ``(field path, reason)`` next to the input it names."""
        for path, reason in problems:
            target = self.input_for(path)
            shown = None if path in (None, "body", "status", "header.If-Match") else path
            self.note(target, reason, shown)

    def input_for(self, path: str | None) -> str | None:
        """The id of the input a field path (``body.variants.1.weight``) names."""
        parts = (path or "").split(".")
        if parts[0] == "body":
            parts = parts[1:]
        head = parts[0] if parts else ""
        if head in ("variants", "metrics"):
            rows = self.variant_rows if head == "variants" else self.metric_rows
            inputs = VARIANT_INPUTS if head == "variants" else METRIC_INPUTS
            if len(parts) < 2 or not parts[1].isdigit() or int(parts[1]) >= len(rows):
                return head
            row = rows[int(parts[1])]
            name = parts[2] if len(parts) > 2 else ""
            prefix = "variant" if head == "variants" else "metric"
            if name == "is_control":
                return f"variant-{row}-control"
            return f"{prefix}-{row}-{name if name in inputs else next(iter(inputs))}"
        return head if head in TOP_INPUTS else None

    def _label(self, input_id: str) -> str:
        if input_id in TOP_INPUTS:
            return TOP_INPUTS[input_id][0]
        if input_id in ("variants", "metrics"):
            return input_id.capitalize()
        prefix, row, name = input_id.split("-", 2)
        inputs = VARIANT_INPUTS if prefix == "variant" else METRIC_INPUTS
        label = inputs[name][0] if name in inputs else name
        return f"{prefix.capitalize()} {int(row) + 1}, {label}"

    def changed_fields(self, mine: dict[str, Any], stored: ExperimentForm) -> list[str]:
        """The fields of ``mine`` (this form's body) that differ from the stored
        experiment's."""
        theirs = payload_of(stored)
        return [
            name
            for name in (*TOP_INPUTS, "variants", "metrics")
            if name not in mine or mine[name] != theirs.get(name)
        ]


def _blank_row(inputs: dict[str, tuple[str, int]]) -> dict[str, str]:
    return dict.fromkeys(inputs, "")


def blank_form() -> ExperimentForm:
    values = dict.fromkeys(TOP_INPUTS, "")
    values.update(
        type=ExperimentType.A_B.value,
        coverage="1",
        bucket_start="0",
        bucket_end=str(BUCKET_COUNT),
        hash_attribute="id",
        confidence_level="0.95",
        analysis_method=AnalysisMethod.FREQUENTIST.value,
        cuped_days="14",
    )
    variants = [
        _blank_row(VARIANT_INPUTS) | {"key": "control", "label": "Control"},
        _blank_row(VARIANT_INPUTS) | {"key": "treatment", "label": "Treatment"},
    ]
    metrics = [_blank_row(METRIC_INPUTS) | {"role": MetricRole.PRIMARY.value}]
    return ExperimentForm(values=values, variants=variants, control="0", metrics=metrics)


def _number(value: float | int | None) -> str:
    if value is None:
        return ""
    text = repr(value)  # repr round-trips a float exactly
    return text.removesuffix(".0")


def _json_text(value: dict[str, Any]) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False) if value else ""


def _time_text(value: dt.datetime | None) -> str:
    if value is None:
        return ""
    value = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    return value.strftime("%Y-%m-%dT%H:%M")


def stored_form(experiment: ExperimentOut) -> ExperimentForm:
    """The edit form as it opens: the stored experiment's values, as text."""
    e = experiment
    values = {
        "key": e.key,
        "name": e.name,
        "hypothesis": e.hypothesis or "",
        "description": e.description or "",
        "type": e.type.value,
        "owner": e.owner or "",
        "tags": ", ".join(e.tags),
        "target": e.target or "",
        "environment": e.environment or "",
        "coverage": _number(e.coverage),
        "layer": e.layer or "",
        "bucket_start": str(e.bucket_start),
        "bucket_end": str(e.bucket_end),
        "hash_attribute": e.hash_attribute,
        "hash_seed": e.hash_seed or "",
        "include_segments": ", ".join(e.include_segments),
        "exclude_segments": ", ".join(e.exclude_segments),
        "targeting": _json_text(e.targeting),
        "forced_variants": _json_text(e.forced_variants),
        "start_at": _time_text(e.start_at),
        "end_at": _time_text(e.end_at),
        "minimum_sample_size": _number(e.minimum_sample_size),
        "confidence_level": _number(e.confidence_level),
        "analysis_method": e.analysis_method.value,
        "cuped_days": _number(e.cuped_days),
        "data_source": e.data_source or "",
        "breakdowns": ", ".join(e.breakdowns),
    }
    variants = [
        {
            "id": str(v.id),
            "key": v.key,
            "label": v.label or "",
            "weight": _number(v.weight),
            "description": v.description or "",
            "configuration": _json_text(v.configuration),
            "system_prompt": v.system_prompt or "",
            "response_template": v.response_template or "",
            "config_overrides": _json_text(v.config_overrides),
            "url": v.url or "",
        }
        for v in e.variants
    ]
    control = next((str(i) for i, v in enumerate(e.variants) if v.is_control), "")
    metrics = [
        {
            "metric": link.metric,
            "role": link.role.value,
            "non_inferiority_margin": _number(link.non_inferiority_margin),
        }
        for link in e.metrics
    ]
    while len(variants) < 2:
        variants.append(_blank_row(VARIANT_INPUTS))
    if not metrics:
        metrics.append(_blank_row(METRIC_INPUTS) | {"role": MetricRole.PRIMARY.value})
    return ExperimentForm(
        values=values, variants=variants, control=control, metrics=metrics, editing=True
    )


def _row_count(body: FormData, name: str) -> int:
    value = body.get(name)
    count = int(value) if isinstance(value, str) and value.isdigit() and len(value) < 4 else 0
    return min(count, MAX_ROWS)


def read_form(body: FormData, *, editing: bool) -> ExperimentForm:
    """The posted form as text (CR LF line ends made LF), each input cut to its
    longest allowed value and reported when it was longer."""
    form = ExperimentForm(values={}, variants=[], control="", metrics=[], editing=editing)

    def take(name: str, input_id: str, longest: int) -> str:
        raw = body.get(name)
        text = raw.replace("\r\n", "\n") if isinstance(raw, str) else ""
        if len(text) > longest:
            form.note(input_id, f"is longer than {longest:,} characters")
            text = text[:longest]
        return text

    form.values = {name: take(name, name, longest) for name, (_, longest) in TOP_INPUTS.items()}
    for row in range(_row_count(body, "variant_rows")):
        form.variants.append(
            {
                name: take(f"variant-{row}-{name}", f"variant-{row}-{name}", longest)
                for name, (_, longest) in VARIANT_INPUTS.items()
            }
        )
    for row in range(_row_count(body, "metric_rows")):
        form.metrics.append(
            {
                name: take(f"metric-{row}-{name}", f"metric-{row}-{name}", longest)
                for name, (_, longest) in METRIC_INPUTS.items()
            }
        )
    control = body.get("control")
    form.control = control if isinstance(control, str) and control.isdigit() else ""
    return form


def _depth(value: Any) -> int:
    deepest, level = 0, [(value, 1)]
    while level:
        item, depth = level.pop()
        deepest = max(deepest, depth)
        children = (
            item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        )
        level.extend((child, depth + 1) for child in children)
    return deepest


def _value(form: ExperimentForm, name: str, text: str, input_id: str) -> Any:
    """One input's text as the body's value."""
    if name in _OBJECTS:
        if not text.strip():
            return {}
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as error:
            form.note(input_id, f"is not valid JSON: {error.msg} (line {error.lineno})")
            return _INVALID
        except RecursionError:
            parsed = None
        if parsed is None or _depth(parsed) > _MAX_DEPTH:
            form.note(input_id, f"nests deeper than {_MAX_DEPTH} levels")
            return _INVALID
        return parsed
    if name in _LISTS:
        return [part.strip() for part in text.split(",") if part.strip()]
    if name in _MULTILINE:
        return text if text.strip() else None
    text = text.strip()
    if name in _TIMES and _NO_ZONE.match(text):
        return text + "Z"  # the form asks for UTC
    return text or None


def payload_of(form: ExperimentForm) -> dict[str, Any]:
    """The request body the form stands for (an edit's ``id`` of each variant kept)."""
    body: dict[str, Any] = {}
    for name in TOP_INPUTS:
        value = _value(form, name, form.values.get(name, ""), name)
        if value is not _INVALID:
            body[name] = value
    variants: list[dict[str, Any]] = []
    form.variant_rows = []
    for row, values in enumerate(form.variants):
        if not any(values[name].strip() for name in VARIANT_INPUTS if name != "id"):
            continue  # a blank row
        item: dict[str, Any] = {"is_control": form.control == str(row)}
        for name in VARIANT_INPUTS:
            value = _value(form, name, values[name], f"variant-{row}-{name}")
            if value is not _INVALID and (name != "id" or (form.editing and value)):
                item[name] = value
        variants.append(item)
        form.variant_rows.append(row)
    body["variants"] = variants
    metrics: list[dict[str, Any]] = []
    form.metric_rows = []
    for row, values in enumerate(form.metrics):
        if not values["metric"].strip():
            continue
        metrics.append({name: _value(form, name, values[name], "") for name in METRIC_INPUTS})
        form.metric_rows.append(row)
    body["metrics"] = metrics
    return body


def _with(options: list[tuple[str, str]], current: str) -> list[tuple[str, str]]:
    """``options``, plus the current value when the first page of choices missed it."""
    if current and current not in {key for key, _ in options}:
        options.append((current, current))
    return options


def form_choices(session: Session, form: ExperimentForm) -> dict[str, Any]:
    """What the form's selects and suggestions offer (the first page of each list)."""
    environments, _ = environments_service.list_environments(
        session, page=PageRequest(limit=MAX_LIMIT, cursor=None, sort="sort_order")
    )
    sources, _ = data_sources_service.list_data_sources(
        session, page=PageRequest(limit=MAX_LIMIT, cursor=None, sort="key")
    )
    # Keys and names only: the metrics service builds each metric's full answer with
    # two lookups apiece, too slow for a page listing 200 of them as suggestions.
    metric_list = session.execute(
        select(Metric.key, Metric.name)
        .where(Metric.archived.is_(False))
        .order_by(Metric.key)
        .limit(MAX_LIMIT)
    ).all()
    segment_list, _ = segments_service.list_segments(
        session, page=PageRequest(limit=MAX_LIMIT, cursor=None, sort="key")
    )
    return {
        "environments": _with(
            [(e.key, e.name) for e in environments], form.values.get("environment", "")
        ),
        "data_sources": _with(
            [(s.key, s.name) for s in sources], form.values.get("data_source", "")
        ),
        "metrics": [(key, name) for key, name in metric_list],
        "segments": [(s.key, s.name) for s in segment_list],
        "types": [(t.value, label) for t, label in TYPE_LABELS.items()],
        "methods": [(m.value, label) for m, label in METHOD_LABELS.items()],
        "roles": [(r.value, r.value.capitalize()) for r in MetricRole],
    }
