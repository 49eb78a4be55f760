"""SQL: analysts' queries on a confined read-only connection, with a row cap and a time limit."""

import streamlit as st

from dashboard import ui
from dashboard.examples import EXAMPLES
from dashboard.readonly_sql import Answer, QueryRefused, run_query
from dashboard.settings import current
from parallax.config import StoreSettings

ctx = ui.page("SQL")
store = current().store
limit, timeout = ctx.settings.query_row_limit, ctx.settings.query_timeout_s


@st.cache_data(ttl=ctx.settings.refresh_s, max_entries=64, show_spinner="Running the query …")
def answer(lake: StoreSettings, text: str, row_limit: int, timeout_s: float) -> Answer:
    return run_query(lake, text, row_limit, timeout_s)


def use_example() -> None:
    st.session_state["q"] = EXAMPLES[st.session_state["example"]]


st.selectbox(
    "Example queries",
    list(EXAMPLES),
    index=None,
    placeholder="pick one to load it",
    key="example",
    on_change=use_example,
)
text = st.text_area(
    "Query (DuckDB SQL; tables and views: docs/analysts.md)",
    value=next(iter(EXAMPLES.values())),
    key="q",
    bind="query-params",
    height=180,
    help="Runs when the text changes (Ctrl+Enter); read-only.",
)
st.caption(f"Read-only. At most {limit:,} rows, at most {timeout:g} s per query.")
if text.strip():
    try:
        result = answer(store, text, limit, timeout)
    except QueryRefused as err:
        st.error(str(err))
        st.stop()
    if result.table is None:
        st.info("The statement ran and returned no result.")
        st.stop()
    frame = result.table.to_pandas()
    note = f" (the first {limit:,}: dashboard.query_row_limit)" if result.truncated else ""
    st.caption(f"{len(frame):,} rows{note} in {result.seconds:.2f} s")
    st.dataframe(frame, hide_index=True)
    st.download_button(
        "Download CSV",
        frame.to_csv(index=False).encode(),
        file_name="parallax-query.csv",
        mime="text/csv",
        icon=":material/download:",
    )
