"""Divergence: where variants of one feature disagree, against their noise floor, down to inputs."""

from dataclasses import replace
from urllib.parse import urlencode

import streamlit as st

from dashboard import charts, queries, ui

ctx = ui.page("Divergence")
pairs = ctx.lake.frame(queries.variant_pairs, ctx.scope)
if pairs.empty:
    ui.nothing("No variant pairs compared yet (the same input answered by two variants).")
    st.stop()

# Without a feature filter, offer every feature, the most diverging first.
by_rate = pairs.groupby("feature").disagreement_rate.max().sort_values(ascending=False)
feature = ctx.scope.feature or st.selectbox(
    "Feature", list(by_rate.index), key="pair_feature", bind="query-params"
)
pairs = pairs[pairs.feature == feature]
st.altair_chart(charts.disagreement_heatmap(pairs))
st.caption(
    "Disagreement rate of each pair of variants over the inputs both answered; the outlined "
    "diagonal is each variant's noise floor (its answer against its own repeat)."
)

st.subheader("Variant pairs")
st.dataframe(
    pairs.drop(columns="feature"),
    hide_index=True,
    column_config={
        **{
            c: st.column_config.NumberColumn(c.replace("_", " "), format="percent")
            for c in ("disagreement_rate", "rate_low", "rate_high", "noise_floor", "tolerance")
        },
        "rate_low": st.column_config.NumberColumn("95% low", format="percent"),
        "rate_high": st.column_config.NumberColumn("95% high", format="percent"),
    },
)

st.subheader("Diverging inputs")
diverging = pairs[(pairs.variant_a != pairs.variant_b) & (pairs.disagreements > 0)]
if diverging.empty:
    st.success("No pair of variants disagreed on any input in this window.")
    st.stop()
labels = {f"{r.variant_a} vs {r.variant_b}": r for r in diverging.itertuples()}
choice = st.selectbox("Pair", list(labels), key="pair", bind="query-params")
pair = labels[choice]
inputs = ctx.lake.frame(
    queries.divergent_inputs, replace(ctx.scope, feature=feature), pair.variant_a, pair.variant_b
)
if inputs.empty:
    ui.nothing("This pair disagreed before this window, not in it.")
    st.stop()


def trace_link(trace_id: str) -> str:
    """A link to the SQL page, preloaded with the trace's spans."""
    quoted = trace_id.replace("'", "''")
    query = f"SELECT * FROM spans WHERE trace_id = '{quoted}' ORDER BY start_time"
    return "sql?" + urlencode({**ctx.filters.url_params(), "q": query})


inputs["trace_a"] = inputs.trace_id_a.map(trace_link, na_action="ignore")
inputs["trace_b"] = inputs.trace_id_b.map(trace_link, na_action="ignore")
st.dataframe(
    inputs,
    hide_index=True,
    column_order=[
        "input_fingerprint",
        "output_a",
        "output_b",
        "delta",
        "node_a",
        "node_b",
        "time_a",
        "time_b",
        "trace_a",
        "trace_b",
    ],
    column_config={
        "output_a": st.column_config.TextColumn(f"output of {pair.variant_a}"),
        "output_b": st.column_config.TextColumn(f"output of {pair.variant_b}"),
        "trace_a": st.column_config.LinkColumn("trace a", display_text=r"%27(\w+)%27"),
        "trace_b": st.column_config.LinkColumn("trace b", display_text=r"%27(\w+)%27"),
    },
)
