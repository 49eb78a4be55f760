"""The store: OTLP/gRPC ingest into a DuckLake lake, and connections for readers.

Public surface for the other components: :func:`connect` (readers, e.g.
``connect(settings, read_only=True)``), :func:`open_writer` and :class:`WriterLake` (the
only way to write), :func:`run_readonly_query` (analyst SQL, confined, with its limits),
and the errors. ``launch.server`` wires the ingest service (``store.ingest``), the Fleet
service (``store.fleet``) and the trust checks (``store.trust``) into the server process.
"""

from store.errors import LakeMissingError, SchemaVersionError, StoreError
from store.lake import LAKE_ALIAS, WriterLake, connect, locate, open_writer
from store.readonly_query import QueryLimits, QueryRefused, QueryResult, run_readonly_query

__all__ = [
    "LAKE_ALIAS",
    "LakeMissingError",
    "QueryLimits",
    "QueryRefused",
    "QueryResult",
    "SchemaVersionError",
    "StoreError",
    "WriterLake",
    "connect",
    "locate",
    "open_writer",
    "run_readonly_query",
]
