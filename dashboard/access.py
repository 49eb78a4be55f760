"""Who can reach the dashboard, checked before it starts; Streamlit's OIDC secrets.

:func:`check_exposure` refuses a start that would let people in unchecked, with an
error naming what to configure (``parallax.exposure``, the rule every listener follows):

- ``auth = "none"`` listens on loopback only;
- ``auth = "proxy"`` listens on loopback only too: the proxy's user header is believed,
  so only the proxy may reach the dashboard;
- ``auth = "oidc"`` may listen anywhere, once every ``oidc_*`` key it needs is set.

``dashboard.insecure = true`` lifts the loopback rule (every start warns, every page
shows a banner).

:func:`write_oidc_secrets` writes Streamlit's ``[auth]`` section (redirect_uri,
cookie_secret, client_id, client_secret, server_metadata_url) to a file created with mode
0600 in a new directory of mode 0700 (``tempfile.mkdtemp``); the launcher points
Streamlit at it with ``--secrets.files``. The file stays until the temporary directory
is cleaned (systemd's ``PrivateTmp=`` removes it when the unit stops). The client secret
and the cookie secret are read from their files; the configuration names files only.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from pathlib import Path

from parallax.config import DashboardSettings
from parallax.errors import ConfigError
from parallax.exposure import require_loopback_unless_secured

OIDC_KEYS = (
    "oidc_server_metadata_url",
    "oidc_client_id",
    "oidc_client_secret_file",
    "oidc_redirect_uri",
)
SECRETS_FILE_NAME = "secrets.toml"


def check_exposure(dashboard: DashboardSettings) -> None:
    """Raise ConfigError when this start would let people in unchecked."""
    if dashboard.auth == "oidc":
        missing = [f"dashboard.{key}" for key in OIDC_KEYS if not getattr(dashboard, key)]
        if missing:
            raise ConfigError(
                f'dashboard.auth = "oidc" needs {", ".join(missing)} (docs/dashboard.md#users)'
            )
        return
    if dashboard.auth == "proxy":
        require_loopback_unless_secured(
            'parallax dashboard (dashboard.auth = "proxy")',
            dashboard.listen,
            secured=False,
            insecure=dashboard.insecure,
            needed=f'dashboard.auth = "oidc" instead (anyone who reaches the dashboard '
            f"directly could send {dashboard.proxy_user_header}, so only the proxy may)",
        )
        return
    require_loopback_unless_secured(
        "parallax dashboard",
        dashboard.listen,
        secured=False,
        insecure=dashboard.insecure,
        needed='dashboard.auth = "oidc" (with the dashboard.oidc_* keys) or "proxy" '
        "(behind a signing-in reverse proxy), see docs/dashboard.md#users",
    )


def write_oidc_secrets(dashboard: DashboardSettings, directory: Path | None = None) -> Path:
    """Write Streamlit's ``[auth]`` secrets to a new private file and return its path."""
    section = {
        "redirect_uri": dashboard.oidc_redirect_uri,
        "cookie_secret": _cookie_secret(dashboard),
        "client_id": dashboard.oidc_client_id,
        "client_secret": _read_secret(dashboard.oidc_client_secret_file, "oidc_client_secret_file"),
        "server_metadata_url": dashboard.oidc_server_metadata_url,
    }
    text = "[auth]\n" + "".join(f"{key} = {json.dumps(value)}\n" for key, value in section.items())
    folder = directory or Path(tempfile.mkdtemp(prefix="parallax-dashboard-"))
    path = folder / SECRETS_FILE_NAME
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    return path


def _cookie_secret(dashboard: DashboardSettings) -> str:
    if dashboard.oidc_cookie_secret_file:
        return _read_secret(dashboard.oidc_cookie_secret_file, "oidc_cookie_secret_file")
    return secrets.token_urlsafe(32)


def _read_secret(path: str, key: str) -> str:
    """The first line of a secret file; ConfigError names the key when it has none."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as err:
        raise ConfigError(f"dashboard.{key}: cannot read {path}: {err.strerror}") from err
    secret = lines[0].strip() if lines else ""
    if not secret:
        raise ConfigError(f"dashboard.{key}: {path} is empty")
    return secret
