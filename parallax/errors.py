"""Errors raised by the kernel."""


class ParallaxError(Exception):
    """Base class of every error Parallax reports to a user."""


class ConfigError(ParallaxError):
    """A configuration value is missing, unknown or invalid; the message names key and source."""


class ConfigFileError(ConfigError):
    """A configuration file cannot be read as TOML; ``file`` and ``reason`` are kept apart
    so a caller can restate them in its own error."""

    def __init__(self, file: str, reason: str) -> None:
        self.file = file
        self.reason = reason
        super().__init__(f"{file}: {reason}")
