"""The settings of the running dashboard, as ``parallax dashboard`` handed them over.

``dashboard.launch`` passes the resolved ``[store]`` and ``[dashboard]`` keys to the
Streamlit process as ``PARALLAX_*`` environment variables; reading them back is the
ordinary resolution (``parallax.config.load_settings``), so ``streamlit run
dashboard/app.py`` with ``PARALLAX_CONFIG`` or ``PARALLAX_STORE_PATH`` set works too.
Resolving is a few dictionary look-ups, cheap enough to do on every script run.
"""

from __future__ import annotations

from parallax.config import Settings, load_settings


def current() -> Settings:
    """Settings from the environment (and PARALLAX_CONFIG's file, when set)."""
    return load_settings()
