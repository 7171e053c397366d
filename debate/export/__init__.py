"""Exports of a debate database: JSONL (lossless, re-importable), CSV and Parquet files, and
pandas dataframes for notebooks; all with fixed per-table column types and credentials scrubbed.

    from debate.export import export_table, episodes_df
    export_table("debate-runs.sqlite", "turns", "parquet", "turns.parquet", run_id="my-run")
    df = episodes_df("debate-runs.sqlite", run_id="my-run")
"""

from debate.export.errors import ExportError
from debate.export.files import FORMATS, export_all, export_table, import_jsonl, jsonl_files
from debate.export.frames import (
    calls_df,
    episodes_df,
    passages_df,
    questions_df,
    runs_df,
    table_df,
    turns_df,
    verdicts_df,
)
from debate.export.schema import SCHEMAS, pandas_dtypes
from debate.export.scrub import REDACTED, scrub_json_text
from debate.storage.bulk import TABLES

__all__ = [
    "FORMATS",
    "REDACTED",
    "SCHEMAS",
    "TABLES",
    "ExportError",
    "calls_df",
    "episodes_df",
    "export_all",
    "export_table",
    "import_jsonl",
    "jsonl_files",
    "pandas_dtypes",
    "passages_df",
    "questions_df",
    "runs_df",
    "scrub_json_text",
    "table_df",
    "turns_df",
    "verdicts_df",
]
