"""Latency: warm p50 / p95 / p99 per hardware tier and per variant against the edge budget."""

import pandas as pd
import streamlit as st

from dashboard import charts, queries, ui

ctx = ui.page("Latency")
budget = ctx.settings.latency_budget_ms
tiers = ctx.lake.frame(queries.latency, ctx.scope, "tier")
if tiers.empty:
    ui.nothing("No inference span with a duration in this window.")
    st.stop()
variants = ctx.lake.frame(queries.latency, ctx.scope, "variant")
cold = ctx.lake.frame(queries.cold_start_latency, ctx.scope)
over_time = ctx.lake.frame(queries.latency_over_time, ctx.scope)

PERCENTILES = {
    "spans": st.column_config.NumberColumn("spans"),
    "p50_ms": st.column_config.NumberColumn("p50", format="%.1f ms"),
    "p95_ms": st.column_config.NumberColumn("p95", format="%.1f ms"),
    "p99_ms": st.column_config.NumberColumn("p99", format="%.1f ms"),
}


def table(frame: pd.DataFrame, group: str) -> None:
    verdict = frame.p95_ms.gt(budget).map({True: "p95 over budget", False: "within budget"})
    st.dataframe(frame.assign(budget=verdict), hide_index=True, column_config=PERCENTILES)
    st.altair_chart(charts.percentile_bars(frame, group, budget))


st.caption(f"Budget (edge class): {budget:g} ms, the dashed red line. Cold starts apart.")
over = variants[variants.p95_ms > budget]
st.metric("Variants with p95 over budget", len(over), border=True)

st.subheader("Per hardware tier")
table(tiers, "tier")
st.subheader("Per variant")
table(variants, "variant")
st.subheader("Over time, per tier")
st.altair_chart(charts.latency_over_time(over_time, budget))
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
