"""Plotly figures of the report pages, built with plotly's Python API from the same tables
that the page shows and the CSV links download.

Each figure goes to the page as JSON (``fig.to_json()``) inside a ``<script
type="application/json">`` block; ``static/reports/reports.js`` draws it with Plotly.newPlot.
Titles live in the page's headings, not in the figure, so the charts keep their width on a phone.
"""

from __future__ import annotations

from dataclasses import dataclass

import plotly.graph_objects as go

from webapp.reports.tables import Table

PALETTE = ["#1f5fbf", "#d97706", "#1d7a46", "#b42318", "#6b46c1", "#0e7490", "#6b7280"]
_ESCAPES = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})


@dataclass(frozen=True)
class Figure:
    name: str  # also the name of the table whose CSV holds its numbers
    title: str
    json: str  # safe inside a <script type="application/json"> element
    alt: str  # what the chart shows, for screen readers


def _finish(fig: go.Figure, table: Table, title: str, alt: str, *, y_title: str = "", x_title: str = "",
            percent: bool = False, height: int = 340) -> Figure:
    # The legend sits above the plot: below it, it collides with long tick labels on a phone.
    fig.update_layout(
        template="plotly_white", height=height, margin={"l": 56, "r": 12, "t": 36, "b": 44},
        font={"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 13},
        legend={"orientation": "h", "x": 0, "y": 1.02, "xanchor": "left", "yanchor": "bottom"},
        colorway=PALETTE, bargap=0.35,
    )
    fig.update_xaxes(automargin=True)
    fig.update_yaxes(automargin=True)
    fig.update_yaxes(title_text=y_title, zeroline=False)
    fig.update_xaxes(title_text=x_title)
    if percent:
        fig.update_yaxes(tickformat=".0%", rangemode="tozero")
    return Figure(table.name, title, fig.to_json().translate(_ESCAPES), alt)


def _errors(rows, value, low, high) -> dict:
    """Asymmetric error bars from interval bounds; a missing bound draws no bar."""
    up = [(r[high] - r[value]) if None not in (r[high], r[value]) else None for r in rows]
    down = [(r[value] - r[low]) if None not in (r[low], r[value]) else None for r in rows]
    return {"type": "data", "symmetric": False, "array": up, "arrayminus": down, "thickness": 1.5, "width": 6}


def _half_line(fig: go.Figure, label: str = "50 %") -> None:
    fig.add_hline(y=0.5, line_dash="dash", line_color="#5b6470", annotation_text=label, annotation_position="top left")


def results_figures(tables: dict[str, Table], baseline: str) -> list[Figure]:
    figures = []
    vs = [r for r in tables["vs_baseline"].rows if r["rate"] is not None]
    if vs:
        fig = go.Figure(go.Bar(
            x=[r["a"] for r in vs], y=[r["rate"] for r in vs], error_y=_errors(vs, "rate", "crossed_low", "crossed_high"),
            customdata=[[r["n"], r["wilson_low"], r["wilson_high"]] for r in vs],
            hovertemplate="%{x}: %{y:.1%} of %{customdata[0]} rankings<br>Wilson [%{customdata[1]:.1%}, %{customdata[2]:.1%}]<extra></extra>",
            marker_color=PALETTE[0],
        ))
        _half_line(fig)
        figures.append(_finish(fig, tables["vs_baseline"], f"Win rate vs {baseline}", f"Bar chart of each policy's win rate against {baseline}, with 95 % intervals valid for crossed raters × items.",
                               y_title=f"wins vs {baseline}", percent=True))
    bt = [r for r in tables["bradley_terry"].rows if r["log_strength"] is not None]
    if bt:
        fig = go.Figure(go.Scatter(
            x=[r["policy"] for r in bt], y=[r["log_strength"] for r in bt], mode="markers",
            marker={"size": 11, "color": PALETTE[2]}, error_y=_errors(bt, "log_strength", "low", "high"),
            hovertemplate="%{x}: θ = %{y:.3f}<extra></extra>",
        ))
        fig.add_hline(y=0, line_color="#d8dde3")
        fig.update_xaxes(range=[-0.5, len(bt) - 0.5])  # keep the end points and their bars off the frame
        figures.append(_finish(fig, tables["bradley_terry"], "Bradley–Terry strengths", "Log strengths of the policies with 95 % bootstrap intervals.",
                               y_title="log strength θ"))
    harm = [r for r in tables["harmless"].rows if r["rate"] is not None]
    if harm:
        fig = go.Figure(go.Bar(
            x=[r["policy"] for r in harm], y=[r["rate"] for r in harm], error_y=_errors(harm, "rate", "crossed_low", "crossed_high"),
            marker_color=PALETTE[1], hovertemplate="%{x}: %{y:.1%} harmless<extra></extra>",
        ))
        figures.append(_finish(fig, tables["harmless"], "Harmless rates", "Bar chart of the share of each policy's responses judged harmless, with 95 % intervals valid for crossed raters × items.",
                               y_title="judged harmless", percent=True))
    lengths = tables["lengths"].rows
    if lengths:
        fig = go.Figure()
        for i, r in enumerate(lengths):
            fig.add_trace(go.Box(
                x=[r["policy"]], q1=[r["q1"]], median=[r["median"]], q3=[r["q3"]], lowerfence=[r["min"]],
                upperfence=[r["max"]], mean=[r["mean"]], name=r["policy"], marker_color=PALETTE[i % len(PALETTE)],
                showlegend=False,
            ))
        figures.append(_finish(fig, tables["lengths"], "Response lengths per policy", "Box plot of response lengths per policy: minimum, quartiles, median, mean and maximum.",
                               y_title="tokens (or words)"))
    adjusted = [r for r in tables["length_control"].rows if r["b"] == baseline and r["raw_rate"] is not None]
    if adjusted:
        names = [r["a"] for r in adjusted]
        fig = go.Figure([
            go.Bar(name="raw", x=names, y=[r["raw_rate"] for r in adjusted], marker_color=PALETTE[0]),
            go.Bar(name="at equal length", x=names, y=[r["adjusted_rate"] for r in adjusted], marker_color=PALETTE[5],
                   error_y=_errors(adjusted, "adjusted_rate", "adjusted_low", "adjusted_high")),
        ])
        _half_line(fig)
        figures.append(_finish(fig, tables["length_control"], f"Raw and length-adjusted win rates vs {baseline}",
                               f"Grouped bars: each policy's raw win rate against {baseline} beside its win rate adjusted to equal length.",
                               y_title=f"wins vs {baseline}", percent=True))
    return figures


def _run_label(row: dict) -> str:
    return f"#{row['run_id']} {row.get('config') or ''}".strip()


def alignment_figures(tables: dict[str, Table], training: dict) -> list[Figure]:
    figures = []
    runs = [r for r in reversed(tables["labeling_runs"].rows) if r["position1_rate"] is not None]
    if runs:
        names = [f"#{r['run_id']}<br>{r['config']}" for r in runs]
        fig = go.Figure([
            go.Bar(name="chose the first candidate shown", x=names, y=[r["position1_rate"] for r in runs], marker_color=PALETTE[0]),
            go.Bar(name="the two orders disagree", x=names, y=[r["order_disagreement"] for r in runs], marker_color=PALETTE[1]),
        ])
        _half_line(fig, "unbiased")
        figures.append(_finish(fig, tables["labeling_runs"], "Position bias of the AI labeler",
                               "Grouped bars per labeling run: position-1 rate and share of pairs whose two orders disagree.",
                               y_title="share", percent=True))
    bins = tables["calibration"].rows
    if bins:
        fig = go.Figure(go.Scatter(x=[0.5, 1], y=[0.5, 1], mode="lines", name="perfectly calibrated",
                                   line={"dash": "dash", "color": "#9aa3ad"}))
        by_run: dict[int, list[dict]] = {}
        for b in bins:
            if b["count"] and b["mean_confidence"] is not None:
                by_run.setdefault(b["run_id"], []).append(b)
        for points in by_run.values():
            fig.add_trace(go.Scatter(
                x=[p["mean_confidence"] for p in points], y=[p["agreement"] for p in points], mode="lines+markers",
                name=_run_label(points[0]), customdata=[p["count"] for p in points],
                hovertemplate="confidence %{x:.0%}: agrees %{y:.0%} (%{customdata} labels)<extra></extra>",
            ))
        figures.append(_finish(fig, tables["calibration"], "Calibration: confidence vs agreement with humans",
                               "Line chart per labeling run: the labeler's mean confidence in each bin against how often it agreed with the human label.",
                               y_title="agrees with humans", x_title="AI confidence max(p, 1 − p)", percent=True))
    curve = rm_curve_figure(tables["rm_accuracy_vs_pairs"])
    if curve is not None:
        figures.append(curve)
    mixing = [r for r in tables["mixing"].rows if r["accuracy"] is not None]
    if mixing:
        fig = go.Figure(go.Scatter(
            x=[r["share"] for r in mixing], y=[r["accuracy"] for r in mixing], mode="lines+markers",
            error_y=_errors(mixing, "accuracy", "accuracy_low", "accuracy_high"), marker_color=PALETTE[1],
            hovertemplate="%{x:.0%} human labels: %{y:.1%} accuracy<extra></extra>",
        ))
        fig.update_xaxes(tickformat=".0%", range=[-0.05, 1.05])
        figures.append(_finish(fig, tables["mixing"], "Reward-model accuracy by share of human labels",
                               "Line chart of reward-model pairwise accuracy against the share of human labels in its training pairs.",
                               y_title="pairwise accuracy", x_title="share of human labels", percent=True))
    return figures


def rm_curve_figure(table: Table) -> Figure | None:
    """The paper's Figure 5: one line per reward-model run and label source, accuracy against pairs."""
    curve = table.rows
    if not curve:
        return None
    fig = go.Figure()
    by_run_source: dict[tuple[int, str | None], list[dict]] = {}
    for p in curve:
        by_run_source.setdefault((p["run_id"], p["label_source"]), []).append(p)
    for (run_id, source), points in by_run_source.items():
        fig.add_trace(go.Scatter(
            x=[p["pairs"] for p in points], y=[p["accuracy"] for p in points], mode="lines+markers",
            name=f"#{run_id} {source or 'labels'}", error_y=_errors(points, "accuracy", "low", "high"),
        ))
    fig.update_xaxes(type="log", tickvals=sorted({p["pairs"] for p in curve}))
    return _finish(fig, table, "Reward-model accuracy vs training pairs",
                   "Line chart of reward-model pairwise accuracy against the number of training pairs, per reward-model run.",
                   y_title="pairwise accuracy", x_title="training pairs (log scale)", percent=True)


def training_figures(training: dict, table: Table) -> list[Figure]:
    """One chart per training run, one line per logged value (the first four shown, the rest one click away)."""
    figures = []
    for run in training["runs"]:
        if not run["series"]:
            continue
        fig = go.Figure([
            go.Scatter(x=s["steps"], y=s["values"], mode="lines", name=s["key"], visible=True if i < 4 else "legendonly")
            for i, s in enumerate(run["series"])
        ])
        title = f"Run #{run['run_id']}: {run['arm'] or run['kind']} ({run['algorithm'] or run['kind']}, labels {run['label_source'] or '—'})"
        figure = _finish(fig, table, title, f"Training curves of run {run['run_id']}: {', '.join(s['key'] for s in run['series'])} by step.",
                         x_title="step", height=300)
        figures.append(figure)
    return figures


def cost_figures(tables: dict[str, Table]) -> list[Figure]:
    rows = [r for r in tables["cost"].rows if r["labels"]]
    if not rows:
        return []
    names = [f"run #{r['run_id']}" for r in rows]  # short: the model and config are in the hover and the table
    hover = [f"{r['model_spec']}<br>{r['config']}" for r in rows]
    fig = go.Figure([
        go.Bar(name="AI labels", x=names, y=[r["ai_cost_per_1k_labels"] for r in rows], marker_color=PALETTE[0],
               customdata=hover, hovertemplate="%{customdata}<br>AI: %{y:.4f} per 1,000<extra></extra>"),
        go.Bar(name="human labels", x=names, y=[r["human_cost_per_1k_labels"] for r in rows], marker_color=PALETTE[1],
               customdata=hover, hovertemplate="%{customdata}<br>human: %{y:,.2f} per 1,000<extra></extra>"),
    ])
    fig.update_yaxes(type="log", dtick=1)  # powers of ten only
    return [_finish(fig, tables["cost"], "Cost per 1,000 labels", "Grouped bars per labeling run: cost of 1,000 AI labels beside 1,000 human labels, log scale.",
                    y_title="per 1,000 labels (log)")]
