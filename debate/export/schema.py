"""The fixed column types of every exported table: one Arrow schema per table, and the pandas
dtypes the dataframe API gives the same columns.

Declared by hand, not inferred from data, so a file's types never depend on what a batch
happened to hold (an all-null ``chosen`` is still ``int64``). A test checks these against the
SQL tables: a new column fails it until it is declared here.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pyarrow as pa

SCHEMA_VERSION = "1"

STRING = pa.string()
INT = pa.int64()
FLOAT = pa.float64()
BOOL = pa.bool_()
TIME = pa.timestamp("us", tz="UTC")


def _schema(table: str, *fields: tuple[str, pa.DataType] | tuple[str, pa.DataType, bool]) -> pa.Schema:
    """``(name, type)`` is a NOT NULL column; ``(name, type, True)`` a nullable one.
    Columns ending in ``_json`` hold JSON text."""
    return pa.schema(
        [pa.field(f[0], f[1], nullable=len(f) > 2 and bool(f[2])) for f in fields],
        metadata={"debate.table": table, "debate.schema_version": SCHEMA_VERSION},
    )


SCHEMAS: dict[str, pa.Schema] = {
    "runs": _schema(
        "runs",
        ("id", STRING), ("name", STRING), ("created_at", TIME), ("config_json", STRING), ("config_hash", STRING),
        ("status", STRING),
    ),
    "passages": _schema("passages", ("hash", STRING), ("text", STRING)),
    "questions": _schema(
        "questions",
        ("uid", STRING), ("id", STRING), ("question", STRING), ("options_json", STRING), ("gold_index", INT),
        ("title", STRING, True), ("source_json", STRING), ("passage_hash", STRING),
    ),
    "episodes": _schema(
        "episodes",
        ("id", STRING), ("run_id", STRING), ("question_uid", STRING), ("protocol", STRING), ("variant", STRING),
        ("params_json", STRING), ("order_json", STRING), ("roles_json", STRING), ("seed", INT), ("status", STRING),
        ("error", STRING, True), ("attempt", INT), ("started_at", TIME, True), ("finished_at", TIME, True),
        ("chosen", INT, True), ("correct", BOOL, True), ("judge_model", STRING, True), ("parse_status", STRING, True),
    ),
    "turns": _schema(
        "turns",
        ("id", INT), ("episode_id", STRING), ("idx", INT), ("round", INT), ("role", STRING), ("kind", STRING),
        ("text", STRING), ("argues_for", INT, True), ("argues_for_letter", STRING, True), ("quotes_json", STRING),
        ("n_verified", INT), ("n_unverified", INT), ("visible_to_judge", BOOL), ("meta_json", STRING),
        ("created_at", TIME),
    ),
    "calls": _schema(
        "calls",
        ("id", INT), ("run_id", STRING), ("episode_id", STRING, True), ("model", STRING), ("purpose", STRING),
        ("role", STRING), ("prompt", STRING), ("reply", STRING), ("prompt_tokens", INT), ("completion_tokens", INT),
        ("latency_s", FLOAT), ("cost_usd", FLOAT), ("error", STRING, True), ("params_json", STRING),
        ("created_at", TIME),
    ),
    "verdicts": _schema(
        "verdicts",
        ("id", INT), ("episode_id", STRING), ("judge_model", STRING), ("judge_kind", STRING), ("chosen", INT, True),
        ("probabilities_json", STRING, True), ("raw", STRING), ("status", STRING), ("confidence", FLOAT, True),
        ("correct", BOOL), ("is_final", BOOL), ("created_at", TIME),
    ),
}
"""Export table name -> Arrow schema (Parquet files are written with exactly this schema)."""

_PANDAS: dict[pa.DataType, Any] = {
    STRING: pd.StringDtype("pyarrow"),
    INT: pd.Int64Dtype(),
    FLOAT: pd.Float64Dtype(),
    BOOL: pd.BooleanDtype(),
}


def pandas_type(arrow_type: pa.DataType) -> Any:
    """The dataframe dtype of an Arrow column type: nullable extension dtypes (``string``,
    ``Int64``, ``Float64``, ``boolean``; missing is ``pd.NA``) and ``datetime64[us, UTC]``."""
    if arrow_type == TIME:
        return pd.DatetimeTZDtype("us", "UTC")
    return _PANDAS[arrow_type]


def pandas_dtypes(table: str) -> dict[str, Any]:
    """Column -> pandas dtype of ``table``'s dataframe, in column order."""
    return {f.name: pandas_type(f.type) for f in SCHEMAS[table]}


def _types_mapper(arrow_type: pa.DataType) -> Any:
    return None if arrow_type == TIME else _PANDAS.get(arrow_type)


def to_pandas(table: pa.Table) -> pd.DataFrame:
    return table.to_pandas(types_mapper=_types_mapper)
