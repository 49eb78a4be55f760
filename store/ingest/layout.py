"""Where each span of a group came from: its request, resource and scope.

Resources and scopes are decoded once for every span below them; one that cannot be
read (malformed, not UTF-8) carries the ``problem`` that rejects those spans, and
repeated resource keys keep their last value.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
from google.protobuf.message import DecodeError
from opentelemetry.proto.common.v1.common_pb2 import KeyValue

from store.ingest import anyvalue
from store.ingest.otlp_lean_pb2 import ExportTraceServiceRequestRaw as LeanRequest


class Resource:
    """Decoded resource attributes, shared by every span below the resource; each key
    once (its last value). ``problem`` says why the spans below it are rejected."""

    def __init__(self, encoded: list[bytes]) -> None:
        self.values: dict[str, Any] = {}
        self.problem: str | None = None
        try:
            for raw in encoded:
                kv = KeyValue.FromString(raw)
                self.values[kv.key] = anyvalue.from_message(kv.value)
        except DecodeError:
            self.values = {}
            self.problem = "a resource attribute is not valid OTLP (malformed or not UTF-8)"
        self.text = [(key, anyvalue.as_text(value)) for key, value in self.values.items()]
        self.resource_id = resource_id(self.text)


class Scope:
    """A scope's name and version; ``problem`` says why the spans below it are rejected."""

    def __init__(self, name: bytes, version: bytes) -> None:
        self.problem: str | None = None
        try:
            self.name, self.version = name.decode("utf-8") or None, version.decode("utf-8") or None
        except UnicodeDecodeError:
            self.name = self.version = None
            self.problem = "the instrumentation scope's name or version is not valid UTF-8"


def resource_id(attributes: list[tuple[str, str | None]]) -> int:
    """A stable signed 64-bit id of a resource: a hash of its sorted attributes as text."""
    canonical = json.dumps(sorted(attributes, key=lambda kv: kv[0]), ensure_ascii=False)
    digest = hashlib.blake2b(canonical.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@dataclass
class Layout:
    """Where each span came from: per-span indexes into the request, resource and scope lists."""

    request: np.ndarray
    resource: np.ndarray
    scope: np.ndarray
    resources: list[Resource]
    scopes: list[Scope]
    node_ids: list[str | None]
    batch_seqs: list[int | None]

    def subset(self, spans: np.ndarray) -> Layout:
        """The layout of the given spans only (in that order)."""
        return dataclasses.replace(
            self,
            request=self.request[spans],
            resource=self.resource[spans],
            scope=self.scope[spans],
        )


def gather(
    requests: list[LeanRequest], node_ids: list[str | None], batch_seqs: list[int | None]
) -> tuple[list[bytes], Layout]:
    """Every span encoding of the requests, in order, and where each came from."""
    encodings: list[bytes] = []
    runs: list[tuple[int, int, int, int]] = []  # (request, resource, scope, span count)
    resources: list[Resource] = []
    scopes: list[Scope] = []
    for request_index, request in enumerate(requests):
        for resource_spans in request.resource_spans:
            resources.append(Resource(list(resource_spans.resource.attributes)))
            for scope_spans in resource_spans.scope_spans:
                if scope_spans.spans:
                    scopes.append(Scope(scope_spans.scope.name, scope_spans.scope.version))
                    encodings.extend(scope_spans.spans)
                    runs.append(
                        (request_index, len(resources) - 1, len(scopes) - 1, len(scope_spans.spans))
                    )
    counts = np.array([run[3] for run in runs], dtype=np.int64)
    per_span = [
        np.repeat(np.array([run[i] for run in runs], dtype=np.int64), counts) for i in range(3)
    ]
    return encodings, Layout(*per_span, resources, scopes, node_ids, batch_seqs)


def reject_below_broken(layout: Layout, problems: dict[int, str]) -> None:
    """Every span below a resource or scope that cannot be read is rejected."""
    for parents, index in ((layout.resources, layout.resource), (layout.scopes, layout.scope)):
        for position, parent in enumerate(parents):
            if parent.problem is not None:
                for row in np.flatnonzero(index == position):
                    problems.setdefault(int(row), parent.problem)
