"""Overview: the fleet at a glance, each figure with its trend and a link to its page."""

import streamlit as st

from dashboard import queries, ui

ctx = ui.page("Overview")
scope, since = ctx.scope, "since the window's start"

nodes = ctx.lake.frame(queries.node_counts, scope, ctx.settings.heartbeat_tolerance_s)
spans = ctx.lake.frame(queries.span_rate, scope)
findings = ctx.lake.frame(queries.findings_summary, scope)
divergence = ctx.lake.frame(queries.divergence_rate, scope)

st.subheader("Nodes")
for column, row in zip(st.columns(3), nodes.itertuples(), strict=True):
    column.metric(
        f"Nodes {row.status}",
        int(row.end),
        delta=int(row.end - row.start),
        delta_color="normal" if row.status == "online" else "inverse",
        delta_description=since,
        border=True,
    )
st.page_link("views/fleet.py", label="Fleet: every node", icon=":material/arrow_forward:")

st.subheader("Traffic and agreement")
minutes = scope.length.total_seconds() / 60
now_spans, before_spans = spans[spans.current].spans.sum(), spans[~spans.current].spans.sum()
compared = divergence[divergence.current]
before = divergence[~divergence.current]
rate = compared.disagreements.sum() / compared.comparisons.sum() if len(compared) else None
rate_before = before.disagreements.sum() / before.comparisons.sum() if len(before) else None
left, right = st.columns(2)
left.metric(
    "Spans per minute",
    f"{now_spans / minutes:,.1f}",
    delta=f"{(now_spans - before_spans) / minutes:+,.1f}",
    delta_color="off",
    delta_description="vs. the window before",
    chart_data=spans[spans.current].spans_per_min,
    chart_type="area",
    border=True,
)
right.metric(
    "Divergence rate",
    "none" if rate is None else f"{rate:.2%}",
    delta=None if rate is None or rate_before is None else f"{(rate - rate_before) * 100:+.2f} pp",
    delta_color="inverse",
    delta_description="vs. the window before",
    chart_data=compared.rate,
    border=True,
    help="Share of compared answers (same input, two variants) that disagree.",
)
left.page_link("views/latency.py", label="Latency", icon=":material/arrow_forward:")
right.page_link("views/divergence.py", label="Divergence", icon=":material/arrow_forward:")

st.subheader("Open findings")
by_severity = findings.groupby("severity")[["open_at_end", "open_at_start"]].sum()
skew = findings[findings.kind == "skew violation"][["open_at_end", "open_at_start"]].sum()
columns = st.columns(4)
for column, severity in zip(columns, ("critical", "warning", "info"), strict=False):
    end, start = by_severity.loc[severity] if severity in by_severity.index else (0, 0)
    column.metric(
        f"Open {severity}",
        int(end),
        delta=int(end - start),
        delta_color="inverse",
        delta_description=since,
        border=True,
    )
columns[3].metric(
    "Skew violations",
    int(skew.open_at_end),
    delta=int(skew.open_at_end - skew.open_at_start),
    delta_color="inverse",
    delta_description=since,
    border=True,
)
columns[3].page_link("views/skew.py", label="Skew", icon=":material/arrow_forward:")

open_now = ctx.lake.frame(queries.open_findings, scope)
if open_now.empty:
    st.success("No open findings for these filters.")
else:
    st.dataframe(open_now, hide_index=True)
