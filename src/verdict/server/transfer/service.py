"""Export the flags and experiments of a database, and import such an export into another.

An export is a :class:`~.schemas.TransferDocument`: environments, segments, metrics,
experiments and flags, each as the API's create request. An import creates each item
through the same service the API calls (so validation and audit entries are the same),
in dependency order: environments, segments (those another names first), metrics
(denominators first), experiments (then the lifecycle actions that lead to their
status), flags (prerequisites first), each flag's state per environment, and last the
archiving of archived flags.

The import is all or nothing: it runs in one database transaction, in which each
service's commit only releases a savepoint. Every problem is collected, named by its
place in the document (``flags.3.environments.production.rules.0.percentage``), and any
problem, or ``dry_run``, rolls the whole transaction back. Owners are people, who are
not exported: an owner missing from the target database is left out, with a note.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from verdict import __version__
from verdict.server.analysis import metrics as metric_service
from verdict.server.analysis.schemas import MetricCreate
from verdict.server.api.pagination import every_item
from verdict.server.api.versioning import etag
from verdict.server.environments import service as environment_service
from verdict.server.environments.schemas import EnvironmentCreate
from verdict.server.errors import DomainError, InvalidInputError, NotFoundError
from verdict.server.experiments import service as experiment_service
from verdict.server.experiments.actions import perform
from verdict.server.experiments.lifecycle import Action
from verdict.server.experiments.models import ExperimentStatus
from verdict.server.experiments.schemas import ExperimentCreate, VariantIn
from verdict.server.experiments.views import experiment_out
from verdict.server.flags import service as flag_service
from verdict.server.flags import states
from verdict.server.flags.schemas import FlagCreate, FlagStateIn
from verdict.server.identity.auth import Principal
from verdict.server.identity.models import User
from verdict.server.segments import service as segment_service
from verdict.server.segments.schemas import SegmentCreate
from verdict.server.transfer.schemas import (
    FORMAT,
    VERSION,
    ExperimentItem,
    FlagItem,
    TransferDocument,
)

__all__ = [
    "DocumentError",
    "ImportReport",
    "export_document",
    "import_document",
    "read_document",
    "section_sizes",
    "total_steps",
]

T = TypeVar("T")
Progress = Callable[[str], None]
_SECTIONS = ("environments", "segments", "metrics", "experiments", "flags")
# The lifecycle actions that lead from draft to each status.
_PATHS: dict[ExperimentStatus, tuple[Action, ...]] = {
    ExperimentStatus.DRAFT: (),
    ExperimentStatus.RUNNING: (Action.START,),
    ExperimentStatus.PAUSED: (Action.START, Action.PAUSE),
    ExperimentStatus.COMPLETED: (Action.START, Action.COMPLETE),
    ExperimentStatus.ARCHIVED: (Action.ARCHIVE,),
}


class DocumentError(InvalidInputError):
    """The document is not a valid export; ``errors`` names each field."""


@dataclasses.dataclass
class ImportReport:
    created: Counter[str] = dataclasses.field(default_factory=Counter)
    existing: Counter[str] = dataclasses.field(default_factory=Counter)
    notes: list[str] = dataclasses.field(default_factory=list)
    errors: list[str] = dataclasses.field(default_factory=list)
    dry_run: bool = False

    @property
    def written(self) -> bool:
        return not self.errors and not self.dry_run


# -- export ---------------------------------------------------------------------------


def _fields(model: type[BaseModel], data: dict[str, Any], *, drop: Iterable[str] = ()) -> Any:
    """The entries of ``data`` that ``model`` takes (an API output read as an input)."""
    left_out = set(drop)
    return {
        name: data[name] for name in model.model_fields if name in data and name not in left_out
    }


Creatable = TypeVar("Creatable", SegmentCreate, MetricCreate)


def _in_dependency_order(
    items: list[T], key: Callable[[T], str], needs: Callable[[T], Iterable[str]]
) -> list[T]:
    """``items`` with each after the items it needs (stable; cycles keep their order:
    the service refuses those)."""
    by_key = {key(item): item for item in items}
    ordered: list[T] = []
    placed: set[str] = set()
    visiting: set[str] = set()

    def place(item: T) -> None:
        name = key(item)
        if name in placed or name in visiting:
            return
        visiting.add(name)
        for needed in needs(item):
            if needed in by_key:
                place(by_key[needed])
        visiting.discard(name)
        placed.add(name)
        ordered.append(item)

    for item in items:
        place(item)
    return ordered


def _flag_item(session: Session, data: dict[str, Any]) -> FlagItem:
    environments = {
        environment: FlagStateIn.model_validate(
            _fields(
                FlagStateIn,
                states.get_state(
                    session, flag_key=data["key"], environment_key=environment
                ).model_dump(mode="json"),
            )
        )
        for environment in data["environments"]
    }
    return FlagItem.model_validate(
        {
            **_fields(FlagCreate, data),
            "archived": data["archived"],
            "environments": environments,
        }
    )


def _experiment_item(data: dict[str, Any]) -> ExperimentItem:
    return ExperimentItem.model_validate(
        {
            **_fields(ExperimentItem, data, drop=("variants", "metrics")),
            "variants": [_fields(VariantIn, v, drop=("id",)) for v in data["variants"]],
            "metrics": [
                {
                    "metric": m["metric"],
                    "role": m["role"],
                    "non_inferiority_margin": m["non_inferiority_margin"],
                }
                for m in data["metrics"]
            ],
        }
    )


def export_document(session: Session, *, progress: Progress | None = None) -> TransferDocument:
    """Everything the flags and experiments of this database need, as one document."""
    say = progress or (lambda _: None)
    environments = every_item(
        lambda page: environment_service.list_environments(session, page=page), sort="sort_order"
    )
    say("environments")
    segments = every_item(
        lambda page: segment_service.list_segments(session, page=page), sort="key"
    )
    say("segments")
    metrics = [
        *every_item(lambda page: metric_service.list_metrics(session, page=page), sort="key"),
        *every_item(
            lambda page: metric_service.list_metrics(session, page=page, archived=True),
            sort="key",
        ),
    ]
    say("metrics")
    experiments = every_item(
        lambda page: experiment_service.list_experiments(session, page=page), sort="key"
    )
    say("experiments")
    flags = every_item(
        lambda page: flag_service.list_flags(session, page=page, archived=None), sort="key"
    )
    flag_items = []
    for flag in flags:
        flag_items.append(_flag_item(session, flag.model_dump(mode="json")))
        say(f"flag {flag.key}")
    return TransferDocument(
        format=FORMAT,
        version=VERSION,
        exported_at=dt.datetime.now(dt.UTC),
        verdict_version=__version__,
        environments=[
            EnvironmentCreate(
                key=e.key, name=e.name, description=e.description, sort_order=e.sort_order
            )
            for e in environments
        ],
        segments=[
            SegmentCreate.model_validate(_fields(SegmentCreate, s.model_dump(mode="json")))
            for s in segments
        ],
        metrics=[
            MetricCreate.model_validate(_fields(MetricCreate, m.model_dump(mode="json")))
            for m in metrics
        ],
        experiments=[
            _experiment_item(experiment_out(e).model_dump(mode="json")) for e in experiments
        ],
        flags=flag_items,
    )


# -- reading --------------------------------------------------------------------------


def _place(location: Sequence[int | str]) -> str:
    return ".".join(str(part) for part in location) or "document"


def read_document(raw: Any) -> TransferDocument:
    """The document ``raw`` (parsed JSON) describes; DocumentError naming every field
    that is wrong, by its place in the document."""
    if not isinstance(raw, dict):
        raise DocumentError(
            "the document must be a JSON object with format, version and the lists",
            field="document",
        )
    if raw.get("format") != FORMAT:
        raise DocumentError(
            f"expected {FORMAT!r}, found {raw.get('format')!r} "
            "(is this a file `verdict export` wrote?)",
            field="format",
        )
    if raw.get("version") != VERSION:
        raise DocumentError(
            f"this Verdict reads version {VERSION}, found {raw.get('version')!r}",
            field="version",
        )
    try:
        return TransferDocument.model_validate(raw)
    except ValidationError as exc:
        problems = [(_place(error["loc"]), error["msg"]) for error in exc.errors()]
        raise DocumentError(
            "; ".join(f"{field}: {reason}" for field, reason in problems), errors=problems
        ) from exc


# -- import ---------------------------------------------------------------------------


@dataclasses.dataclass
class _Run:
    session: Session
    actor: Principal
    skip_existing: bool
    report: ImportReport
    progress: Progress

    def step(self, where: str, action: Callable[[], object]) -> bool:
        """Run one service call; a refusal is recorded against ``where`` (its fields
        named inside the item) and rolled back to the last savepoint."""
        try:
            action()
        except DomainError as exc:
            self.session.rollback()
            self.report.errors.extend(_problems(where, exc))
            return False
        return True


def _problems(where: str, exc: DomainError) -> list[str]:
    pairs = getattr(exc, "errors", None) or [(exc.field, exc.detail)]
    lines = []
    for field, reason in pairs:
        inner = (field or "").removeprefix("body.").removeprefix("path.")
        if inner in ("", "body", "key", "status") or inner.startswith("header."):
            lines.append(f"{where}: {reason}")
        else:
            lines.append(f"{where}.{inner}: {reason}")
    return lines


def _exists(fetch: Callable[[], object]) -> bool:
    try:
        fetch()
    except NotFoundError:
        return False
    return True


def _usernames(session: Session, document: TransferDocument) -> set[str]:
    named = {
        item.owner
        for section in (document.segments, document.metrics, document.experiments, document.flags)
        for item in section
        if item.owner is not None
    }
    if not named:
        return set()
    return set(session.scalars(select(User.username).where(User.username.in_(named))))


def _without_missing_owner(item: T, where: str, known: set[str], report: ImportReport) -> T:
    owner = getattr(item, "owner", None)
    if owner is None or owner in known:
        return item
    report.notes.append(f"{where}.owner: no user {owner!r} here; imported without an owner")
    assert isinstance(item, BaseModel)
    return item.model_copy(update={"owner": None})


def _create(
    run: _Run,
    kind: str,
    where: str,
    key: str,
    exists: Callable[[], object],
    create: Callable[[], object],
    *,
    skip_always: bool = False,
) -> bool:
    """Create one item; True when it was created (and later steps may build on it)."""
    if _exists(exists):
        if run.skip_existing or skip_always:
            run.report.existing[kind] += 1
            return False
        run.report.errors.append(
            f"{where}.key: {kind.removesuffix('s')} {key!r} exists here "
            "(--skip-existing leaves it as it is)"
        )
        return False
    if run.step(where, create):
        run.report.created[kind] += 1
        return True
    return False


def _replay_lifecycle(run: _Run, item: ExperimentItem, where: str) -> None:
    actions = list(_PATHS[item.status])
    if item.status is ExperimentStatus.ARCHIVED and item.winner is not None:
        actions = [Action.START, Action.COMPLETE, Action.ARCHIVE]
    for action in actions:
        version = experiment_service.get_experiment(run.session, key=item.key).version

        def act(action: Action = action, version: int = version) -> object:
            return perform(
                run.session,
                actor=run.actor,
                key=item.key,
                action=action,
                if_match=etag(version),
                winner=item.winner if action is Action.COMPLETE else None,
            )

        if not run.step(f"{where}.status", act):
            return


def _import_flag_states(run: _Run, item: FlagItem, where: str) -> None:
    for environment, state in item.environments.items():
        place = f"{where}.environments.{environment}"

        def put(environment: str = environment, state: FlagStateIn = state) -> object:
            current = states.get_state(run.session, flag_key=item.key, environment_key=environment)
            return states.put_state(
                run.session,
                actor=run.actor,
                flag_key=item.key,
                environment_key=environment,
                data=state,
                if_match=etag(current.version),
            )

        run.step(place, put)


def _import_environments(run: _Run, items: list[EnvironmentCreate]) -> None:
    session, actor = run.session, run.actor
    for index, item in enumerate(items):

        def exists(item: EnvironmentCreate = item) -> object:
            return environment_service.get_environment(session, key=item.key)

        def create(item: EnvironmentCreate = item) -> object:
            return environment_service.create_environment(session, actor=actor, data=item)

        _create(
            run, "environments", f"environments.{index}", item.key, exists, create, skip_always=True
        )
    run.progress("environments")


def _import_in_order(
    run: _Run,
    kind: str,
    items: list[Creatable],
    known: set[str],
    depends_on: Callable[[Creatable], Iterable[str]],
    get: Callable[..., object],
    create: Callable[..., object],
) -> None:
    """Create ``items`` of ``kind`` (segments, metrics) each after those it names."""
    positions = {id(item): index for index, item in enumerate(items)}
    for entry in _in_dependency_order(items, lambda i: i.key, depends_on):
        where = f"{kind}.{positions[id(entry)]}"
        item = _without_missing_owner(entry, where, known, run.report)
        exists = functools.partial(get, run.session, key=item.key)
        make = functools.partial(create, run.session, actor=run.actor, data=item)
        _create(run, kind, where, item.key, exists, make)
    run.progress(kind)


def _import_segments(run: _Run, items: list[SegmentCreate], known: set[str]) -> None:
    _import_in_order(
        run,
        "segments",
        items,
        known,
        lambda s: segment_service.segment_keys(s.conditions),
        segment_service.get_segment,
        segment_service.create_segment,
    )


def _import_metrics(run: _Run, items: list[MetricCreate], known: set[str]) -> None:
    _import_in_order(
        run,
        "metrics",
        items,
        known,
        lambda m: [m.denominator] if m.denominator else [],
        metric_service.get_metric,
        metric_service.create_metric,
    )


def _import_experiments(run: _Run, items: list[ExperimentItem], known: set[str]) -> None:
    session, actor = run.session, run.actor
    for index, experiment in enumerate(items):
        where = f"experiments.{index}"
        item = _without_missing_owner(experiment, where, known, run.report)
        request = ExperimentCreate.model_validate(
            item.model_dump(include=set(ExperimentCreate.model_fields), exclude_unset=True)
        )

        def exists(key: str = item.key) -> object:
            return experiment_service.get_experiment(session, key=key)

        def create(request: ExperimentCreate = request) -> object:
            return experiment_service.create_experiment(session, actor=actor, data=request)

        if _create(run, "experiments", where, item.key, exists, create):
            _replay_lifecycle(run, item, where)
        run.progress(f"experiment {experiment.key}")


def _import_flags(run: _Run, items: list[FlagItem], known: set[str]) -> None:
    session, actor = run.session, run.actor
    positions = {id(item): index for index, item in enumerate(items)}
    created: list[tuple[FlagItem, str]] = []
    for flag in _in_dependency_order(
        items, lambda f: f.key, lambda f: [p.flag for p in f.prerequisites]
    ):
        where = f"flags.{positions[id(flag)]}"
        item = _without_missing_owner(flag, where, known, run.report)
        request = FlagCreate.model_validate(
            item.model_dump(include=set(FlagCreate.model_fields), exclude_unset=True)
        )

        def exists(key: str = item.key) -> object:
            return flag_service.load_flag(session, key)

        def create(request: FlagCreate = request) -> object:
            return flag_service.create_flag(session, actor=actor, data=request)

        if _create(run, "flags", where, item.key, exists, create):
            created.append((item, where))
        else:
            run.progress(f"flag {flag.key}")
    for item, where in created:
        _import_flag_states(run, item, where)
        run.progress(f"flag {item.key}")
    for item, where in created:
        if not item.archived:
            continue

        def archive(key: str = item.key) -> object:
            version = flag_service.load_flag(session, key).version
            return flag_service.archive_flag(
                session, actor=actor, key=key, archived=True, if_match=etag(version)
            )

        run.step(f"{where}.archived", archive)


def _run_import(run: _Run, document: TransferDocument) -> None:
    known = _usernames(run.session, document)
    _import_environments(run, document.environments)
    _import_segments(run, document.segments, known)
    _import_metrics(run, document.metrics, known)
    _import_experiments(run, document.experiments, known)
    _import_flags(run, document.flags, known)


@contextmanager
def _one_transaction(engine: Engine, *, keep: Callable[[], bool]) -> Iterator[Session]:
    """A session whose commits release savepoints of one outer transaction, committed
    at the end only if ``keep()``."""
    with engine.connect() as connection:
        outer = connection.begin()
        if connection.dialect.name == "sqlite":
            # pysqlite opens a transaction only at the first write; a savepoint made
            # before it would be the outermost one, and releasing it would commit.
            connection.exec_driver_sql("BEGIN")
        factory = sessionmaker(
            bind=connection,
            join_transaction_mode="create_savepoint",
            expire_on_commit=False,
            autoflush=False,
        )
        _announce_changes(factory)
        session = factory()
        try:
            yield session
        except BaseException:
            session.close()
            outer.rollback()
            raise
        session.close()
        if keep():
            outer.commit()
        else:
            outer.rollback()


def _announce_changes(factory: sessionmaker[Session]) -> None:
    """Running servers hear of the import when it commits (PostgreSQL NOTIFY is
    transactional, so a rolled-back import announces nothing)."""
    from verdict.server.delivery.changes import ChangeTracker
    from verdict.server.delivery.snapshots import SnapshotCache

    ChangeTracker(factory, SnapshotCache(factory)).install()


def import_document(
    engine: Engine,
    document: TransferDocument,
    *,
    actor: Principal,
    skip_existing: bool = False,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Create what ``document`` holds; all or nothing (see the module docstring)."""
    report = ImportReport(dry_run=dry_run)
    with _one_transaction(engine, keep=lambda: report.written) as session:
        run = _Run(
            session=session,
            actor=actor,
            skip_existing=skip_existing,
            report=report,
            progress=progress or (lambda _: None),
        )
        _run_import(run, document)
    return report


def total_steps(document: TransferDocument) -> int:
    """How many times :func:`import_document` reports progress for ``document``."""
    return 3 + len(document.experiments) + len(document.flags)


def section_sizes(document: TransferDocument) -> dict[str, int]:
    return {name: len(getattr(document, name)) for name in _SECTIONS}
