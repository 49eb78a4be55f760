"""Skew: which model versions serve each feature, by traffic and by node inventory, and who lags."""

import pandas as pd
import streamlit as st

from dashboard import charts, queries, ui

ctx = ui.page("Skew")
HOUR = pd.Timedelta(hours=1)
bucket = pd.Timedelta(ctx.scope.bucket(smallest=HOUR))
traffic = ctx.lake.frame(queries.traffic_versions, ctx.scope)
inventory = ctx.lake.frame(queries.inventory_versions, ctx.scope)
shares = ctx.lake.frame(queries.version_share, ctx.scope)
behind = ctx.lake.frame(queries.skew_nodes, ctx.scope)

features = sorted(set(traffic.feature) | set(inventory.feature) | set(shares.feature))
if not features:
    ui.nothing("No version information yet (the reconciler fills it from spans and heartbeats).")
    st.stop()

violations = behind[behind.violation]
st.metric("Nodes behind tolerance", violations.node_id.nunique(), border=True)
if violations.empty:
    st.success("No node runs a version further behind than its feature tolerates.")
else:
    st.dataframe(
        violations,
        hide_index=True,
        column_config={
            "days_behind": st.column_config.NumberColumn("days behind", format="%.1f"),
            "max_days_behind": st.column_config.NumberColumn("tolerated days", format="%.0f"),
            "max_versions_behind": st.column_config.NumberColumn("tolerated versions"),
        },
    )

for feature in features:
    st.subheader(feature)
    left, right = st.columns(2)
    by_traffic = traffic[traffic.feature == feature]
    by_nodes = inventory[inventory.feature == feature]
    if by_traffic.empty:
        left.info("No traffic in this window.")
    else:
        left.altair_chart(
            charts.version_share(by_traffic, "hour", "spans", HOUR, "share of traffic")
        )
    if by_nodes.empty:
        right.info("No heartbeat inventory in this window.")
    else:
        right.altair_chart(
            charts.version_share(by_nodes, "bucket", "nodes", bucket, "share of nodes")
        )
    st.dataframe(
        shares[shares.feature == feature].drop(columns="feature"),
        hide_index=True,
        column_config={
            "traffic_share": st.column_config.ProgressColumn("traffic share", format="percent"),
            "node_share": st.column_config.ProgressColumn("node share", format="percent"),
        },
    )
    lagging = behind[(behind.feature == feature) & ~behind.violation]
    if not lagging.empty:
        with st.expander(f"{len(lagging)} nodes behind, within tolerance"):
            st.dataframe(lagging, hide_index=True)
