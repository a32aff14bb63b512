"""One canonical SQL text, rendered for each engine by sqlglot.

Why sqlglot: it parses and generates the dialects of every engine a team is likely to
hold its events in (SQLite, PostgreSQL, DuckDB, ClickHouse, Spark/Databricks, BigQuery,
Snowflake, Trino/Presto, Redshift, ...), as plain Python with no server or driver, so
the metric SQL is written once and transpiled; ibis would hide the SQL behind a
dataframe API and SQLAlchemy Core has no Spark, ClickHouse or warehouse dialects of
its own.

The canonical text (sqlglot's default dialect) keeps a few things as placeholders,
because the dialects disagree about them in ways a transpiler cannot know from the
text alone (column types, JSON flavour, table engines, aggregates):

* ``VERDICT_EPOCH_US(ts)`` -- microseconds since 1970-01-01 UTC as a 64-bit integer.
  All window arithmetic is in integer microseconds, so it is exact on every engine
  (SQLite stores time to the millisecond; its values are whole milliseconds);
* ``VERDICT_JSON_TEXT(doc, 'a', 'b')`` -- the JSON value at ``a.b`` as text, NULL when
  absent (numbers as their JSON text);
* ``VERDICT_JSON_NUMBER(doc, 'a', 'b')`` -- the same as a double, NULL when absent or
  not a number;
* ``VERDICT_TS_RANGE(ts, 'low', 'high')`` -- a coarse filter on the raw timestamp
  column (microsecond bounds already widened by a day), so an engine can use an index
  (PostgreSQL), zone maps (DuckDB, ClickHouse) or Parquet statistics (Spark) to skip
  old events; the exact filter on ``VERDICT_EPOCH_US`` follows it. The day of margin
  absorbs any time zone a naive timestamp column is read in;
* ``VERDICT_RANKS(value, condition, 'n', 'k1', ...)`` -- the values of ranks ``k1, ...``
  among the ``n`` values of ``value`` where ``condition`` holds, as one list, for the
  engines with a rank-selecting aggregate (``Flavour.select_ranks``);
* ``VERDICT_PERIOD(us, 'start_0 start_1 ...')`` -- a bandit's allocation period of the
  time ``us`` (microseconds): the index ``i`` of ``[start_i, start_i+1)``, 0 before the
  first start. It becomes a balanced tree of CASEs (:func:`period_case`), the same text
  in every dialect, put in after sqlglot's pass: parsing thousands of nested CASEs would
  cost seconds, one string literal costs nothing;
* ``__vsrc_<name>__`` -- a mapped source: a quoted table name or ``(SELECT ...)``.

On ClickHouse, sqlglot renders every ``CAST`` as ``Nullable(T)``; a cast of a
``COALESCE`` is rendered as plain ``T``, since it cannot be NULL (Nullable columns cost
a null map per column on every write and read).

:func:`render` parses the canonical text, lets sqlglot generate the engine's dialect,
and puts each placeholder's engine-specific fragment in place. A new warehouse needs a
:class:`Flavour` (four short templates) and an adapter in :mod:`verdict.analysis.engines`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import sqlglot
from sqlglot import exp

__all__ = ["FLAVOURS", "Flavour", "period_case", "render", "sql_string", "table_name"]


def sql_string(value: str) -> str:
    """A string literal in the canonical dialect."""
    return exp.Literal.string(value).sql()


def table_name(name: str, dialect: str) -> str:
    """``catalog.schema.table`` with each part quoted for the dialect."""
    parts = [exp.to_identifier(part, quoted=True) for part in name.split(".")]
    table = exp.Table(this=parts[-1])
    if len(parts) > 1:
        table.set("db", parts[-2])
    if len(parts) > 2:
        table.set("catalog", parts[-3])
    return table.sql(dialect=dialect)


def period_case(column: str, starts_us: Sequence[int]) -> str:
    """The index of the period holding ``column``: period ``i`` covers ``[starts_us[i],
    starts_us[i + 1])``; times before the first start are in period 0.

    A balanced tree of CASEs, ``ceil(log2(periods))`` deep, so a row costs that many
    comparisons; one CASE with a branch per period would walk every row down a list."""

    def node(low: int, high: int) -> str:
        if low == high:
            return str(low)
        middle = (low + high + 1) // 2  # the first period of the upper half
        return (
            f"CASE WHEN {column} < {starts_us[middle]} THEN {node(low, middle - 1)} "
            f"ELSE {node(middle, high)} END"
        )

    if not starts_us:
        raise ValueError("starts_us: need at least one period")
    return node(0, len(starts_us) - 1)


def _json_path(path: Sequence[str]) -> str:
    return "$." + ".".join(path)


def _quoted(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _sqlite_epoch(column: str) -> str:
    # julianday() keeps milliseconds; rounding the product recovers them exactly.
    return f"(CAST(ROUND((julianday({column}) - 2440587.5) * 86400000.0) AS INTEGER) * 1000)"


def _seconds(micros: int) -> str:
    return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"


def _clickhouse_json_text(column: str, path: Sequence[str]) -> str:
    keys = ", ".join(_quoted(part) for part in path)
    return (
        f"if(JSONHas({column}, {keys}), if(JSONType({column}, {keys}) = 'String', "
        f"JSONExtractString({column}, {keys}), JSONExtractRaw({column}, {keys})), NULL)"
    )


# Order statistics by rank. Each engine's discrete quantile picks, for a position q
# among n values, the value of rank ceil(n q) (PostgreSQL's percentile_disc, DuckDB's
# quantile_disc with a DECIMAL q, in exact integer arithmetic) or floor(n q) + 1
# (ClickHouse's quantilesExact). The position (2k - 1) / 2n, midway between two ranks,
# selects rank k under both rules, whatever the rounding of n q; the suite checks each
# engine against a sort.


def _float_positions(ranks: Sequence[int], n: int) -> str:
    return ", ".join(repr((2 * rank - 1) / (2 * n)) for rank in ranks)


def _duckdb_ranks(value: str, condition: str, n: int, ranks: Sequence[int]) -> str:
    # DECIMAL(38, 18): DuckDB multiplies n by the scaled integer (no float rounding).
    positions = ", ".join(
        f"CAST('0.{((2 * rank - 1) * 10**18 + n) // (2 * n):018d}' AS DECIMAL(38, 18))"
        for rank in ranks
    )
    return f"quantile_disc({value}, [{positions}]) FILTER (WHERE {condition})"


@dataclass(frozen=True)
class Flavour:
    """The dialect-specific fragments of one engine (column SQL already rendered)."""

    dialect: str
    epoch_micros: Callable[[str], str]
    json_text: Callable[[str, Sequence[str]], str]
    json_number: Callable[[str, Sequence[str]], str]
    create_table_as: Callable[[str, str], str]
    time_range: Callable[[str, int, int], str] = lambda _column, _low, _high: "1 = 1"
    grouping_sets: bool = True
    # An aggregate that selects order statistics by rank (``VERDICT_RANKS``): the
    # values of ranks ``k`` among the ``n`` values of ``value`` where ``condition``
    # holds, as one list. None: the portable window form (ROW_NUMBER) is used.
    select_ranks: Callable[[str, str, int, Sequence[int]], str] | None = None
    # Engines that evaluate a CTE once per reference (ClickHouse) compute a CTE read
    # twice (the exposed units, a refresh's delta) once, into a temporary table.
    materialize_shared_ctes: bool = False
    # Group the exposed units (a refresh: the units of the new exposure rows) into a
    # table of their own before the build joins them with the events. PostgreSQL runs
    # nothing that reads a materialised CTE (or a grouping done under another Gather)
    # in parallel workers, and estimates a CTE's rows poorly; a table it joins with a
    # parallel hash join, hashing the smaller side, and aggregates in each worker.
    stage_units: bool = False
    # Bound the events exactly by the scan window where they are read (on the computed
    # epoch), so that the aggregates need not test ``ts <= end`` each. PostgreSQL keeps
    # the test in the aggregates: it cannot estimate a range on a computed epoch, and
    # a few thousand rows estimated out of millions cost it its parallel plan.
    exact_event_bounds: bool = True


FLAVOURS: dict[str, Flavour] = {
    "sqlite": Flavour(
        dialect="sqlite",
        epoch_micros=_sqlite_epoch,
        json_text=lambda c, p: f"CAST(json_extract({c}, {_quoted(_json_path(p))}) AS TEXT)",
        # CAST('abc' AS REAL) is 0 in SQLite: only JSON numbers count as values.
        json_number=lambda c, p: (
            f"CASE WHEN json_type({c}, {_quoted(_json_path(p))}) IN ('integer', 'real') "
            f"THEN CAST(json_extract({c}, {_quoted(_json_path(p))}) AS REAL) END"
        ),
        create_table_as=lambda name, select: f"CREATE TABLE {name} AS {select}",
        grouping_sets=False,
    ),
    "postgres": Flavour(
        dialect="postgres",
        # date_part() is a double: its rounding error at today's epochs is below 0.25 us,
        # so the rounding cast recovers whole microseconds, at float (not numeric) speed.
        epoch_micros=lambda c: f"CAST(date_part('epoch', {c}) * 1000000 AS BIGINT)",
        json_text=lambda c, p: f"({c} #>> {_quoted('{' + ','.join(p) + '}')})",
        # Only JSON numbers count as values: casting the text of a string ('n/a') to a
        # double would abort the whole analysis on PostgreSQL.
        json_number=lambda c, p: (
            f"CASE WHEN jsonb_typeof(CAST({c} AS JSONB) #> {_quoted('{' + ','.join(p) + '}')})"
            f" = 'number' THEN CAST((CAST({c} AS JSONB) #>> "
            f"{_quoted('{' + ','.join(p) + '}')}) AS DOUBLE PRECISION) END"
        ),
        # Unlogged: the table is a cache that a crash may empty; a missing table only
        # means the next refresh is a full one.
        create_table_as=lambda name, select: f"CREATE UNLOGGED TABLE {name} AS {select}",
        stage_units=True,
        exact_event_bounds=False,
        select_ranks=lambda value, condition, n, ranks: (
            f"percentile_disc(CAST(ARRAY[{_float_positions(ranks, n)}] AS DOUBLE PRECISION[])) "
            f"WITHIN GROUP (ORDER BY {value}) FILTER (WHERE {condition})"
        ),
        time_range=lambda c, low, high: (
            f"({c} >= to_timestamp({_seconds(low)}) AND {c} <= to_timestamp({_seconds(high)}))"
        ),
    ),
    "duckdb": Flavour(
        dialect="duckdb",
        epoch_micros=lambda c: f"epoch_us({c})",
        json_text=lambda c, p: f"json_extract_string({c}, {_quoted(_json_path(p))})",
        json_number=lambda c, p: (
            f"TRY_CAST(json_extract_string({c}, {_quoted(_json_path(p))}) AS DOUBLE)"
        ),
        create_table_as=lambda name, select: f"CREATE TABLE {name} AS {select}",
        time_range=lambda c, low, high: (
            f"({c} >= to_timestamp({_seconds(low)}) AND {c} <= to_timestamp({_seconds(high)}))"
        ),
        select_ranks=_duckdb_ranks,
    ),
    "clickhouse": Flavour(
        dialect="clickhouse",
        epoch_micros=lambda c: f"toUnixTimestamp64Micro(toDateTime64({c}, 6, 'UTC'))",
        json_text=_clickhouse_json_text,
        json_number=lambda c, p: (
            f"toFloat64OrNull(JSONExtractRaw({c}, {', '.join(_quoted(x) for x in p)}))"
        ),
        create_table_as=lambda name, select: (
            f"CREATE TABLE {name} ENGINE = MergeTree ORDER BY tuple() AS {select}"
        ),
        time_range=lambda c, low, high: (
            f"({c} >= toDateTime64({_seconds(low)}, 6, 'UTC') "
            f"AND {c} <= toDateTime64({_seconds(high)}, 6, 'UTC'))"
        ),
        materialize_shared_ctes=True,
        select_ranks=lambda value, condition, n, ranks: (
            f"quantilesExactIf({_float_positions(ranks, n)})({value}, {condition})"
        ),
    ),
    "spark": Flavour(
        dialect="spark",
        epoch_micros=lambda c: f"unix_micros(CAST({c} AS TIMESTAMP))",
        json_text=lambda c, p: f"get_json_object({c}, {_quoted(_json_path(p))})",
        json_number=lambda c, p: (
            f"TRY_CAST(get_json_object({c}, {_quoted(_json_path(p))}) AS DOUBLE)"
        ),
        create_table_as=lambda name, select: f"CREATE TABLE {name} USING parquet AS {select}",
        time_range=lambda c, low, high: (
            f"({c} >= timestamp_micros({low}) AND {c} <= timestamp_micros({high}))"
        ),
    ),
}


def _literal_text(node: exp.Expression) -> str:
    if not isinstance(node, exp.Literal) or not node.is_string:
        raise ValueError(f"placeholder argument must be a string literal, got {node.sql()}")
    return str(node.this)


def _materialize_shared_ctes(tree: exp.Expr) -> None:
    """Mark each CTE that the statement reads more than once ``MATERIALIZED``."""
    uses: dict[str, int] = {}
    for table in tree.find_all(exp.Table):
        if not table.db:
            uses[table.name] = uses.get(table.name, 0) + 1
    for cte in tree.find_all(exp.CTE):
        if uses.get(cte.alias, 0) > 1:
            cte.set("materialized", True)


def render(canonical: str, flavour: Flavour, sources: Mapping[str, str]) -> str:
    """The canonical SQL in the flavour's dialect, placeholders filled in.

    ``sources`` maps a source name to its SQL in the target dialect: ``__vsrc_<name>__``
    in the canonical text becomes that text.
    """
    tree = sqlglot.parse_one(canonical)
    if flavour.materialize_shared_ctes:
        _materialize_shared_ctes(tree)
    fragments: dict[str, str] = {}
    counter = itertools.count()

    def expand(node: exp.Expression) -> exp.Expression:
        if (
            flavour.dialect == "clickhouse"
            and isinstance(node, exp.Cast)
            and (
                isinstance(node.this, exp.Coalesce)
                or (isinstance(node.this, exp.Literal) and not node.this.is_string)
            )
        ):
            # sqlglot casts to Nullable(T) on ClickHouse; a COALESCE or a number is never
            # NULL. Plain columns are about half the cost of writing the per-unit table,
            # and a Nullable cap makes every capped value, and its sums, Nullable.
            node.to.set("nullable", False)
            return node
        if not isinstance(node, exp.Anonymous):
            return node
        name = str(node.this).upper()
        if not name.startswith("VERDICT_"):
            return node
        args = list(node.expressions)
        column = args[0].sql(dialect=flavour.dialect)
        if name == "VERDICT_RANKS":
            if flavour.select_ranks is None:
                raise ValueError(f"{flavour.dialect} selects no order statistics by rank")
            condition = args[1].sql(dialect=flavour.dialect)
            n, *ranks = (int(_literal_text(arg)) for arg in args[2:])
            fragment = flavour.select_ranks(column, condition, n, ranks)
            marker = f"__vfrag{next(counter)}__"
            fragments[marker] = fragment
            return exp.column(marker)
        path = [_literal_text(arg) for arg in args[1:]]
        if name == "VERDICT_PERIOD":
            fragment = period_case(column, [int(start) for start in path[0].split()])
        elif name == "VERDICT_EPOCH_US":
            fragment = flavour.epoch_micros(column)
        elif name == "VERDICT_JSON_TEXT":
            fragment = flavour.json_text(column, path)
        elif name == "VERDICT_JSON_NUMBER":
            fragment = flavour.json_number(column, path)
        elif name == "VERDICT_TS_RANGE":
            fragment = flavour.time_range(column, int(path[0]), int(path[1]))
        else:
            raise ValueError(f"unknown placeholder {name}")
        marker = f"__vfrag{next(counter)}__"
        fragments[marker] = fragment
        return exp.column(marker)

    # The tree is parsed here and used once: neither step needs a copy of it (copying
    # a per-unit statement's tree costs more than generating its text).
    tree = tree.transform(expand, copy=False)
    text = sqlglot.Dialect.get_or_raise(flavour.dialect).generate(tree, copy=False)
    for marker, fragment in fragments.items():
        text = text.replace(marker, fragment)
    for name, source in sources.items():
        text = text.replace(f"__vsrc_{name}__", source)
    return text
