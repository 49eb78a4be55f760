"""The Streamlit dashboard for SREs (issue #5). Reads via ``store.connect(read_only=True)``."""
