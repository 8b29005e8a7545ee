"""Formatting of report table cells: percentages, intervals, p-values, times and money."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import TypeGuard

from django import template
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

register = template.Library()
DASH = "—"
ALPHA = 0.05


def _ok(value) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _pct(value) -> str:
    return f"{100 * value:.1f} %" if _ok(value) else DASH


def _p(value) -> str:
    if not _ok(value):
        return DASH
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def _money(value) -> str:
    if not _ok(value):
        return DASH
    return f"{value:,.2f}" if value >= 1 else f"{value:.4f}"


def _num(value) -> str:
    if not _ok(value):
        return DASH
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}" if abs(value) < 0.01 and value else f"{value:.2f}"


def _time(value) -> str:
    try:
        return datetime.fromisoformat(value).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    except (TypeError, ValueError):
        return DASH


@register.filter
def cell(row: dict, column) -> str:
    values = [row.get(key) for key in column.keys]
    kind = column.kind
    if kind == "ci":
        return f"{_pct(values[0])[:-2]} – {_pct(values[1])}" if all(map(_ok, values)) else DASH
    if kind == "nci":
        return f"{values[0]:+.2f} – {values[1]:+.2f}" if all(map(_ok, values)) else DASH
    value = values[0]
    if kind in ("pct", "ref"):
        return _pct(value)
    if kind == "p":
        return _p(value)
    if kind == "num":
        return _num(value)
    if kind == "id":
        return f"#{value}" if isinstance(value, int) and not isinstance(value, bool) else DASH
    if kind == "int":
        return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else DASH
    if kind == "sec":
        return f"{value:.1f} s" if _ok(value) else DASH
    if kind == "money":
        return _money(value)
    if kind == "intpct":
        return f"{value} %" if isinstance(value, int) else DASH
    if kind in ("bool", "flag"):
        return DASH if value is None else "yes" if value else "no"
    if kind == "time":
        return _time(value)
    return DASH if value in (None, "") else str(value)


@register.filter
def cell_class(row: dict, column) -> str:
    """Numbers right-aligned; significant p-values marked, so they can be told apart at a glance."""
    classes = {"text": [], "bool": [], "flag": [], "time": [], "long": ["long"], "id": []}.get(column.kind, ["num"])
    value = row.get(column.keys[0])
    if column.kind == "p" and _ok(value) and value < ALPHA:
        classes.append("sig")
    if column.kind == "flag" and value:
        classes.append("flag")
    if column.kind == "ref":
        classes.append("ref")
    return " ".join(classes)


@register.filter
def cell_href(row: dict, column) -> str:
    """The address a cell links to (the run or round that produced it), or "" for none."""
    return (row.get(column.link) or "") if column.link else ""


@register.simple_tag
def plotly_src() -> str:
    """plotly.js from our own view, versioned so that browsers cache it until plotly changes."""
    import plotly
    from django.urls import reverse

    return f"{reverse('reports:plotly_js')}?v={plotly.__version__}"


@register.filter
def pct(value) -> str:
    return _pct(value)


@register.filter
def header_class(column) -> str:
    if column.kind == "ref":
        return "num ref"
    return "num" if column.kind not in ("text", "bool", "flag", "time", "long", "id") else ""


@register.filter
def backticks(text: str) -> SafeString:
    """A message with `commands` in backticks, the commands set as code (the rest escaped)."""
    parts = escape(text).split("`")
    return mark_safe("".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts)))  # noqa: S308 - every part is escaped
