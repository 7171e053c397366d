"""Dataframes for notebooks: one per table, with the export schema's fixed dtypes.

``db`` is a database path or an open ``Database``. Columns and order are those of the export
schemas (``debate.export.schema``); dtypes are nullable pandas extension types (``string``,
``Int64``, ``Float64``, ``boolean``, missing = ``pd.NA``) and ``datetime64[us, UTC]``, the same
whether a column happens to hold nulls or not. JSON columns are text (``json.loads`` them),
scrubbed of credentials like every export. Row order is insertion order.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa

from debate.export.files import open_existing
from debate.export.schema import SCHEMAS, to_pandas
from debate.export.scrub import json_columns, scrub_rows
from debate.storage import Database
from debate.storage.bulk import iter_rows, table_name

Db = str | Path | Database

_BATCH = 5000


def table_df(db: Db, table: str, run_id: str | None = None) -> pd.DataFrame:
    """Any table (``runs``, ``passages``, ``questions``, ``episodes``, ``turns``, ``calls``,
    ``verdicts``) as a dataframe, of one run with ``run_id``."""
    name = table_name(table)
    schema = SCHEMAS[name]
    json_cols = json_columns(schema.names)
    with open_existing(db) as database:
        batches = [
            pa.RecordBatch.from_pylist(scrub_rows(rows, json_cols), schema=schema)
            for rows in iter_rows(database, name, run_id=run_id, batch_size=_BATCH)
        ]
    return to_pandas(pa.Table.from_batches(batches, schema=schema))


def runs_df(db: Db, run_id: str | None = None) -> pd.DataFrame:
    return table_df(db, "runs", run_id)


def questions_df(db: Db, run_id: str | None = None) -> pd.DataFrame:
    """All questions, or those the episodes of ``run_id`` use."""
    return table_df(db, "questions", run_id)


def passages_df(db: Db, run_id: str | None = None) -> pd.DataFrame:
    return table_df(db, "passages", run_id)


def episodes_df(db: Db, run_id: str | None = None) -> pd.DataFrame:
    return table_df(db, "episodes", run_id)


def turns_df(db: Db, run_id: str | None = None) -> pd.DataFrame:
    return table_df(db, "turns", run_id)


def verdicts_df(db: Db, run_id: str | None = None) -> pd.DataFrame:
    return table_df(db, "verdicts", run_id)


def calls_df(db: Db, run_id: str | None = None) -> pd.DataFrame:
    return table_df(db, "calls", run_id)
