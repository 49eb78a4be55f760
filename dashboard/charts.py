"""Altair charts of the pages; each takes a frame from ``dashboard.queries`` and returns a chart."""

from __future__ import annotations

import altair as alt
import pandas as pd


def version_share(
    frame: pd.DataFrame, x: str, y: str, width: pd.Timedelta, title: str
) -> alt.Chart:
    """Stacked area of each model version's share over time, one step per bucket of ``width``.

    The last bucket is repeated at its end so that every bucket, even a lone one, has a width.
    """
    last = frame[frame[x] == frame[x].max()].assign(**{x: frame[x].max() + width})
    steps = pd.concat([frame, last], ignore_index=True)
    return (
        alt.Chart(steps, title=title)
        .mark_area(interpolate="step-after")
        .encode(
            x=alt.X(f"{x}:T", title=None),
            y=alt.Y(f"sum({y}):Q", stack="normalize", title="share", axis=alt.Axis(format="%")),
            color=alt.Color("model_version:N", title="version", sort="descending"),
            tooltip=[f"{x}:T", "model_version:N", f"sum({y}):Q"],
        )
    )


def disagreement_heatmap(pairs: pd.DataFrame) -> alt.LayerChart:
    """Disagreement rate of every variant pair; the diagonal is each variant's noise floor."""
    mirrored = pairs.rename(columns={"variant_a": "variant_b", "variant_b": "variant_a"})
    cells = pd.concat([pairs, mirrored[mirrored.variant_a != mirrored.variant_b]])
    cells = cells.assign(
        kind=(cells.variant_a == cells.variant_b).map({True: "noise floor", False: "pair"}),
        label=cells.disagreement_rate.map(lambda r: "" if pd.isna(r) else f"{r:.1%}"),
    )
    base = alt.Chart(cells).encode(
        x=alt.X("variant_b:N", title=None, axis=alt.Axis(labelAngle=-30, labelLimit=260)),
        y=alt.Y("variant_a:N", title=None, axis=alt.Axis(labelLimit=260)),
    )
    tooltip = [
        "variant_a:N",
        "variant_b:N",
        "kind:N",
        "shared_inputs:Q",
        "disagreements:Q",
        alt.Tooltip("disagreement_rate:Q", format=".2%"),
        alt.Tooltip("rate_low:Q", format=".2%"),
        alt.Tooltip("rate_high:Q", format=".2%"),
        alt.Tooltip("noise_floor:Q", format=".2%"),
        "verdict:N",
    ]
    rect = base.mark_rect().encode(
        color=alt.Color(
            "disagreement_rate:Q",
            title="disagreement",
            scale=alt.Scale(scheme="orangered"),
            legend=alt.Legend(format="%"),
        ),
        stroke=alt.condition("datum.kind == 'noise floor'", alt.value("black"), alt.value(None)),
        tooltip=tooltip,
    )
    return (rect + base.mark_text(fontSize=12).encode(text="label:N")).properties(
        height=alt.Step(48)
    )


def percentile_bars(frame: pd.DataFrame, group: str, budgets: pd.DataFrame) -> alt.LayerChart:
    """p50 / p95 / p99 per group as grouped bars, each group's budgets as red ticks
    (``budgets``: the group and ``budget_ms``)."""
    long = frame.melt(
        id_vars=[group],
        value_vars=["p50_ms", "p95_ms", "p99_ms"],
        var_name="percentile",
        value_name="ms",
    )
    long["percentile"] = long["percentile"].str.removesuffix("_ms")
    y = alt.Y(f"{group}:N", title=None, axis=alt.Axis(labelLimit=300))
    bars = (
        alt.Chart(long)
        .mark_bar()
        .encode(
            y=y,
            yOffset="percentile:N",
            x=alt.X("ms:Q", title="milliseconds"),
            color=alt.Color("percentile:N", sort=["p50", "p95", "p99"]),
            tooltip=[f"{group}:N", "percentile:N", alt.Tooltip("ms:Q", format=".1f")],
        )
    )
    ticks = (
        alt.Chart(budgets[budgets[group].isin(frame[group])])
        .mark_tick(color="red", thickness=3)
        .encode(y=y, x="budget_ms:Q", tooltip=[f"{group}:N", "budget_ms:Q"])
    )
    return bars + ticks


def latency_over_time(frame: pd.DataFrame, budgets: pd.DataFrame) -> alt.LayerChart:
    """Warm percentiles per tier over time (one line per tier and percentile) and each
    tier's budgets as dashed rules in its colour (``budgets``: ``tier``, ``budget_ms``)."""
    color = alt.Color("tier:N")
    lines = (
        alt.Chart(frame)
        .mark_line(point=True)
        .encode(
            x=alt.X("bucket:T", title=None),
            y=alt.Y("ms:Q", title="milliseconds"),
            color=color,
            strokeDash=alt.StrokeDash("percentile:N", sort=["p50", "p95", "p99"]),
            tooltip=["bucket:T", "tier:N", "percentile:N", alt.Tooltip("ms:Q", format=".1f")],
        )
    )
    rules = (
        alt.Chart(budgets[budgets.tier.isin(frame.tier)])
        .mark_rule(strokeDash=[6, 3])
        .encode(y="budget_ms:Q", color=color, tooltip=["tier:N", "budget_ms:Q"])
    )
    return lines + rules
