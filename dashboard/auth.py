"""Who is looking: the sign-in gate every page passes before it reads the lake.

``dashboard.auth`` says who vouches for the person in front of the browser:

- ``none``: nobody; the launcher lets the dashboard listen on loopback only (unless
  ``dashboard.insecure``), so only people on this machine (or its SSH tunnels) see it;
- ``oidc``: Streamlit's OpenID Connect login (``st.login``), with the ``[auth]`` secrets
  the launcher writes (``dashboard.launch``); ``st.user`` holds the signed-in person;
- ``proxy``: a reverse proxy in front (oauth2-proxy, nginx ``auth_request``) signs people
  in and sets ``dashboard.proxy_user_header`` on every request it forwards. The dashboard
  listens on loopback only, so every request comes through the proxy and nobody can set
  the header themselves. The header is read from the WebSocket upgrade request of the
  session (``st.context.headers``).

:func:`viewer` names the person (or :data:`ANONYMOUS`), or returns None while nobody has
signed in; then :func:`sign_in_page` draws the only thing the page shows.
"""

from __future__ import annotations

import streamlit as st

from parallax.config import DashboardSettings

ANONYMOUS = "anonymous"
NOT_SIGNED_IN = (
    "Not signed in. Open the dashboard through its sign-in proxy; this request did not "
    "say who you are."
)
SIGN_IN_TITLE = "Sign in to Parallax"


def viewer(dashboard: DashboardSettings) -> str | None:
    """The signed-in person's name, ANONYMOUS without sign-in, None while not signed in."""
    if dashboard.auth == "proxy":
        # Exactly one value: a second copy means a client's own header got through.
        sent = st.context.headers.get_all(dashboard.proxy_user_header)
        return sent[0] if len(sent) == 1 and sent[0] else None
    if dashboard.auth == "oidc":
        if not st.user.get("is_logged_in", False):
            return None
        return str(st.user.get("email") or st.user.get("name") or st.user.get("sub") or "")
    return ANONYMOUS


def sign_in_page(dashboard: DashboardSettings) -> None:
    """What someone who has not signed in sees, and nothing else."""
    if dashboard.auth == "oidc":
        st.title(SIGN_IN_TITLE)
        st.write("The fleet dashboard is for signed-in users.")
        if st.button("Sign in", type="primary", key="sign_in"):
            st.login()
        return
    st.warning(NOT_SIGNED_IN)


def sidebar_user(dashboard: DashboardSettings, name: str) -> None:
    """The signed-in person and the way out, at the bottom of the sidebar."""
    if dashboard.auth == "none":
        return
    with st.sidebar:
        st.text(f"Signed in as {name}")  # plain text: the name is not markdown
        if dashboard.auth == "oidc":
            if st.button("Sign out", key="sign_out"):
                st.logout()  # clears st.user and sends the browser to Streamlit's logout
                st.rerun()
        elif dashboard.proxy_sign_out_url:
            st.link_button("Sign out", dashboard.proxy_sign_out_url)
