"""Defence in depth: no exported file carries an API key.

Our own code stores model-call params without keys, but a custom backend could put a key or
an ``Authorization`` header into what it records. Every JSON column (``*_json``) of every
exported row is searched: the value of any object key named like a credential is replaced
with ``"***"``. Text that holds no such key is passed through unchanged, byte for byte.
"""

from __future__ import annotations

import json
import re
from typing import Any

REDACTED = "***"

_HINT = re.compile(r"key|auth|secret|token|password|credential", re.IGNORECASE)
"""Cheap pre-filter: JSON text without any of these cannot hold a credential key."""

_EXACT = {
    "authorization",
    "proxyauthorization",
    "password",
    "secret",
    "clientsecret",
    "secretkey",
    "accesstoken",
    "authtoken",
    "bearertoken",
    "refreshtoken",
    "sessiontoken",
    "credentials",
    "awssecretaccesskey",
}


def is_secret_key(key: str) -> bool:
    """``api_key``, ``x-api-key``, ``OPENAI_API_KEY``, ``apiKey``, ``Authorization``, ... (but not
    ``api_key_env``, which names an environment variable, or ``max_tokens``)."""
    norm = re.sub(r"[^a-z0-9]", "", key.lower())
    return norm.endswith("apikey") or norm in _EXACT


def _scrub(value: Any) -> tuple[Any, bool]:
    if isinstance(value, dict):
        changed = False
        out: dict[str, Any] = {}
        for k, v in value.items():
            if isinstance(k, str) and is_secret_key(k):
                out[k] = REDACTED
                changed = True
            else:
                out[k], c = _scrub(v)
                changed = changed or c
        return out, changed
    if isinstance(value, list):
        items = [_scrub(v) for v in value]
        return [v for v, _ in items], any(c for _, c in items)
    return value, False


def scrub_json_text(text: str) -> str:
    """``text`` with credential values replaced; unchanged (same string) when there are none or
    the text is not JSON."""
    if not _HINT.search(text):
        return text
    try:
        value = json.loads(text)
    except ValueError:
        return text
    scrubbed, changed = _scrub(value)
    if not changed:
        return text
    return json.dumps(scrubbed, sort_keys=True, ensure_ascii=False)  # the storage layer's canonical form


def json_columns(names: list[str] | tuple[str, ...]) -> list[str]:
    return [n for n in names if n.endswith("_json")]


def scrub_rows(rows: list[dict[str, Any]], json_cols: list[str]) -> list[dict[str, Any]]:
    """Scrub the JSON columns of ``rows`` in place (and return them)."""
    for row in rows:
        for c in json_cols:
            v = row.get(c)
            if isinstance(v, str):
                row[c] = scrub_json_text(v)
    return rows
