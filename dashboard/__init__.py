"""The SRE dashboard (``parallax dashboard``): Streamlit pages over a read-only lake connection.

``app`` is the entry point Streamlit runs; ``views/`` holds one module per page;
``queries`` every query (plain functions, also used by ``bench/dashboard.py``); ``data``
the cache and the shared connection; ``readonly_sql`` the SQL page's confined
connection; ``launch`` the ``parallax dashboard`` command. docs/dashboard.md describes it.
"""
