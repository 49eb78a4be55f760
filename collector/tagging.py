"""Tag incoming requests in place, in three small stages.

- identity: resource attributes from configuration (host.id, parallax.hardware.tier,
  parallax.hardware.accelerator, cloud.region, and any others OTEL_RESOURCE_ATTRIBUTES
  gives the node) are added where the app did not set them; what the app set is never
  overwritten;
- inventory: each inference's model, version and quantization go to the node's model
  inventory (collector.inventory), which the heartbeat reports;
- sample: spans are sampled consistently by input fingerprint (collector.sampling).

Convention values (quantization, tier) travel as the app spelled them: ingest stores
their canonical words and keeps the spellings that differed (store.canonical).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from collector.inventory import ModelInventory
from collector.sampling import Sampler
from parallax import conventions as conv


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

    def tag(self, attributes) -> None:  # a repeated KeyValue field of a Resource
        """Add the node's attributes the resource does not carry yet."""
        present = {kv.key for kv in attributes}
        for key, value in self.resource_attributes().items():
            if key not in present:
                attributes.append(KeyValue(key=key))
                attributes[-1].value.string_value = value


@dataclass
class TaggingCounters:
    spans_in: int = 0
    spans_sampled_out: int = 0


@dataclass
class Tagger:
    """Applies identity, inventory and sampling to a request (see the module docstring)."""

    identity: NodeIdentity
    sampler: Sampler
    inventory: ModelInventory = field(default_factory=ModelInventory)
    counters: TaggingCounters = field(default_factory=TaggingCounters)

    def process(self, request: ExportTraceServiceRequest) -> int:
        """Tag and sample ``request`` in place; return the number of spans kept."""
        kept = 0
        for resource_spans in request.resource_spans:
            self.identity.tag(resource_spans.resource.attributes)
            for scope_spans in resource_spans.scope_spans:
                spans = list(scope_spans.spans)
                survivors = [span for span in spans if self._keep(span)]
                if len(survivors) != len(spans):
                    del scope_spans.spans[:]
                    scope_spans.spans.extend(survivors)
                kept += len(survivors)
        return kept

    def _keep(self, span: Span) -> bool:
        self.counters.spans_in += 1
        model, version, quantization, fingerprint, confidence, cold_start = _inference(span)
        if model:
            self.inventory.served(model, version, quantization, cold_start)
        is_error = span.status.code == Status.STATUS_CODE_ERROR
        if self.sampler.keep(fingerprint, is_error, cold_start, confidence):
            return True
        self.counters.spans_sampled_out += 1
        return False


def _inference(span: Span) -> tuple[str, str, str, str | None, float | None, bool]:
    """(model, version, quantization, fingerprint, confidence, cold start) of a span, in
    one pass over its attributes; empty text or None where it carries none."""
    fingerprint = confidence = None
    cold_start = False
    model = version = quantization = ""
    for kv in span.attributes:
        key = kv.key
        if key == conv.MODEL_QUANTIZATION:
            quantization = kv.value.string_value
        elif key == conv.GEN_AI_REQUEST_MODEL:
            model = kv.value.string_value
        elif key == conv.MODEL_VERSION:
            version = kv.value.string_value
        elif key == conv.INPUT_FINGERPRINT and kv.value.HasField("string_value"):
            fingerprint = kv.value.string_value
        elif key == conv.CONFIDENCE and kv.value.HasField("double_value"):
            confidence = kv.value.double_value
        elif key == conv.COLD_START and kv.value.HasField("bool_value"):
            cold_start = kv.value.bool_value
    return model, version, quantization, fingerprint, confidence, cold_start
