"""Errors raised by the store."""

from parallax.errors import ParallaxError


class StoreError(ParallaxError):
    """Base class of store errors."""


class MissingExtensionError(StoreError):
    """A DuckDB extension package is not installed."""


class LakeMissingError(StoreError):
    """A reader asked for a lake that has not been created yet."""


class SchemaVersionError(StoreError):
    """The lake's schema is newer than this version of Parallax understands."""


class WriterLockedError(StoreError):
    """Another process already writes this lake."""
