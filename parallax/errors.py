"""Errors raised by the kernel."""


class ParallaxError(Exception):
    """Base class of every error Parallax reports to a user."""


class ConfigError(ParallaxError):
    """A configuration value is missing, unknown or invalid; the message names key and source."""
