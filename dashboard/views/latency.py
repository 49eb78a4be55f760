"""Latency: the reconciler's budget check per variant, then warm p50 / p95 / p99 per hardware
tier and per variant with the budgets drawn in; cold starts apart."""

import pandas as pd
import streamlit as st

from dashboard import charts, queries, ui

LATENCY_FINDING = "latency over budget"

ctx = ui.page("Latency")
checks = ctx.lake.frame(queries.latency_budgets, ctx.scope)
findings = ctx.lake.frame(queries.open_findings, ctx.scope)

PERCENTILES = {
    "spans": st.column_config.NumberColumn("spans"),
    "p50_ms": st.column_config.NumberColumn("p50", format="%.1f ms"),
    "p95_ms": st.column_config.NumberColumn("p95", format="%.1f ms"),
    "p99_ms": st.column_config.NumberColumn("p99", format="%.1f ms"),
}

st.metric(
    "Variants over their latency budget",
    int((findings.kind == LATENCY_FINDING).sum()),
    border=True,
    help="Open latency findings at the window's end: warm p99 over the budget of the tier.",
)
st.subheader("Budget check")
st.caption(
    "The reconciler's check as of its last run: each variant's warm p99 over the spans of "
    "its latency window (reconciler.latency_window_s, from window_start) against the budget "
    "of its tier in the policies file (latency_budget_ms, latency_budget_ms_by_tier). Cold "
    "starts are counted apart; the p99 is an upper bound at most 4.4% above the exact one."
)
if checks.empty:
    st.info("No variant in the reconciler's latency window.")
else:
    st.dataframe(
        checks,
        hide_index=True,
        column_config={
            "spans": st.column_config.NumberColumn("warm spans"),
            "p99_ms": st.column_config.NumberColumn("p99", format="%.1f ms"),
            "budget_ms": st.column_config.NumberColumn("budget", format="%g ms"),
        },
    )

tiers = ctx.lake.frame(queries.latency, ctx.scope, "tier")
if tiers.empty:
    ui.nothing("No inference span with a duration in this window.")
    st.stop()
variants = ctx.lake.frame(queries.latency, ctx.scope, "variant")
cold = ctx.lake.frame(queries.cold_start_latency, ctx.scope)
over_time = ctx.lake.frame(queries.latency_over_time, ctx.scope)


def table(frame: pd.DataFrame, group: str) -> None:
    budgets = checks[[group, "budget_ms"]].drop_duplicates()
    st.dataframe(frame, hide_index=True, column_config=PERCENTILES)
    st.altair_chart(charts.percentile_bars(frame, group, budgets))


st.caption("In this window, cold starts apart; the budgets of the check in red.")
st.subheader("Per hardware tier")
table(tiers, "tier")
st.subheader("Per variant")
table(variants, "variant")
st.subheader("Over time, per tier")
budgets = checks[["tier", "budget_ms"]].drop_duplicates()
st.altair_chart(charts.latency_over_time(over_time, budgets))
st.subheader("Cold starts")
if cold.empty:
    st.info("No cold start in this window.")
else:
    st.dataframe(
        cold,
        hide_index=True,
        column_config={
            **PERCENTILES,
            "max_ms": st.column_config.NumberColumn("max", format="%.1f ms"),
        },
    )
