"""Tag incoming requests with the node's identity, normalise convention values, sample.

- Resource attributes from configuration (host.id, parallax.hardware.tier,
  parallax.hardware.accelerator, cloud.region, and any others OTEL_RESOURCE_ATTRIBUTES
  gives the node) are added where the app did not set them; what the app set is never
  overwritten.
- ``parallax.model.quantization`` and ``parallax.hardware.tier`` values are normalised to
  the convention enums (``FP16`` and ``float16`` become ``fp16``); a quantization that
  maps to none becomes ``other``, an unknown tier is left as sent; both are counted.
- Spans are sampled consistently by input fingerprint (collector.sampling).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from collector.sampling import Sampler
from parallax import conventions as conv
from parallax.conventions import Quantization, parse_quantization, parse_tier


@dataclass(frozen=True)
class NodeIdentity:
    """What the collector knows about its node, from configuration; ``attributes`` are
    further resource attributes of the node (OTEL_RESOURCE_ATTRIBUTES)."""

    node_id: str
    hardware_tier: str = ""
    accelerator: str = ""
    region: str = ""
    attributes: tuple[tuple[str, str], ...] = ()

    def resource_attributes(self) -> dict[str, str]:
        values = {
            conv.HOST_ID: self.node_id,
            conv.HARDWARE_TIER: self.hardware_tier,
            conv.HARDWARE_ACCELERATOR: self.accelerator,
            conv.CLOUD_REGION: self.region,
        }
        return dict(self.attributes) | {key: value for key, value in values.items() if value}


@dataclass
class TaggingCounters:
    spans_in: int = 0
    spans_sampled_out: int = 0
    values_normalised: int = 0
    unknown_quantization: int = 0
    unknown_tier: int = 0


INVENTORY_TTL_S = 600.0
"""A model that served no inference for this long is no longer in the node's inventory."""


@dataclass
class Tagger:
    """Applies identity, normalisation and sampling to a request, in place.

    Also keeps the node's model inventory as seen in traffic: every (model, version,
    quantization) that served an inference, whether its latest inference was warm, and
    when it last served one. The collector cannot see what an app has loaded, only what
    served: a model idle for ``INVENTORY_TTL_S`` (an old version after an upgrade) drops
    out of the inventory the heartbeat reports.
    """

    identity: NodeIdentity
    sampler: Sampler
    counters: TaggingCounters = field(default_factory=TaggingCounters)
    inventory: dict[tuple[str, str, str], bool] = field(default_factory=dict)
    clock: Callable[[], float] = time.monotonic
    _last_served: dict[tuple[str, str, str], float] = field(default_factory=dict, repr=False)
    _inventory_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def models(self) -> list[tuple[str, str, str, bool]]:
        """(model, version, quantization, warm) that served within INVENTORY_TTL_S, sorted.

        Safe from any thread.
        """
        now = self.clock()
        with self._inventory_lock:
            last_served = dict(self._last_served)
            return sorted(
                (*key, warm)
                for key, warm in self.inventory.items()
                if now - last_served[key] <= INVENTORY_TTL_S
            )

    def process(self, request: ExportTraceServiceRequest) -> int:
        """Tag and sample ``request`` in place; return the number of spans kept."""
        kept = 0
        for resource_spans in request.resource_spans:
            self._tag_resource(resource_spans.resource.attributes)
            for scope_spans in resource_spans.scope_spans:
                spans = list(scope_spans.spans)
                survivors = [span for span in spans if self._normalise_and_sample(span)]
                if len(survivors) != len(spans):
                    del scope_spans.spans[:]
                    scope_spans.spans.extend(survivors)
                kept += len(survivors)
        return kept

    def _tag_resource(self, attributes) -> None:
        present = {kv.key for kv in attributes}
        for key, value in self.identity.resource_attributes().items():
            if key not in present:
                attributes.append(KeyValue(key=key))
                attributes[-1].value.string_value = value
        for kv in attributes:
            if kv.key == conv.HARDWARE_TIER:
                self._normalise(kv, parse_tier, unknown="tier")

    def _normalise_and_sample(self, span) -> bool:
        self.counters.spans_in += 1
        fingerprint = confidence = None
        cold_start = False
        model = version = quantization = ""
        for kv in span.attributes:
            key = kv.key
            if key == conv.MODEL_QUANTIZATION:
                self._normalise(kv, parse_quantization, unknown="quantization")
                quantization = kv.value.string_value
            elif key == conv.GEN_AI_REQUEST_MODEL:
                model = kv.value.string_value
            elif key == conv.MODEL_VERSION:
                version = kv.value.string_value
            elif key == conv.HARDWARE_TIER:
                self._normalise(kv, parse_tier, unknown="tier")
            elif key == conv.INPUT_FINGERPRINT and kv.value.HasField("string_value"):
                fingerprint = kv.value.string_value
            elif key == conv.CONFIDENCE and kv.value.HasField("double_value"):
                confidence = kv.value.double_value
            elif key == conv.COLD_START and kv.value.HasField("bool_value"):
                cold_start = kv.value.bool_value
        key = (model, version, quantization)
        if model and self.inventory.get(key) is not (not cold_start):
            with self._inventory_lock:  # the heartbeat thread reads it
                self.inventory[key] = not cold_start
                self._last_served[key] = self.clock()
        elif model:
            self._last_served[key] = self.clock()  # an existing key: no resize, no lock
        is_error = span.status.code == Status.STATUS_CODE_ERROR
        if self.sampler.keep(fingerprint, is_error, cold_start, confidence):
            return True
        self.counters.spans_sampled_out += 1
        return False

    def _normalise(
        self, kv: KeyValue, parse: Callable[[str], StrEnum | None], unknown: str
    ) -> None:
        if not kv.value.HasField("string_value"):
            return
        raw = kv.value.string_value
        value = parse(raw)
        if value is None:
            if unknown == "quantization":
                self.counters.unknown_quantization += 1
                value = Quantization.OTHER
            else:
                self.counters.unknown_tier += 1
                return
        if value.value != raw:
            kv.value.string_value = value.value
            self.counters.values_normalised += 1
