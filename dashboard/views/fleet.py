"""Fleet: every node with its tier, backlog, drops, clock and models; silent nodes stand out."""

import streamlit as st

from dashboard import queries, ui

ctx = ui.page("Fleet")
tolerance = ctx.settings.heartbeat_tolerance_s
nodes = ctx.lake.frame(queries.fleet, ctx.scope, tolerance)
if nodes.empty:
    ui.nothing("No node has sent a heartbeat for these filters.")
    st.stop()

counts = nodes.status.value_counts()
for column, status in zip(st.columns(3), ("online", "stale", "offline"), strict=True):
    column.metric(f"Nodes {status}", int(counts.get(status, 0)), border=True)
st.caption(
    f"Stale: silent longer than the heartbeat tolerance ({tolerance:g} s); "
    f"offline: longer than {tolerance * queries.OFFLINE_FACTOR:g} s. "
    "Other columns are each node's latest heartbeat."
)

search, statuses = st.columns([2, 1])
text = search.text_input("Find nodes", placeholder="node id, region, model …")
shown = statuses.multiselect("Status", ["online", "stale", "offline"], placeholder="any")
if text:
    haystack = nodes.astype(str).agg(" ".join, axis=1).str.lower()
    nodes = nodes[haystack.str.contains(text.lower(), regex=False)]
if shown:
    nodes = nodes[nodes.status.isin(shown)]

COLORS = {
    "stale": "background-color: rgba(255, 193, 7, 0.25)",
    "offline": "background-color: rgba(220, 53, 69, 0.25)",
}
styled = nodes.style.apply(lambda row: [COLORS.get(row.status, "")] * len(row), axis=1)
st.dataframe(
    styled,
    hide_index=True,
    column_config={
        "node_id": st.column_config.TextColumn("node", pinned=True),
        "last_seen": st.column_config.DatetimeColumn("last seen", format="YYYY-MM-DD HH:mm:ss"),
        "silent_s": st.column_config.NumberColumn("silent", format="%.0f s"),
        "pending_batches": st.column_config.NumberColumn("backlog batches"),
        "pending_bytes": st.column_config.NumberColumn("backlog", format="bytes"),
        "oldest_pending_age_s": st.column_config.NumberColumn("oldest pending", format="%.0f s"),
        "dropped_spans": st.column_config.NumberColumn("dropped spans"),
        "clock_offset_ms": st.column_config.NumberColumn("clock offset", format="%.1f ms"),
        "loaded_models": st.column_config.TextColumn("loaded models", width="large"),
    },
)
