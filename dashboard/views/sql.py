"""SQL: analysts' queries in a confined read-only process, run only when Run is pressed.

The editor is bound to the URL's ``q``, so a link fills it in; nothing runs until the
person looking at it presses Run. The query that ran is kept for the session (and its
result cached for ``refresh_s``), so auto-refresh redraws it without asking again.
"""

import streamlit as st

from dashboard import ui
from dashboard.examples import EXAMPLES
from dashboard.readonly_sql import QueryRefused, QueryResult, run_query
from parallax.config import StoreSettings

ctx = ui.page("SQL")
store = ctx.lake.store
settings = ctx.settings
limit, timeout = settings.query_row_limit, settings.query_timeout_s


@st.cache_data(ttl=settings.refresh_s, max_entries=64, show_spinner="Running the query …")
def answer(
    lake: StoreSettings, text: str, row_limit: int, timeout_s: float, memory: str, max_bytes: int
) -> QueryResult:
    return run_query(lake, text, row_limit, timeout_s, memory, max_bytes)


def use_example() -> None:
    st.session_state["q"] = EXAMPLES[st.session_state["example"]]


def run_pressed() -> None:
    st.session_state["query_to_run"] = st.session_state["q"]


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
    help="Read-only. Nothing runs until you press Run.",
)
st.button("Run", key="run", type="primary", icon=":material/play_arrow:", on_click=run_pressed)
st.caption(
    f"Read-only. At most {limit:,} rows and {settings.sql_max_result_bytes:,} bytes, "
    f"{settings.sql_memory_limit} of memory and {timeout:g} s per query."
)
query = st.session_state.get("query_to_run", "")
if not query.strip():
    st.caption("Nothing has run yet: press Run to run the query.")
    st.stop()
if query != text:
    st.caption("The result below is of the query last run; press Run to run the edited one.")
try:
    result = answer(
        store, query, limit, timeout, settings.sql_memory_limit, settings.sql_max_result_bytes
    )
except QueryRefused as err:
    st.error(str(err))
    st.stop()
if result.table is None:
    st.info("The statement ran and returned no result.")
    st.stop()
frame = result.table.to_pandas()
cap_bytes = settings.sql_max_result_bytes
notes = {
    "rows": f" (the first {limit:,}: dashboard.query_row_limit)",
    "bytes": f" (the first {cap_bytes:,} bytes: dashboard.sql_max_result_bytes)",
}
note = notes.get(result.truncated_by, "")
st.caption(f"{len(frame):,} rows{note} in {result.seconds:.2f} s")
st.dataframe(frame, hide_index=True)
st.download_button(
    "Download CSV",
    frame.to_csv(index=False).encode(),
    file_name="parallax-query.csv",
    mime="text/csv",
    icon=":material/download:",
)
