"""The one way the lab writes CSV: every export (judgements, report tables, raters) goes through
``csv_writer``, which turns each value into text the same way and neutralises formulas.

A cell that starts with ``= + - @`` (or a tab or carriage return) is run as a formula by
spreadsheet programs, and cells here hold text that raters, imported files and policies wrote:
``=HYPERLINK(...)`` in a response would become a live link in whoever opens the report. Such
a cell gets a leading apostrophe, which spreadsheets show as text. A real number ("-0.25",
"-3", "1e-05") is left alone, so that numeric columns stay numeric.

It sits below the apps (like ``webapp.access``) and imports none of them.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> str:
    """``value`` as one CSV cell: empty for None, true/false, floats exact, lists and mappings as JSON."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        text = json.dumps(value, ensure_ascii=False)
    elif isinstance(value, float):
        text = repr(value)
    else:
        text = str(value)
    if text.startswith(FORMULA_STARTS) and not _is_number(text):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text)) and text.strip() == text
    except ValueError:
        return False


class csv_writer:
    """``csv.writer`` whose rows go through ``csv_cell``; the only CSV writer the web app uses."""

    def __init__(self, stream):
        self._writer = csv.writer(stream)

    def writerow(self, row: Iterable[Any]) -> None:
        self._writer.writerow([csv_cell(value) for value in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)
