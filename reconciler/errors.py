"""Errors raised by the reconciler."""

from __future__ import annotations

from parallax.errors import ConfigError

DEFAULTS_LOCATION = "[defaults]"
"""What PolicyError.feature holds for a problem in the ``[defaults]`` table."""


class PolicyError(ConfigError):
    """The policies file cannot be used; the message names the file, feature, key and reason.

    The parts are also kept as attributes (``feature`` and ``key`` are empty when the
    problem is not about one feature or one key), so callers and tests need not parse text.
    ``feature`` is ``"[defaults]"`` for a problem in the ``[defaults]`` table.
    """

    def __init__(self, file: str, feature: str, key: str, reason: str) -> None:
        self.file = file
        self.feature = feature
        self.key = key
        self.reason = reason
        where = [file]
        if feature == DEFAULTS_LOCATION:
            where.append(DEFAULTS_LOCATION)
        elif feature:
            where.append(f"feature {feature!r}")
        if key:
            where.append(key)
        super().__init__(": ".join([*where, reason]))
