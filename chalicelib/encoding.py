"""JSON text as the API sends it: compact, ASCII-only, and safe to embed in HTML.

Escaping `<`, `>` and `&` means no response ever carries request input (or table
data) that a browser could mistake for markup, whatever Content-Type it sniffs.
"""

from __future__ import annotations

import json
from typing import Any

_HTML_SAFE = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})


def json_text(value: Any) -> str:
    """Encodes `value` as compact JSON with HTML-significant characters escaped."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=True, allow_nan=False).translate(_HTML_SAFE)
