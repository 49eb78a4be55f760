"""The store: OTLP/gRPC ingest into a DuckLake lake, and connections for readers.

Public surface: :func:`connect` (readers, e.g. ``connect(settings, read_only=True)``),
:func:`open_writer` (the single writer), and the ingest service in ``store.ingest``.
"""

from store.lake import WriterLake, connect, locate, open_writer

__all__ = ["WriterLake", "connect", "locate", "open_writer"]
